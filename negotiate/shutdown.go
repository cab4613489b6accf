package negotiate

import (
	"context"
	"net/http"
)

// Shutdown stops new switches (they are refused with 503) and asks every
// live connection to close: the [Conn.Context] of each is cancelled, and a
// protocol that watches it closes its own way (WebSocket with close 1001,
// h2c with GOAWAY, a custom protocol with a goodbye of its own); a
// connection whose protocol never asked for its Context is closed at once.
// Shutdown then waits until every connection is gone, and when ctx ends
// first, closes the rest and returns ctx's error. Calling it again waits
// again. Shutdown does not stop the http.Server; see
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
		if n.reserved == 0 {
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
			for c := range n.live {
				_ = c.nc.Close() // also ends a close that lingers
			}
			n.mu.Unlock()
			return ctx.Err()
		}
	}
}

// RegisterOnShutdown ties the negotiator to srv: srv.Shutdown (which does
// not track hijacked connections) also starts [Negotiator.Shutdown], bounded
// by Options.ShutdownTimeout. To wait for the switched connections, call
// Shutdown after srv.Shutdown returns.
func (n *Negotiator) RegisterOnShutdown(srv *http.Server) {
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), n.opts.ShutdownTimeout)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
}
