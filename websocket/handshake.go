package websocket

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/negotiate"
)

// accept is the protocol's Accept: it puts the WebSocket fields of the 101
// in s.Header (the negotiator writes the 101) and returns the connection's
// serve func. The fields are computed here from the client's request, and
// gorilla is later given a request that makes it agree with them (see
// [Conn.serve]). Its allocations are the Conn, which holds everything the
// connection needs, the Sec-WebSocket-Accept value and the serve func.
func (p *protocol) accept(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
	if !strings.EqualFold(s.Token, "websocket") {
		// Check saw a bare websocket in Upgrade, but the registry chose an
		// earlier versioned offer ("websocket/13, websocket"); the 101 must
		// name websocket itself.
		return nil, negotiate.Refusal(http.StatusBadRequest, "a WebSocket handshake must offer the token websocket without a version in Upgrade")
	}
	r := s.Request
	keys := r.Header["Sec-Websocket-Key"]
	h1 := r.ProtoMajor == 1 // otherwise an extended CONNECT: no key, no Accept (RFC 8441 §5)
	if h1 && (len(keys) != 1 || !validKey(keys[0])) {
		// Check refused this already, unless something in between (an
		// Authorize hook) changed the request.
		return nil, negotiate.Refusal(http.StatusBadRequest, "Sec-WebSocket-Key must be the base64 encoding of 16 bytes")
	}
	c := &Conn{
		p:   p,
		sub: int32(p.subprotocol(r.Header)),
	}
	var params int // of the permessage-deflate offer accepted
	if p.opts.EnableCompression && decompressorField.ok {
		c.deflate, params = honoursDeflate(r.Header["Sec-Websocket-Extensions"])
	}
	h := s.Header
	for k := range h {
		// Only ours go out: a middleware's or Authorize's would contradict
		// the handshake (a second Accept, an extension gorilla does not
		// speak).
		if hasPrefixFold(k, "Sec-Websocket-") {
			delete(h, k)
		}
	}
	if h1 {
		c.acceptValue[0] = c.acceptKey(keys[0])
		h["Sec-Websocket-Accept"] = c.acceptValue[:]
	}
	// The two values below are shared, read-only slices: nothing writes to
	// the switch header's values after Accept, and their capacity is their
	// length, so an Add would copy them.
	if c.sub >= 0 {
		h["Sec-Websocket-Protocol"] = p.subHeaders[c.sub]["Sec-Websocket-Protocol"]
	}
	if c.deflate {
		h["Sec-Websocket-Extensions"] = deflateResponse
		if params&serverWindowBits != 0 {
			h["Sec-Websocket-Extensions"] = deflateResponseWindow
		}
	}
	return c.serve, nil
}

// deflateResponse is gorilla's only permessage-deflate mode (RFC 7692), as
// its own 101 announces it. deflateResponseWindow is the same mode for an
// offer with server_max_window_bits=15: RFC 7692 §7.1.2.1 has a server
// accept that parameter by naming it in the response, with the same or a
// smaller value (gorilla's window is 15 bits), and a client may hold it to
// that (python-websockets fails a handshake whose response lacks it).
var (
	deflateResponse       = []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
	deflateResponseWindow = []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15"}
)

