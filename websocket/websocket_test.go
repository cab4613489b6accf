package websocket_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// server is a real loopback server: the WebSocket protocol at /ws through
// an Endpoint mount, and at every other path through a Middleware mount in
// front of testkit.Plain.
type server struct {
	*httptest.Server
	n      *negotiate.Negotiator
	closes *testkit.ConnInfos // every OnClose, in order
}

// newServer starts a server. nopts may be nil; its OnClose is replaced.
// When the test ends, the negotiator is shut down (and waits for every
// handler) and the server closed.
func newServer(t *testing.T, opts *websocket.Options, nopts *negotiate.Options, h func(*websocket.Conn) error) *server {
	t.Helper()
	p, err := websocket.New(opts, h)
	if err != nil {
		t.Fatalf("websocket.New: %v", err)
	}
	var no negotiate.Options
	if nopts != nil {
		no = *nopts
	}
	s := &server{closes: testkit.NewConnInfos()}
	no.OnClose = s.closes.Hook
	s.n = testkit.NewNegotiator(t, &no)
	var reg negotiate.Registry
	reg.Register("websocket", p)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.n.Endpoint(&reg))
	mux.Handle("/", s.n.Middleware(&reg)(testkit.Plain))
	s.Server = testkit.StartServer(t, mux)
	return s
}

// ws returns the ws:// URL of a path.
func (s *server) ws(path string) string { return wstest.URL(s.URL, path) }

// host is the server's host:port, the Host its clients send.
func (s *server) host() string { return testkit.Addr(s.Server) }

// raw sends a raw request head (and what follows it) and reads the
// response.
func (s *server) raw(t *testing.T, request string) *testkit.Exchange {
	t.Helper()
	return testkit.Raw(t, s.host(), request)
}

