//go:build !go1.27 || http2legacy

package interop_test

//lint:file-ignore SA1019 x/net's deprecated http2.Transport is the Go client that can send :protocol: net/http's Transport refuses the field name, and from Go 1.27 on x/net's is net/http's unless built with -tags http2legacy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// Go's HTTP/2 client against the demo: golang.org/x/net/http2's Transport,
// x/net's own implementation. net/http's Transport refuses the ":protocol"
// field as an invalid header name before its HTTP/2 code sees it, and from
// Go 1.27 on x/net's Transport is net/http's unless the program is built
// with -tags http2legacy: on Go 1.27, h2_goclient_go127_test.go runs this
// file's test in a build with that tag.

// TestGoExtendedConnect: Go's HTTP/2 client does extended CONNECT to the
// demo over TLS and over h2c with prior knowledge: a WebSocket echo at /ws,
// echo/1 on another path and two refusals, all on one connection, and
// /stats counts the switches as made over HTTP/2. Without the GODEBUG
// setting the server does not advertise extended CONNECT and the client
// says so.
func TestGoExtendedConnect(t *testing.T) {
	t.Parallel()
	eachXConnectDemo(t, func(t *testing.T, p *testkit.Program) {
		c := newGoH2(t, p)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()

		// Refusals first: ordinary HTTP/2 responses, and the
		// connection goes on serving.
		for _, r := range []struct {
			name   string
			fields http.Header
			want   int
		}{
			{"bad origin", http.Header{"Sec-Websocket-Version": {"13"}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
			{"no version", http.Header{"Origin": {p.URL}}, http.StatusBadRequest},
		} {
			resp, body := c.refused(ctx, t, "websocket", "/ws", r.fields)
			if resp.StatusCode != r.want {
				t.Errorf("%s: %d %q, want %d", r.name, resp.StatusCode, body, r.want)
			}
		}

		ws := c.connect(ctx, t, "websocket", "/ws", http.Header{"Sec-Websocket-Version": {"13"}, "Origin": {p.URL}})
		if got := ws.resp.Header.Get("Sec-Websocket-Accept"); got != "" {
			t.Errorf("Sec-WebSocket-Accept %q on an extended CONNECT, want none (RFC 8441 has no key)", got)
		}
		for _, m := range messages() {
			op := byte(opText)
			if m.binary {
				op = opBinary
			}
			ws.writeFrame(t, op, m.data)
			gotOp, got := ws.readMessage(t)
			if gotOp != op || !bytes.Equal(got, m.data) {
				t.Errorf("%s: echo is opcode %d, %d bytes; want opcode %d, %d bytes", m.name, gotOp, len(got), op, len(m.data))
			}
		}
		ws.writeFrame(t, opClose, closePayload(1000, "done"))
		if op, got := ws.readMessage(t); op != opClose || closeCode(got) != 1000 {
			t.Errorf("answer to close 1000: opcode %d code %d, want close 1000", op, closeCode(got))
		}
		ws.end(t)

		echo := c.connect(ctx, t, "echo/1", "/any/path", nil)
		data := make([]byte, 256<<10) // more than a stream's initial window
		rand.Read(data)
		go func() {
			echo.w.Write(data)
			echo.w.Close()
		}()
		back, err := io.ReadAll(echo.r)
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("echo/1: %v; got %d bytes back, want the %d sent", err, len(back), len(data))
		}

		if proto := c.get(ctx, t, "/proto"); proto != "HTTP/2.0" {
			t.Errorf("GET /proto on the same connection: %q, want HTTP/2.0", proto)
		}
		if n := c.dials.Load(); n != 1 {
			t.Errorf("%d connections dialled, want 1: every exchange on one HTTP/2 connection", n)
		}
		wantEndedOverH2(t, p, 1, 1, 1, 1)
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		p := startDemo(t, xconnectOff, "-tls")
		c := newGoH2(t, p)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		req := c.request(ctx, t, "websocket", "/ws", http.Header{"Sec-Websocket-Version": {"13"}}, http.NoBody)
		resp, err := c.tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("extended CONNECT without %s: %d, want the client's refusal (not advertised)", xconnectOn, resp.StatusCode)
		}
		if !strings.Contains(err.Error(), "extended connect not supported") {
			t.Errorf("extended CONNECT without %s: %v, want \"extended connect not supported by peer\"", xconnectOn, err)
		}
		if proto := c.get(ctx, t, "/proto"); proto != "HTTP/2.0" {
			t.Errorf("GET /proto: %q, want HTTP/2.0", proto)
		}
		wantOverH2(t, readDemoStats(t, p), 0, 0, 0, 0)
	})
}

// goH2 is Go's HTTP/2 client on one connection to the demo.
type goH2 struct {
	tr    *http2.Transport
	base  string
	dials atomic.Int32
}