// acceptKey returns the Sec-WebSocket-Accept of a valid key (RFC 6455
// §4.2.2): the base64 of the SHA-1 of the key and the protocol's GUID. The
// work is done on the stack and the string is c's accept array, written
// once here and never again, so that it costs no allocation.
func (c *Conn) acceptKey(key string) string {
	const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	var in [24 + len(guid)]byte
	copy(in[copy(in[:], key):], guid)
	sum := sha1.Sum(in[:])
	base64.StdEncoding.Encode(c.accept[:], sum[:])
	return unsafe.String(&c.accept[0], len(c.accept))
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// offersDeflate reports whether gorilla would negotiate permessage-deflate
// for these Sec-WebSocket-Extensions field lines, whatever the offer's
// parameters. FuzzOffersDeflate holds it to gorilla's own decision, and
// with it the parser honoursDeflate shares.
func offersDeflate(lines []string) bool {
	ok, _ := scanDeflate(lines, false)
	return ok
}

// honoursDeflate reports whether one of the permessage-deflate offers in
// these field lines can be honoured by gorilla's only mode (see
// deflateParam); an offer that cannot is declined (RFC 7692 §7), and a
// later one may be accepted. params are the parameters of the offer
// accepted, as deflateParam collects them (serverWindowBits among them).
func honoursDeflate(lines []string) (ok bool, params int) { return scanDeflate(lines, true) }

// scanDeflate is gorilla's parser (parseExtensions, v1.5.3), which skips
// the rest of a field line at the first malformed extension and compares
// names case-sensitively, reduced to the answer, without allocating. With
// strict, a permessage-deflate offer counts only if deflateParam accepts
// each of its parameters, and params are those of the offer that counts.
func scanDeflate(lines []string, strict bool) (ok bool, params int) {
line:
	for _, s := range lines {
		for {
			var name string
			name, s = nextToken(skipSpace(s))
			if name == "" {
				continue line
			}
			good, seen := true, 0
			for {
				s = skipSpace(s)
				if !strings.HasPrefix(s, ";") {
					break
				}
				var param string
				param, s = nextToken(skipSpace(s[1:]))
				if param == "" {
					continue line
				}
				s = skipSpace(s)
				value, hasValue := "", false
				if strings.HasPrefix(s, "=") {
					v := skipSpace(s[1:])
					s = skipTokenOrQuoted(v)
					value, hasValue = v[:len(v)-len(s)], true
					s = skipSpace(s)
				}
				if s != "" && s[0] != ',' && s[0] != ';' {
					continue line
				}
				if strict && name == "permessage-deflate" {
					good = good && deflateParam(param, value, hasValue, &seen)
				}
			}
			if s != "" && s[0] != ',' {
				continue line
			}
			if name == "permessage-deflate" && good {
				return true, seen
			}
			if s == "" {
				continue line
			}
			s = s[1:]
		}
	}
	return false, 0
}

// deflateParam reports whether gorilla's permessage-deflate can honour an
// offer's parameter (RFC 7692 §7.1), value being as written (a token or a
// quoted string); seen collects the parameters met in the offer, since
// one named twice declines it. gorilla compresses each message on its own
// with a 32 KiB window, and inflates whatever window a client uses:
//
//   - server_no_context_takeover, client_no_context_takeover (no value):
//     the 101 announces both anyway.
//   - server_max_window_bits: only 15, gorilla's window, which the 101
//     then names (RFC 7692 §7.1.2.1); a smaller one (which a client offers
//     because it cannot inflate more) cannot be honoured.
//   - client_max_window_bits, bare or 8 to 15: the client says what it may
//     use; the server need not answer it, and inflates any window.
//
// Any other parameter, or a value out of its range, declines the offer.
func deflateParam(name, value string, hasValue bool, seen *int) bool {
	bit := 0
	ok := false
	switch name {
	case "server_no_context_takeover":
		bit, ok = 1, !hasValue
	case "client_no_context_takeover":
		bit, ok = 2, !hasValue
	case "server_max_window_bits":
		bit, ok = serverWindowBits, hasValue && unquote(value) == "15"
	case "client_max_window_bits":
		bit, ok = 8, !hasValue || windowBits(unquote(value))
	}
	if !ok || *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// serverWindowBits is deflateParam's bit for server_max_window_bits, which
// the response names when the offer accepted has it.
const serverWindowBits = 4

// unquote returns the content of a quoted string without escapes (RFC 7692
// §7.1: a quoted value must be a token once unquoted, and a window size is
// digits), or a token as is; "" for anything else.
func unquote(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) || strings.Contains(v, `\`) {
		return ""
	}
	return v[1 : len(v)-1]
}

// windowBits reports whether v is a window size: 8 to 15, without a
// leading zero.
func windowBits(v string) bool {
	switch v {
	case "8", "9", "10", "11", "12", "13", "14", "15":
		return true
	}
	return false
}

func skipSpace(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return s[i:]
}

func nextToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && httpsyntax.IsTchar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// skipTokenOrQuoted returns what follows the token or quoted string s
// starts with; "" for an unterminated quoted string, as gorilla.
func skipTokenOrQuoted(s string) string {
	if !strings.HasPrefix(s, `"`) {
		_, rest := nextToken(s)
		return rest
	}
	escape := false
	for i := 1; i < len(s); i++ {
		switch {
		case escape:
			escape = false
		case s[i] == '\\':
			escape = true
		case s[i] == '"':
			return s[i+1:]
		}
	}
	return ""
}

// gorilla's Upgrade gets one of these two requests instead of the
// client's: a minimal handshake that passes every check of gorilla's
// (Check has done them on the client's request), with or without the
// permessage-deflate offer, as Accept decided. So gorilla's compression
// state is what the 101 announced. gorilla only reads the request (its
// Header, Method, and Sec-WebSocket-Key for the 101 it would write), so
// every handshake shares them.
var (
	gorillaRequest        = newGorillaRequest(false)
	gorillaRequestDeflate = newGorillaRequest(true)
)

func newGorillaRequest(deflate bool) *http.Request {
	h := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	if deflate {
		h["Sec-Websocket-Extensions"] = []string{"permessage-deflate"}
	}
	return &http.Request{Method: http.MethodGet, Host: "switchyard.invalid", Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// hijacker is the ResponseWriter gorilla's Upgrade gets: Hijack hands it
// the negotiator's connection, wrapped (see wireConn), and empty buffers.
// Nothing else of it is used: the Upgrader's Error writes nothing, and the
// response was written by the negotiator.
type hijacker Conn

func (h *hijacker) Header() http.Header       { return http.Header{} }
func (h *hijacker) Write([]byte) (int, error) { return 0, errNoResponse }
func (h *hijacker) WriteHeader(int)           {}
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return &h.wire, &h.brw, nil
}

var (
	errNoResponse = errors.New("websocket: the switch response was written by the negotiator")
	errNot101     = errors.New("websocket: gorilla's first write was not its 101")
	errPeerGone   = errors.New("websocket: the peer's stream ended without a close frame; nothing more is sent")
)

// wireConn is the net.Conn gorilla runs on: the negotiator's connection
// (whose first reads return the client's early bytes), except that
// gorilla's 101, which it writes whole with its first Write, is dropped:
// the negotiator has written the 101 already.
//
// It also sees every frame gorilla reads and writes (see frames.go). A
// read stops before a frame that breaks a rule gorilla does not enforce;
// gorilla's next read, once it has used the bytes before it, sends the
// close frame the rule calls for and fails, as gorilla's own protocol
// errors do, and so does every read after it. A close frame that would say
// "normal" while a message is half sent says 1011 instead; and once the
// peer's stream has ended without a close frame, no data frame is written
// (nothing could finish the message it belongs to).
type wireConn struct {
	*negotiate.Conn
	c *Conn

	in     inbound    // read side, gorilla's reading goroutine only
	ra     readAhead  // the socket's reads (see readahead.go), gorilla's reading goroutine only
	failed *violation // the rule broken; every later read fails
	out    outbound   // write side, under gorilla's write lock

	// The read deadlines (see deadline.go): the handler's, and the bound
	// of the message under way, as Unix nanoseconds (0: none). Both are
	// under dl, since a handler may set its deadline through NetConn from
	// another goroutine; waited is the reading goroutine's.
	dl           sync.Mutex
	readDeadline int64
	msgDeadline  int64
	waited       time.Duration // time spent waiting in reads for the message under way

	peerGone  atomic.Bool // the peer's stream ended without a close frame
	closeSeen atomic.Bool // the peer's close frame arrived
	closeSent atomic.Bool // a close frame was written: gorilla writes nothing more
	reading   atomic.Bool // gorilla waits in a Read of the connection (for the keep-alive)
	dropped   bool        // gorilla's 101 has been dropped
	failSent  bool        // the close frame for failed was sent
	bounded   bool        // msgDeadline is set; the reading goroutine's
}

func (w *wireConn) Read(p []byte) (int, error) {
	if w.failed != nil {
		return 0, w.failRead(w.failed)
	}
	n, err := w.readWire(p)
	if w.failed != nil {
		return 0, err // the message's time is up
	}
	if n > 0 {
		k, v := w.in.scan(p[:n])
		if w.in.closed {
			w.closeSeen.Store(true)
		}
		if v != nil {
			w.failed = v
			if k > 0 {
				return k, nil
			}
			return 0, w.failRead(v)
		}
		// Each message has a bound of its own: one that begins in the
		// read that ends the one before restarts it.
		if w.c.p.opts.MessageTimeout > 0 && (w.in.msg != w.bounded || w.in.msg && w.in.began) {
			w.boundMessage(w.in.msg)
		}
		w.in.began = false
	}
	if err != nil && !w.in.closed {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			w.peerGone.Store(true)
		}
	}
	return n, err
}

// failRead fails reading with v: the first time, it sends v's close
// frame.
func (w *wireConn) failRead(v *violation) error {
	w.failed = v
	if !w.failSent {
		w.failSent = true
		_ = w.c.Conn.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(v.code, v.reason), time.Now().Add(w.c.p.opts.CloseTimeout))
	}
	return v.err
}

