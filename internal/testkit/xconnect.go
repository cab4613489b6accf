package testkit

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// XConnectEnv is the environment setting that makes Go 1.26 and 1.27's
// HTTP/2 servers (net/http's and golang.org/x/net's) advertise and accept
// extended CONNECT (RFC 8441). They read it from the environment when the
// program starts, so a test process cannot turn it on for itself.
const XConnectEnv = "GODEBUG=http2xconnect=1"

// XConnectOn reports whether this process runs with extended CONNECT on.
func XConnectOn() bool {
	return strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")
}

// InXConnectChild runs the calling top-level test again in a child process
// of the test binary with [XConnectEnv] in its environment, and reports
// true, after which the caller returns: the child's result is the test's.
// In the child (or in a process started with the setting) it reports false
// and the test goes on.
func InXConnectChild(t *testing.T) bool {
	t.Helper()
	if XConnectOn() {
		return false
	}
	args := []string{"-test.run=^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count=1", "-test.v"}
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	godebug := "http2xconnect=1"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in a child with GODEBUG=%s: %v\n%s", t.Name(), godebug, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("%s did not pass in its child with GODEBUG=%s:\n%s", t.Name(), godebug, out)
	}
	return true
}
