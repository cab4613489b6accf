package websocket_test

// Hostile and unlucky peers, spoken to in raw frames over loopback: what
// a conforming client would never send (decompression bombs, invalid
// UTF-8, reserved bits where RFC 7692 forbids them, truncated close
// frames, deflate parameters the engine cannot honour) and what a peer
// does when it vanishes in the middle of a message.

import (
	"bytes"
	"cmp"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// Frame bits, as RFC 6455 §5.2 draws them.
const (
	finBit   = 0x80
	rsv1Bit  = 0x40
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// offerDeflate is the extension line of a client that offers
// permessage-deflate.
const offerDeflate = "Sec-WebSocket-Extensions: permessage-deflate"

// serveHostile serves the protocol made of opts and h at /ws of a loopback
// server and returns its address and what its negotiator's OnClose
// reports.
func serveHostile(t *testing.T, opts *websocket.Options, h func(*websocket.Conn) error) (string, *testkit.ConnInfos) {
	t.Helper()
	p, err := websocket.New(opts, h)
	if err != nil {
		t.Fatalf("websocket.New: %v", err)
	}
	closes := testkit.NewConnInfos()
	var reg negotiate.Registry
	reg.Register("websocket", p)
	n := testkit.NewNegotiator(t, &negotiate.Options{OnClose: closes.Hook})
	mux := http.NewServeMux()
	mux.Handle("/ws", n.Endpoint(&reg))
	return testkit.Addr(testkit.StartServer(t, mux)), closes
}

// peer is a raw WebSocket client: it writes frames byte by byte and
// reads the server's frames as they are on the wire.
type peer struct {
	t *testing.T
	*testkit.Exchange
}

// wsHandshake is a valid WebSocket handshake for /ws (Host example.com),
// with extra header lines.
func wsHandshake(extra ...string) string {
	return testkit.UpgradeRequest("/ws", "websocket", append([]string{
		"Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	}, extra...)...)
}

// dialPeer opens a WebSocket at addr in raw bytes, with extra header
// lines, and fails the test unless it switched.
func dialPeer(t *testing.T, addr string, extra ...string) *peer {
	t.Helper()
	ex := testkit.Raw(t, addr, wsHandshake(extra...))
	if ex.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: got %s (%s), want 101", ex.Resp.Status, ex.Body)
	}
	return &peer{t, ex}
}

// send writes frames in one write.
func (p *peer) send(frames ...[]byte) {
	p.t.Helper()
	if _, err := p.Write(bytes.Join(frames, nil)); err != nil {
		p.t.Fatal(err)
	}
}

// clientClose is a client close frame with code.
func clientClose(code uint16) []byte {
	return wstest.ClientFrame(finBit|opClose, binary.BigEndian.AppendUint16(nil, code))
}

// header64 is the header of a client frame whose length is written in
// 64 bits (RFC 6455 §5.2), n, whatever n is, with no payload after it:
// for lengths no client could send.
func header64(b0 byte, n uint64) []byte {
	h := binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, n)
	return append(h, 0x11, 0x22, 0x33, 0x44) // the masking key
}

// deflateMessage is p compressed as one permessage-deflate message
// (RFC 7692 §7.2.1: a sync flush, its final 00 00 ff ff removed).
func deflateMessage(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// deflateTakingOver is msgs compressed as permessage-deflate messages by
// a client that keeps its context from one message to the next, as
// client_no_context_takeover (which the server's 101 always says) forbids:
// each message after the first may refer back to the ones before.
func deflateTakingOver(t testing.TB, msgs ...[]byte) [][]byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		b.Reset()
		if _, err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})))
	}
	return out
}

