package negotiate

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a switched connection, handed to the serve func a [Protocol]'s
// Accept returned. It is a net.Conn whose first reads return the bytes the
// client sent behind its request head before the switch (never lost,
// never repeated), and which counts the bytes read and written.
//
// The protocol owns the Conn until its serve func returns: the server's
// deadlines were cleared at the switch, and no one else reads or writes
// it. When the serve func returns (with nil, an error, or a panic, which is
// recovered and logged), the negotiator closes the Conn without losing
// what the protocol wrote: it half-closes it, discards what the client
// still sends for up to Options.Linger, then closes it, and reports it to
// Options.OnClose. [Conn.Close] instead closes at once.
type Conn struct {
	nc    net.Conn
	n     *Negotiator
	e     *entry
	sw    Switch
	start time.Time

	switchErr error // the write of the 101 failed
	h2        bool  // an HTTP/2 stream, not a hijacked connection

	ending atomic.Uint32 // how a shutdown ended it: shutdownAsked, shutdownForced (after h2, in its padding)

	in, out  atomic.Int64
	hasEarly atomic.Bool
	hs       uint32                           // the handshake in µs (before the switch: its start, see mark)
	brw      atomic.Pointer[bufio.ReadWriter] // the hijack's buffers, until Buffers or the first Read or Write

	mu     sync.Mutex
	early  []byte
	closed bool
	ctx    connContext
}

var _ net.Conn = (*Conn)(nil)

