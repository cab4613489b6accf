package main

import (
	"io"
	"net"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// wsSwitch answers a WebSocket upgrade with a 101 carrying the accept its
// key asks for (unless noAccept) and the fields given, then holds the
// connection.
func wsSwitch(t *testing.T, noAccept bool, fields string) string {
	t.Helper()
	return testkit.NewTCPServer(t, func(c net.Conn, head string) {
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + fields
		if m := wsKeyField.FindStringSubmatch(head); m != nil && !noAccept {
			resp += "Sec-WebSocket-Accept: " + acceptKey(m[1]) + "\r\n"
		}
		if _, err := io.WriteString(c, resp+"\r\n"); err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	}).URL()
}

// What doc.go says a WebSocket 101 is judged by besides the rule for any
// 101: Sec-WebSocket-Accept, and a subprotocol or extension the client
// offered.
func TestProbeWebSocketFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		noAccept bool
		fields   string
		args     []string
		code     int
		want     string
	}{
		{"no accept", true, "", nil, 1, "✗ no Sec-WebSocket-Accept (RFC 6455 §4.2.2)"},
		{"subprotocol offered", false, "Sec-WebSocket-Protocol: chat.v2\r\n", []string{"-H", "Sec-WebSocket-Protocol: chat.v1, chat.v2"}, 0, "✓ subprotocol chat.v2 was offered"},
		{"subprotocol not offered", false, "Sec-WebSocket-Protocol: chat.v2\r\n", []string{"-H", "Sec-WebSocket-Protocol: chat.v1"}, 1, "✗ subprotocol chat.v2 was not offered"},
		{"extension offered", false, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n",
			[]string{"-H", "Sec-WebSocket-Extensions: permessage-deflate"}, 0, "✓ extension permessage-deflate; server_no_context_takeover was offered"},
		{"extension not offered", false, "Sec-WebSocket-Extensions: permessage-deflate\r\n", nil, 1, "✗ extension permessage-deflate was not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"probe"}, tc.args...), wsSwitch(t, tc.noAccept, tc.fields))
			code, out, errOut := inspect(t, "", args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			testkit.Contains(t, "stdout", out, tc.want)
		})
	}
}

// Over HTTP/2, doc.go's findings on a 2xx that does not switch: one with
// END_STREAM (the server ended the stream at once) and a subprotocol that
// was not offered.
func TestProbeH2UnusableSwitch(t *testing.T) {
	t.Parallel()
	ended := fakeH2Func(t, func(_ uint32, head func(end bool, fields ...string) error) { _ = head(true, ":status", "200") })
	code, out, errOut := inspect(t, "", "probe", "-h2", "-offer", "echo/1", ended)
	if code != 1 {
		t.Errorf("END_STREAM: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	testkit.Contains(t, "END_STREAM", out, "verdict: invalid 200", "✗ the 2xx came with END_STREAM: the server ended the stream at once")

	sub := fakeH2(t, ":status", "200", "sec-websocket-protocol", "chat.v2")
	code, out, errOut = inspect(t, "", "probe", "-h2", "-timeout", "300ms", "-H", "Sec-WebSocket-Protocol: chat.v1", sub)
	if code != 1 {
		t.Errorf("subprotocol: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	testkit.Contains(t, "subprotocol", out, "verdict: invalid 200", "✗ subprotocol chat.v2 was not offered")
}

// fakeH2WebSocket is an h2c server with prior knowledge that switches
// every extended CONNECT (200), answers a WebSocket ping with its pong and
// a close with a close, and then ends the stream by end.
func fakeH2WebSocket(t *testing.T, end func(fr *http2.Framer, id uint32)) string {
	t.Helper()
	return testkit.NewTCPServer(t, func(c net.Conn, head string) {
		// The head read was the preface's first part, "PRI * HTTP/2.0".
		rest := strings.TrimPrefix(http2.ClientPreface, head)
		if _, err := io.ReadFull(c, make([]byte, len(rest))); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
		var in []byte // the client's WebSocket bytes not yet read
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: []byte{0x88}, EndHeaders: true}) // :status 200, static index 8
			case *http2.DataFrame:
				in = append(in, f.Data()...)
				for {
					r := strings.NewReader(string(in))
					op, p, err := readClientFrame(r)
					if err != nil {
						break // the rest of the frame is to come
					}
					in = in[len(in)-r.Len():]
					switch op {
					case opPing:
						_ = fr.WriteData(f.StreamID, false, []byte(serverFrame(0x80|opPong, string(p))))
					case opClose:
						_ = fr.WriteData(f.StreamID, false, []byte(serverFrame(0x80|opClose, string(p))))
						end(fr, f.StreamID)
					}
				}
			}
		}
	}).URL()
}

// After the close frames, a stream the server ends is clean, and one it
// resets with an error a warning, as doc.go says (browsers report that
// close as not clean).
func TestProbeH2StreamEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(fr *http2.Framer, id uint32)
		want string
	}{
		{"END_STREAM", func(fr *http2.Framer, id uint32) { _ = fr.WriteData(id, true, nil) },
			"✓ the server ended the stream (END_STREAM)\n"},
		{"RST_STREAM CANCEL", func(fr *http2.Framer, id uint32) { _ = fr.WriteRSTStream(id, http2.ErrCodeCancel) },
			"⚠ the server reset the stream (RST_STREAM CANCEL) after the close frames instead of ending it (END_STREAM): browsers report the close as not clean\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := inspect(t, "", "probe", "-h2", fakeH2WebSocket(t, tc.end))
			if code != 0 {
				t.Errorf("exit %d, want 0 (a warning is no fault):\n%s%s", code, out, errOut)
			}
			testkit.Contains(t, "stdout", out, "verdict: valid 200: switched to websocket", "✓ bytes flow: a ping was answered by its pong",
				"✓ clean close: the server answered close 1000 (normal closure)\n", tc.want)
		})
	}
}
