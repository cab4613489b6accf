package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The whole demo contract, against the program as a user runs it.
func TestContract(t *testing.T) { democontract.Run(t, ".") }

// Standard output carries exactly one line, the listening line, printed
// once the server accepts, and run returns nil after its context ends.
func TestListeningLine(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	url, stop := democontract.Start(t, func(ctx context.Context, out io.Writer) error { return run(ctx, "127.0.0.1:0", out, io.Discard, quiet) })
	resp, err := http.Get(url + "/proto")
	if err != nil {
		t.Fatalf("the server does not accept once it printed its line: %v", err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// A user copies the program's main.go into a new module that requires Switchyard, and
// it builds: it uses public packages only.
func TestCopiesIntoANewModule(t *testing.T) {
	t.Parallel()
	democontract.CopyBuilds(t, "../..")
}
