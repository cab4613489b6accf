package websocket

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/connhook"
	"github.com/switchyard-http/switchyard/internal/stack"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Conn is a WebSocket connection as its handler gets it: gorilla's
// [*gws.Conn], embedded with its whole API (pass c.Conn to a function that
// takes a *gws.Conn), and the upgrade request and the connection's context.
//
// gorilla's rules apply: one goroutine may read and one may write at a
// time; Close and WriteControl may be called concurrently with the others.
// The package's own writes (the keep-alive's pings, the close frames) are
// all WriteControl calls, so an application writer of its own (a room
// broadcaster) may go on writing while they happen, even after the handler
// has returned. NetConn returns the connection gorilla runs on.
//
// SetReadLimit is the one method of gorilla's that Conn redefines: it
// sets the limit for the inflated size of compressed messages as well.
type Conn struct {
	*gws.Conn

	p *protocol

	// The read limit on inflated bytes (-1: none); the reading goroutine's.
	readLimit int64

	// What Accept decided and the 101 announced; acceptValue's string is
	// accept's bytes.
	acceptValue [1]string
	accept      [28]byte
	sub         int32 // index in Options.Subprotocols; -1 for none
	deflate     bool  // permessage-deflate

	returned bool // the handler has returned; under mu

	// What gorilla's Upgrade is handed (see upgrade): brw only while it
	// runs; rd is the reader gorilla keeps unless it keeps net/http's.
	wire wireConn
	brw  bufio.ReadWriter
	rd   bufio.Reader

	mu   sync.Mutex
	wake chan struct{} // made by a waiting goingAway; closed when the handler returns

	ka keepAlive
}

// SetReadLimit sets the largest message the handler may read from now on,
// as Options.ReadLimit does for the whole connection: counted inflated
// for a compressed message, and on the wire. A limit of 0 or less means
// none, as in gorilla. Like gorilla's, it must be called from the
// goroutine that reads. (c.Conn.SetReadLimit, gorilla's own, leaves the
// limit on inflated bytes as it was.)
func (c *Conn) SetReadLimit(limit int64) {
	c.Conn.SetReadLimit(limit)
	if limit <= 0 {
		limit = -1
	}
	c.readLimit = limit // the inflater's guard applies it from the next message
}

// Request returns the upgrade request, for its URL, fields (cookies) and
// context values. Its own context ended at the switch; see [Conn.Context].
func (c *Conn) Request() *http.Request { return c.wire.Conn.Request() }

// Context returns the connection's context: it carries the upgrade
// request's values and is cancelled when the negotiator shuts down or the
// connection is closed. At a shutdown the server also sends a close frame
// 1001 (going away), so a handler that reads returns anyway; the context is
// for the work it started besides reading.
func (c *Conn) Context() context.Context { return c.wire.Conn.Context() }

var (
	closeNormal    = gws.FormatCloseMessage(gws.CloseNormalClosure, "")
	closeInternal  = gws.FormatCloseMessage(gws.CloseInternalServerErr, "")
	closeTooBig    = gws.FormatCloseMessage(gws.CloseMessageTooBig, "")
	closeGoingAway = gws.FormatCloseMessage(gws.CloseGoingAway, "server shutting down")
)

