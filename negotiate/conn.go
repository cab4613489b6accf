package negotiate

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a switched connection. It is a net.Conn whose first reads return
// the bytes the client sent behind its request head before the switch
// (never lost, never repeated), and which counts the bytes read and written.
// The negotiator tracks it from the switch until the protocol returns.
//
// The protocol owns the Conn: its deadlines are clear (the server's are
// removed at the switch), and it is closed by the negotiator when Serve or
// Handshake returns.
type Conn struct {
	nc       net.Conn
	n        *Negotiator
	req      *http.Request
	protocol string // the token, as the client offered it
	name     string // lower-case protocol name
	next     http.Handler
	remote   string
	start    time.Time

	in, out  atomic.Int64
	hasEarly atomic.Bool

	mu         sync.Mutex
	early      []byte
	onShutdown func()
	asked      bool // shutdown asked
	closed     bool
	ctx        context.Context
	cancel     context.CancelFunc
}

var _ net.Conn = (*Conn)(nil)

func (c *Conn) Read(p []byte) (int, error) {
	if c.hasEarly.Load() {
		c.mu.Lock()
		if len(c.early) > 0 {
			n := copy(p, c.early)
			c.early = c.early[n:]
			if len(c.early) == 0 {
				c.early = nil
				c.hasEarly.Store(false)
			}
			c.mu.Unlock()
			c.in.Add(int64(n))
			return n, nil
		}
		c.mu.Unlock()
	}
	n, err := c.nc.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// Close closes the connection; calling it again does nothing.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return c.nc.Close()
}

// CloseWrite shuts down the writing side (a TCP half-close), when the
// underlying connection supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("negotiate: connection does not support CloseWrite")
}

func (c *Conn) LocalAddr() net.Addr                { return c.nc.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.nc.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.nc.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.nc.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// NetConn returns the hijacked connection underneath. Reading from it
// directly skips the early bytes and the counts.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Protocol returns the chosen token as the client offered it ("foo/2").
func (c *Conn) Protocol() string { return c.protocol }

// Request returns the upgrade request. Its body has been consumed or
// refused; its context is not the connection's (see [Conn.Context]).
func (c *Conn) Request() *http.Request { return c.req }

// Next returns the handler the [Negotiator.Middleware] mount wraps, or nil
// at an [Negotiator.Endpoint] or [Negotiator.Require] mount. Protocols that
// carry HTTP (h2c) serve their requests with it, so they go through the
// same application chain as plain requests.
func (c *Conn) Next() http.Handler { return c.next }

// Context returns a context carrying the upgrade request's values that is
// cancelled when the negotiator shuts down or the connection is closed.
func (c *Conn) Context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(c.req.Context()))
		if c.asked || c.closed {
			c.cancel()
		}
	}
	return c.ctx
}

// OnShutdown sets how the protocol closes this connection its own way
// (a WebSocket close frame, an HTTP/2 GOAWAY) when the negotiator shuts
// down. f runs once, in its own goroutine; it should start the close and
// may wait a bounded time for the peer. Without it the connection is
// simply closed. If the shutdown has already begun, f runs at once.
func (c *Conn) OnShutdown(f func()) {
	c.mu.Lock()
	c.onShutdown = f
	asked := c.asked
	c.mu.Unlock()
	if asked {
		go f()
	}
}

// askShutdown starts the protocol's own close, once.
func (c *Conn) askShutdown() {
	c.mu.Lock()
	if c.asked {
		c.mu.Unlock()
		return
	}
	c.asked = true
	f, cancel := c.onShutdown, c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if f == nil {
		_ = c.Close()
		return
	}
	go f()
}

// ConnInfo describes a switched connection to the OnSwitch and OnClose
// hooks.
type ConnInfo struct {
	Protocol   string        // the token as offered ("foo/2")
	RemoteAddr string        // the client's address
	Start      time.Time     // when the connection switched
	Duration   time.Duration // how long it was open (OnClose)
	BytesIn    int64         // bytes read after the switch, early bytes included
	BytesOut   int64         // bytes written after the switch, the negotiator's 101 excluded
	Err        error         // the protocol's error or recovered panic (OnClose)
}

// Info returns the connection's description so far.
func (c *Conn) Info() ConnInfo {
	return ConnInfo{
		Protocol:   c.protocol,
		RemoteAddr: c.remote,
		Start:      c.start,
		Duration:   time.Since(c.start),
		BytesIn:    c.in.Load(),
		BytesOut:   c.out.Load(),
	}
}

// track adds a new connection to the live set.
func (n *Negotiator) track(c *Conn) {
	n.mu.Lock()
	n.live[c] = struct{}{}
	pc := n.count(c.name)
	pc.active++
	pc.switched++
	n.mu.Unlock()
	if n.opts.OnSwitch != nil {
		n.opts.OnSwitch(c.Info())
	}
	if l := n.opts.Logger; l != nil {
		l.Debug("negotiate: switched", "protocol", c.protocol, "remote", c.remote)
	}
	if n.draining.Load() {
		c.askShutdown()
	}
}

// finish closes a connection whose protocol has returned and reports it.
func (n *Negotiator) finish(c *Conn, err error) {
	_ = c.Close()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	info := c.Info()
	info.Err = err
	n.mu.Lock()
	delete(n.live, c)
	n.count(c.name).active--
	n.mu.Unlock()
	n.release(c.name)
	if n.opts.OnClose != nil {
		n.opts.OnClose(info)
	}
	if l := n.opts.Logger; l != nil {
		l.Debug("negotiate: closed", "protocol", info.Protocol, "remote", info.RemoteAddr,
			"duration", info.Duration, "in", info.BytesIn, "out", info.BytesOut, "err", err)
	}
}
