package negotiate

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
)

// hijackConn takes the connection from w through http.NewResponseController
// only, so that wrapped writers that implement Unwrap work (DESIGN.md's
// switch rule). It is inlined into its callers: the hijack runs at the
// bottom of the handshake path on net/http's goroutine, whose stack is
// copied if that path outgrows it.
func hijackConn(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w).Hijack()
}

// adopt makes conn of a hijacked connection: it clears the server's
// deadlines, keeps the bytes the server had already buffered as the Conn's
// early bytes, empties brw's buffers onto the Conn, and tracks it.
func (n *Negotiator) adopt(conn *Conn, nc net.Conn, brw *bufio.ReadWriter, r *http.Request, c *choice) {
	_ = nc.SetDeadline(time.Time{})
	conn.nc = nc
	conn.n = n
	conn.e = c.e
	conn.req = r
	conn.protocol = c.token
	conn.next = c.next
	conn.start = time.Now()
	conn.handing = c.e.proto.Serve != nil
	if k := brw.Reader.Buffered(); k > 0 {
		p, _ := brw.Reader.Peek(k)
		conn.early = bytes.Clone(p)
		conn.hasEarly.Store(true)
	}
	brw.Reader.Reset(conn)
	brw.Writer.Reset(conn)
	n.track(conn)
}

// expectsContinue reports whether the 100 Continue is still due: net/http
// sends it itself only when a handler reads a non-empty body.
func expectsContinue(r *http.Request) bool {
	return r.ContentLength == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue")
}

const continueLine = "HTTP/1.1 100 Continue\r\n\r\n"

// write101 writes the 101 (after a due 100 Continue) under the handshake
// timeout: Upgrade with the chosen token, Connection: Upgrade, and the
// valid fields of h, the ResponseWriter's header (Authorize's cookies, say).
func (c *Conn) write101(h http.Header, r *http.Request) error {
	var b []byte
	if expectsContinue(r) {
		b = append(b, continueLine...)
	}
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: "...)
	b = append(b, c.protocol...)
	b = append(b, "\r\nConnection: Upgrade\r\n"...)
	b = appendHeader(b, h)
	b = append(b, "\r\n"...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.n.opts.HandshakeTimeout))
	_, err := c.nc.Write(b)
	_ = c.nc.SetWriteDeadline(time.Time{})
	return err
}

// appendHeader appends the fields of h a 101 may carry. Fields the switch
// owns or that would frame a body are left out, and so is any name that is
// not a token or value with a control character: no header can split the
// response.
func appendHeader(b []byte, h http.Header) []byte {
	for k, vs := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Upgrade", "Connection", "Content-Length", "Transfer-Encoding", "Trailer", "Content-Type", "X-Content-Type-Options":
			continue
		}
		if !isToken(k) {
			continue
		}
		for _, v := range vs {
			if !validValue(v) {
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

func validValue(v string) bool { return httpsyntax.ValidFieldValue(v) }

// switchWriter is the ResponseWriter a Handshake engine writes through: its
// Hijack is the negotiator's.
type switchWriter struct {
	http.ResponseWriter
	n       *Negotiator
	r       *http.Request
	c       choice
	conn    *Conn // set by Hijack
	refused bool
	wrote   bool
}

var (
	_ http.Hijacker = (*switchWriter)(nil)
	_ http.Flusher  = (*switchWriter)(nil)
)

// Hijack switches the connection: it returns the tracked *Conn, its
// deadlines cleared and its write deadline set to the handshake timeout, and
// a ReadWriter with empty buffers over it, so the early bytes are read from
// the Conn. A due 100 Continue has been written.
func (sw *switchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if sw.conn != nil {
		return nil, nil, http.ErrHijacked
	}
	nc, brw, err := hijackConn(sw.ResponseWriter)
	if err != nil {
		return nil, nil, err
	}
	conn := new(Conn)
	sw.n.adopt(conn, nc, brw, sw.r, &sw.c)
	sw.conn = conn
	_ = conn.nc.SetWriteDeadline(time.Now().Add(sw.n.opts.HandshakeTimeout))
	if expectsContinue(sw.r) {
		if _, err := conn.nc.Write([]byte(continueLine)); err != nil {
			return nil, nil, err
		}
	}
	return conn, brw, nil
}

func (sw *switchWriter) WriteHeader(code int) {
	sw.wrote = true
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *switchWriter) Write(p []byte) (int, error) {
	sw.wrote = true
	return sw.ResponseWriter.Write(p)
}

func (sw *switchWriter) Flush() {
	sw.wrote = true
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

// Unwrap lets http.NewResponseController reach the server's writer.
func (sw *switchWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }
