package negotiate

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
)

// Switch is a switch the negotiator is about to make: what
// [Options].Authorize and a [Protocol]'s Accept see, once the protocol is
// chosen and before anything is written. Its Request and Token stay with
// the switched connection ([Conn.Request], [Conn.Token]); its Header goes
// once the 101 is written, so that an idle connection does not keep it.
type Switch struct {
	// Request is the upgrade request. Its context ends when the request's
	// handler returns: at the switch on HTTP/1.1, when the stream ends on
	// HTTP/2. The connection's is [Conn.Context].
	Request *http.Request

	// Token is the chosen protocol as the client offered it ("foo/2"); the
	// switch response names it.
	Token string

	// Header holds the fields the switch response carries besides the ones
	// the negotiator writes itself (Upgrade, Connection): Authorize's
	// cookies, a protocol's own (Sec-WebSocket-Accept). It is the
	// ResponseWriter's header, so fields set by middleware in front are
	// there too. Fields that would describe a body (Content-*,
	// Transfer-Encoding, Trailer) and invalid names or values are left
	// out, so that no field can split the response. Being the
	// ResponseWriter's, it is also the header of a refusal that comes
	// after a field was added (Accept refusing after Authorize set a
	// cookie, or after setting fields of its own): add fields once the
	// switch is decided.
	Header http.Header
}

// switchConn hijacks the connection of a request whose protocol accepted,
// writes the 101 and hands the connection to serve in a goroutine of its
// own. The hijack goes only through http.NewResponseController, so
// wrapped writers that implement Unwrap work.
func (n *Negotiator) switchConn(w http.ResponseWriter, c *Conn, serve func(*Conn) error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		n.unswitched(c, serve, func() { n.hijackFailed(w, c.sw.Request, c.e, err) })
		return
	}
	_ = nc.SetDeadline(time.Time{}) // the server's
	c.nc = nc
	c.start = time.Now()
	if k := brw.Reader.Buffered(); k > 0 {
		// The client's first bytes, sent behind its request head.
		p, _ := brw.Reader.Peek(k)
		c.early = bytes.Clone(p)
		c.hasEarly.Store(true)
	}
	brw.Reader.Reset(c)
	brw.Writer.Reset(c)
	c.brw.Store(brw)
	if !n.track(c) {
		// A shutdown's context ended during the hijack: the switch is not
		// made, and the connection is closed without an answer.
		_ = nc.Close()
		n.unswitched(c, serve, func() {
			n.logRefusal(c.sw.Request, 0, "server is shutting down: the connection was closed without an answer")
			n.reportRefusal(c.sw.Request, c.e, 0, false)
		})
		return
	}
	if err := c.write101(); err != nil {
		c.switchErr = err // reported to OnClose
		_ = c.Close()     // the serve func sees the failure at its first read or write
	}
	go c.serve(serve)
}

func (n *Negotiator) hijackFailed(w http.ResponseWriter, r *http.Request, p *entry, err error) {
	var e *Error
	if errors.As(err, &e) {
		// A writer wrapper that knows why it cannot hijack (echoadapter
		// behind Echo's Timeout middleware) says so in its own words.
		n.refuseFor(w, r, p, e, true)
		return
	}
	if errors.Is(err, http.ErrNotSupported) {
		// A server-side wiring fault, not the client's: say so.
		n.refuseFor(w, r, p, &Error{Status: http.StatusInternalServerError,
			Reason: "cannot switch protocols: the ResponseWriter does not support Hijack (a wrapper without Unwrap, or a timeout handler)", Err: err}, true)
		return
	}
	if !errors.Is(err, http.ErrHijacked) {
		// A wrapper's own error, or net/http's on a connection that
		// failed: answered 500 as gorilla and x/net answer a failed
		// hijack (net/http would otherwise write an empty 200).
		n.refuseFor(w, r, p, &Error{Status: http.StatusInternalServerError,
			Reason: "cannot switch protocols: the connection could not be hijacked", Err: err}, true)
		return
	}
	// A middleware in front hijacked the connection first: it is no
	// longer the server's to write on.
	if l := n.logger(slog.LevelInfo); l != nil {
		l.Info("negotiate: hijack failed", "remote", r.RemoteAddr, "err", err)
	}
	n.reportRefusal(r, p, 0, true) // nothing could be answered
}

