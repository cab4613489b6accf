package websocket_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestEcho(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, echo)
	for _, path := range []string{"/ws", "/through/middleware"} {
		t.Run(path, func(t *testing.T) {
			c, resp := dial(t, nil, s.ws(path), nil)
			if got, want := resp.Header.Get("Upgrade"), "websocket"; got != want {
				t.Errorf("101 Upgrade: got %q, want %q", got, want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
				t.Errorf("101 Sec-WebSocket-Protocol: got %q, want none", got)
			}
			wantEcho(t, c, gws.TextMessage, []byte("hello, switchyard ✓"))
			wantEcho(t, c, gws.BinaryMessage, []byte{0, 1, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff})
			wantEcho(t, c, gws.BinaryMessage, bytes.Repeat([]byte("0123456789abcdef"), 64<<10)) // 1 MiB: the default limit
			if err := c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, "")); err != nil {
				t.Fatal(err)
			}
			wantCloseCode(t, c, gws.CloseNormalClosure)
			ci := s.nextClose(t)
			if got, want := ci.Protocol, "websocket"; got != want {
				t.Errorf("OnClose protocol: got %q, want %q", got, want)
			}
			if ci.Err != nil {
				t.Errorf("OnClose error after a normal close: got %v, want nil", ci.Err)
			}
			if ci.BytesIn < 1<<20 || ci.BytesOut < 1<<20 {
				t.Errorf("OnClose bytes in, out: got %d, %d; want at least 1 MiB each", ci.BytesIn, ci.BytesOut)
			}
		})
	}
	st := s.n.Stats()
	if got, want := st.Switched["websocket"], int64(2); got != want {
		t.Errorf("Stats().Switched[websocket]: got %d, want %d", got, want)
	}
	if got, want := st.Active["websocket"], 0; got != want {
		t.Errorf("Stats().Active[websocket]: got %d, want %d", got, want)
	}
}

// A plain request through the middleware mount is not touched.
func TestPlainRequestPasses(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, echo)
	resp, err := http.Get(s.URL + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), "plain"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, echo)
	valid := handshakeLines(s.host())
	for _, tc := range []struct {
		name       string
		method     string
		lines      []string
		status     int
		header     string // a field the refusal must carry
		value      string
		bodyPrefix string
	}{
		{"POST", "POST", append(without(valid, "Host"), "Host: "+s.host(), "Content-Length: 0"), 405, "Allow", "GET", "a WebSocket handshake must be a GET request"},
		{"missing key", "GET", without(valid, "Sec-WebSocket-Key"), 400, "", "", "missing Sec-WebSocket-Key"},
		{"repeated key", "GET", append(valid[:len(valid):len(valid)], "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="), 400, "", "", "repeated Sec-WebSocket-Key"},
		{"two keys in one line", "GET", append(without(valid, "Sec-WebSocket-Key"), "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ=="), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key not base64", "GET", append(without(valid, "Sec-WebSocket-Key"), "Sec-WebSocket-Key: not*base64*but*24*chars"), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key of 15 bytes", "GET", append(without(valid, "Sec-WebSocket-Key"), "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key of 17 bytes", "GET", append(without(valid, "Sec-WebSocket-Key"), "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="), 400, "", "", "Sec-WebSocket-Key must be"},
		{"version 8", "GET", append(without(valid, "Sec-WebSocket-Version"), "Sec-WebSocket-Version: 8"), 426, "Sec-WebSocket-Version", "13", "unsupported WebSocket version"},
		{"no version", "GET", without(valid, "Sec-WebSocket-Version"), 426, "Sec-WebSocket-Version", "13", "unsupported WebSocket version"},
		{"repeated version", "GET", append(valid[:len(valid):len(valid)], "Sec-WebSocket-Version: 13"), 400, "", "", "repeated Sec-WebSocket-Version"},
		{"cross-origin", "GET", append(valid[:len(valid):len(valid)], "Origin: https://evil.example"), 403, "", "", "cross-origin WebSocket refused"},
		{"opaque origin", "GET", append(valid[:len(valid):len(valid)], "Origin: null"), 403, "", "", "cross-origin WebSocket refused"},
		{"origin with user info", "GET", append(valid[:len(valid):len(valid)], "Origin: http://evil@"+s.host()), 403, "", "", "cross-origin WebSocket refused"},
		{"repeated origin", "GET", append(valid[:len(valid):len(valid)], "Origin: http://"+s.host(), "Origin: http://"+s.host()), 403, "", "", "repeated Origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body, _, _ := exchange(t, s, rawRequest(tc.method, "/ws", tc.lines))
			if got, want := resp.StatusCode, tc.status; got != want {
				t.Fatalf("status: got %d, want %d (body %q)", got, want, body)
			}
			if tc.header != "" {
				if got, want := resp.Header.Get(tc.header), tc.value; got != want {
					t.Errorf("%s: got %q, want %q", tc.header, got, want)
				}
			}
			if !strings.HasPrefix(body, tc.bodyPrefix) || strings.Count(body, "\n") != 1 {
				t.Errorf("body: got %q, want one line starting %q", body, tc.bodyPrefix)
			}
			if !resp.Close {
				t.Errorf("refusal does not close the connection")
			}
		})
	}
}

