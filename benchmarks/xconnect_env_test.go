package benchmarks

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// Go's HTTP/2 servers (net/http's and x/net's) advertise and accept
// extended CONNECT (RFC 8441) only when GODEBUG=http2xconnect=1 is in the
// environment when the process starts: a process cannot turn it on for
// itself. So TestMain runs the test binary again, with the same arguments
// and the setting appended to GODEBUG, when it is missing, and exits with
// the child's status; `go test` and `go test -bench` then just work. The
// setting only adds SETTINGS_ENABLE_CONNECT_PROTOCOL to the servers'
// SETTINGS: the other benchmarks are unaffected.

// runWithXConnect runs this test binary in a child process with extended
// CONNECT on, its standard streams this process's, and returns its exit
// status.
func runWithXConnect() int {
	godebug := "http2xconnect=1"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "running the tests again with %s: %v\n", testkit.XConnectEnv, err)
		return 1
	}
}