func newGoH2(t *testing.T, p *testkit.Program) *goH2 {
	c := &goH2{base: p.URL}
	c.tr = &http2.Transport{
		AllowHTTP: true, // h2c with prior knowledge for http:// URLs
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil || strings.HasPrefix(c.base, "http://") {
				return conn, err
			}
			tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			if got := tc.ConnectionState().NegotiatedProtocol; got != "h2" {
				conn.Close()
				return nil, fmt.Errorf("ALPN chose %q, want h2", got)
			}
			return tc, nil
		},
	}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

// request is an extended CONNECT for protocol at path.
func (c *goH2) request(ctx context.Context, t *testing.T, protocol, path string, fields http.Header, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, c.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		req.Header[k] = v
	}
	req.Header.Set(":protocol", protocol)
	return req
}

// stream is a switched HTTP/2 stream: the request body out, the response
// body in.
type stream struct {
	resp *http.Response
	w    *io.PipeWriter
	r    *bufio.Reader
}

// connect does an extended CONNECT that must switch: 200, with none of
// HTTP/1.1's connection-specific fields.
func (c *goH2) connect(ctx context.Context, t *testing.T, protocol, path string, fields http.Header) *stream {
	t.Helper()
	pr, pw := io.Pipe()
	resp, err := c.tr.RoundTrip(c.request(ctx, t, protocol, path, fields, pr))
	if err != nil {
		t.Fatalf("CONNECT :protocol %s %s: %v", protocol, path, err)
	}
	t.Cleanup(func() {
		pw.Close()
		resp.Body.Close()
	})
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		t.Fatalf("CONNECT :protocol %s %s: %d %q, want 200", protocol, path, resp.StatusCode, b)
	}
	noConnectionFields(t, protocol+" "+path, resp.Header)
	return &stream{resp: resp, w: pw, r: bufio.NewReader(resp.Body)}
}

// refused does an extended CONNECT that must be refused, and returns the
// response and its body.
func (c *goH2) refused(ctx context.Context, t *testing.T, protocol, path string, fields http.Header) (*http.Response, string) {
	t.Helper()
	resp, err := c.tr.RoundTrip(c.request(ctx, t, protocol, path, fields, http.NoBody))
	if err != nil {
		t.Fatalf("CONNECT :protocol %s %s: %v, want a refusal as a response", protocol, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("CONNECT :protocol %s %s: reading the refusal: %v", protocol, path, err)
	}
	noConnectionFields(t, protocol+" "+path, resp.Header)
	return resp, strings.TrimSpace(string(b))
}

// get is a plain GET on the client's connection; it returns the body.
func (c *goH2) get(ctx context.Context, t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// noConnectionFields: Upgrade and Connection are connection-specific, and
// an HTTP/2 response carrying them is malformed (RFC 9113 8.2.2).
func noConnectionFields(t *testing.T, what string, h http.Header) {
	t.Helper()
	for _, k := range []string{"Upgrade", "Connection", "Keep-Alive", "Transfer-Encoding"} {
		if v, ok := h[k]; ok {
			t.Errorf("%s: the HTTP/2 response has %s: %q", what, k, v)
		}
	}
}

// WebSocket frames, written (masked, as a client must) and read by hand:
// no Go WebSocket client runs over an HTTP/2 stream.
const (
	opContinuation = 0
	opText         = 1
	opBinary       = 2
	opClose        = 8
)

func (s *stream) writeFrame(t *testing.T, op byte, payload []byte) {
	t.Helper()
	if _, err := s.w.Write(wstest.ClientFrame(0x80|op, payload)); err != nil {
		t.Fatalf("writing a frame: %v", err)
	}
}

// readMessage reads one message (its frames joined) or a control frame.
func (s *stream) readMessage(t *testing.T) (op byte, payload []byte) {
	t.Helper()
	var msg []byte
	first := true
	for {
		fin, fop, p, err := readFrame(s.r)
		if err != nil {
			t.Fatalf("reading a frame: %v", err)
		}
		if fop >= opClose {
			return fop, p
		}
		if first {
			op, first = fop, false
		} else if fop != opContinuation {
			t.Fatalf("opcode %d inside a fragmented message", fop)
		}
		msg = append(msg, p...)
		if fin {
			return op, msg
		}
	}
}

func readFrame(r io.Reader) (fin bool, op byte, payload []byte, err error) {
	b0, payload, err := wstest.ReadFrame(r)
	return b0&0x80 != 0, b0 & 0x0f, payload, err
}

func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func closeCode(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

// end closes the client's side of the stream and waits for the server to
// end its side.
func (s *stream) end(t *testing.T) {
	t.Helper()
	s.w.Close()
	if rest, err := io.ReadAll(s.r); err != nil || len(rest) != 0 {
		t.Errorf("after the close: %v, %d more bytes; want the end of the stream (END_STREAM, as a socket's FIN: a reset after a clean close handshake is an abnormal closure to the peer)", err, len(rest))
	}
}