func (w *wireConn) Write(p []byte) (int, error) {
	if !w.dropped {
		w.dropped = true
		if !bytes.HasPrefix(p, gorilla101) || !bytes.HasSuffix(p, []byte("\r\n\r\n")) {
			// Not the gorilla this package was written against: fail the
			// connection rather than put a second response on the wire.
			return 0, errNot101
		}
		return len(p), nil
	}
	if w.out.remaining > 0 {
		w.out.remaining -= min(w.out.remaining, uint64(len(p)))
		return w.writeOut(p)
	}
	if op, fin, n, hlen, ok := parseServerHeader(p); ok {
		switch {
		case op < opClose:
			if w.peerGone.Load() {
				return 0, errPeerGone
			}
			w.out.open = !fin
		case op == opClose && w.out.open && (n < 2 || len(p) >= hlen+2 && binary.BigEndian.Uint16(p[hlen:]) == gws.CloseNormalClosure):
			if _, err := w.Conn.Write(closeUnfinished); err != nil {
				return 0, err
			}
			w.closeSent.Store(true)
			return len(p), nil
		case op == opClose:
			w.closeSent.Store(true) // gorilla fails every later write, even if this one fails
		}
		w.out.remaining = n - min(n, uint64(len(p)-hlen))
	}
	return w.writeOut(p)
}