// net/http refuses an HTTP/1.1 request without Host before any handler
// runs, so the check is driven through the mount directly: a refusal does
// not hijack.
func TestMissingHost(t *testing.T) {
	t.Parallel()
	p, err := websocket.New(nil, echo)
	if err != nil {
		t.Fatal(err)
	}
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var reg negotiate.Registry
	if err := reg.Register("websocket", p); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Host = ""
	for _, l := range handshakeLines("") {
		k, v, _ := strings.Cut(l, ": ")
		if k != "Host" {
			r.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	n.Endpoint(&reg).ServeHTTP(w, r)
	if got, want := w.Code, http.StatusBadRequest; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := w.Body.String(), "a WebSocket handshake needs a Host header\n"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   *websocket.Options
		origin func(s *server) string // "" sends none
		want   int
	}{
		{"no origin", nil, func(*server) string { return "" }, 101},
		{"same origin", nil, func(s *server) string { return "http://" + s.host() }, 101},
		{"same origin, other case and scheme", nil, func(s *server) string { return "HTTPS://" + strings.ToUpper(s.host()) }, 101},
		{"same host, other port", nil, func(s *server) string { return "http://127.0.0.1:1" }, 403},
		{"cross origin", nil, func(*server) string { return "https://evil.example" }, 403},
		{"pattern matches", &websocket.Options{OriginPatterns: []string{"*.Example.com"}}, func(*server) string { return "https://app.example.COM" }, 101},
		{"pattern with port", &websocket.Options{OriginPatterns: []string{"localhost:*"}}, func(*server) string { return "http://localhost:3000" }, 101},
		{"pattern does not match", &websocket.Options{OriginPatterns: []string{"*.example.com"}}, func(*server) string { return "https://example.com.evil" }, 403},
		{"pattern without port", &websocket.Options{OriginPatterns: []string{"example.com"}}, func(*server) string { return "https://example.com:8443" }, 403},
		{"skip check", &websocket.Options{InsecureSkipOriginCheck: true}, func(*server) string { return "https://evil.example" }, 101},
		{"skip check, opaque", &websocket.Options{InsecureSkipOriginCheck: true}, func(*server) string { return "null" }, 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tc.opts, nil, echo)
			h := http.Header{}
			if o := tc.origin(s); o != "" {
				h.Set("Origin", o)
			}
			c, resp, err := (&gws.Dialer{HandshakeTimeout: testTimeout}).Dial(s.ws("/ws"), h)
			if c != nil {
				defer c.Close()
			}
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			if got := resp.StatusCode; got != tc.want {
				t.Fatalf("status: got %d, want %d (%v)", got, tc.want, err)
			}
			if c != nil {
				wantEcho(t, c, gws.TextMessage, []byte("hi"))
			}
		})
	}
}