func TestEcho(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, wstest.Echo)
	for _, path := range []string{"/ws", "/through/middleware"} {
		t.Run(path, func(t *testing.T) {
			c, resp := wstest.Dial(t, nil, s.ws(path), nil)
			if got, want := resp.Header.Get("Upgrade"), "websocket"; got != want {
				t.Errorf("101 Upgrade: got %q, want %q", got, want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
				t.Errorf("101 Sec-WebSocket-Protocol: got %q, want none", got)
			}
			wstest.WantEcho(t, c, gws.TextMessage, []byte("hello, switchyard ✓"))
			wstest.WantEcho(t, c, gws.BinaryMessage, []byte{0, 1, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff})
			wstest.WantEcho(t, c, gws.BinaryMessage, bytes.Repeat([]byte("0123456789abcdef"), 64<<10)) // 1 MiB: the default limit
			wstest.CloseNormally(t, c)
			ci := s.closes.Next(t)
			if ci.Token != "websocket" || ci.Name != "websocket" {
				t.Errorf("OnClose token, name: got %q, %q; want websocket, websocket", ci.Token, ci.Name)
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
	s := newServer(t, nil, nil, wstest.Echo)
	resp, err := http.Get(s.URL + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), "plain HTTP/1.1"; got != want {
		t.Errorf("body: got %q, want %q", got, want)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, wstest.Echo)
	const key = "Sec-WebSocket-Key: " + testKey
	for _, tc := range []struct {
		name       string
		request    string
		status     int
		header     string // a field the refusal must carry
		value      string
		bodyPrefix string
	}{
		{"POST", strings.Replace(handshake(nil, "Content-Length: 0"), "GET ", "POST ", 1), 405, "Allow", "GET", "a WebSocket handshake must be a GET request"},
		{"missing key", handshake([]string{"Sec-WebSocket-Key"}), 400, "", "", "missing Sec-WebSocket-Key"},
		{"repeated key", handshake(nil, key), 400, "", "", "repeated Sec-WebSocket-Key"},
		{"two keys in one line", handshake([]string{"Sec-WebSocket-Key"}, key+", "+testKey), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key not base64", handshake([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: not*base64*but*24*chars"), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key of 15 bytes", handshake([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA"), 400, "", "", "Sec-WebSocket-Key must be"},
		{"key of 17 bytes", handshake([]string{"Sec-WebSocket-Key"}, "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA="), 400, "", "", "Sec-WebSocket-Key must be"},
		{"version 8", handshake([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), 426, "Sec-WebSocket-Version", "13", "unsupported WebSocket version"},
		{"no version", handshake([]string{"Sec-WebSocket-Version"}), 426, "Sec-WebSocket-Version", "13", "unsupported WebSocket version"},
		{"repeated version", handshake(nil, "Sec-WebSocket-Version: 13"), 400, "", "", "repeated Sec-WebSocket-Version"},
		{"cross-origin", handshake(nil, "Origin: https://evil.example"), 403, "", "", "cross-origin WebSocket refused"},
		{"opaque origin", handshake(nil, "Origin: null"), 403, "", "", "cross-origin WebSocket refused"},
		{"origin with user info", handshake(nil, "Origin: http://evil@example.com"), 403, "", "", "cross-origin WebSocket refused"},
		{"repeated origin", handshake(nil, "Origin: http://example.com", "Origin: http://example.com"), 403, "", "", "repeated Origin"},
		{"versioned token", strings.Replace(handshake(nil), "Upgrade: websocket", "Upgrade: websocket/13", 1), 400, "", "", "a WebSocket handshake must offer the token websocket without a version"},
		{"versioned token first", strings.Replace(handshake(nil), "Upgrade: websocket", "Upgrade: websocket/13, websocket", 1), 400, "", "", "a WebSocket handshake must offer the token websocket without a version"},
		{"body", handshake(nil, "Content-Length: 5") + "hello", 413, "", "", "request body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ex := s.raw(t, tc.request)
			if got, want := ex.Resp.StatusCode, tc.status; got != want {
				t.Fatalf("status: got %d, want %d (body %q)", got, want, ex.Body)
			}
			if tc.header != "" {
				if got, want := ex.Resp.Header.Get(tc.header), tc.value; got != want {
					t.Errorf("%s: got %q, want %q", tc.header, got, want)
				}
			}
			if !strings.HasPrefix(ex.Body, tc.bodyPrefix) || strings.Count(ex.Body, "\n") != 1 {
				t.Errorf("body: got %q, want one line starting %q", ex.Body, tc.bodyPrefix)
			}
			if !ex.Resp.Close {
				t.Errorf("refusal does not close the connection")
			}
		})
	}
	if got := s.n.Stats().Switched["websocket"]; got != 0 {
		t.Errorf("Stats().Switched[websocket]: got %d, want 0", got)
	}
}

// net/http refuses an HTTP/1.1 request without Host before any handler
// runs, so the check is driven through the mount directly: a refusal does
// not hijack.
func TestMissingHost(t *testing.T) {
	t.Parallel()
	p, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNegotiator(t, nil)
	var reg negotiate.Registry
	reg.Register("websocket", p)
	r := httptest.NewRequest("GET", "/ws", nil)
	r.Host = ""
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": testKey} {
		r.Header.Set(k, v)
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
			s := newServer(t, tc.opts, nil, wstest.Echo)
			h := http.Header{}
			if o := tc.origin(s); o != "" {
				h.Set("Origin", o)
			}
			c, resp := wstest.TryDial(t, nil, s.ws("/ws"), h)
			if got := resp.StatusCode; got != tc.want {
				t.Fatalf("status: got %d, want %d", got, tc.want)
			}
			if c != nil {
				wstest.WantEcho(t, c, gws.TextMessage, []byte("hi"))
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
			s := newServer(t, &tc.opts, nil, func(c *websocket.Conn) error {
				seen <- c.Subprotocol()
				return wstest.Echo(c)
			})
			c, resp := wstest.TryDial(t, &gws.Dialer{Subprotocols: tc.offer}, s.ws("/ws"), nil)
			if got := resp.StatusCode; got != tc.status {
				t.Fatalf("status: got %d, want %d", got, tc.status)
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
			wstest.WantEcho(t, c, gws.TextMessage, []byte("sub"))
		})
	}
}

// Offers spread over field lines, with empty elements and whitespace.
func TestSubprotocolFieldLines(t *testing.T) {
	t.Parallel()
	s := newServer(t, &websocket.Options{Subprotocols: []string{"b", "c"}}, nil, wstest.Echo)
	ex := s.raw(t, handshake(nil, "Sec-WebSocket-Protocol: ,a ,", "Sec-WebSocket-Protocol: \tc, b"))
	if got, want := ex.Resp.StatusCode, 101; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got := ex.Resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "c" {
		t.Errorf("Sec-WebSocket-Protocol: got %q, want [c]", got)
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
			s := newServer(t, &websocket.Options{EnableCompression: tc.server}, nil, wstest.Echo)
			c, resp := wstest.Dial(t, &gws.Dialer{EnableCompression: tc.client}, s.ws("/ws"), nil)
			ext := resp.Header.Values("Sec-WebSocket-Extensions")
			if tc.want {
				if len(ext) != 1 || ext[0] != "permessage-deflate; server_no_context_takeover; client_no_context_takeover" {
					t.Fatalf("101 Sec-WebSocket-Extensions: got %q, want gorilla's permessage-deflate", ext)
				}
			} else if len(ext) != 0 {
				t.Fatalf("101 Sec-WebSocket-Extensions: got %q, want none", ext)
			}
			for range 3 {
				wstest.WantEcho(t, c, gws.TextMessage, msg)
			}
			c.Close()
			ci := s.closes.Next(t)
			// The messages crossed the wire compressed, both ways, if and
			// only if compression was negotiated.
			in, out := ci.BytesIn < int64(len(msg))/10, ci.BytesOut < int64(len(msg))/10
			if in != tc.want || out != tc.want {
				t.Errorf("3 messages of %d bytes: server read %d bytes and wrote %d; compressed %v, %v; want %v",
					len(msg), ci.BytesIn, ci.BytesOut, in, out, tc.want)
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
			s := newServer(t, &websocket.Options{ReadLimit: tc.limit}, nil, wstest.Echo)
			c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
			wstest.WantEcho(t, c, gws.BinaryMessage, make([]byte, tc.fits))
			if tc.tooBig == 0 {
				return
			}
			if err := c.WriteMessage(gws.BinaryMessage, make([]byte, tc.tooBig)); err != nil {
				t.Fatal(err)
			}
			wstest.WantClose(t, c, gws.CloseMessageTooBig)
			if ci := s.closes.Next(t); !errors.Is(ci.Err, gws.ErrReadLimit) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, gws.ErrReadLimit)
			}
		})
	}
}