func (c *Conn) Read(p []byte) (int, error) {
	if c.brw.Load() != nil {
		c.brw.Store(nil) // not adopted: let an idle connection not keep them
	}
	if c.hasEarly.Load() {
		c.mu.Lock()
		if c.closed || c.ending.Load()&shutdownForced != 0 {
			// Closed: what the client sent is no longer read, as from a
			// closed net.Conn (a 101 that could not be written closes it
			// too: the client does not know it switched).
			c.mu.Unlock()
			return 0, &net.OpError{Op: "read", Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: net.ErrClosed}
		}
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
	if c.brw.Load() != nil {
		c.brw.Store(nil)
	}
	n, err := c.nc.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// Close closes the connection at once: input the client sent that was not
// read makes the system send a reset, which may destroy data still in
// flight to the client, and reads fail from then on (the bytes the client
// sent behind its request head are not returned either). To end a
// connection without losing what was written, return from the serve func
// instead. On an HTTP/2 stream, Close makes reads and writes fail at once
// (a write still waiting resets the stream), and the stream ends, after
// what was written, when the serve func returns. Either way a read or
// write waiting at the Close, or made after it, fails with net.ErrClosed,
// and so does a deadline set after it.
// Calling Close again does nothing.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.nc.Close()
	c.ctx.cancel() // after: a goodbye the protocol starts now finds the connection gone
	return err
}

// CloseWrite shuts down the writing side (a TCP half-close): the client
// reads the end of the stream while the protocol may go on reading. It is
// an error when the connection underneath cannot half-close.
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

// Buffers returns the buffers the HTTP server read and would have written
// the connection through before the switch (4 KiB each with net/http),
// reset to read from and write to c, with nothing buffered: the client's
// early bytes are c's first reads. An engine that buffers its I/O
// (gorilla/websocket) may adopt them instead of allocating its own, as it
// does behind net/http's Hijack. Only a call made before the connection's
// first Read or Write returns them, and only once; otherwise Buffers
// returns nil, and the negotiator lets them go so that an idle connection
// does not keep them. An HTTP/2 stream has none: Buffers returns nil.
func (c *Conn) Buffers() *bufio.ReadWriter { return c.brw.Swap(nil) }

// Token returns the chosen protocol as the client offered it ("foo/2").
func (c *Conn) Token() string { return c.sw.Token }

// Request returns the upgrade request, for its URL, fields and context
// values. On HTTP/1.1 its body has been consumed or refused, and its
// context ends at the switch, as the request's handler returns (it may
// still be alive when the serve func starts). On an HTTP/2 stream its body
// is the stream, which c reads, and its context lives until the stream
// ends, after the serve func has returned. Either way a protocol's work
// belongs under [Conn.Context].
func (c *Conn) Request() *http.Request { return c.sw.Request }

// Context returns a context that carries the upgrade request's values and
// is cancelled when the negotiator shuts down, when c is closed
// ([Conn.Close]) or when the serve func has returned. A client that goes
// away does not cancel it: c's reads report that (io.EOF, an error), so a
// protocol that waits on the context alone holds its connection until the
// shutdown. It is how a protocol takes part in a shutdown: [Negotiator.Shutdown]
// cancels it and leaves the connection to close its own way (a goodbye, a
// close frame, a GOAWAY) until the shutdown's own context ends, as
// http.Server.Shutdown leaves a handler to finish. A protocol that ignores
// it is closed when the shutdown's context ends. A Context first asked for
// after the shutdown began is already cancelled. The context has an
// AfterFunc(f func()) (stop func() bool) method that does what
// context.AfterFunc does, for the cost of one small object: an engine that
// watches every connection may call it directly.
func (c *Conn) Context() context.Context { return &c.ctx }

// ConnInfo describes a switched connection to the OnSwitch and OnClose
// hooks.
type ConnInfo struct {
	Token      string        // the chosen protocol as offered ("foo/2")
	Name       string        // its registered name: lower case, without version ("foo")
	Transport  string        // what it switched on: TransportHTTP1 or TransportH2
	RemoteAddr string        // the client's address
	Start      time.Time     // when the connection switched
	Duration   time.Duration // how long it was open (OnClose)
	BytesIn    int64         // bytes read after the switch, early bytes included
	BytesOut   int64         // bytes written after the switch, the negotiator's 101 excluded
	Err        error         // the protocol's error or recovered panic (OnClose); nil for a clean end

	// Handshake is how long the switch took, to the microsecond: from
	// the choice of its protocol (before the limits, Authorize and
	// Accept) to the switch (the hijack, before the 101 is written).
	Handshake time.Duration
	// CloseReason says how the connection ended (OnClose; "" while it is
	// open): CloseNormal, CloseError, CloseShutdown or CloseForced.
	CloseReason string
}

// The transports a connection switches on ([ConnInfo].Transport), named
// by their ALPN identifiers.
const (
	// TransportHTTP1 is an HTTP/1.1 connection that switched by Upgrade
	// and a 101: the protocol owns the whole connection.
	TransportHTTP1 = "http/1.1"
	// TransportH2 is an HTTP/2 stream opened by an extended CONNECT
	// (RFC 8441) and answered 200: the protocol owns the stream, and
	// the connection goes on serving other streams.
	TransportH2 = "h2"
)

// Info returns the connection's description so far.
func (c *Conn) Info() ConnInfo {
	return ConnInfo{
		Token:      c.sw.Token,
		Name:       c.e.name,
		Transport:  c.transport(),
		RemoteAddr: c.sw.Request.RemoteAddr,
		Start:      c.start,
		Duration:   time.Since(c.start),
		BytesIn:    c.in.Load(),
		BytesOut:   c.out.Load(),
		Handshake:  time.Duration(c.hs) * time.Microsecond,
	}
}

func (c *Conn) transport() string {
	if c.h2 {
		return TransportH2
	}
	return TransportHTTP1
}

// serve runs the protocol in the connection's own goroutine, then closes
// and reports the connection. Its frames are few: the stack of an idle
// connection is this goroutine's.
func (c *Conn) serve(f func(*Conn) error) {
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = c.n.recovered(c, p)
		}
		if c.switchErr != nil {
			err = c.switchErr
		}
		c.n.finish(c, err)
	}()
	err = f(c)
}

// maxLingerBytes bounds what a closing connection discards of the
// client's input.
const maxLingerBytes = 1 << 20

