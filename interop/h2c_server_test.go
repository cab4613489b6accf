package interop_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// h2cServer is a real loopback server set up like examples/server for
// h2c (demoserver.Routes): h2c and echo/1 as middleware around the demo's
// routes, plus /seen, and h2c.ConfigureServer for prior knowledge. The
// middleware's mux also serves the upgraded connections' streams, as in
// the demo. It is built in process for its switch count and the server
// settings h2cConfig varies.
type h2cServer struct {
	*httptest.Server
	n *negotiate.Negotiator
}

// h2cConfig varies the server for nghttp's OPTIONS * upgrade.
type h2cConfig struct {
	// disableOptions sets http.Server.DisableGeneralOptionsHandler, so
	// that "OPTIONS *" reaches the handler (and can upgrade) instead of
	// being answered by net/http.
	disableOptions bool
	// answerOptions puts a handler in front of the mux that answers
	// "OPTIONS *" with 200 and no body, as net/http's own does, instead
	// of http.ServeMux's 400 with "Connection: close".
	answerOptions bool
}

func newH2CServer(t *testing.T, cfg h2cConfig) *h2cServer {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	anyPath, mux, err := demoserver.Routes(n)
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("POST /seen", seen)
	var app http.Handler = mux
	if cfg.answerOptions {
		app = answerOptionsStar(mux)
	}
	s := &h2cServer{n: n, Server: httptest.NewUnstartedServer(n.Middleware(anyPath)(app))}
	h2c.ConfigureServer(s.Config)
	s.Config.DisableGeneralOptionsHandler = cfg.disableOptions
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// switched is the number of h2c switches the negotiator has made.
func (s *h2cServer) switched() int64 { return s.n.Stats().Switched["h2c"] }

// seen answers what the handler saw: the protocol, and the body's length
// and SHA-256, so that a client can check that the body arrived whole.
func seen(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, seenLine(r.Proto, body))
}

func seenLine(proto string, body []byte) string {
	sum := sha256.Sum256(body)
	return fmt.Sprintf("%s %d %s", proto, len(body), hex.EncodeToString(sum[:]))
}

// answerOptionsStar answers "OPTIONS *" as net/http's general OPTIONS
// handler does (200, Content-Length 0) and passes the rest to h.
func answerOptionsStar(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.RequestURI == "*" {
			w.Header().Set("Content-Length", "0")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// h2cBody writes a 100 KiB body of random bytes (every byte value, no
// line structure) to a file for the command-line clients, and returns the
// bytes and the path.
func h2cBody(t *testing.T) ([]byte, string) {
	t.Helper()
	b := make([]byte, 100<<10)
	rand.Read(b)
	path := filepath.Join(t.TempDir(), "body.bin")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return b, path
}

// program returns the path of an outside program, or skips (fails with
// SWITCHYARD_INTEROP=1) when it is not installed.
func program(t *testing.T, name, pkg string) string {
	t.Helper()
	return findPeer(t, "", []string{name}, fmt.Sprintf("%s is not on PATH (Debian package %s)", name, pkg))
}

// runPeer runs an outside program with a bounded time and returns its
// standard output and standard error. It fails the test unless the
// program exits with status 0.
func runPeer(t *testing.T, path string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errOut limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", filepath.Base(path), err, errOut.b)
	}
	return out.b, errOut.b
}

// limitedBuffer keeps at most 4 MiB of a program's output.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<20 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}