// Buffer sizes and a write pool: gorilla allocates its own buffers, and
// messages larger than them still pass.
func TestBufferOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []websocket.Options{
		{ReadBufferSize: 1},
		{WriteBufferSize: 300},
		{ReadBufferSize: 8192, WriteBufferSize: 512, WriteBufferPool: new(sync.Pool)},
	} {
		s := newServer(t, &opts, nil, wstest.Echo)
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		wstest.WantEcho(t, c, gws.BinaryMessage, bytes.Repeat([]byte{7}, 100_000))
		wstest.WantEcho(t, c, gws.TextMessage, []byte("small"))
	}
}

// The 101 on the wire: the negotiator's, with the WebSocket fields of the
// handshake once each, Authorize's cookie and no Content-* field; gorilla's
// own 101 never reaches the client, and the handler's first frame follows
// the negotiator's head directly.
func TestSwitchResponseOnTheWire(t *testing.T) {
	t.Parallel()
	authorize := func(s *negotiate.Switch) error {
		s.Header.Add("Set-Cookie", "session=1; Path=/")
		s.Header.Set("Content-Type", "text/html")
		s.Header.Set("Content-Length", "12")
		return nil
	}
	s := newServer(t, &websocket.Options{Subprotocols: []string{"chat"}, EnableCompression: true},
		&negotiate.Options{Authorize: authorize}, func(c *websocket.Conn) error {
			c.EnableWriteCompression(false)
			if err := c.WriteMessage(gws.TextMessage, []byte("hi")); err != nil {
				return err
			}
			c.EnableWriteCompression(true)
			return wstest.Echo(c)
		})
	ex := s.raw(t, handshake(nil, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"))
	if ex.Resp.StatusCode != 101 {
		t.Fatalf("status: got %d, want 101", ex.Resp.StatusCode)
	}
	b0, p := readFrame(t, ex.BR)
	if b0 != 0x81 || string(p) != "hi" {
		t.Fatalf("first frame: got %#x %q, want a final uncompressed text frame \"hi\"", b0, p)
	}
	wire := ex.Wire.String()
	head, rest, ok := strings.Cut(wire, "\r\n\r\n")
	if !ok || rest != "\x81\x02hi" {
		t.Fatalf("wire: got %q, want one response head and then the frame", wire)
	}
	lower := strings.ToLower(head)
	for _, tc := range []struct {
		text string
		n    int
	}{
		{"http/1.1 101 ", 1},
		{"\r\nsec-websocket-accept: " + strings.ToLower(testAccept) + "\r\n", 1},
		{"\r\nsec-websocket-accept:", 1},
		{"\r\nsec-websocket-protocol: chat\r\n", 1},
		{"\r\nsec-websocket-protocol:", 1},
		{"\r\nsec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n", 1},
		{"\r\nsec-websocket-extensions:", 1},
		{"\r\nupgrade: websocket\r\n", 1},
		{"\r\nconnection: upgrade\r\n", 1},
		{"\r\nset-cookie: session=1; path=/\r\n", 1},
		{"\r\ncontent-", 0},
	} {
		if got := strings.Count(lower+"\r\n", tc.text); got != tc.n {
			t.Errorf("%q in the 101: %d times, want %d\n%s", tc.text, got, tc.n, head)
		}
	}
	// The switched connection works both ways, compressed as announced:
	// gorilla decompresses what the client sends.
	if _, err := ex.Conn.Write(maskedFrame(0x1, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	if b0, p := readFrame(t, ex.BR); b0 != 0xc1 || len(p) == 0 {
		t.Errorf("echo: got %#x % x, want a final compressed text frame (RSV1)", b0, p)
	}
}

// Sec-WebSocket-* fields set by a middleware in front or by Authorize are
// replaced by the handshake's own.
func TestForeignWebSocketFieldsDropped(t *testing.T) {
	t.Parallel()
	p, err := websocket.New(&websocket.Options{Subprotocols: []string{"p"}}, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNegotiator(t, &negotiate.Options{Authorize: func(s *negotiate.Switch) error {
		s.Header.Set("Sec-WebSocket-Accept", "forged")
		s.Header["sec-websocket-version"] = []string{"12"}
		return nil
	}})
	var reg negotiate.Registry
	reg.Register("websocket", p)
	front := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Sec-WebSocket-Extensions", "x-evil")
		w.Header().Set("Sec-WebSocket-Protocol", "forged")
		w.Header().Set("X-Front", "kept")
		n.Endpoint(&reg).ServeHTTP(w, r)
	}
	srv := testkit.StartServer(t, http.HandlerFunc(front))
	c, resp := wstest.Dial(t, &gws.Dialer{Subprotocols: []string{"p"}}, wstest.URL(srv.URL, ""), nil)
	wstest.WantEcho(t, c, gws.TextMessage, []byte("ok"))
	// gorilla's Dialer checked the one Sec-WebSocket-Accept against its
	// key, or the dial would have failed.
	for name, want := range map[string][]string{
		"Sec-WebSocket-Accept":     {resp.Header.Get("Sec-WebSocket-Accept")},
		"Sec-WebSocket-Protocol":   {"p"},
		"Sec-WebSocket-Extensions": nil,
		"Sec-WebSocket-Version":    nil,
		"X-Front":                  {"kept"},
	} {
		if got := resp.Header.Values(name); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("101 %s: got %q, want %q", name, got, want)
		}
	}
}

// A client that sends its first frame in the same write as the handshake
// gets it echoed: gorilla reads through the negotiator's connection, which
// returns the bytes the server had buffered first. Once the close frames
// have crossed, the server closes the connection at once (RFC 6455
// §7.1.1), not after the negotiator's linger (an hour here).
func TestEarlyData(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, &negotiate.Options{Linger: time.Hour}, wstest.Echo)
	ex := s.raw(t, handshake(nil)+string(maskedFrame(0x1, []byte("early"))))
	if got, want := ex.Resp.StatusCode, 101; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if got := ex.Resp.Header.Get("Sec-WebSocket-Accept"); got != testAccept {
		t.Errorf("Sec-WebSocket-Accept: got %q, want %q (RFC 6455 §1.3)", got, testAccept)
	}
	b0, p := readFrame(t, ex.BR)
	if b0 != 0x81 || string(p) != "early" {
		t.Fatalf("first frame: got %#x %q, want a final text frame \"early\"", b0, p)
	}
	if _, err := ex.Conn.Write(maskedFrame(0x8, binary.BigEndian.AppendUint16(nil, 1000))); err != nil {
		t.Fatal(err)
	}
	b0, p = readFrame(t, ex.BR)
	if b0 != 0x88 || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		t.Fatalf("after the client's close: got %#x % x, want a close frame with 1000", b0, p)
	}
	testkit.ExpectClosed(t, ex.BR)
	if ci := s.closes.Next(t); ci.Err != nil {
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
		// A message too big, by a limit of the handler's own or by one
		// gorilla enforces without a close frame (the frame lengths of a
		// message overflowing): 1009, not a server error.
		{"read limit", fmt.Errorf("own limit: %w", gws.ErrReadLimit), gws.CloseMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil, nil, func(*websocket.Conn) error { return tc.err })
			c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
			wstest.WantClose(t, c, tc.code)
			if ci := s.closes.Next(t); ci.Err != tc.err {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, tc.err)
			}
		})
	}
}

