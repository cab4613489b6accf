package demoserver_test

import (
	"fmt"
	"io"
	"log"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The in-process copy keeps the programs' defaults: each demo's usage
// shows its flags' defaults, which must be demoserver's, and Server and
// Options apply them.
func TestDefaultsAreTheProgramsDefaults(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to run the programs with: %v", err)
	}
	want := map[string]string{
		"-max-conns":       strconv.Itoa(demoserver.MaxConns),
		"-idle-timeout":    demoserver.IdleTimeout.String(),
		"-request-timeout": demoserver.RequestTimeout.String(),
	}
	for _, dir := range []string{"../../examples/server", "../../examples/echo"} {
		out, _ := exec.Command(goBin, "run", dir, "-h").CombinedOutput() // -h exits 0 or 2 by Go version
		usage := string(out)
		for flag, def := range want {
			_, rest, ok := strings.Cut(usage, "  "+flag+" ")
			line, _, _ := strings.Cut(rest, "\n  -")
			if !ok || !strings.Contains(line, fmt.Sprintf("(default %s)", def)) {
				t.Errorf("%s: %s's usage %q, want default %s", dir, flag, line, def)
			}
		}
	}

	n := testkit.NewNegotiator(t, demoserver.Options(nil))
	srv := demoserver.Server(n, nil, log.New(io.Discard, "", 0))
	if srv.IdleTimeout != demoserver.IdleTimeout || srv.ReadTimeout != demoserver.RequestTimeout ||
		srv.WriteTimeout != demoserver.RequestTimeout || srv.ReadHeaderTimeout == 0 {
		t.Errorf("Server: IdleTimeout %v, ReadTimeout %v, WriteTimeout %v, ReadHeaderTimeout %v",
			srv.IdleTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.ReadHeaderTimeout)
	}
	if o := demoserver.Options(nil); o.MaxConns != demoserver.MaxConns || o.ShutdownTimeout != demoserver.ShutdownGrace {
		t.Errorf("Options: MaxConns %d, ShutdownTimeout %v", o.MaxConns, o.ShutdownTimeout)
	}
}
