package websocket

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/negotiate"
)

func nopHandler(*Conn) error { return nil }

// browserRequest is a handshake as Chromium sends it, same-origin.
func browserRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://app.example.com/ws", nil)
	h := r.Header
	h.Set("Connection", "Upgrade")
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "no-cache")
	h.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
	h.Set("Upgrade", "websocket")
	h.Set("Origin", "https://app.example.com")
	h.Set("Sec-WebSocket-Version", "13")
	h.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	h.Set("Accept-Language", "en-US,en;q=0.9")
	h.Set("Cookie", "session=abc")
	h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	h.Set("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")
	h.Set("Sec-WebSocket-Protocol", "chat.v2, chat.v1")
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
// and whatever it accepts must be a GET with a valid key and version 13.
func FuzzCheck(f *testing.F) {
	f.Add("GET", "dGhlIHNhbXBsZSBub25jZQ==", "13", "https://app.example.com", "chat.v1")
	f.Add("POST", "", "8", "null", ",,")
	f.Add("GET", "AAAAAAAAAAAAAAAAAAAAAA==", "13", "http://user@app.example.com", " a ,chat.v1")
	p, err := New(&Options{Subprotocols: []string{"chat.v1"}, RequireSubprotocol: true, OriginPatterns: []string{"*.example.org"}}, nopHandler)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, key, version, origin, sub string) {
		r := browserRequest()
		r.Method = method
		r.Header["Sec-Websocket-Key"] = []string{key}
		r.Header["Sec-Websocket-Version"] = []string{version}
		r.Header["Origin"] = []string{origin}
		r.Header["Sec-Websocket-Protocol"] = []string{sub}
		if err := p.Check(r); err == nil {
			if method != "GET" || !validKey(key) || version != "13" {
				t.Errorf("Check accepted method %q, key %q, version %q", method, key, version)
			}
		}
	})
}