// deflateBomb is the deflated form of a JSON string of n bytes in all: a quote,
// n-2 letters and a quote. It is written in pieces, so that the test
// itself never holds n bytes.
func deflateBomb(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	_, _ = w.Write([]byte(`"`))
	for left := n - 2; left > 0; left -= len(chunk) {
		_, _ = w.Write(chunk[:min(left, len(chunk))])
	}
	_, _ = w.Write([]byte(`"`))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// wireFrame is one frame the server sent.
type wireFrame struct {
	b0      byte
	payload []byte
}

func (f wireFrame) String() string {
	return fmt.Sprintf("fin=%v op=%#x len=%d", f.b0&finBit != 0, f.b0&0xf, len(f.payload))
}

// next reads one (unmasked) server frame.
func (p *peer) next() (wireFrame, error) {
	r := p.BR
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return wireFrame{}, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wireFrame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return wireFrame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if h[1]&0x80 != 0 || n > 64<<20 {
		return wireFrame{}, fmt.Errorf("server frame % x: masked or too long", h)
	}
	payload := make([]byte, n)
	_, err := io.ReadFull(r, payload)
	return wireFrame{h[0], payload}, err
}

// toEnd reads the server's frames until the connection ends.
func (p *peer) toEnd() []wireFrame {
	p.t.Helper()
	var fs []wireFrame
	for {
		f, err := p.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
				p.t.Fatalf("after %v: %v", fs, err)
			}
			return fs
		}
		fs = append(fs, f)
	}
}

// closeCodeOf is the code of the close frame among fs: -1 if there is none,
// 1005 for an empty one.
func closeCodeOf(fs []wireFrame) int {
	for _, f := range fs {
		if f.b0&0xf == opClose {
			if len(f.payload) < 2 {
				return gws.CloseNoStatusReceived
			}
			return int(binary.BigEndian.Uint16(f.payload))
		}
	}
	return -1
}

// wantClose reads frames up to the server's close frame and fails the test
// unless its code is code and nothing but control frames came before it.
func (p *peer) wantClose(code int) {
	p.t.Helper()
	if f, _ := p.serverClose(false); closeCodeOf([]wireFrame{f}) != code {
		p.t.Fatalf("close frame %q: got code %d, want %d", f.payload, closeCodeOf([]wireFrame{f}), code)
	}
}

// serverClose reads frames up to the server's close frame and returns it,
// failing the test if a data frame or the end of the stream comes first.
// With answerPings it answers each ping with a pong, as a live client
// does, and counts them.
func (p *peer) serverClose(answerPings bool) (close wireFrame, pings int) {
	t := p.t
	t.Helper()
	for {
		f, err := p.next()
		if err != nil {
			t.Fatalf("waiting for the server's close after %d pings: %v", pings, err)
		}
		switch op := f.b0 & 0xf; {
		case op == opClose:
			return f, pings
		case op == opPing && answerPings:
			p.send(wstest.ClientFrame(finBit|opPong, f.payload))
			pings++
		case op < opClose:
			t.Fatalf("waiting for the server's close: got a data frame %v %.40q", f, f.payload)
		}
	}
}

