package testkit

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Main runs the tests, then waits up to five seconds for every goroutine
// the tests started to end, and fails the binary listing those that do not.
func Main(m *testing.M) {
	var code int
	Run(m, &code)
	os.Exit(code)
}

// Run is Main for a TestMain that has cleaning up to do before it exits: it
// stores the exit code in *code instead of exiting.
func Run(m *testing.M, code *int) {
	*code = m.Run()
	removeBuilds()
	if *code == 0 {
		if leaked := Wait(5 * time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "testkit: %d goroutine(s) leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			*code = 1
		}
	}
}

// Wait polls until no interesting goroutine is left or d passes, and
// returns the stacks of those left.
func Wait(d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		leaked := Interesting()
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Interesting returns the stacks of goroutines other than the runtime's, the
// testing package's and this one.
func Interesting() []string {
	buf := make([]byte, 2<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		stack := strings.TrimSpace(g)
		if stack == "" || boring(stack) {
			continue
		}
		out = append(out, stack)
	}
	sort.Strings(out)
	return out
}

func boring(stack string) bool {
	// The first line is "goroutine N [state]:"; the second names the
	// function the goroutine is in.
	for _, s := range []string{
		"internal/testkit.Interesting",
		"testing.(*M).",
		"testing.tRunner",
		"testing.runTests",
		"testing.(*T).Run",
		"testing.(*F).Fuzz",
		"testing.runFuzz",
		"os/signal.signal_recv",
		"os/signal.loop",
		"runtime.ensureSigM",
		// Idle keep-alive connections of a client's Transport; tests close
		// them with CloseIdleConnections, but the goroutines end a moment
		// later.
		"net/http.(*persistConn).",
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
