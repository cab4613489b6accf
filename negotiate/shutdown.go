package negotiate

import (
	"context"
	"net/http"
)

// Shutdown stops new switches (they are refused with 503) and cancels the
// [Conn.Context] of every live connection: a protocol that watches it
// closes its own way (WebSocket with close 1001, h2c with GOAWAY, a custom
// protocol with a goodbye of its own) and returns, and what it wrote
// reaches the client. Shutdown waits until every connection is gone and
// has been reported to Options.OnClose; when ctx ends first, it closes the
// rest (an HTTP/2 stream is reset, whether or not its protocol returns)
// and returns ctx's error. No switch is made after that: one still under
// way is refused with 503 while nothing has been written (its Accept still
// running, or on an HTTP/2 stream), or its connection is closed without an
// answer once hijacked, and its serve func runs on a closed connection.
// Like http.Server.Shutdown with a handler, a protocol that ignores its
// Context holds the shutdown until ctx ends. Calling Shutdown again waits
// again. It does not stop the http.Server; see
// [Negotiator.RegisterOnShutdown].
func (n *Negotiator) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	n.draining.Store(true)
	conns := make([]*Conn, 0, len(n.live))
	for c := range n.live {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.askShutdown()
	}
	for {
		n.mu.Lock()
		if n.reserved == 0 && n.closing == 0 {
			n.mu.Unlock()
			return nil
		}
		if n.changed == nil {
			n.changed = make(chan struct{})
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			n.mu.Lock()
			n.forced.Store(true) // and a switch not yet tracked is not made
			for c := range n.live {
				c.forceClose()
			}
			n.mu.Unlock()
			return ctx.Err()
		}
	}
}

// RegisterOnShutdown ties the negotiator to srv: srv.Shutdown (which does
// not track hijacked connections) also starts [Negotiator.Shutdown], bounded
// by Options.ShutdownTimeout. To wait for the switched connections, call
// Shutdown after srv.Shutdown returns. It panics on a nil srv. A
// negotiator tied to several servers is shut down by the first of their
// Shutdowns: the switched connections of every server close, and the
// others, still serving, refuse upgrades with 503; give each server a
// negotiator of its own unless they shut down together.
func (n *Negotiator) RegisterOnShutdown(srv *http.Server) {
	if srv == nil {
		panic("negotiate: RegisterOnShutdown(nil)")
	}
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.ShutdownTimeout)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
}
