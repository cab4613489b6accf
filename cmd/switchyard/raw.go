package main

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// switchTo runs the handshake for ws and raw: with -v the heads, verdict
// and timings go to stderr; a refusal or invalid 101 is reported there
// too. It returns the exchange after a valid 101, or the exit status.
func switchTo(ctx context.Context, cmd string, o options, stderr io.Writer) (*exchange, int) {
	e, err := handshake(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard %s: %v\n", cmd, err)
		return nil, exitError
	}
	v := judge(e)
	if o.verbose || !v.valid {
		report(e, o.verbose, stderr)
	}
	if !v.valid {
		e.close()
		return nil, exitRefused
	}
	return e, exitOK
}

// pipe is the raw command: standard input to the connection (then a
// half-close), the connection to standard output until the server closes.
func pipe(ctx context.Context, o options, stdin io.Reader, stdout, stderr io.Writer) int {
	e, code := switchTo(ctx, "raw", o, stderr)
	if e == nil {
		return code
	}
	defer e.close()
	in := &input{r: stdin}
	go pipeInput{e}.run(in)
	if _, err := io.Copy(stdout, e.afterSwitch(o.verbose, stderr)); err != nil {
		fmt.Fprintf(stderr, "switchyard raw: %v\n", err)
		return exitError
	}
	if err := in.failure(); err != nil {
		fmt.Fprintf(stderr, "switchyard raw: standard input: %v\n", err)
		return exitError
	}
	return exitOK
}

// pipeInput copies standard input to the switched connection; named so
// that stack dumps explain the goroutine.
type pipeInput struct{ e *exchange }

func (p pipeInput) run(in *input) {
	if _, err := io.Copy(p.e.conn(), in); err != nil && in.failure() == nil {
		return // the connection is gone; the output side reports it
	}
	// The end of input, or its failure, which pipe reports: either way
	// the server is told that nothing more comes.
	if cw, ok := p.e.conn().(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// input is standard input, noting the error that ended it, if one did.
type input struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (in *input) Read(p []byte) (int, error) {
	n, err := in.r.Read(p)
	if err != nil && err != io.EOF {
		in.mu.Lock()
		in.err = err
		in.mu.Unlock()
	}
	return n, err
}

func (in *input) failure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}
