package websocket_test

// The server's side of RFC 6455 (and RFC 9110 §7.8, §15.5.22 where the
// handshake's refusals meet them), requirement by requirement, over raw
// bytes on loopback, for what no other test of the package held.

import (
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// A version the server does not speak is answered 426 with
// Sec-WebSocket-Version (RFC 6455 §4.2.2), and a 426 MUST carry Upgrade
// with the protocol it requires (RFC 9110 §15.5.22), which is sent with
// upgrade in Connection (§7.8); the refusal still closes the connection.
// Through either mount.
func TestVersionRefusalNamesTheUpgrade(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, wstest.Echo)
	for _, tc := range []struct{ name, request string }{
		{"version 8", handshake([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8")},
		{"no version", handshake([]string{"Sec-WebSocket-Version"})},
		{"version 8 through the middleware", strings.Replace(handshake([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), "GET /ws ", "GET /elsewhere ", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := s.raw(t, tc.request)
			h := ex.Resp.Header
			if ex.Resp.StatusCode != http.StatusUpgradeRequired {
				t.Fatalf("status: got %d %q, want 426", ex.Resp.StatusCode, ex.Body)
			}
			if got := h.Values("Upgrade"); len(got) != 1 || !strings.EqualFold(got[0], "websocket") {
				t.Errorf("Upgrade: got %q, want websocket", got)
			}
			// net/http's reader drops Connection once it holds close: read
			// the field lines off the wire.
			head, _, _ := strings.Cut(ex.Wire.String(), "\r\n\r\n")
			var conn []string
			for _, line := range strings.Split(head, "\r\n")[1:] {
				if name, value, _ := strings.Cut(line, ":"); strings.EqualFold(name, "Connection") {
					conn = append(conn, value)
				}
			}
			if !negotiate.ContainsToken(conn, "upgrade") || !negotiate.ContainsToken(conn, "close") {
				t.Errorf("Connection: got %q, want upgrade and close", conn)
			}
			if got := h.Get("Sec-WebSocket-Version"); got != "13" {
				t.Errorf("Sec-WebSocket-Version: got %q, want 13", got)
			}
			testkit.ExpectClosed(t, ex.BR)
		})
	}
}

// The Upgrade and Connection tokens are matched case-insensitively
// (RFC 6455 §4.2.1, RFC 9110 §7.6.1, §7.8), "upgrade" among other
// connection options as browsers send it; the 101 names websocket as
// offered, with the key's Accept.
func TestHandshakeTokensIgnoreCase(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, echoUncompressed)
	for _, tc := range []struct{ name, connection, upgrade string }{
		{"Firefox", "keep-alive, Upgrade", "websocket"},
		{"mixed case", "UPGRADE", "WebSocket"},
		{"upper case, second line", "keep-alive\r\nConnection: uPgRaDe", "WEBSOCKET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := "GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: " + tc.connection + "\r\nUpgrade: " + tc.upgrade +
				"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + testKey + "\r\n\r\n"
			ex := s.raw(t, req)
			if ex.Resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status: got %d %q, want 101", ex.Resp.StatusCode, ex.Body)
			}
			if got := ex.Resp.Header.Get("Upgrade"); !strings.EqualFold(got, "websocket") {
				t.Errorf("101 Upgrade: got %q, want websocket", got)
			}
			if got := ex.Resp.Header.Get("Sec-WebSocket-Accept"); got != testAccept {
				t.Errorf("Sec-WebSocket-Accept: got %q, want %q", got, testAccept)
			}
			p := &peer{t, ex}
			p.send(wstest.ClientFrame(finBit|opText, []byte("hi")))
			if got := p.message(); string(got) != "hi" {
				t.Fatalf("echo: got %q", got)
			}
			p.send(clientClose(gws.CloseNormalClosure))
			p.wantClose(gws.CloseNormalClosure)
		})
	}
}

// unmaskedFrame is a whole frame as a server would write it: no mask.
func unmaskedFrame(b0 byte, payload []byte) []byte {
	return append([]byte{b0, byte(len(payload))}, payload...)
}

// The base framing rules of RFC 6455 as the server keeps them, each one a
// frame a conforming client never sends: the server fails the connection
// with the close code the RFC gives (§7.4.1: 1002, a protocol error), sends
// no data frame before its close frame, and closes the TCP connection.
// And the rules' valid neighbours: a ping is answered by a pong with its
// payload (§5.5.2, §5.5.3), a close with a code of the registered or private
// ranges is answered with that code (§5.5.1, §7.4.2), and data after the
// client's close frame is neither read nor answered (§5.5.1).
func TestFramingRules(t *testing.T) {
	t.Parallel()
	closeWith := func(code uint16, reason ...byte) []byte {
		return wstest.ClientFrame(finBit|opClose, append(binary.BigEndian.AppendUint16(nil, code), reason...))
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
		pong   string // the payload of the pong that must come first
		close  int    // the code of the server's close frame
	}{
		// §5.1: a server MUST close the connection on an unmasked frame.
		{name: "unmasked frame", frames: [][]byte{unmaskedFrame(finBit|opText, []byte("hi"))}, close: gws.CloseProtocolError},
		// §5.2: RSV bits without an extension that defines them.
		{name: "RSV1 without permessage-deflate", frames: [][]byte{wstest.ClientFrame(finBit|rsv1Bit|opText, []byte("hi"))}, close: gws.CloseProtocolError},
		{name: "RSV2", frames: [][]byte{wstest.ClientFrame(finBit|0x20|opText, []byte("hi"))}, close: gws.CloseProtocolError},
		{name: "RSV3", frames: [][]byte{wstest.ClientFrame(finBit|0x10|opText, []byte("hi"))}, close: gws.CloseProtocolError},
		// §5.2: reserved opcodes, data (3-7) and control (B-F).
		{name: "opcode 3", frames: [][]byte{wstest.ClientFrame(finBit|0x3, []byte("hi"))}, close: gws.CloseProtocolError},
		{name: "opcode 0xB", frames: [][]byte{wstest.ClientFrame(finBit|0xB, nil)}, close: gws.CloseProtocolError},
		// §5.5: control frames have at most 125 bytes and are not fragmented.
		{name: "ping of 126 bytes", frames: [][]byte{wstest.ClientFrame(finBit|opPing, make([]byte, 126))}, close: gws.CloseProtocolError},
		{name: "fragmented ping", frames: [][]byte{wstest.ClientFrame(opPing, []byte("x"))}, close: gws.CloseProtocolError},
		// §5.4: fragments come in order, one message at a time.
		{name: "continuation with no message begun", frames: [][]byte{wstest.ClientFrame(finBit|opCont, []byte("x"))}, close: gws.CloseProtocolError},
		{name: "new message inside a fragmented one", frames: [][]byte{wstest.ClientFrame(opText, []byte("x")), wstest.ClientFrame(finBit|opText, []byte("y"))}, close: gws.CloseProtocolError},
		// §7.4.1, §7.4.2: codes no endpoint may send, and codes out of range.
		{name: "close 1005", frames: [][]byte{closeWith(1005)}, close: gws.CloseProtocolError},
		{name: "close 1006", frames: [][]byte{closeWith(1006)}, close: gws.CloseProtocolError},
		{name: "close 1015", frames: [][]byte{closeWith(1015)}, close: gws.CloseProtocolError},
		{name: "close 999", frames: [][]byte{closeWith(999)}, close: gws.CloseProtocolError},
		{name: "close 5000", frames: [][]byte{closeWith(5000)}, close: gws.CloseProtocolError},
		// §5.5.1, §8.1: a close frame's reason is UTF-8.
		{name: "close reason not UTF-8", frames: [][]byte{closeWith(1000, 0xff)}, close: gws.CloseProtocolError},
		// The valid neighbours.
		{name: "close 3000", frames: [][]byte{closeWith(3000)}, close: 3000},
		{name: "close 4999", frames: [][]byte{closeWith(4999)}, close: 4999},
		{name: "ping answered with its payload", frames: [][]byte{wstest.ClientFrame(finBit|opPing, []byte("are you there?")), closeWith(1000)}, pong: "are you there?", close: gws.CloseNormalClosure},
		{name: "data after the close", frames: [][]byte{closeWith(1000), wstest.ClientFrame(finBit|opText, []byte("after"))}, close: gws.CloseNormalClosure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, _ := serveHostile(t, nil, echoUncompressed)
			p := dialPeer(t, addr)
			p.send(tc.frames...)
			fs := p.toEnd() // the server closes the connection
			var pong, closed bool
			for _, f := range fs {
				switch op := f.b0 & 0xf; {
				case closed:
					t.Errorf("frame after the server's close: %v %q", f, f.payload)
				case op == opPong:
					if pong || string(f.payload) != tc.pong {
						t.Errorf("pong %q, want one with %q", f.payload, tc.pong)
					}
					pong = true
				case op == opClose:
					closed = true
					if got := closeCodeOf([]wireFrame{f}); got != tc.close {
						t.Errorf("close frame %q: got code %d, want %d", f.payload, got, tc.close)
					}
				default:
					t.Errorf("frame %v %q before the server's close, want none", f, f.payload)
				}
			}
			if !closed {
				t.Errorf("frames %v: no close frame, want %d", fs, tc.close)
			}
			if tc.pong != "" && !pong {
				t.Errorf("frames %v: no pong, want one with %q", fs, tc.pong)
			}
		})
	}
}