// A panic in the handler is recovered by the negotiator; the client gets
// 1011, and the keep-alive ends with the connection: by the time OnClose
// reports it, the schedule no longer holds it (the keep-alive has no
// goroutine for the leak check in TestMain to see).
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	conns := make(chan *websocket.Conn, 1)
	s := newServer(t, &websocket.Options{PingInterval: time.Hour}, nil, func(c *websocket.Conn) error {
		conns <- c
		panic("handler bug")
	})
	c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
	wstest.WantClose(t, c, gws.CloseInternalServerErr)
	if ci := s.closes.Next(t); ci.Err == nil || !strings.Contains(ci.Err.Error(), "handler bug") {
		t.Errorf("OnClose error: got %v, want the panic", ci.Err)
	}
	if got, want := s.n.Stats().Panics, int64(1); got != want {
		t.Errorf("Stats().Panics: got %d, want %d", got, want)
	}
	if !websocket.KeepAliveStopped(testkit.Receive(t, conns, "the handler's connection")) {
		t.Error("the keep-alive of the connection whose handler panicked is still scheduled")
	}
}

// An application writer of its own (a room broadcaster) may still be
// writing when the handler returns: the close frame the package then
// sends must not race with it (run with -race), and the writer sees the
// close as an error.
func TestCloseWithConcurrentWriter(t *testing.T) {
	t.Parallel()
	writerDone := make(chan error, 1)
	s := newServer(t, &websocket.Options{EnableCompression: true}, nil, func(c *websocket.Conn) error {
		wrote := make(chan struct{})
		go func() {
			var err error
			for i := 0; err == nil; i++ {
				err = c.WriteMessage(gws.TextMessage, []byte("broadcast broadcast broadcast"))
				if i == 10 {
					close(wrote)
				}
			}
			writerDone <- err
		}()
		<-wrote
		return nil
	})
	c, _ := wstest.Dial(t, &gws.Dialer{EnableCompression: true}, s.ws("/ws"), nil)
	wstest.WantClose(t, c, gws.CloseNormalClosure)
	select {
	case err := <-writerDone:
		if !errors.Is(err, gws.ErrCloseSent) {
			t.Errorf("application writer ended with %v, want %v", err, gws.ErrCloseSent)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("the application writer never ended")
	}
	if ci := s.closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

// Conn.Request is the upgrade request; Conn.Context ends at shutdown, so a
// handler that does not read learns of it too. Returning the context's
// error then is a clean end, and the client gets 1001 whichever of the
// handler and the shutdown sends the close frame.
func TestConnRequestAndContext(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil, func(c *websocket.Conn) error {
		if err := c.WriteMessage(gws.TextMessage, []byte("hello, "+c.Request().URL.Query().Get("name"))); err != nil {
			return err
		}
		<-c.Context().Done()
		return c.Context().Err()
	})
	c, _ := wstest.Dial(t, nil, s.ws("/ws?name=ada"), nil)
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hello, ada" {
		t.Fatalf("first message: got %q, %v; want \"hello, ada\"", msg, err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		done <- s.n.Shutdown(ctx)
	}()
	wstest.WantClose(t, c, gws.CloseGoingAway)
	if err := <-done; err != nil {
		t.Errorf("Shutdown: got %v, want nil", err)
	}
	if ci := s.closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	t.Run("answering peer stays", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: testkit.Timeout}, nil, wstest.Echo)
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
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
			case <-time.After(testkit.Timeout):
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
		if ci := s.closes.Next(t); ci.Err != nil {
			t.Errorf("OnClose error: got %v, want nil", ci.Err)
		}
	})
	t.Run("silent peer is closed", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: 20 * time.Millisecond}, nil, wstest.Echo)
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
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
		if ci := s.closes.Next(t); !errors.Is(ci.Err, websocket.ErrPongTimeout) {
			t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrPongTimeout)
		}
	})
}

