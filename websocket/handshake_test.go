package websocket

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
)

func nopHandler(*Conn) error { return nil }

// chromiumHandshake is a handshake as Chromium sends it, same-origin, in
// the order it sends the fields.
const chromiumHandshake = `GET /ws HTTP/1.1
Host: app.example.com
Connection: Upgrade
Pragma: no-cache
Cache-Control: no-cache
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36
Upgrade: websocket
Origin: https://app.example.com
Sec-WebSocket-Version: 13
Accept-Encoding: gzip, deflate, br, zstd
Accept-Language: en-US,en;q=0.9
Cookie: session=abc
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
Sec-WebSocket-Protocol: chat.v2, chat.v1

`

// browserRequest is chromiumHandshake as net/http hands it to a handler.
func browserRequest() *http.Request {
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.ReplaceAll(chromiumHandshake, "\n", "\r\n"))))
	if err != nil {
		panic(err)
	}
	return r
}

func TestCheckDoesNotAllocate(t *testing.T) {
	p, err := New(&Options{
		Subprotocols:       []string{"chat.v1", "chat.v2"},
		RequireSubprotocol: true,
		OriginPatterns:     []string{"*.example.org"},
	}, nopHandler)
	if err != nil {
		t.Fatal(err)
	}
	r := browserRequest()
	if err := p.Check(r); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if a := testing.AllocsPerRun(100, func() { _ = p.Check(r) }); a != 0 {
		t.Errorf("Check allocates %v times on a browser's handshake, want 0", a)
	}
}

func BenchmarkCheck(b *testing.B) {
	p, err := New(&Options{Subprotocols: []string{"chat.v1"}}, nopHandler)
	if err != nil {
		b.Fatal(err)
	}
	r := browserRequest()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Check(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckStatuses(t *testing.T) {
	t.Parallel()
	p, err := New(&Options{Subprotocols: []string{"a"}, RequireSubprotocol: true}, nopHandler)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(r *http.Request)
		status int
		header string
	}{
		{"valid", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "a") }, 0, ""},
		{"method", func(r *http.Request) { r.Method = "HEAD" }, 405, "Allow: GET"},
		{"no host", func(r *http.Request) { r.Host = "" }, 400, ""},
		{"version 14", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "14") }, 426, "Sec-Websocket-Version: 13"},
		{"version list", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8, 13") }, 426, "Sec-Websocket-Version: 13"},
		{"key 16 bytes unpadded", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ") }, 400, ""},
		{"key URL alphabet", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "-_-_-_-_-_-_-_-_-_-_-w==") }, 400, ""},
		{"no subprotocol", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "b") }, 400, ""},
		{"versioned token only", func(r *http.Request) { r.Header.Set("Upgrade", "websocket/13") }, 400, ""},
		{"versioned token first", func(r *http.Request) {
			r.Header.Set("Upgrade", "websocket/13, WebSocket")
			r.Header.Set("Sec-WebSocket-Protocol", "a")
		}, 0, ""},
		{"origin opaque", func(r *http.Request) { r.Header.Set("Origin", "null") }, 403, ""},
		{"origin empty", func(r *http.Request) { r.Header.Set("Origin", ""); r.Header.Set("Sec-WebSocket-Protocol", "a") }, 0, ""},
		{"origin path", func(r *http.Request) {
			r.Header.Set("Origin", "https://app.example.com/x")
			r.Header.Set("Sec-WebSocket-Protocol", "a")
		}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := browserRequest()
			tc.edit(r)
			err := p.Check(r)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("Check: got %v, want nil", err)
				}
				return
			}
			var e *negotiate.Error
			if !errors.As(err, &e) {
				t.Fatalf("Check: got %v, want a *negotiate.Error", err)
			}
			if e.Status != tc.status {
				t.Errorf("status: got %d, want %d (%s)", e.Status, tc.status, e.Reason)
			}
			if e.Reason == "" || strings.ContainsAny(e.Reason, "\r\n") {
				t.Errorf("reason %q: want one non-empty line", e.Reason)
			}
			if tc.header != "" {
				k, v, _ := strings.Cut(tc.header, ": ")
				if got := e.Header.Get(k); got != v {
					t.Errorf("%s: got %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestValidKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"dGhlIHNhbXBsZSBub25jZQ==", true},
		{"AAAAAAAAAAAAAAAAAAAAAA==", true},
		{"AAAAAAAAAAAAAAAAAAAAAAA=", false}, // 17 bytes
		{"AAAAAAAAAAAAAAAAAAAA", false},     // 15 bytes
		{"dGhlIHNhbXBsZSBub25jZQ", false},
		{"dGhlIHNhbXBsZSBub25jZQ=!", false},
		{"dGhlIHNhbXBsZSBub25j\nQ==", false},
		{"", false},
	} {
		if got := validKey(tc.key); got != tc.want {
			t.Errorf("validKey(%q): got %v, want %v", tc.key, got, tc.want)
		}
	}
}

func TestOriginHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origin, host string
		ok           bool
	}{
		{"https://example.com", "example.com", true},
		{"http://example.com:8080", "example.com:8080", true},
		{"http://[::1]:8080", "[::1]:8080", true},
		{"https://example.com/path?q#f", "example.com", true},
		{"null", "", false},
		{"example.com", "", false},
		{"://example.com", "", false},
		{"https://", "", false},
		{"https://user@example.com", "", false},
		{"https://exa mple.com", "", false},
	} {
		host, ok := originHost(tc.origin)
		if host != tc.host || ok != tc.ok {
			t.Errorf("originHost(%q): got %q, %v; want %q, %v", tc.origin, host, ok, tc.host, tc.ok)
		}
	}
}