// closeNormally closes the WebSocket from the client's side, 1000 both
// ways, and fails the test unless the connection reports no error.
func (p *peer) closeNormally(closes *testkit.ConnInfos) {
	t := p.t
	t.Helper()
	p.send(clientClose(gws.CloseNormalClosure))
	p.wantClose(gws.CloseNormalClosure)
	p.Conn.Close()
	if ci := closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

// message reads frames up to the next data frame (skipping pongs) and
// returns its payload; it must be a whole unfragmented message.
func (p *peer) message() []byte {
	t := p.t
	t.Helper()
	for {
		f, err := p.next()
		if err != nil {
			t.Fatalf("waiting for a message: %v", err)
		}
		switch op := f.b0 & 0xf; {
		case op == opClose:
			t.Fatalf("waiting for a message: got close %q", f.payload)
		case op < opClose:
			if f.b0&finBit == 0 {
				t.Fatalf("message in several frames: %v", f)
			}
			return f.payload
		}
	}
}

// echoUncompressed is wstest.Echo, not compressing what it writes, so
// that the raw client reads the echo as is.
func echoUncompressed(c *websocket.Conn) error {
	c.EnableWriteCompression(false)
	return wstest.Echo(c)
}

// Defect 1: ReadLimit holds on the inflated size of a message, whichever
// way the handler reads it (gorilla's own limit counts the compressed
// bytes on the wire). A message that inflates to exactly ReadLimit
// passes; the next one, a few kilobytes on the wire inflating to
// 16 MiB, fails the read with ErrReadLimit after at most ReadLimit bytes
// were handed to the handler, and the peer gets 1009.
func TestInflatedReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	fits, tooBig := deflateBomb(t, limit), deflateBomb(t, 16<<20)
	if len(tooBig) > limit/16 {
		t.Fatalf("the bomb is %d bytes compressed: not a bomb", len(tooBig))
	}
	// Each way of reading: a func that makes the reads of one connection.
	for name, reads := range map[string]func() func(c *websocket.Conn) (int, error){
		"ReadMessage": func() func(c *websocket.Conn) (int, error) {
			return func(c *websocket.Conn) (int, error) {
				_, p, err := c.ReadMessage()
				return len(p), err
			}
		},
		"NextReader": func() func(c *websocket.Conn) (int, error) {
			return func(c *websocket.Conn) (int, error) {
				_, r, err := c.NextReader()
				if err != nil {
					return 0, err
				}
				n, err := io.Copy(io.Discard, r)
				return int(n), err
			}
		},
		"ReadJSON": func() func(c *websocket.Conn) (int, error) {
			return func(c *websocket.Conn) (int, error) {
				var s string
				err := c.ReadJSON(&s)
				return len(s) + 2, err
			}
		},
		// A limit the handler sets with Conn.SetReadLimit (the server's
		// option is no limit) holds on the inflated size too.
		"SetReadLimit": func() func(c *websocket.Conn) (int, error) {
			return func(c *websocket.Conn) (int, error) {
				c.SetReadLimit(limit)
				_, p, err := c.ReadMessage()
				return len(p), err
			}
		},
		// gorilla's own functions, given the embedded *gws.Conn, are
		// bounded too. The joined stream is read a message's length at a
		// time, and one byte more the second time, which the limit must
		// refuse.
		"JoinMessages": func() func(c *websocket.Conn) (int, error) {
			var joined io.Reader
			return func(c *websocket.Conn) (int, error) {
				want := int64(limit + 1)
				if joined == nil {
					joined, want = gws.JoinMessages(c.Conn, ""), limit
				}
				n, err := io.CopyN(io.Discard, joined, want)
				return int(n), err
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				n   int
				err error
			}
			results := make(chan result, 2)
			opts := &websocket.Options{EnableCompression: true, ReadLimit: limit}
			if name == "SetReadLimit" {
				opts.ReadLimit = -1
			}
			addr, closes := serveHostile(t, opts, func(c *websocket.Conn) error {
				read := reads()
				for range 2 {
					n, err := read(c)
					results <- result{n, err}
					if err != nil {
						return err
					}
				}
				return nil
			})
			p := dialPeer(t, addr, offerDeflate)
			p.send(wstest.ClientFrame(finBit|rsv1Bit|opText, fits), wstest.ClientFrame(finBit|rsv1Bit|opText, tooBig))
			if r := testkit.Receive(t, results, "the first read"); r.err != nil || r.n != limit {
				t.Fatalf("a message inflating to ReadLimit: read %d bytes, %v; want %d, nil", r.n, r.err, limit)
			}
			r := testkit.Receive(t, results, "the bomb's read")
			if !errors.Is(r.err, gws.ErrReadLimit) || r.n > limit {
				t.Fatalf("a message inflating to 16 MiB: read %d bytes, %v; want at most %d, %v", r.n, r.err, limit, gws.ErrReadLimit)
			}
			p.wantClose(gws.CloseMessageTooBig)
			p.Conn.Close()
			if ci := closes.Next(t); !errors.Is(ci.Err, gws.ErrReadLimit) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, gws.ErrReadLimit)
			}
		})
	}
}