func TestSubprotocols(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opts   websocket.Options
		offer  []string
		status int
		want   string
	}{
		{"client order", websocket.Options{Subprotocols: []string{"a", "b", "c"}}, []string{"c", "b"}, 101, "c"},
		{"server order", websocket.Options{Subprotocols: []string{"a", "b", "c"}, ServerSubprotocolPreference: true}, []string{"c", "b"}, 101, "b"},
		{"no match", websocket.Options{Subprotocols: []string{"a"}}, []string{"x", "y"}, 101, ""},
		{"case matters", websocket.Options{Subprotocols: []string{"chat"}}, []string{"CHAT"}, 101, ""},
		{"none offered", websocket.Options{Subprotocols: []string{"a"}}, nil, 101, ""},
		{"server has none", websocket.Options{}, []string{"a"}, 101, ""},
		{"required and matched", websocket.Options{Subprotocols: []string{"a", "b"}, RequireSubprotocol: true}, []string{"x", "b"}, 101, "b"},
		{"required, no match", websocket.Options{Subprotocols: []string{"a"}, RequireSubprotocol: true}, []string{"x"}, 400, ""},
		{"required, none offered", websocket.Options{Subprotocols: []string{"a"}, RequireSubprotocol: true}, nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := make(chan string, 1)
			s := newServer(t, &tc.opts, nil, func(c *gws.Conn) error {
				seen <- c.Subprotocol()
				return echo(c)
			})
			d := &gws.Dialer{HandshakeTimeout: testTimeout, Subprotocols: tc.offer}
			c, resp, err := d.Dial(s.ws("/ws"), nil)
			if c != nil {
				defer c.Close()
			}
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			if got := resp.StatusCode; got != tc.status {
				t.Fatalf("status: got %d, want %d (%v)", got, tc.status, err)
			}
			if tc.status != 101 {
				return
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) > 1 || tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("101 Sec-WebSocket-Protocol: got %q, want %q", got, tc.want)
			}
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("client Subprotocol(): got %q, want %q", got, tc.want)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("server Subprotocol(): got %q, want %q", got, tc.want)
			}
		})
	}
}

// Offers spread over field lines, with empty elements and whitespace.
func TestSubprotocolFieldLines(t *testing.T) {
	t.Parallel()
	s := newServer(t, &websocket.Options{Subprotocols: []string{"b", "c"}}, nil, echo)
	lines := append(handshakeLines(s.host()), "Sec-WebSocket-Protocol: ,a ,", "Sec-WebSocket-Protocol: \tc, b")
	resp, _, _, _ := exchange(t, s, rawRequest("GET", "/ws", lines))
	if got, want := resp.StatusCode, 101; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := resp.Header.Values("Sec-WebSocket-Protocol"), []string{"c"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Sec-WebSocket-Protocol: got %q, want %q", got, want)
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	msg := bytes.Repeat([]byte("compressible "), 20_000) // 260 kB
	for _, tc := range []struct {
		name           string
		server, client bool
		want           bool
	}{
		{"both", true, true, true},
		{"server only", true, false, false},
		{"client only", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &websocket.Options{EnableCompression: tc.server}, nil, echo)
			c, resp := dial(t, &gws.Dialer{EnableCompression: tc.client}, s.ws("/ws"), nil)
			ext := resp.Header.Get("Sec-WebSocket-Extensions")
			if got := strings.HasPrefix(ext, "permessage-deflate"); got != tc.want {
				t.Fatalf("101 Sec-WebSocket-Extensions %q: compression negotiated %v, want %v", ext, got, tc.want)
			}
			wantEcho(t, c, gws.TextMessage, msg)
			c.Close()
			ci := s.nextClose(t)
			// The server read the message compressed if, and only if,
			// compression was negotiated.
			if got := ci.BytesIn < int64(len(msg))/10; got != tc.want {
				t.Errorf("server read %d bytes for a %d-byte message: compressed %v, want %v", ci.BytesIn, len(msg), got, tc.want)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limit  int64
		fits   int // largest message that passes
		tooBig int // 0: no limit to test
	}{
		{"default 1 MiB", 0, 1 << 20, 1<<20 + 1},
		{"10 bytes", 10, 10, 11},
		{"none", -1, 3 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &websocket.Options{ReadLimit: tc.limit}, nil, echo)
			c, _ := dial(t, nil, s.ws("/ws"), nil)
			wantEcho(t, c, gws.BinaryMessage, make([]byte, tc.fits))
			if tc.tooBig == 0 {
				return
			}
			if err := c.WriteMessage(gws.BinaryMessage, make([]byte, tc.tooBig)); err != nil {
				t.Fatal(err)
			}
			wantCloseCode(t, c, gws.CloseMessageTooBig)
			if ci := s.nextClose(t); !errors.Is(ci.Err, gws.ErrReadLimit) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, gws.ErrReadLimit)
			}
		})
	}
}

