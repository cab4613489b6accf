package democontract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/internal/xconnect"
)

// xconnectOn turns on Go's RFC 8441 extended CONNECT in the program's
// net/http (Go 1.26 and 1.27 read it from the environment at start).
var xconnectOn = []string{testkit.XConnectEnv}

// runH2 checks WebSockets and echo/1 over HTTP/2 streams (extended
// CONNECT, RFC 8441): each check against a program of its own started
// with GODEBUG=http2xconnect=1, over TLS (h2) and over cleartext
// (prior-knowledge h2c, and a connection upgraded to h2c); and, without
// the variable, that the server does not advertise it.
func runH2(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, p *testkit.Program)
		env  []string
		args []string
	}{
		{"H2WebSocket", h2WebSocket, xconnectOn, []string{"-tls"}},
		{"H2CWebSocket", h2WebSocket, xconnectOn, nil}, // prior knowledge over cleartext
		{"H2CUpgradedXConnect", h2cUpgradedXConnect, xconnectOn, nil},
		{"H2Chat", h2Chat, xconnectOn, []string{"-tls"}},
		{"H2Echo1", h2Echo1, xconnectOn, []string{"-tls"}},
		{"H2Refusals", h2Refusals, xconnectOn, []string{"-tls"}},
		{"H2Shutdown", h2Shutdown, xconnectOn, []string{"-tls"}},
		{"H2MaxConns", h2MaxConns, xconnectOn, []string{"-tls", "-max-conns", "1"}},
		{"H2Off", h2Off, nil, []string{"-tls"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, testkit.StartProgram(t, ".", c.env, c.args...))
		})
	}
}

// h2Transport is an HTTP/2 client for the program: over TLS for https
// (trusting its certificate), with prior knowledge for http. Its
// connections are closed when the test ends. It is internal/xconnect's:
// net/http's Transport refuses the :protocol pseudo-header as a field
// name before its HTTP/2 code sees the request, and from Go 1.27 on
// x/net's Transport is net/http's.
func h2Transport(t *testing.T, p *testkit.Program) *xconnect.Client {
	c := xconnect.New(insecure())
	t.Cleanup(c.CloseIdleConnections) // after the streams' cleanups
	return c
}

// h2Stream is a switched HTTP/2 stream (or, for a refusal, only its
// response): the request body is what the client sends, the response
// body what it receives.
type h2Stream struct {
	resp *http.Response
	w    io.Writer
	r    *bufio.Reader
}

func (s *h2Stream) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *h2Stream) Read(p []byte) (int, error)  { return s.r.Read(p) }

// connect sends an extended CONNECT with :protocol protocol for path and
// the fields of h, and returns the stream and its response (a refusal's,
// with its body), or the client's error when no response came. The stream
// is closed when the test ends.
func connect(t *testing.T, c *xconnect.Client, p *testkit.Program, path, protocol string, h http.Header) (*h2Stream, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	st, resp, err := c.Dial(ctx, p.URL+path, protocol, h)
	if resp == nil {
		return nil, err
	}
	if st == nil {
		return &h2Stream{resp: resp, r: bufio.NewReader(resp.Body)}, nil
	}
	t.Cleanup(func() { st.Close() })
	return &h2Stream{resp: resp, w: st, r: bufio.NewReader(st)}, nil
}

// mustConnect is connect for a stream that must switch: 200.
func mustConnect(t *testing.T, tr *xconnect.Client, p *testkit.Program, path, protocol string, h http.Header) *h2Stream {
	t.Helper()
	s, err := connect(t, tr, p, path, protocol, h)
	if err != nil {
		t.Fatalf("extended CONNECT %s :protocol %s: %v", path, protocol, err)
	}
	if s.resp.StatusCode != 200 || s.resp.ProtoMajor != 2 {
		body, _ := io.ReadAll(io.LimitReader(s.r, 512))
		t.Fatalf("extended CONNECT %s :protocol %s: %s %d %q, want HTTP/2 200", path, protocol, s.resp.Proto, s.resp.StatusCode, body)
	}
	return s
}

