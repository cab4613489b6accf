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
// removed at the switch), and it is closed by the negotiator when Serve (or
// a Handshake without Serve) returns.
type Conn struct {
	nc       net.Conn
	n        *Negotiator
	e        *entry // the registration: protocol and lower-case name
	req      *http.Request
	protocol string // the token, as the client offered it
	next     http.Handler
	start    time.Time

	in, out  atomic.Int64
	hasEarly atomic.Bool

	mu         sync.Mutex
	early      []byte
	engine     any
	onShutdown func()
	handing    bool // Serve is still to start: a shutdown waits for it
	asked      bool // shutdown asked
	closed     bool
	finished   bool          // the protocol has returned
	done       chan struct{} // made by Done, closed when finished
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

// SetEngine keeps the engine's own connection value (gorilla's
// *websocket.Conn, say) on the Conn: a [Protocol]'s Handshake sets it for
// its Serve and Shutdown, which read it with [Conn.Engine].
func (c *Conn) SetEngine(v any) {
	c.mu.Lock()
	c.engine = v
	c.mu.Unlock()
}

// Engine returns what [Conn.SetEngine] kept, or nil.
func (c *Conn) Engine() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.engine
}

// Done returns a channel that is closed when the protocol has returned
// (Serve, or a Handshake without Serve) and the connection is closed: a
// shutdown func waits on it for the peer's close.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.finished {
			close(c.done)
		}
	}
	return c.done
}

// OnShutdown sets how the protocol closes this connection its own way
// (a WebSocket close frame, an HTTP/2 GOAWAY) when the negotiator shuts
// down, in place of [Protocol].Shutdown. f runs once, in its own
// goroutine; it should start the close and may wait a bounded time for
// the peer. Without either the connection is simply closed. If the
// shutdown has already begun, f runs at once. A shutdown that comes
// between the 101 and the call to OnShutdown closes the connection:
// prefer [Protocol].Shutdown, which is in place from the switch.
func (c *Conn) OnShutdown(f func()) {
	c.mu.Lock()
	c.onShutdown = f
	run := c.asked && !c.handing
	c.mu.Unlock()
	if run {
		go f()
	}
}

// askShutdown starts the protocol's own close, once. A connection whose
// Serve has not started yet (its Handshake is writing the 101) is closed
// when Serve starts.
func (c *Conn) askShutdown() {
	c.mu.Lock()
	if c.asked {
		c.mu.Unlock()
		return
	}
	c.asked = true
	cancel, handing := c.cancel, c.handing
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if !handing {
		c.shutdown()
	}
}

// shutdown runs the connection's or the protocol's shutdown func, or
// closes the connection.
func (c *Conn) shutdown() {
	c.mu.Lock()
	f := c.onShutdown
	c.mu.Unlock()
	switch {
	case f != nil:
		go f()
	case c.e.proto.Shutdown != nil:
		go c.e.proto.Shutdown(c)
	default:
		_ = c.Close()
	}
}

// serve runs the protocol's Serve in the connection's own goroutine, then
// closes and reports the connection. Its frames are few: the stack of an
// idle connection is this goroutine's.
func (c *Conn) serve() {
	c.mu.Lock()
	c.handing = false
	asked := c.asked
	c.mu.Unlock()
	if asked {
		c.shutdown()
	}
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = c.n.recovered(c, p)
		}
		c.n.finish(c, err)
	}()
	err = c.e.proto.Serve(c)
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
		RemoteAddr: c.req.RemoteAddr,
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
	pc := n.count(c.e.name)
	pc.active++
	pc.switched++
	n.mu.Unlock()
	if n.opts.OnSwitch != nil {
		n.opts.OnSwitch(c.Info())
	}
	if l := n.opts.Logger; l != nil {
		l.Debug("negotiate: switched", "protocol", c.protocol, "remote", c.req.RemoteAddr)
	}
	if n.draining.Load() {
		c.askShutdown()
	}
}

// finish closes a connection whose protocol has returned and reports it.
func (n *Negotiator) finish(c *Conn, err error) {
	_ = c.Close()
	c.mu.Lock()
	c.finished = true
	c.handing = false
	if c.done != nil {
		close(c.done)
	}
	c.mu.Unlock()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	info := c.Info()
	info.Err = err
	n.mu.Lock()
	delete(n.live, c)
	n.count(c.e.name).active--
	n.mu.Unlock()
	n.release(c.e.name)
	if n.opts.OnClose != nil {
		n.opts.OnClose(info)
	}
	if l := n.opts.Logger; l != nil {
		l.Debug("negotiate: closed", "protocol", info.Protocol, "remote", info.RemoteAddr,
			"duration", info.Duration, "in", info.BytesIn, "out", info.BytesOut, "err", err)
	}
}
