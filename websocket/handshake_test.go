package websocket

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
)

func TestAcceptKey(t *testing.T) {
	t.Parallel()
	// RFC 6455 §1.3.
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("acceptKey: got %q, want %q", got, want)
	}
}

// captureConn is a net.Conn that records what is written to it.
type captureConn struct {
	net.Conn // nil: only the methods below are used
	out      bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }
func (c *captureConn) Close() error                     { return nil }

type captureWriter struct {
	http.ResponseWriter // nil: only Hijack is used
	conn                captureConn
}

func (w *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return &w.conn, bufio.NewReadWriter(bufio.NewReader(nil), bufio.NewWriter(nil)), nil
}

// gorillaDeflates asks gorilla itself whether it negotiates
// permessage-deflate for these Sec-WebSocket-Extensions lines: its 101
// says so.
func gorillaDeflates(t *testing.T, lines []string) bool {
	r := newGorillaRequest(false)
	r.Header["Sec-Websocket-Extensions"] = lines
	w := new(captureWriter)
	u := gws.Upgrader{EnableCompression: true, CheckOrigin: func(*http.Request) bool { return true }}
	if _, err := u.Upgrade(w, r, nil); err != nil {
		t.Fatalf("gorilla's Upgrade: %v", err)
	}
	return strings.Contains(w.conn.out.String(), "\r\nSec-WebSocket-Extensions: permessage-deflate")
}

// FuzzOffersDeflate holds offersDeflate to gorilla's own decision, so that
// the 101 announces compression exactly when gorilla would.
func FuzzOffersDeflate(f *testing.F) {
	for _, seed := range [][2]string{
		{"permessage-deflate", ""},
		{"permessage-deflate; client_max_window_bits", ""},
		{"x-webkit-deflate-frame, permessage-deflate", ""},
		{"Permessage-Deflate", ""},
		{"foo; a=\"b,c\", permessage-deflate", ""},
		{"foo; a=\"b\\\"c\", permessage-deflate", ""},
		{"foo; a=\"unterminated, permessage-deflate", ""},
		{"foo bar, permessage-deflate", "permessage-deflate"},
		{"permessage-deflate x", ""},
		{"permessage-deflate;", ""},
		{"permessage-deflate; =1", ""},
		{", permessage-deflate", ""},
		{" \tpermessage-deflate ; a = b ", ""},
		{"permessage-deflate; a=\"x\" y", ""},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		lines := []string{a}
		if b != "" {
			lines = append(lines, b)
		}
		if got, want := offersDeflate(lines), gorillaDeflates(t, lines); got != want {
			t.Errorf("offersDeflate(%q): got %v, gorilla says %v", lines, got, want)
		}
	})
}

func TestAccept(t *testing.T) {
	t.Parallel()
	p, err := New(&Options{Subprotocols: []string{"chat.v1", "chat.v2"}, EnableCompression: true}, nopHandler)
	if err != nil {
		t.Fatal(err)
	}
	r := browserRequest()
	h := http.Header{
		"Set-Cookie":               {"session=1"},
		"Sec-Websocket-Accept":     {"forged"},
		"sec-websocket-extensions": {"x-evil"}, // not canonical: set by map access
		"Sec-Websocket-Version":    {"12"},
	}
	serve, err := p.Accept(&negotiate.Switch{Request: r, Token: "websocket", Header: h})
	if err != nil || serve == nil {
		t.Fatalf("Accept: %v", err)
	}
	want := http.Header{
		"Set-Cookie":               {"session=1"},
		"Sec-Websocket-Accept":     {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
		"Sec-Websocket-Protocol":   {"chat.v2"},
		"Sec-Websocket-Extensions": {"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
	}
	if len(h) != len(want) {
		t.Errorf("switch header: got %q, want %q", h, want)
	}
	for k, vs := range want {
		if got := h[k]; strings.Join(got, "|") != strings.Join(vs, "|") {
			t.Errorf("%s: got %q, want %q", k, got, vs)
		}
	}

	if _, err := p.Accept(&negotiate.Switch{Request: r, Token: "websocket/13", Header: http.Header{}}); err == nil {
		t.Error("Accept of the token websocket/13: got nil error, want a refusal")
	}
}

// Accept allocates the Conn, the Sec-WebSocket-Accept value and the serve
// func, nothing per field.
func TestAcceptAllocs(t *testing.T) {
	p, err := New(&Options{Subprotocols: []string{"chat.v1"}, EnableCompression: true}, nopHandler)
	if err != nil {
		t.Fatal(err)
	}
	r := browserRequest()
	r.Header.Set("Sec-WebSocket-Protocol", "chat.v1")
	s := &negotiate.Switch{Request: r, Token: "websocket", Header: http.Header{}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Accept(s); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("Accept allocates %v times, want at most 3", allocs)
	}
}