// A client that sends its first frame in the same write as the handshake
// gets it echoed: the negotiator keeps the bytes the server buffered.
func TestEarlyData(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, echo)
	raw := rawRequest("GET", "/ws", handshakeLines(s.host())) + string(maskedFrame(0x1, []byte("early")))
	resp, _, br, c := exchange(t, s, raw)
	if got, want := resp.StatusCode, 101; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("Sec-WebSocket-Accept: got %q, want %q (RFC 6455 §1.3)", got, want)
	}
	b0, p := readFrame(t, br)
	if b0 != 0x81 || string(p) != "early" {
		t.Fatalf("first frame: got %#x %q, want a final text frame \"early\"", b0, p)
	}
	if _, err := c.Write(maskedFrame(0x8, binary.BigEndian.AppendUint16(nil, 1000))); err != nil {
		t.Fatal(err)
	}
	b0, p = readFrame(t, br)
	if b0 != 0x88 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		t.Fatalf("after the client's close: got %#x % x, want a close frame with 1000", b0, p)
	}
	if ci := s.nextClose(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

func TestHandlerReturn(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"nil", nil, gws.CloseNormalClosure},
		{"error", boom, gws.CloseInternalServerErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil, nil, func(*gws.Conn) error { return tc.err })
			c, _ := dial(t, nil, s.ws("/ws"), nil)
			wantCloseCode(t, c, tc.code)
			if ci := s.nextClose(t); ci.Err != tc.err {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, tc.err)
			}
		})
	}
}

