package democontract

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// listening is the whole standard output of an example program: the one
// line it prints once it accepts connections.
var listening = regexp.MustCompile(`^listening on (https?://127\.0\.0\.1:[0-9]+)\n$`)

// Start runs an example program in process: run is the program's main
// without its flags and signals, serving on a free loopback port, printing
// to out, until ctx ends. Start returns the URL of the listening line once
// out carries exactly that line, and stop, which ends ctx as a signal does
// and reports how run returned: an error when it returned one, did not
// return within testkit.Timeout, or printed anything besides the line.
// Later calls of stop return the first result. If the test has not called
// stop, its cleanup does, and fails the test on an error.
func Start(t *testing.T, run func(ctx context.Context, out io.Writer) error) (url string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(testkit.LockedBuffer)
	done := make(chan error, 1)
	go func() { done <- run(ctx, out) }()
	var once sync.Once
	var runErr error
	var stopped atomic.Bool
	stop = func() error {
		stopped.Store(true)
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(testkit.Timeout):
				runErr = fmt.Errorf("run did not return within %v of the signal", testkit.Timeout)
			}
			if runErr == nil && !listening.MatchString(out.String()) {
				runErr = fmt.Errorf("standard output %q, want the listening line alone", out)
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if stopped.Load() {
			return // the test has the result
		}
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	testkit.WaitFor(t, "the listening line", func() bool { return listening.MatchString(out.String()) })
	return listening.FindStringSubmatch(out.String())[1], stop
}