// The connections of one protocol share its keep-alive schedule: peers
// that come and go at different times each get their own pings, those
// that answer are never closed by it, and one that stops answering is,
// while the others go on.
func TestKeepAliveSharedByManyConnections(t *testing.T) {
	t.Parallel()
	const peers, pingsEach = 12, 3
	// PongTimeout is long enough that a loaded machine does not delay an
	// answer past it (a CI run under -race can hold a goroutine for half
	// a second).
	s := newServer(t, &websocket.Options{PingInterval: 3 * time.Millisecond, PongTimeout: 2 * time.Second}, nil, wstest.Echo)
	var wg sync.WaitGroup
	for i := range peers {
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pings := make(chan struct{}, 100)
			silent := i == 0
			pong := c.PingHandler()
			c.SetPingHandler(func(data string) error {
				select {
				case pings <- struct{}{}:
				default: // no longer counted
				}
				if silent {
					return nil // read, never answered
				}
				return pong(data)
			})
			read := make(chan error, 1)
			go func() {
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						read <- err
						return
					}
				}
			}()
			for range pingsEach + i%3 { // peers leave at different times
				select {
				case <-pings:
				case err := <-read:
					t.Errorf("peer %d: connection ended before its pings: %v", i, err)
					return
				case <-time.After(testkit.Timeout):
					t.Errorf("peer %d: no ping from the server", i)
					return
				}
			}
			if !silent {
				_ = c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""))
			}
			select {
			case <-read: // the server's close, or its closing a silent peer
			case <-time.After(testkit.Timeout):
				t.Errorf("peer %d (silent %v): the connection did not end", i, silent)
				c.Close()
			}
		}()
	}
	wg.Wait()
	timedOut := 0
	for range peers {
		ci := s.closes.Next(t)
		switch {
		case errors.Is(ci.Err, websocket.ErrPongTimeout):
			timedOut++
		case ci.Err != nil:
			t.Errorf("OnClose error: %v", ci.Err)
		}
	}
	if timedOut != 1 {
		t.Errorf("%d connections closed for a pong timeout, want the silent peer's alone", timedOut)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	t.Run("peer answers", func(t *testing.T) {
		t.Parallel()
		// A close wait far longer than the test: only the peer's answer
		// lets Shutdown return.
		s := newServer(t, &websocket.Options{CloseTimeout: time.Hour}, nil, wstest.Echo)
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		wstest.WantEcho(t, c, gws.TextMessage, []byte("before"))
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			done <- s.n.Shutdown(ctx)
		}()
		wstest.WantClose(t, c, gws.CloseGoingAway) // gorilla answers the close
		if err := <-done; err != nil {
			t.Errorf("Shutdown: got %v, want nil", err)
		}
		if ci := s.closes.Next(t); ci.Err != nil {
			t.Errorf("OnClose error: got %v, want nil", ci.Err)
		}
	})
	t.Run("peer never answers", func(t *testing.T) {
		t.Parallel()
		const closeTimeout = 50 * time.Millisecond
		s := newServer(t, &websocket.Options{CloseTimeout: closeTimeout}, nil, wstest.Echo)
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil) // and not read until Shutdown returns
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		start := time.Now()
		if err := s.n.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: got %v, want nil", err)
		}
		if d := time.Since(start); d < closeTimeout {
			t.Errorf("Shutdown returned after %v, before the close wait of %v", d, closeTimeout)
		}
		wstest.WantClose(t, c, gws.CloseGoingAway) // the frame came before the close
		s.closes.Next(t)
	})
	t.Run("new upgrades refused", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil, nil, wstest.Echo)
		if err := s.n.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, resp := wstest.TryDial(t, nil, s.ws("/ws"), nil)
		if got, want := resp.StatusCode, http.StatusServiceUnavailable; got != want {
			t.Errorf("status while draining: got %d, want %d", got, want)
		}
	})
}

