package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The whole demo contract, against the program as a user runs it.
func TestContract(t *testing.T) { democontract.Run(t, ".") }

// Standard output carries exactly one line, the listening line, and run
// returns nil after its context ends.
func TestListeningLine(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := new(testkit.LockedBuffer)
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", out, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	line := regexp.MustCompile(`^listening on (http://127\.0\.0\.1:[0-9]+)\n$`)
	testkit.WaitFor(t, "the listening line", func() bool { return line.MatchString(out.String()) })
	resp, err := http.Get(line.FindStringSubmatch(out.String())[1] + "/proto")
	if err != nil {
		t.Fatalf("the server does not accept once it printed its line: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v, want nil", err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("run did not return after its context ended")
	}
	if !line.MatchString(out.String()) {
		t.Errorf("standard output %q, want the listening line alone", out)
	}
}

// A user copies main.go into a new module that requires Switchyard, and
// it builds: it uses public packages only.
func TestCopiesIntoANewModule(t *testing.T) {
	t.Parallel()
	democontract.CopyBuilds(t, "../..")
}