func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	s := newServer(t, &websocket.Options{PingInterval: time.Hour}, nil, func(*gws.Conn) error { panic("handler bug") })
	c, _ := dial(t, nil, s.ws("/ws"), nil)
	if _, _, err := c.ReadMessage(); err == nil {
		t.Fatal("read after the handler panicked: got a message, want the connection closed")
	}
	if ci := s.nextClose(t); ci.Err == nil || !strings.Contains(ci.Err.Error(), "handler bug") {
		t.Errorf("OnClose error: got %v, want the panic", ci.Err)
	}
	if got, want := s.n.Stats().Panics, int64(1); got != want {
		t.Errorf("Stats().Panics: got %d, want %d", got, want)
	}
	// The leak check in TestMain sees the pinger if it survived.
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	t.Run("answering peer stays", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: testTimeout}, nil, echo)
		c, _ := dial(t, nil, s.ws("/ws"), nil)
		pings := make(chan struct{}, 100)
		pong := c.PingHandler()
		c.SetPingHandler(func(data string) error {
			select {
			case pings <- struct{}{}:
			default:
			}
			return pong(data)
		})
		msgs := make(chan string)
		go func() {
			defer close(msgs)
			for {
				_, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				msgs <- string(p)
			}
		}()
		for range 5 {
			select {
			case <-pings:
			case <-time.After(testTimeout):
				t.Fatal("no ping from the server")
			}
		}
		if err := c.WriteMessage(gws.TextMessage, []byte("still here")); err != nil {
			t.Fatal(err)
		}
		if got, want := <-msgs, "still here"; got != want {
			t.Fatalf("echo after pings: got %q, want %q", got, want)
		}
		if err := c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, "")); err != nil {
			t.Fatal(err)
		}
		for range msgs {
		}
		if ci := s.nextClose(t); ci.Err != nil {
			t.Errorf("OnClose error: got %v, want nil", ci.Err)
		}
	})
	t.Run("silent peer is closed", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: 20 * time.Millisecond}, nil, echo)
		c, _ := dial(t, nil, s.ws("/ws"), nil)
		var mu sync.Mutex
		pings := 0
		c.SetPingHandler(func(string) error { // read, never answered
			mu.Lock()
			pings++
			mu.Unlock()
			return nil
		})
		if _, _, err := c.ReadMessage(); err == nil {
			t.Fatal("silent client read a message, want the connection closed")
		}
		mu.Lock()
		if pings == 0 {
			t.Error("the client saw no ping before the close")
		}
		mu.Unlock()
		if ci := s.nextClose(t); !errors.Is(ci.Err, websocket.ErrPongTimeout) {
			t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrPongTimeout)
		}
	})
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("peer answers", func(t *testing.T) {
		t.Parallel()
		// A close wait far longer than the test: only the peer's answer
		// lets Shutdown return.
		s := newServer(t, &websocket.Options{CloseTimeout: time.Hour}, nil, echo)
		c, _ := dial(t, nil, s.ws("/ws"), nil)
		wantEcho(t, c, gws.TextMessage, []byte("before"))
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			done <- s.n.Shutdown(ctx)
		}()
		wantCloseCode(t, c, gws.CloseGoingAway) // gorilla answers the close
		if err := <-done; err != nil {
			t.Errorf("Shutdown: got %v, want nil", err)
		}
		if ci := s.nextClose(t); ci.Err != nil {
			t.Errorf("OnClose error: got %v, want nil", ci.Err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		t.Parallel()
		const closeTimeout = 50 * time.Millisecond
		s := newServer(t, &websocket.Options{CloseTimeout: closeTimeout}, nil, echo)
		c, _ := dial(t, nil, s.ws("/ws"), nil) // and not read until Shutdown returns
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		start := time.Now()
		if err := s.n.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: got %v, want nil", err)
		}
		if d := time.Since(start); d < closeTimeout {
			t.Errorf("Shutdown returned after %v, before the close wait of %v", d, closeTimeout)
		}
		wantCloseCode(t, c, gws.CloseGoingAway) // the frame came before the close
		s.nextClose(t)
	})
	t.Run("new upgrades refused", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil, nil, echo)
		if err := s.n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, resp, err := (&gws.Dialer{HandshakeTimeout: testTimeout}).Dial(s.ws("/ws"), nil)
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
			t.Errorf("status while draining: got %d, want %d", got, want)
		}
	})
}

// gorilla's own checks (here: the Upgrade token must be exactly
// "websocket", while the registry matches any version of it) answer through
// the negotiator's responder.
func TestGorillaRefusalThroughResponder(t *testing.T) {
	t.Parallel()
	var got []*negotiate.Error
	var mu sync.Mutex
	responder := func(w http.ResponseWriter, r *http.Request, err *negotiate.Error) {
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
		w.WriteHeader(err.Status)
		io.WriteString(w, "custom\n")
	}
	s := newServer(t, nil, &negotiate.Options{Responder: responder}, echo)
	lines := append(without(handshakeLines(s.host()), "Upgrade"), "Upgrade: websocket/13")
	resp, body, _, _ := exchange(t, s, rawRequest("GET", "/ws", lines))
	if resp.StatusCode != 400 || body != "custom\n" {
		t.Errorf("response: got %d %q, want 400 %q", resp.StatusCode, body, "custom\n")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("responder called %d times, want 1", len(got))
	}
	var he gws.HandshakeError
	if !errors.As(got[0].Err, &he) || !strings.Contains(got[0].Reason, "'websocket' token not found") {
		t.Errorf("refusal: got %+v, want gorilla's HandshakeError about the Upgrade token", got[0])
	}
	if got, want := s.n.Stats().Refused, int64(1); got != want {
		t.Errorf("Stats().Refused: got %d, want %d", got, want)
	}
}

