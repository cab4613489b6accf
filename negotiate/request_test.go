package negotiate_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Conn.Request's context ends when the request's handler returns: on
// HTTP/1.1 at the switch, while the serve func runs (it may still be alive
// when the serve func starts), but on an HTTP/2 stream, whose request is
// the stream, only once the serve func has returned and the stream has
// ended. The doc said it had ended, on both.
func TestConnRequestContext(t *testing.T) {
	t.Run("http/1.1", func(t *testing.T) {
		ended := make(chan bool, 1)
		reg := new(negotiate.Registry)
		reg.HandleFunc("req/1", func(c *negotiate.Conn) error {
			select {
			case <-c.Request().Context().Done():
				ended <- true
			case <-time.After(testkit.Timeout):
				ended <- false
			}
			return nil
		})
		_, srv := testkit.Endpoint(t, nil, reg)
		c, _ := testkit.Dial(t, srv.URL, []string{"req/1"}, nil)
		if !testkit.Receive(t, ended, "the serve func's wait for the request's context") {
			t.Error("the request's context was still alive after the switch")
		}
		_, _ = io.Copy(io.Discard, c)
	})
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		type seen struct {
			ctx context.Context
			err error // its Err when the serve func started
		}
		ctxs := make(chan seen, 1)
		reg := new(negotiate.Registry)
		reg.HandleFunc("req/1", func(c *negotiate.Conn) error {
			ctx := c.Request().Context()
			ctxs <- seen{ctx, ctx.Err()}
			return nil
		})
		n := testkit.NewNegotiator(t, nil)
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		st, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "req/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		s := testkit.Receive(t, ctxs, "the request's context")
		if s.err != nil {
			t.Errorf("the request's context when the serve func starts: %v, want it alive", s.err)
		}
		_, _ = io.Copy(io.Discard, st) // the stream ends
		testkit.Receive(t, s.ctx.Done(), "the end of the request's context once the stream has ended")
	})
}

// Conn.Context is not ended by the client going away: a read tells the
// protocol that (io.EOF), and the context ends when the serve func
// returns. A protocol that waits on the context alone, as one that only
// says goodbye at the shutdown, still has to read.
func TestConnContextNotEndedByClient(t *testing.T) {
	type seen struct {
		ctx context.Context
		err error // its Err once the client's end was read
	}
	ctxs := make(chan seen, 1)
	reg := new(negotiate.Registry)
	reg.HandleFunc("gone/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(io.Discard, c) // to the client's end
		ctxs <- seen{c.Context(), c.Context().Err()}
		return err
	})
	_, srv := testkit.Endpoint(t, nil, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"gone/1"}, nil)
	_ = c.Close()
	s := testkit.Receive(t, ctxs, "the serve func's read of the client's end")
	if s.err != nil {
		t.Errorf("the connection's context once the client had gone: %v, want it alive until the serve func returns", s.err)
	}
	testkit.Receive(t, s.ctx.Done(), "the end of the connection's context once the serve func has returned")
}