// writeChunk is the most wireConn hands the connection in one write.
const writeChunk = 64 << 10

// writeOut writes p a piece at a time, so that the connection's BytesOut
// grows as the socket takes a large frame: the keep-alive tells by it a
// frame that a slow peer reads from one that the socket takes nothing of
// (see tick).
func (w *wireConn) writeOut(p []byte) (int, error) {
	n := 0
	for len(p) > writeChunk {
		k, err := w.Conn.Write(p[:writeChunk])
		n += k
		if err != nil {
			return n, err
		}
		p = p[writeChunk:]
	}
	k, err := w.Conn.Write(p)
	return n + k, err
}

var gorilla101 = []byte("HTTP/1.1 101 ")

// upgrade builds gorilla's Conn over the switched connection nc; nothing it
// writes reaches the client.
func (c *Conn) upgrade(nc *negotiate.Conn) (*gws.Conn, error) {
	p := c.p
	c.wire.Conn, c.wire.c = nc, c
	c.wire.in.validate, c.wire.in.deflate = !p.opts.SkipUTF8Validation, c.deflate
	// gorilla's write buffers come from the pool, and it takes the reader
	// it is handed (the upgrader's ReadBufferSize is 0 and the reader is
	// over 256 bytes). On a socket that reader is a small one in c, and
	// the socket is read ahead into lent buffers (see readAhead);
	// otherwise it is net/http's if that has the size to hold (4096 set),
	// or else one of that size in c (1024 by default), so that it costs the
	// connection no allocation but its buffer.
	hb := nc.Buffers()
	c.wire.useSocket()
	var small *bufio.ReadWriter
	var rd *bufio.Reader
	var wr *bufio.Writer
	if hb != nil {
		// The HTTP server's own buffers, as gorilla gets them behind
		// net/http's Hijack. gorilla writes its 101 (which wireConn drops)
		// in the writer, which is then let go, with the reader unless it
		// was kept.
		hb.Writer.Reset(&c.wire)
		wr = hb.Writer
		if c.wire.ra.never && hb.Reader.Size() == p.heldRead {
			hb.Reader.Reset(&c.wire)
			rd = hb.Reader
		}
	}
	if rd == nil {
		size := max(p.heldRead, headerBuffer)
		if !c.wire.ra.never {
			size = headerBuffer
		}
		c.rd = *bufio.NewReaderSize(&c.wire, size)
		rd = &c.rd
	}
	if wr == nil {
		// A small writer for gorilla's 101, which it does not keep.
		small = p.smallBuffers.Get().(*bufio.ReadWriter)
		wr = small.Writer
	}
	c.brw = bufio.ReadWriter{Reader: rd, Writer: wr}
	req, header := gorillaRequest, http.Header(nil)
	if c.deflate {
		req = gorillaRequestDeflate
	}
	if c.sub >= 0 {
		header = p.subHeaders[c.sub]
	}
	ws, err := p.upgrader.Upgrade((*hijacker)(c), req, header)
	c.brw = bufio.ReadWriter{}
	if small != nil {
		small.Writer.Reset(nil)
		p.smallBuffers.Put(small)
	}
	return ws, err
}

// newSmallBuffers makes the writer lent to gorilla's Upgrade for its 101
// when the connection has no HTTP server's buffers to hand it (an HTTP/2
// stream): too small for gorilla to keep as its write buffer, so that it
// can be reused.
func newSmallBuffers() any {
	return bufio.NewReadWriter(nil, bufio.NewWriterSize(nil, 16))
}