// FuzzCheck feeds hostile header values to Check: it must never panic,
// every refusal is a 4xx *negotiate.Error, and whatever it accepts is a
// GET with a key gorilla takes (the base64 of 16 bytes), or an extended
// CONNECT over HTTP/2 with :protocol websocket (RFC 8441 §5), version 13,
// an Origin that is absent, the request's own host or one of
// Options.OriginPatterns, and the required subprotocol among the offers.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "dGhlIHNhbXBsZSBub25jZQ==", "13", "https://app.example.com", "chat.v1")
	f.Add("POST", "", "8", "null", ",,")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "http://user@app.example.com", " a ,chat.v1")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "https://chat.example.org:8443/x", "chat.v2,\tchat.v1")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "https://evil.example", "chat.v1")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "", "chat.v2")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "https://APP.example.COM", "chat.v10")
	f.Add("WebSocket", "", "13", "https://app.example.com", "chat.v1")
	f.Add("websocket/13", "", "13", "https://app.example.com", "chat.v1")
	f.Add("websocket", "", "", "https://app.example.com", "chat.v1")
	p, err := New(&Options{Subprotocols: []string{"chat.v1"}, RequireSubprotocol: true, OriginPatterns: []string{"*.example.org"}}, nopHandler)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, key, version, origin, sub string) {
		// Over HTTP/1.1, and over HTTP/2 as an extended CONNECT whose
		// :protocol is the method given (GET: websocket), without a key.
		for _, h2 := range []bool{false, true} {
			r := browserRequest()
			protocol := method
			if h2 {
				if method == "GET" {
					protocol = "websocket"
				}
				r.Method, r.Proto, r.ProtoMajor, r.ProtoMinor = http.MethodConnect, "HTTP/2.0", 2, 0
				r.Header = http.Header{":protocol": {protocol}, "User-Agent": r.Header["User-Agent"]}
			} else {
				r.Method = method
				r.Header["Sec-Websocket-Key"] = []string{key}
			}
			r.Header["Sec-Websocket-Version"] = []string{version}
			r.Header["Origin"] = []string{origin}
			r.Header["Sec-Websocket-Protocol"] = []string{sub}
			if checkFuzzed(t, p, r, h2, protocol, key, version, origin, sub) {
				return
			}
		}
	})
}

// checkFuzzed runs Check on a request FuzzCheck made and holds its answer to
// the rules; it reports whether the test has failed.
func checkFuzzed(t *testing.T, p negotiate.Protocol, r *http.Request, h2 bool, protocol, key, version, origin, sub string) bool {
	t.Helper()
	err := p.Check(r)
	if err != nil {
		var e *negotiate.Error
		if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 {
			t.Fatalf("Check refused with %v, want a 4xx *negotiate.Error (HTTP/2: %v)", err, h2)
		}
		return false
	}
	decoded, kerr := base64.StdEncoding.DecodeString(key)
	switch {
	case h2 && (!strings.EqualFold(protocol, "websocket") || version != "13"):
		t.Errorf("Check accepted an extended CONNECT with :protocol %q, version %q", protocol, version)
	case !h2 && (protocol != "GET" || kerr != nil || len(decoded) != 16 || version != "13"):
		t.Errorf("Check accepted method %q, key %q, version %q", protocol, key, version)
	}
	host := origin
	if _, rest, ok := strings.Cut(origin, "://"); ok {
		host, _, _ = strings.Cut(rest, "/")
		host, _, _ = strings.Cut(host, "?")
		host, _, _ = strings.Cut(host, "#")
	}
	if lower := strings.ToLower(host); origin != "" && lower != "app.example.com" && !strings.HasSuffix(lower, ".example.org") {
		t.Errorf("Check accepted Origin %q for host %q", origin, r.Host)
	}
	offered := false
	for _, o := range strings.Split(sub, ",") {
		offered = offered || strings.Trim(o, " \t") == "chat.v1"
	}
	if !offered {
		t.Errorf("Check accepted the offers %q without the required chat.v1", sub)
	}
	return t.Failed()
}

func TestAcceptKey(t *testing.T) {
	t.Parallel()
	// RFC 6455 §1.3.
	if got, want := new(Conn).acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
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