// Defect 3: a peer vanishes, or closes, while the server's handler is in
// the middle of streaming a message back. Whatever the handler then does
// (returns the error, finishes its writer, leaves it open, starts another
// message), no frame of that unfinished message carries FIN, and the
// close code is 1011, or there is none when the peer is gone: never 1000.
func TestHalfSentMessage(t *testing.T) {
	t.Parallel()
	// stream echoes the first message as it arrives, then does what the
	// case says once its read fails.
	stream := func(after func(c *websocket.Conn, w io.WriteCloser, err error) error) func(*websocket.Conn) error {
		return func(c *websocket.Conn) error {
			typ, r, err := c.NextReader()
			if err != nil {
				return err
			}
			w, err := c.NextWriter(typ)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, r); err == nil {
				return errors.New("the message was not cut")
			} else {
				return after(c, w, err)
			}
		}
	}
	handlers := map[string]func(*websocket.Conn) error{
		"returns the error": stream(func(_ *websocket.Conn, _ io.WriteCloser, err error) error { return err }),
		"finishes the message": stream(func(_ *websocket.Conn, w io.WriteCloser, _ error) error {
			_ = w.Close()
			return nil
		}),
		"leaves the writer open": stream(func(*websocket.Conn, io.WriteCloser, error) error { return nil }),
		"starts another message": stream(func(c *websocket.Conn, _ io.WriteCloser, _ error) error {
			_ = c.WriteMessage(gws.TextMessage, []byte("next"))
			return nil
		}),
	}
	// The first fragment is several of the server's 4 KiB write buffers,
	// so that part of the echo is on the wire when the input stops.
	first := wstest.ClientFrame(opText, bytes.Repeat([]byte("x"), 16<<10))
	for hname, h := range handlers {
		for _, end := range []string{"vanishes", "closes"} {
			t.Run(hname+"/peer "+end, func(t *testing.T) {
				t.Parallel()
				addr, closes := serveHostile(t, nil, h)
				p := dialPeer(t, addr)
				p.send(first)
				if end == "vanishes" {
					testkit.CloseWrite(t, p.Conn)
				} else {
					p.send(clientClose(gws.CloseNormalClosure))
				}
				fs := p.toEnd()
				data := 0
				for _, f := range fs {
					if f.b0&0xf < opClose {
						data++
						if f.b0&finBit != 0 {
							t.Errorf("frames %v: a data frame has FIN, so the cut message looks whole", fs)
						}
					}
				}
				if data == 0 {
					t.Errorf("frames %v: no part of the echo was sent, so nothing was tested", fs)
				}
				switch code := closeCodeOf(fs); {
				case code == gws.CloseInternalServerErr:
				case code == -1 && end == "vanishes":
				default:
					t.Errorf("frames %v: close code %d, want 1011 (or none when the peer vanished)", fs, code)
				}
				closes.Next(t)
			})
		}
	}
}

// A peer that vanishes between messages has not closed: gorilla reports
// a *CloseError with 1006, a code never sent, and the server answers 1011,
// not the 1000 that would echo a close.
func TestPeerVanishes(t *testing.T) {
	t.Parallel()
	addr, closes := serveHostile(t, nil, echoUncompressed)
	p := dialPeer(t, addr)
	p.send(wstest.ClientFrame(finBit|opText, []byte("hello")))
	if got := p.message(); string(got) != "hello" {
		t.Fatalf("echo: got %q", got)
	}
	testkit.CloseWrite(t, p.Conn)
	if fs := p.toEnd(); closeCodeOf(fs) != gws.CloseInternalServerErr {
		t.Errorf("frames %v: want only a close 1011", fs)
	}
	if ci := closes.Next(t); !gws.IsCloseError(ci.Err, gws.CloseAbnormalClosure) {
		t.Errorf("OnClose error: got %v, want gorilla's 1006", ci.Err)
	}
}

