package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
)

// dialer is every client's: gorilla's, with small buffers (the client's
// memory is not measured, its time is, and it is the same for every
// server). It offers no compression: gorilla's Upgrader used directly
// would not take it, and the demo's would.
var dialer = &gws.Dialer{HandshakeTimeout: ioTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024}

func payload(size int) []byte {
	return bytes.Repeat([]byte("x"), size)
}

// open dials url and echoes msg echoes times (see exchange).
func open(ctx context.Context, url string, echoes int, msg []byte) (*gws.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	c, resp, err := dialer.DialContext(dctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (status %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := exchange(c, echoes, msg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// exchange echoes msg n times on c, within ioTimeout (c's deadline is
// left there): each text message written must come back whole, as text.
func exchange(c *gws.Conn, n int, msg []byte) error {
	_ = c.NetConn().SetDeadline(time.Now().Add(ioTimeout))
	for range n {
		if err := c.WriteMessage(gws.TextMessage, msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if typ != gws.TextMessage || !bytes.Equal(got, msg) {
			return fmt.Errorf("echo: got a %d-byte message of type %d, want the %d bytes sent", len(got), typ, len(msg))
		}
	}
	return nil
}

var closeNormal = gws.FormatCloseMessage(gws.CloseNormalClosure, "")

// finish closes c the WebSocket way: a 1000 close frame, then reading
// until the server's close frame (or its end of stream), then the TCP
// close.
func finish(c *gws.Conn) error {
	defer c.Close()
	if err := c.WriteControl(gws.CloseMessage, closeNormal, time.Now().Add(ioTimeout)); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	for {
		if _, _, err := c.NextReader(); err != nil {
			var ce *gws.CloseError
			if errors.As(err, &ce) && ce.Code != gws.CloseNormalClosure && ce.Code != gws.CloseAbnormalClosure {
				return fmt.Errorf("close: the server answered %d", ce.Code)
			}
			return nil
		}
	}
}

// cycle runs n connections that open, echo and close, parallel at a time,
// and starts none once limit has passed or ctx has ended; it returns how
// many completed. A connection once started runs to its end under its own
// bounds (ioTimeout for the dial, deadlines for the reads and writes), so
// that an error is never taken for one cut short by the end of the phase:
// every error counts. With onErr nil it stops at the first error and
// returns it; otherwise it reports each error to onErr and goes on.
func cycle(ctx context.Context, url string, n, parallel, echoes, size int, limit time.Duration, onErr func(error)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	end, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }
	connCtx := context.WithoutCancel(ctx)
	var next, done atomic.Int64
	var first error
	var once sync.Once
	fail := func(err error) {
		if onErr != nil {
			onErr(err)
			return
		}
		once.Do(func() { first = err; cancel() })
	}
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := payload(size)
			for !over() && int(next.Add(1)) <= n {
				c, err := open(connCtx, url, echoes, msg)
				if err == nil {
					err = finish(c)
				}
				if err != nil {
					fail(err)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), first
}

// startServer starts cfg.ServerCmd(kind) and reads the addresses it
// prints; its other output goes to cfg.Log.
func startServer(ctx context.Context, cfg Config, kind string) (*child.Process, error) {
	return child.Start(ctx, cfg.ServerCmd(kind), kind, cfg.Log)
}

// stop asks the server to end (SIGINT), and kills it after 10 s.
func stop(srv *child.Process) {
	_ = srv.Cmd.Process.Signal(os.Interrupt)
	_, _ = srv.Wait(context.Background(), 10*time.Second)
}

// figures asks the server for its own figures (after two collections).
func figures(ctx context.Context, srv *child.Process) (*Figures, error) {
	f := new(Figures)
	return f, srv.GetJSON(ctx, "/figures", f)
}

// fetch saves what the control endpoint answers at path to file.
func fetch(ctx context.Context, srv *child.Process, path, file string) error {
	b, err := srv.Get(ctx, path)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}