// CloseTimeout's default is the 5s the package documents (Shutdown), as
// TestKeepAliveDefaults and TestMessageTimeoutDefaults hold the others.
func TestCloseTimeoutDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts *websocket.Options
		want time.Duration
	}{
		{"nil options", nil, 5 * time.Second},
		{"zero options", &websocket.Options{}, 5 * time.Second},
		{"set", &websocket.Options{CloseTimeout: time.Second}, time.Second},
	} {
		o, err := websocket.Resolve(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if o.CloseTimeout != tc.want {
			t.Errorf("%s: CloseTimeout: got %v, want %v", tc.name, o.CloseTimeout, tc.want)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts websocket.Options
	}{
		{"read limit -2", websocket.Options{ReadLimit: -2}},
		{"negative pong timeout", websocket.Options{PingInterval: 1, PongTimeout: -1}},
		{"negative close timeout", websocket.Options{CloseTimeout: -1}},
		{"pong timeout with the keep-alive off", websocket.Options{PingInterval: -1, PongTimeout: time.Second}},
		{"negative read buffer", websocket.Options{ReadBufferSize: -1}},
		{"negative write buffer", websocket.Options{WriteBufferSize: -1}},
		{"subprotocol not a token", websocket.Options{Subprotocols: []string{"a b"}}},
		{"empty subprotocol", websocket.Options{Subprotocols: []string{""}}},
		{"malformed pattern", websocket.Options{OriginPatterns: []string{"[a-"}}},
		{"empty pattern", websocket.Options{OriginPatterns: []string{""}}},
		// Patterns match the host[:port] of an Origin, which has none of
		// these: such a pattern would never let a request pass.
		{"pattern with a scheme", websocket.Options{OriginPatterns: []string{"https://app.example.com"}}},
		{"pattern with a path", websocket.Options{OriginPatterns: []string{"app.example.com/"}}},
		{"pattern with a space", websocket.Options{OriginPatterns: []string{"a.example.com", " b.example.com"}}},
		{"pattern with user information", websocket.Options{OriginPatterns: []string{"user@app.example.com"}}},
		// Every request would be refused with 400.
		{"subprotocol required, none spoken", websocket.Options{RequireSubprotocol: true}},
	} {
		if _, err := websocket.New(&tc.opts, wstest.Echo); err == nil {
			t.Errorf("%s: New returned no error", tc.name)
		}
	}
	for _, pat := range []string{"*.example.com", "localhost:*", "LOCALHOST:8080", "[a-c].example.com"} {
		if _, err := websocket.New(&websocket.Options{OriginPatterns: []string{pat}}, wstest.Echo); err != nil {
			t.Errorf("pattern %q: %v", pat, err)
		}
	}
	if _, err := websocket.New(nil, nil); err == nil {
		t.Error("nil handler: New returned no error")
	}
	if _, err := websocket.New(nil, wstest.Echo); err != nil {
		t.Errorf("nil options: %v", err)
	}
}

// testKey is RFC 6455 §1.3's key; its Sec-WebSocket-Accept is testAccept.
const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// handshake is a valid WebSocket request head for /ws (Host example.com,
// no Origin), without the fields named in drop and with extra lines
// added.
func handshake(drop []string, extra ...string) string {
	lines := []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + testKey}
	var kept []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		keep := true
		for _, d := range drop {
			keep = keep && !strings.EqualFold(name, d)
		}
		if keep {
			kept = append(kept, l)
		}
	}
	return testkit.UpgradeRequest("/ws", "websocket", append(kept, extra...)...)
}