// expectsContinue reports whether the 100 Continue is still due: net/http
// sends it itself only when a handler reads a non-empty body. Expect is a
// list (RFC 9110 §10.1.1), in which net/http finds 100-continue as a token.
func expectsContinue(r *http.Request) bool {
	return r.ContentLength == 0 && ContainsToken(r.Header["Expect"], "100-continue")
}

// write101 writes the 101 (after a due 100 Continue) under the handshake
// timeout: Upgrade with the chosen token, Connection: Upgrade, and the
// fields of the Switch's Header a 101 may carry.
func (c *Conn) write101() error {
	bp := headBuffers.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; headBuffers.Put(bp) }()
	b := *bp
	if expectsContinue(c.sw.Request) {
		b = append(b, "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "...)
	b = append(b, c.sw.Token...)
	b = append(b, "\r\nConnection: Upgrade\r\n"...)
	b = appendHeader(b, c.sw.Header)
	b = append(b, "\r\n"...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.n.opts.HandshakeTimeout))
	_, err := c.nc.Write(b)
	_ = c.nc.SetWriteDeadline(time.Time{})
	*bp = b
	c.sw.Header = nil // written: a connection does not keep it for its life
	return err
}

// headBuffers holds the buffers 101s are built in.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendHeader appends the fields of h a 101 may carry. Fields the switch
// owns or that would frame a body are left out, and so is any name that is
// not a token or value with a control character: no header can split the
// response.
func appendHeader(b []byte, h http.Header) []byte {
	for k, vs := range h {
		if !switchField(k) {
			continue
		}
		for _, v := range vs {
			if invalidValue(v) {
				continue
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

// invalidValue reports whether v cannot be a field value (a control
// character, CR or LF among them).
func invalidValue(v string) bool { return !httpsyntax.ValidFieldValue(v) }

// switchField reports whether a switch response may carry the field name:
// not the switch's own fields, nor those that would describe a body
// (Content-*, Transfer-Encoding, Trailer, and X-Content-Type-Options, which
// is about one), and only a valid token.
func switchField(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Upgrade", "Connection", "Transfer-Encoding", "Trailer", "X-Content-Type-Options":
		return false
	}
	if len(name) >= len("Content-") && strings.EqualFold(name[:len("Content-")], "Content-") {
		return false
	}
	return isToken(name)
}

// deadConn stands in for a connection the switch could not take.
type deadConn struct{}

func (deadConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (deadConn) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (deadConn) Close() error                     { return nil }
func (deadConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (deadConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (deadConn) SetDeadline(time.Time) error      { return nil }
func (deadConn) SetReadDeadline(time.Time) error  { return nil }
func (deadConn) SetWriteDeadline(time.Time) error { return nil }

// unswitched ends a switch whose protocol accepted but that is not made:
// it releases the switch's slot, refuse answers the client (and reports
// the refusal), and then the serve func runs, on a connection whose reads
// and writes fail, so that it releases what Accept acquired (a tunnel's
// backend connection). It runs even when refuse panics (a Responder's
// panic, which net/http then recovers): the serve func runs once for
// every Accept that returned one.
func (n *Negotiator) unswitched(c *Conn, serve func(*Conn) error, refuse func()) {
	n.release(c.e.name)
	c.nc, c.start = deadConn{}, time.Now()
	if c.h2 {
		defer c.serveUnswitched(serve) // on the stream's goroutine, as a switch's
	} else {
		defer func() { go c.serveUnswitched(serve) }()
	}
	refuse()
}

// serveUnswitched runs the serve func of a switch that failed, so that it
// releases what Accept acquired; the connection was never tracked.
func (c *Conn) serveUnswitched(f func(*Conn) error) {
	c.closed = true
	c.ctx.cancel() // as a closed connection's: a protocol that waits on it returns
	defer func() {
		if p := recover(); p != nil {
			_ = c.n.recovered(c, p)
		}
	}()
	_ = f(c)
}