// Authorize's headers ride on gorilla's 101, except those the handshake
// owns, those that describe a body and invalid ones.
func TestAuthorizeHeaders(t *testing.T) {
	t.Parallel()
	tokens := make(chan string, 1)
	authorize := func(r *http.Request, tok string, h http.Header) error {
		tokens <- tok
		h.Add("Set-Cookie", "session=1; Path=/")
		h.Set("X-Good", "yes")
		h.Set("Sec-WebSocket-Extensions", "x-evil")
		h.Set("Sec-WebSocket-Accept", "forged")
		h.Set("Content-Type", "text/html")
		h.Set("Connection", "keep-alive")
		h["X-Bad"] = []string{"a\r\nX-Injected: 1"}
		h["Bad Name"] = []string{"x"}
		return nil
	}
	s := newServer(t, &websocket.Options{Subprotocols: []string{"p"}}, &negotiate.Options{Authorize: authorize}, echo)
	c, resp := dial(t, &gws.Dialer{Subprotocols: []string{"p"}}, s.ws("/ws"), nil)
	wantEcho(t, c, gws.TextMessage, []byte("authorized"))
	if got, want := <-tokens, "websocket"; got != want {
		t.Errorf("Authorize token: got %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"Set-Cookie", []string{"session=1; Path=/"}},
		{"X-Good", []string{"yes"}},
		{"Sec-WebSocket-Extensions", nil},
		{"Sec-WebSocket-Protocol", []string{"p"}},
		{"Content-Type", nil},
		{"Connection", []string{"Upgrade"}},
		{"X-Bad", nil},
		{"X-Injected", nil},
	} {
		got := resp.Header.Values(tc.name)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("101 %s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := resp.Header.Values("Sec-WebSocket-Accept"); len(got) != 1 || got[0] == "forged" {
		t.Errorf("101 Sec-WebSocket-Accept: got %q, want gorilla's one", got)
	}
}

// Handshake refuses to run outside a negotiator, where the connection
// would be neither tracked nor given its early bytes.
func TestHandshakeOutsideNegotiator(t *testing.T) {
	t.Parallel()
	p, err := websocket.New(nil, echo)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Handshake(w, r); err == nil {
			t.Error("Handshake outside a negotiator: got nil error")
		}
	}))
	defer ts.Close()
	_, resp, err := (&gws.Dialer{HandshakeTimeout: testTimeout}).Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	if got, want := resp.StatusCode, http.StatusInternalServerError; got != want {
		t.Errorf("status: got %d, want %d", got, want)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts websocket.Options
	}{
		{"read limit -2", websocket.Options{ReadLimit: -2}},
		{"negative handshake timeout", websocket.Options{HandshakeTimeout: -1}},
		{"negative ping interval", websocket.Options{PingInterval: -1}},
		{"negative close timeout", websocket.Options{CloseTimeout: -1}},
		{"pong timeout without pings", websocket.Options{PongTimeout: time.Second}},
		{"negative buffer", websocket.Options{ReadBufferSize: -1}},
		{"subprotocol not a token", websocket.Options{Subprotocols: []string{"a b"}}},
		{"empty subprotocol", websocket.Options{Subprotocols: []string{""}}},
		{"malformed pattern", websocket.Options{OriginPatterns: []string{"[a-"}}},
		{"empty pattern", websocket.Options{OriginPatterns: []string{""}}},
	} {
		if _, err := websocket.New(&tc.opts, echo); err == nil {
			t.Errorf("%s: New returned no error", tc.name)
		}
	}
	if _, err := websocket.New(nil, nil); err == nil {
		t.Error("nil handler: New returned no error")
	}
	if _, err := websocket.New(nil, echo); err != nil {
		t.Errorf("nil options: %v", err)
	}
}