// gorilla's Close closes the connection without a close frame, and so it
// does in a handler (gorilla's "defer c.Close()"): the peer gets what was
// written and then the end of the stream, no close frame, which it reports
// as 1006 (abnormal closure). The handler's nil is still reported as nil.
func TestHandlerCloses(t *testing.T) {
	t.Parallel()
	addr, closes := serveHostile(t, nil, func(c *websocket.Conn) error {
		defer c.Close()
		return c.WriteMessage(gws.TextMessage, []byte("bye"))
	})
	p := dialPeer(t, addr)
	fs := p.toEnd()
	if len(fs) != 1 || fs[0].b0 != finBit|opText || string(fs[0].payload) != "bye" {
		t.Errorf("frames %v: want the message alone, and no close frame", fs)
	}
	if ci := closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

// Defect 4 (RFC 6455 §5.5.1, §8.1; RFC 7692 §6.1): frames the engine must
// fail with a close code, and their valid neighbours, which must pass.
func TestFrameRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		opts    websocket.Options
		deflate bool
		frames  [][]byte
		echo    string // the message that must come back; "" for none
		close   int    // the server's close code; 0: the client closes normally
		err     error  // what OnClose reports for a close 1007; nil: ErrInvalidUTF8
	}{
		{name: "valid text", frames: [][]byte{wstest.ClientFrame(finBit|opText, []byte("héllo €"))}, echo: "héllo €"},
		{name: "invalid UTF-8", frames: [][]byte{wstest.ClientFrame(finBit|opText, []byte("ok \xff"))}, close: gws.CloseInvalidFramePayloadData},
		{name: "surrogate", frames: [][]byte{wstest.ClientFrame(finBit|opText, []byte("\xed\xa0\x80"))}, close: gws.CloseInvalidFramePayloadData},
		{name: "overlong", frames: [][]byte{wstest.ClientFrame(finBit|opText, []byte("\xc0\xaf"))}, close: gws.CloseInvalidFramePayloadData},
		{name: "sequence split across fragments", frames: [][]byte{
			wstest.ClientFrame(opText, []byte("a\xe2\x82")), wstest.ClientFrame(finBit|opCont, []byte("\xacb")),
		}, echo: "a€b"},
		{name: "split sequence around a ping", frames: [][]byte{
			wstest.ClientFrame(opText, []byte("\xe2")), wstest.ClientFrame(finBit|opPing, []byte{0xff, 0xfe}), wstest.ClientFrame(finBit|opCont, []byte("\x82\xac")),
		}, echo: "€"},
		{name: "sequence cut by the message's end", frames: [][]byte{
			wstest.ClientFrame(opText, []byte("a")), wstest.ClientFrame(finBit|opCont, []byte("\xe2\x82")),
		}, close: gws.CloseInvalidFramePayloadData},
		{name: "invalid UTF-8 in a later fragment", frames: [][]byte{
			wstest.ClientFrame(opText, []byte("ok")), wstest.ClientFrame(opCont, []byte("ok")), wstest.ClientFrame(finBit|opCont, []byte("\x80")),
		}, close: gws.CloseInvalidFramePayloadData},
		{name: "invalid UTF-8, validation off", opts: websocket.Options{SkipUTF8Validation: true},
			frames: [][]byte{wstest.ClientFrame(finBit|opText, []byte("ok \xff"))}, echo: "ok \xff"},
		{name: "compressed invalid UTF-8, validation off", opts: websocket.Options{SkipUTF8Validation: true}, deflate: true,
			frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, deflateMessage(t, []byte("ok \xc3(")))}, echo: "ok \xc3("},
		{name: "binary is not text", frames: [][]byte{wstest.ClientFrame(finBit|opBinary, []byte("\xff"))}, echo: "\xff"},
		{name: "long text", frames: [][]byte{wstest.ClientFrame(finBit|opText, bytes.Repeat([]byte("añ€😀"), 5000))}, echo: strings.Repeat("añ€😀", 5000)},
		{name: "long text invalid at the end", frames: [][]byte{wstest.ClientFrame(finBit|opText, append(bytes.Repeat([]byte("añ€😀"), 5000), 0xf0))}, close: gws.CloseInvalidFramePayloadData},
		{name: "compressed text", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, deflateMessage(t, []byte("héllo")))}, echo: "héllo"},
		{name: "compressed invalid UTF-8", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, deflateMessage(t, []byte("ok \xc3(")))}, close: gws.CloseInvalidFramePayloadData},
		{name: "compressed binary", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opBinary, deflateMessage(t, []byte("\xff")))}, echo: "\xff"},
		{name: "RSV1 on a ping", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opPing, nil)}, close: gws.CloseProtocolError},
		{name: "RSV1 on a pong", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opPong, nil)}, close: gws.CloseProtocolError},
		{name: "RSV1 on a close", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opClose, []byte{3, 232})}, close: gws.CloseProtocolError},
		{name: "RSV1 on a continuation", deflate: true, frames: [][]byte{
			wstest.ClientFrame(rsv1Bit|opText, deflateMessage(t, []byte("a"))[:1]), wstest.ClientFrame(finBit|rsv1Bit|opCont, deflateMessage(t, []byte("a"))[1:]),
		}, close: gws.CloseProtocolError},
		{name: "close with a 1-byte payload", frames: [][]byte{wstest.ClientFrame(finBit|opClose, []byte{3})}, close: gws.CloseProtocolError},
		{name: "close with an empty payload", frames: [][]byte{wstest.ClientFrame(finBit|opClose, nil)}, close: gws.CloseNoStatusReceived},
		// Compressed data that does not inflate is the peer's fault, like
		// invalid UTF-8: 1007, not 1011 (server error). An empty payload
		// with RSV1 is not a compressed message either: RFC 7692 §7.2.2
		// inflates it, with 00 00 ff ff appended, as a stored block cut
		// short (an empty message compresses to 00, §7.2.3.6); an empty
		// frame of a message whose other frames carry the data is fine.
		{name: "corrupt compressed data", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opBinary, []byte{0xff, 0xff, 0xff, 0xff})},
			close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		{name: "corrupt compressed text", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, []byte{0xff, 0xff, 0xff, 0xff})},
			close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		{name: "compressed data cut short", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opBinary, []byte{0x00, 0x20, 0x00, 0xdf, 0xff, 'a'})},
			close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		{name: "compressed, empty payload", deflate: true, frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, nil)},
			close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		{name: "compressed message whose first frame is empty", deflate: true, frames: [][]byte{
			wstest.ClientFrame(rsv1Bit|opText, nil), wstest.ClientFrame(finBit|opCont, deflateMessage(t, []byte("whole")))}, echo: "whole"},
		{name: "client context taken over", deflate: true, frames: func() [][]byte {
			m := deflateTakingOver(t, []byte(strings.Repeat("context ", 20)), []byte(strings.Repeat("context ", 20)))
			return [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, m[0]), wstest.ClientFrame(finBit|rsv1Bit|opText, m[1])}
		}(), echo: strings.Repeat("context ", 20), close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		{name: "corrupt compressed data, no limit and no validation", opts: websocket.Options{ReadLimit: -1, SkipUTF8Validation: true}, deflate: true,
			frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opBinary, []byte{0xff, 0xff, 0xff, 0xff})}, close: gws.CloseInvalidFramePayloadData, err: websocket.ErrInvalidCompressedData},
		// RFC 6455 §5.2: the most significant bit of a 64-bit length MUST
		// be 0. gorilla reads such a length as negative and fails with
		// ErrReadLimit, sending nothing, whatever the limit.
		{name: "64-bit length with its top bit set", frames: [][]byte{header64(finBit|opBinary, 1<<63)}, close: gws.CloseProtocolError},
		{name: "64-bit length all ones", frames: [][]byte{header64(finBit|opText, 1<<64-1)}, close: gws.CloseProtocolError},
		{name: "64-bit length with its top bit set, no read limit", opts: websocket.Options{ReadLimit: -1},
			frames: [][]byte{header64(finBit|opBinary, 1<<63)}, close: gws.CloseProtocolError},
		{name: "64-bit length with its top bit set, in a continuation", frames: [][]byte{
			wstest.ClientFrame(opBinary, []byte("a")), header64(finBit|opCont, 1<<63|5),
		}, close: gws.CloseProtocolError},
		{name: "64-bit length of 2^62, over the read limit", frames: [][]byte{header64(finBit|opBinary, 1<<62)}, close: gws.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.EnableCompression = tc.deflate
			addr, closes := serveHostile(t, &opts, echoUncompressed)
			var extra []string
			if tc.deflate {
				extra = append(extra, offerDeflate)
			}
			p := dialPeer(t, addr, extra...)
			p.send(tc.frames...)
			if tc.echo != "" {
				if got := p.message(); string(got) != tc.echo {
					t.Fatalf("echo: got %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), tc.echo, len(tc.echo))
				}
			}
			if tc.close == 0 {
				p.closeNormally(closes)
				return
			}
			p.wantClose(tc.close)
			p.Conn.Close()
			ci := closes.Next(t)
			if want := cmp.Or(tc.err, websocket.ErrInvalidUTF8); tc.close == gws.CloseInvalidFramePayloadData && !errors.Is(ci.Err, want) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, want)
			}
		})
	}
}