// maskedFrame is a final client frame (payload under 126 bytes).
func maskedFrame(opcode byte, payload []byte) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload))}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readFrame reads an unmasked server frame with a payload under 126 bytes.
func readFrame(t *testing.T, br *bufio.Reader) (b0 byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	if h[1]&0x80 != 0 || h[1] >= 126 {
		t.Fatalf("frame header % x: want unmasked with a short payload", h)
	}
	payload = make([]byte, h[1])
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return h[0], payload
}

// With the default options an idle connection holds no write buffer: the
// one each message is written through goes back to the pool when the
// message ends (gorilla's writeBuf field, read with reflect, is empty
// between messages), and so does the 101's, which gorilla never keeps.
// With a buffer size of its own, the protocol's connections share a pool
// of that size.
func TestIdleConnHoldsNoWriteBuffer(t *testing.T) {
	t.Parallel()
	for _, opts := range []*websocket.Options{nil, {WriteBufferSize: 1000}} {
		name := "default options"
		if opts != nil {
			name = "WriteBufferSize 1000"
		}
		held := make(chan int, 1)
		s := newServer(t, opts, nil, func(c *websocket.Conn) error {
			for {
				typ, p, err := c.ReadMessage()
				if err != nil {
					return err
				}
				if string(p) == "held?" {
					buf := reflect.ValueOf(c.Conn).Elem().FieldByName("writeBuf")
					if !buf.IsValid() {
						held <- -1 // not the gorilla this test was written against
					} else {
						held <- buf.Len()
					}
				}
				if err := c.WriteMessage(typ, p); err != nil {
					return err
				}
			}
		})
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		wstest.WantEcho(t, c, gws.TextMessage, bytes.Repeat([]byte("x"), 5000)) // larger than the buffer
		wstest.WantEcho(t, c, gws.TextMessage, []byte("held?"))
		select {
		case n := <-held:
			if n != 0 {
				t.Errorf("%s: the idle connection holds a %d-byte write buffer, want none", name, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not report")
		}
		if o, _ := websocket.Resolve(opts); o.WriteBufferPool == nil {
			t.Errorf("%s: no default write pool", name)
		}
		wstest.CloseNormally(t, c)
	}
}

// gorilla's reader on a socket: 288 bytes whatever ReadBufferSize, since
// the socket is read ahead into lent buffers of that size (see
// TestReadAheadLendsTheBufferOnlyWhileBytesWait), and messages of any size
// pass through it.
func TestReadBufferSize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 1, 4096, 2000} {
		sizes := make(chan int, 1)
		s := newServer(t, &websocket.Options{ReadBufferSize: size}, nil, func(c *websocket.Conn) error {
			sizes <- gorillaReaderSize(c)
			return wstest.Echo(c)
		})
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		select {
		case got := <-sizes:
			if got != 288 {
				t.Errorf("ReadBufferSize %d: gorilla reads through %d bytes, want 288", size, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not report")
		}
		wstest.WantEcho(t, c, gws.BinaryMessage, bytes.Repeat([]byte{7}, 70_000))
		wstest.WantEcho(t, c, gws.TextMessage, []byte("small"))
		wstest.CloseNormally(t, c)
	}
}

// gorillaReaderSize is the size of the bufio.Reader c's gorilla Conn reads
// frames through, or -1 if this is not the gorilla the package was
// written against.
func gorillaReaderSize(c *websocket.Conn) int {
	br := reflect.ValueOf(c.Conn).Elem().FieldByName("br")
	if !br.IsValid() || br.Type() != reflect.TypeFor[*bufio.Reader]() {
		return -1
	}
	return reflect.NewAt(br.Type(), br.Addr().UnsafePointer()).Elem().Interface().(*bufio.Reader).Size()
}