// wsHeader is what a WebSocket over HTTP/2 sends (RFC 8441 §5: no key).
func wsHeader(extra ...string) http.Header {
	h := http.Header{"Sec-Websocket-Version": {"13"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// A WebSocket opened over HTTP/2 by Go's own client echoes messages, small
// and large, text and binary, and closes cleanly; /stats counts it in
// switched and over_h2.
func h2WebSocket(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	s := mustConnect(t, tr, p, "/ws", "websocket", wsHeader())
	if s.resp.Header.Get("Sec-Websocket-Accept") != "" {
		t.Errorf("Sec-WebSocket-Accept %q on HTTP/2, want none (RFC 8441)", s.resp.Header.Get("Sec-Websocket-Accept"))
	}
	for _, m := range []struct {
		op  byte
		msg []byte
	}{{opText, []byte("hello over HTTP/2")}, {opBinary, []byte{0, 1, 0xff}}, {opBinary, bytes.Repeat([]byte("0123456789abcdef"), 1<<14)}} {
		wantFrameEcho(t, s, m.op, m.msg)
	}
	st := readStats(t, p)
	if st.Active["websocket"] != 1 || st.Switched["websocket"] != 1 {
		t.Errorf("/stats with a WebSocket over HTTP/2: active %v, switched %v; want websocket 1", st.Active, st.Switched)
	}
	wantOverH2(t, st, 1, 0)
	testkit.Contains(t, "GET /metrics with a WebSocket over HTTP/2", readMetrics(t, p),
		`switchyard_upgraded_connections{token="websocket",transport="h2"} 1`,
		`switchyard_upgrade_attempts_total{token="websocket",outcome="switched"} 1`)
	writeFrame(t, s, opClose, closePayload(gws.CloseNormalClosure, "done"))
	if code := readClose(t, s); code != gws.CloseNormalClosure {
		t.Errorf("close: the server answered %d, want 1000", code)
	}
	// The HTTP/2 connection goes on serving other streams.
	s2 := mustConnect(t, tr, p, "/ws", "websocket", wsHeader())
	wantFrameEcho(t, s2, opText, []byte("second stream"))
	testkit.WaitFor(t, "/stats to count both, one still open", func() bool {
		st := readStats(t, p)
		return st.Active["websocket"] == 1 && st.OverH2["websocket"] == 2
	})
}

// Extended CONNECT on a connection upgraded by Upgrade: h2c, whose HTTP/2
// serves the same handler: the server's SETTINGS advertise it, echo/1
// switches on any path and echoes what the stream carried, the WebSocket
// routes answer as over any HTTP/2 (a CONNECT without
// Sec-WebSocket-Version gets 400 with a reason), and /stats counts the
// switch in over_h2.
func h2cUpgradedXConnect(t *testing.T, p *testkit.Program) {
	cl, _ := h2cDial(t, p, "/proto")
	defer cl.Conn.Close()
	if !cl.ExtendedConnect {
		t.Fatal("upgraded h2c: the server's SETTINGS do not enable extended CONNECT")
	}
	msg := []byte("echo/1 on a connection upgraded to h2c")
	if r, err := cl.Connect("/anywhere", "echo/1", msg); err != nil || r.Status != 200 || !bytes.Equal(r.Body, msg) {
		t.Errorf("upgraded h2c, CONNECT /anywhere :protocol echo/1: %+v, %v; want 200 and the bytes back", r, err)
	}
	for _, path := range []string{"/ws", "/chat"} {
		if r, err := cl.Connect(path, "websocket", nil); err != nil || r.Status != 400 || len(r.Body) == 0 {
			t.Errorf("upgraded h2c, CONNECT %s :protocol websocket without Sec-WebSocket-Version: %+v, %v; want 400 with a reason", path, r, err)
		}
	}
	wantOverH2(t, readStats(t, p), 0, 1)
}

// The chat room over HTTP/2 (subprotocol chat.v1) and over HTTP/1.1 is one
// room: a member on an HTTP/2 stream and one on an upgraded connection
// both get what the first says.
func h2Chat(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	s := mustConnect(t, tr, p, "/chat", "websocket", wsHeader("Sec-WebSocket-Protocol", "chat.v1"))
	if got := s.resp.Header.Get("Sec-Websocket-Protocol"); got != "chat.v1" {
		t.Errorf("chat over HTTP/2: subprotocol %q, want chat.v1", got)
	}
	// Each member is in the room once its own message has come back to it
	// (see joinedChat), and the HTTP/2 member, in first, gets the other's.
	writeFrame(t, s, opText, []byte("HTTP/2 here"))
	if op, msg := readMessage(t, s); op != opText || string(msg) != "HTTP/2 here" {
		t.Fatalf("joining the room over HTTP/2: got %d %q back", op, msg)
	}
	other, _ := dialWS(t, gws.Dialer{Subprotocols: []string{"chat.v1"}}, p, "/chat")
	joinedChat(t, other, "HTTP/1.1 here")
	if op, msg := readMessage(t, s); op != opText || string(msg) != "HTTP/1.1 here" {
		t.Fatalf("the HTTP/2 member got %d %q, want the HTTP/1.1 member's message", op, msg)
	}
	writeFrame(t, s, opText, []byte("hi from HTTP/2"))
	if op, msg := readMessage(t, s); op != opText || string(msg) != "hi from HTTP/2" {
		t.Errorf("the HTTP/2 member got %d %q back", op, msg)
	}
	if typ, msg, err := other.ReadMessage(); err != nil || typ != gws.TextMessage || string(msg) != "hi from HTTP/2" {
		t.Errorf("the HTTP/1.1 member got %d %q, %v", typ, msg, err)
	}
	wantOverH2(t, readStats(t, p), 1, 0)
	// Idle past the room's write deadline (demoapp.WriteWait, armed by the
	// write above): a member on an HTTP/2 stream stays, as one on an
	// HTTP/1.1 connection does.
	time.Sleep(demoapp.WriteWait + time.Second)
	if err := other.WriteMessage(gws.TextMessage, []byte("still there?")); err != nil {
		t.Fatal(err)
	}
	if op, msg := readMessage(t, s); op != opText || string(msg) != "still there?" {
		t.Errorf("the HTTP/2 member, idle for %v, got %d %q", demoapp.WriteWait+time.Second, op, msg)
	}
	wstest.CloseNormally(t, other)
}

// echo/1 by extended CONNECT (:protocol echo/1) on any path echoes bytes
// over the stream; /stats counts it over HTTP/2.
func h2Echo1(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	for i, path := range []string{"/anywhere", "/ws"} {
		s := mustConnect(t, tr, p, path, "echo/1", nil)
		msg := fmt.Sprintf("raw bytes at %s ", path) + strings.Repeat("z", 64<<10)
		wrote := make(chan error, 1)
		go func() {
			_, err := io.WriteString(s, msg)
			wrote <- err
		}()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(s, got); err != nil || string(got) != msg {
			t.Fatalf("echo/1 over HTTP/2 at %s: %v after %d bytes", path, err, len(got))
		}
		if err := testkit.Receive(t, wrote, "the write"); err != nil {
			t.Fatal(err)
		}
		if err := s.w.(*xconnect.Stream).CloseWrite(); err != nil { // the client's end of the stream: the server ends its own
			t.Fatal(err)
		}
		if rest, err := io.ReadAll(s); err != nil || len(rest) != 0 {
			t.Errorf("echo/1 over HTTP/2 after the client's end: %q, %v; want the end of the stream", rest, err)
		}
		wantOverH2(t, readStats(t, p), 0, int64(i+1))
	}
}

// Refusals over HTTP/2 are HTTP/2 responses with a reason, and the
// connection goes on serving other streams.
func h2Refusals(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	for _, tc := range []struct {
		name, path, protocol string
		h                    http.Header
		status               int // 0: any 4xx
	}{
		{"cross-origin", "/ws", "websocket", wsHeader("Origin", "https://evil.example"), 403},
		{"no version", "/ws", "websocket", nil, 400},
		{"chat cross-origin", "/chat", "websocket", wsHeader("Origin", "https://evil.example"), 403},
		{"unregistered protocol", "/anywhere", "foo/1", nil, 0},
		{"unregistered protocol at /ws", "/ws", "foo/1", nil, 0},
	} {
		s, err := connect(t, tr, p, tc.path, tc.protocol, tc.h)
		if err != nil {
			t.Errorf("%s: %v, want an HTTP/2 response", tc.name, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(s, 1<<10))
		if s.resp.ProtoMajor != 2 || tc.status != 0 && s.resp.StatusCode != tc.status ||
			s.resp.StatusCode < 400 || s.resp.StatusCode > 499 || len(body) == 0 {
			t.Errorf("%s: %s %d %q, want %d with a reason", tc.name, s.resp.Proto, s.resp.StatusCode, body, tc.status)
		}
		for _, f := range []string{"Upgrade", "Connection"} {
			if v := s.resp.Header.Get(f); v != "" {
				t.Errorf("%s: %s: %q on HTTP/2", tc.name, f, v)
			}
		}
	}
	s := mustConnect(t, tr, p, "/ws", "websocket", wsHeader())
	wantFrameEcho(t, s, opText, []byte("after the refusals"))
	st := readStats(t, p)
	wantOverH2(t, st, 1, 0)
	if st.Refused == nil || *st.Refused < 3 {
		t.Errorf("/stats refused = %v, want the three WebSocket refusals at least", st.Refused)
	}
}

// -max-conns counts switches over HTTP/2 streams too: over it an
// extended CONNECT gets 503 with Retry-After, as an HTTP/2 response, and
// a slot freed is taken again.
func h2MaxConns(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	first := mustConnect(t, tr, p, "/ws", "websocket", wsHeader())
	for _, tc := range []struct{ path, protocol string }{{"/ws", "websocket"}, {"/any", "echo/1"}} {
		s, err := connect(t, tr, p, tc.path, tc.protocol, wsHeader())
		if err != nil {
			t.Fatalf(":protocol %s over the cap: %v", tc.protocol, err)
		}
		if s.resp.StatusCode != http.StatusServiceUnavailable || s.resp.Header.Get("Retry-After") == "" {
			t.Errorf(":protocol %s over the cap: %d, Retry-After %q; want 503 with Retry-After", tc.protocol, s.resp.StatusCode, s.resp.Header.Get("Retry-After"))
		}
	}
	writeFrame(t, first, opClose, closePayload(gws.CloseNormalClosure, ""))
	readClose(t, first)
	testkit.WaitFor(t, "the freed slot", func() bool { return readStats(t, p).Active["websocket"] == 0 })
	wantFrameEcho(t, mustConnect(t, tr, p, "/ws", "websocket", wsHeader()), opText, []byte("in the freed slot"))
}

// SIGTERM with WebSockets open on HTTP/2 streams: each gets close 1001,
// and the program exits 0.
func h2Shutdown(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	ws := mustConnect(t, tr, p, "/ws", "websocket", wsHeader())
	wantFrameEcho(t, ws, opText, []byte("hi"))
	chatter := mustConnect(t, tr, p, "/chat", "websocket", wsHeader("Sec-WebSocket-Protocol", "chat.v1"))
	echo := mustConnect(t, tr, p, "/any", "echo/1", nil)
	if got := testkit.RoundTrip(t, echo, "hi"); got != "hi" {
		t.Fatalf("echo/1 over HTTP/2: %q", got)
	}
	testkit.WaitFor(t, "three switches over HTTP/2", func() bool {
		st := readStats(t, p)
		return st.OverH2["websocket"] == 2 && st.OverH2["echo"] == 1
	})

	exited := stopInBackground(t, p)
	for name, s := range map[string]*h2Stream{"/ws": ws, "/chat": chatter} {
		if code := readClose(t, s); code != gws.CloseGoingAway {
			t.Errorf("%s over HTTP/2 at shutdown: close %d, want 1001", name, code)
		}
		_, _ = s.Write(frame(opClose, closePayload(gws.CloseGoingAway, ""))) // answer it, as a browser does
	}
	if rest, _ := io.ReadAll(echo); len(rest) != 0 {
		t.Errorf("echo/1 over HTTP/2 at shutdown: read %q, want the end of the stream", rest)
	}
	wantExit0(t, p, exited)
}

// Without GODEBUG=http2xconnect=1 the server does not advertise extended
// CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL), so Go's client (and a
// browser) does not send one: WebSockets go over HTTP/1.1, as before,
// while plain requests use HTTP/2.
func h2Off(t *testing.T, p *testkit.Program) {
	tr := h2Transport(t, p)
	if s, err := connect(t, tr, p, "/ws", "websocket", wsHeader()); !errors.Is(err, xconnect.ErrNotAdvertised) {
		status := 0
		if s != nil {
			status = s.resp.StatusCode
		}
		t.Errorf("extended CONNECT without the variable: status %d, %v; want the client to refuse: not advertised", status, err)
	}
	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("over HTTP/1.1"))
	st := readStats(t, p)
	if st.Switched["websocket"] != 1 {
		t.Errorf("/stats switched %v, want websocket 1", st.Switched)
	}
	wantOverH2(t, st, 0, 0)
	wstest.CloseNormally(t, ws)
}

// WebSocket frames (RFC 6455 §5), as the client writes them (masked) and
// reads them; over an HTTP/2 stream they are the same as over HTTP/1.1.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

// writeFrame writes one final, masked frame.
func writeFrame(t *testing.T, w io.Writer, op byte, payload []byte) {
	t.Helper()
	if _, err := w.Write(frame(op, payload)); err != nil {
		t.Fatalf("writing a WebSocket frame: %v", err)
	}
}

// frame is a final, masked frame.
func frame(op byte, payload []byte) []byte { return wstest.ClientFrame(0x80|op, payload) }

// readMessage reads one data message, or a close frame (op opClose),
// joining fragments and skipping pings and pongs.
func readMessage(t *testing.T, r io.Reader) (op byte, msg []byte) {
	t.Helper()
	for {
		b0, payload, err := wstest.ReadFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		fin, fop := b0&0x80 != 0, b0&0x0f
		switch {
		case fop == opClose:
			return fop, payload
		case fop >= 0x8: // ping, pong
			continue
		case fop != opContinuation:
			op = fop
		}
		msg = append(msg, payload...)
		if fin {
			return op, msg
		}
	}
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, r io.Reader) int {
	t.Helper()
	for {
		op, msg := readMessage(t, r)
		if op != opClose {
			continue
		}
		if len(msg) < 2 {
			return gws.CloseNoStatusReceived
		}
		return int(binary.BigEndian.Uint16(msg))
	}
}

func closePayload(code int, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// wantFrameEcho sends msg as one frame and wants it back as one message of
// the same type.
func wantFrameEcho(t *testing.T, s *h2Stream, op byte, msg []byte) {
	t.Helper()
	wrote := make(chan error, 1)
	go func() { // the echo streams: read while writing
		_, err := s.Write(frame(op, msg))
		wrote <- err
	}()
	gotOp, got := readMessage(t, s)
	if err := testkit.Receive(t, wrote, "the frame's write"); err != nil {
		t.Fatalf("writing a WebSocket frame: %v", err)
	}
	if gotOp != op || !bytes.Equal(got, msg) {
		t.Fatalf("WebSocket echo over HTTP/2: type %d, %d bytes; want type %d, %d bytes", gotOp, len(got), op, len(msg))
	}
}