// serve is the serve func Accept returns; it runs in the connection's own
// goroutine once the negotiator has written the 101. It builds gorilla's
// Conn, runs the handler (with the keep-alive, unless it is off) and ends the
// WebSocket with a close frame. Until the handler returns, the
// connection's context ending (a shutdown) sends 1001 and gives the
// handler CloseTimeout to return before the connection is closed under it.
func (c *Conn) serve(nc *negotiate.Conn) error {
	if connhook.Unswitched(nc) {
		// The switch was not made and the client has its refusal: the
		// handler must not run for it (Accept took nothing to release).
		return nil
	}
	stack.Grow4K() // gorilla needs about 4 KB: one shallow copy instead of a deep one
	ws, err := c.upgrade(nc)
	if err != nil {
		return err
	}
	p := c.p
	c.Conn = ws
	c.readLimit = p.opts.ReadLimit
	if p.opts.ReadLimit > 0 {
		ws.SetReadLimit(p.opts.ReadLimit) // the bytes on the wire
	}
	if c.deflate {
		// The bytes inflated: their number, their UTF-8, and whether
		// they inflate at all.
		c.guardInflation()
	}
	ctx := nc.Context()
	stop := afterFunc(ctx, c.goingAway)
	if p.opts.PingInterval > 0 {
		c.startKeepAlive()
	}
	returned := false
	defer func() {
		if !returned {
			// The handler panicked; the negotiator recovers and logs it.
			_ = c.end(stop, closeInternal)
		}
		c.stopKeepAlive() // no run of tick outlives serve
	}()
	err = p.handler(c)
	returned = true
	peerClosed := closeReceived(err)
	msg := closeNormal
	switch {
	case ctx.Err() != nil:
		msg = closeGoingAway // the handler saw the shutdown first
	case errors.Is(err, gws.ErrReadLimit):
		// gorilla sends 1009 when a message passes the read limit, but
		// not when the sum of a message's frame lengths overflows (and a
		// handler may return the error for a limit of its own): the
		// message was too big, not the server at fault.
		msg = closeTooBig
	case err != nil && !peerClosed:
		msg = closeInternal
	}
	werr := c.end(stop, msg)
	switch c.stopKeepAlive() {
	case expiredPong:
		return ErrPongTimeout
	case expiredWrite:
		if werr != nil {
			return werr // gorilla's error of the write that failed first
		}
	}
	if peerClosed || c.wire.closeSeen.Load() {
		// Both close frames have crossed: the peer sends nothing more and
		// waits for the server to close the TCP connection (RFC 6455
		// §7.1.1), so there is nothing to drain.
		_ = nc.Close()
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // the handler returned Context().Err(): a shutdown is not a failure
	}
	return handlerResult(err)
}

// end follows the handler's return: it stops the shutdown watch (or wakes
// a goingAway waiting for the handler) and sends the close frame msg,
// unless one was sent already (the peer's, echoed by gorilla; the read
// limit's 1009; the shutdown's 1001), in which case gorilla would write
// nothing and it does not ask (gorilla's WriteControl allocates a timer
// and the frame before it looks). It writes only with WriteControl, which
// gorilla allows concurrently with an application's writer. It returns
// the close frame's write error.
func (c *Conn) end(stop func() bool, msg []byte) error {
	stop()
	c.mu.Lock()
	c.returned = true
	if c.wake != nil {
		close(c.wake)
	}
	c.mu.Unlock()
	if c.wire.closeSent.Load() {
		return nil
	}
	return c.Conn.WriteControl(gws.CloseMessage, msg, time.Now().Add(c.p.opts.CloseTimeout))
}

// goingAway runs when the connection's context ends while the handler
// runs: it sends 1001 and waits up to CloseTimeout for the handler to
// return (it does when its read returns the peer's answering close), then
// closes the connection, which makes the handler's reads and writes fail.
func (c *Conn) goingAway() {
	deadline := time.Now().Add(c.p.opts.CloseTimeout)
	_ = c.Conn.WriteControl(gws.CloseMessage, closeGoingAway, deadline)
	c.mu.Lock()
	if c.returned {
		c.mu.Unlock()
		return
	}
	c.wake = make(chan struct{})
	wake := c.wake
	c.mu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C:
		_ = c.wire.Conn.Close()
	}
}

// handlerResult is what the connection reports for the handler's error:
// nil for the peer's normal close, also when the handler wrapped it
// ("reading: %w").
func handlerResult(err error) error {
	switch closeCode(err) {
	case gws.CloseNormalClosure, gws.CloseGoingAway, gws.CloseNoStatusReceived:
		return nil
	}
	return err
}

// closeReceived reports whether err is the peer's close frame: a
// *gws.CloseError other than the 1006 (abnormal closure) gorilla makes up
// when the stream ends without one. A peer that vanished, perhaps in the
// middle of a message the handler was answering, must not be answered
// 1000.
func closeReceived(err error) bool {
	code := closeCode(err)
	return code != 0 && code != gws.CloseAbnormalClosure
}

// closeCode is the code of the *gws.CloseError in err's chain (found
// without allocating, unlike errors.As), 0 if there is none.
func closeCode(err error) int {
	for err != nil {
		if ce, ok := err.(*gws.CloseError); ok {
			return ce.Code
		}
		err = errors.Unwrap(err)
	}
	return 0
}

// afterFunc is context.AfterFunc, through the context's own AfterFunc
// method where it has one: a negotiate.Conn's context does, and registers
// f without the objects context.AfterFunc would add to every connection.
func afterFunc(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(interface{ AfterFunc(func()) func() bool }); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(ctx, f)
}