// closeGracefully half-closes the connection, discards the client's input
// until it ends, Linger passes or maxLingerBytes have been read, then
// closes: what the protocol wrote reaches the client, and is not destroyed
// by the reset that closing a socket with unread input sends.
func (c *Conn) closeGracefully() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.ctx.cancel()
	if s, ok := c.nc.(*streamConn); ok {
		s.end(c.n.opts.Linger)
		return
	}
	// A write still under way (a goroutine of the protocol's) gets Linger:
	// over TLS the half-close (close_notify) waits for it, and would wait
	// for ever for a client that does not read.
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.n.opts.Linger))
	if c.CloseWrite() == nil {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.n.opts.Linger))
		buf := drainBuffers.Get().(*[4096]byte)
		for n := 0; n < maxLingerBytes; {
			k, err := c.nc.Read(buf[:])
			n += k
			if err != nil {
				break
			}
		}
		drainBuffers.Put(buf)
	}
	_ = c.nc.Close()
}

// drainBuffers holds the buffers closing connections discard the client's
// input into (a pool rather than io.Copy, whose LimitedReader would cost
// every close an allocation).
var drainBuffers = sync.Pool{New: func() any { return new([4096]byte) }}

// askShutdown cancels the connection's Context, once; the protocol
// closes its own way.
func (c *Conn) askShutdown() {
	c.ending.Or(shutdownAsked)
	c.ctx.cancel()
}

// track adds a new connection to the live set, and reports false, adding
// nothing, once a shutdown's context has ended: that shutdown has closed
// every live connection and returned, and a switch made now would outlive
// it.
func (n *Negotiator) track(c *Conn) bool {
	c.switched()
	n.mu.Lock()
	if n.forced.Load() { // set under mu, before the forced close walks live
		n.mu.Unlock()
		return false
	}
	n.live[c] = struct{}{}
	pc := n.count(c.e.name)
	pc.active++
	pc.switched++
	if c.h2 {
		pc.overH2++
	}
	n.mu.Unlock()
	if n.opts.OnSwitch != nil {
		n.onSwitch(c)
	}
	n.logSwitched(c)
	if n.draining.Load() {
		c.askShutdown()
	}
	return true
}

// forceClose closes a connection whose protocol has not returned when a
// shutdown's context ends, once. An HTTP/2 stream is reset: closed alone,
// it would end only when the protocol returns.
func (c *Conn) forceClose() {
	if c.ending.Or(shutdownForced)&shutdownForced != 0 {
		return // by an earlier shutdown
	}
	if s, ok := c.nc.(*streamConn); ok {
		s.reset()
		return
	}
	_ = c.nc.Close() // also ends a close that lingers
}

// finish closes a connection whose protocol has returned and reports it.
func (n *Negotiator) finish(c *Conn, err error) {
	ending := c.ending.Load() // as the protocol returned
	c.closeGracefully()
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil // the peer's end, or a close of ours: a clean end
	}
	info := c.Info()
	info.Err = err
	info.CloseReason = closeReason(ending, err)
	// The connection leaves Active and frees its slot at once: Stats never
	// shows a connection gone whose slot still refuses an upgrade.
	n.mu.Lock()
	delete(n.live, c)
	pc := n.count(c.e.name)
	pc.active--
	pc.reserved--
	n.reserved--
	n.closing++
	n.mu.Unlock()
	if n.opts.OnClose != nil {
		n.onClose(c, info)
	}
	n.logClosed(&info)
	n.mu.Lock()
	n.closing-- // a Shutdown that returns has seen every OnClose return
	n.signalLocked()
	n.mu.Unlock()
}

// logSwitched and logClosed log at Debug. They build the record only if the
// logger takes Debug: the arguments of a call the logger drops still cost
// an allocation each (the slice and every boxed value), at every switch.
func (n *Negotiator) logSwitched(c *Conn) {
	if l := n.logger(slog.LevelDebug); l != nil {
		l.Debug("negotiate: switched", "token", c.sw.Token, "remote", c.sw.Request.RemoteAddr)
	}
}

func (n *Negotiator) logClosed(info *ConnInfo) {
	if l := n.logger(slog.LevelDebug); l != nil {
		l.Debug("negotiate: closed", "token", info.Token, "remote", info.RemoteAddr,
			"duration", info.Duration, "in", info.BytesIn, "out", info.BytesOut, "err", info.Err)
	}
}