// Defect 4 (RFC 7692 §7): an offer whose parameters the engine cannot
// honour is declined, not answered without them; of several offers the
// first that can be honoured is accepted.
func TestDeflateNegotiation(t *testing.T) {
	t.Parallel()
	addr, _ := serveHostile(t, &websocket.Options{EnableCompression: true}, echoUncompressed)
	const accepted = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tc := range []struct {
		offers []string // Sec-WebSocket-Extensions field lines
		want   bool
	}{
		{[]string{"permessage-deflate"}, true},
		{[]string{"permessage-deflate; client_max_window_bits"}, true},
		{[]string{"permessage-deflate; client_max_window_bits=10"}, true},
		{[]string{"permessage-deflate; client_max_window_bits=8; client_no_context_takeover"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=15"}, true},
		{[]string{`permessage-deflate; server_max_window_bits="15"`}, true},
		{[]string{"permessage-deflate; server_no_context_takeover"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=8"}, false},
		{[]string{"permessage-deflate; server_max_window_bits=14"}, false},
		{[]string{"permessage-deflate; server_max_window_bits"}, false},
		{[]string{"permessage-deflate; server_max_window_bits=16"}, false},
		{[]string{"permessage-deflate; client_max_window_bits=7"}, false},
		{[]string{"permessage-deflate; client_max_window_bits=08"}, false},
		{[]string{"permessage-deflate; server_no_context_takeover=1"}, false},
		{[]string{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, false},
		{[]string{"permessage-deflate; x-unknown"}, false},
		{[]string{"x-webkit-deflate-frame"}, false},
		{[]string{"permessage-deflate; server_max_window_bits=8, permessage-deflate"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=10; client_max_window_bits, permessage-deflate; client_max_window_bits"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate; client_no_context_takeover"}, true},
		{[]string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate; x"}, false},
	} {
		extra := make([]string, len(tc.offers))
		for i, o := range tc.offers {
			extra[i] = "Sec-WebSocket-Extensions: " + o
		}
		p := dialPeer(t, addr, extra...)
		got := p.Resp.Header.Values("Sec-WebSocket-Extensions")
		// TestDeflateNamesServerWindowItAccepted holds which of the two
		// answers each offer gets.
		if tc.want && (len(got) != 1 || got[0] != accepted && got[0] != accepted+"; server_max_window_bits=15") || !tc.want && len(got) != 0 {
			t.Errorf("offers %q: 101 Sec-WebSocket-Extensions %q; want accepted: %v", tc.offers, got, tc.want)
		}
		p.Conn.Close()
	}
}

// Defect 5: a policy beyond host patterns — https on any subdomain of
// example.com, and http on localhost at any port — written as
// Options.CheckOrigin, without InsecureSkipOriginCheck. The same origin
// and requests without Origin still pass; CheckOrigin decides the rest.
func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	policy := func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		if rest, ok := strings.CutPrefix(o, "https://"); ok {
			return strings.HasSuffix(rest, ".example.com") && !strings.ContainsAny(rest, "/:@")
		}
		host, ok := strings.CutPrefix(o, "http://localhost")
		return ok && (host == "" || host[0] == ':' && !strings.ContainsAny(host, "/@"))
	}
	addr, _ := serveHostile(t, &websocket.Options{CheckOrigin: policy}, echoUncompressed)
	for origin, want := range map[string]int{
		"":                             http.StatusSwitchingProtocols,
		"http://example.com":           http.StatusSwitchingProtocols, // the same origin
		"https://app.example.com":      http.StatusSwitchingProtocols,
		"https://a.b.example.com":      http.StatusSwitchingProtocols,
		"http://localhost:3000":        http.StatusSwitchingProtocols,
		"http://localhost":             http.StatusSwitchingProtocols,
		"http://app.example.com":       http.StatusForbidden,          // not https
		"https://example.com":          http.StatusSwitchingProtocols, // the same host: scheme not compared
		"https://example.org":          http.StatusForbidden,
		"https://app.example.com.evil": http.StatusForbidden,
		"https://localhost:3000":       http.StatusForbidden,
		"http://localhost.evil:3000":   http.StatusForbidden,
		"null":                         http.StatusForbidden,
	} {
		var extra []string
		if origin != "" {
			extra = append(extra, "Origin: "+origin)
		}
		ex := testkit.Raw(t, addr, wsHandshake(extra...))
		if ex.Resp.StatusCode != want {
			t.Errorf("Origin %q: got %s (%s), want %d", origin, ex.Resp.Status, strings.TrimSpace(ex.Body), want)
		}
		ex.Conn.Close()
	}
}

// benchmarkRead measures the server's reading of b.N messages sent by a
// gorilla client over loopback, prepared once (so the client's cost is a
// write per message), and read whole by the handler with ReadMessage. The
// time runs until the handler has read the last one.
func benchmarkRead(b *testing.B, opts *websocket.Options, typ int, msg []byte) {
	done := make(chan error, 1)
	p, err := websocket.New(opts, func(c *websocket.Conn) error {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				if gws.IsCloseError(err, gws.CloseNormalClosure) {
					err = nil
				}
				done <- err
				return err
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	var reg negotiate.Registry
	reg.Register("websocket", p)
	srv := testkit.StartServer(b, testkit.NewNegotiator(b, nil).Endpoint(&reg))
	c, _, err := (&gws.Dialer{EnableCompression: opts.EnableCompression}).Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pm, err := gws.NewPreparedMessage(typ, msg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.WritePreparedMessage(pm); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, "")); err != nil {
		b.Fatal(err)
	}
	if err := testkit.Receive(b, done, "the handler's last read"); err != nil {
		b.Fatal(err)
	}
}

// The cost of UTF-8 validation: 16 KiB text messages, mostly ASCII with
// some multi-byte letters, validated (the default) or not.
func BenchmarkReadText(b *testing.B) {
	msg := bytes.Repeat([]byte("hello, wörld — ça va? "), 16<<10/24)
	b.Run("validated", func(b *testing.B) { benchmarkRead(b, &websocket.Options{}, gws.TextMessage, msg) })
	b.Run("skipped", func(b *testing.B) {
		benchmarkRead(b, &websocket.Options{SkipUTF8Validation: true}, gws.TextMessage, msg)
	})
}

// Compressed 16 KiB binary messages (binary, so that no UTF-8 is
// checked) read with the default 1 MiB limit on their inflated size, or
// with none. Both go through the guard, which also fails data that does
// not inflate; BenchmarkInflateGuard sets it against gorilla's inflater
// alone.
func BenchmarkReadCompressed(b *testing.B) {
	msg := bytes.Repeat([]byte("hello, wörld — ça va? "), 16<<10/24)
	b.Run("guarded", func(b *testing.B) {
		benchmarkRead(b, &websocket.Options{EnableCompression: true}, gws.BinaryMessage, msg)
	})
	b.Run("no limit", func(b *testing.B) {
		benchmarkRead(b, &websocket.Options{EnableCompression: true, ReadLimit: -1, SkipUTF8Validation: true}, gws.BinaryMessage, msg)
	})
}
