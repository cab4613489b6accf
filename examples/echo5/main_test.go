package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The whole demo contract: against the program as a user runs it, against
// run in process for its standard output, and against a copy of main.go
// in a new module with this module's requirements, which must build.
func TestContract(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	democontract.Run(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, "127.0.0.1:0", demoapp.DefaultLimits(), out, io.Discard, quiet)
	})
}
