package interop_test

// Routers and middleware in front of a negotiator, as Go servers mount
// them: net/http's ServeMux (Go 1.22 patterns) and its standard wrappers,
// gorilla/mux, go-chi/chi with its Logger, Compress and Timeout
// middleware, rs/cors and klauspost/compress's gzhttp. Every route is
// tried with real clients over HTTP/1.1 (Upgrade, 101) and over HTTP/2
// (extended CONNECT, 200; over TLS and over h2c): a switch goes through
// with its status as the negotiator wrote it (no Content-Encoding) and
// nothing held back (each echo comes back before the client sends more),
// and a refusal comes out with the status and the one-line reason a bare
// mount gives. Where a router's own rules stop a switch (a "GET /ws"
// route answers a CONNECT with 405), the test shows it and the remedy the
// README gives.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/gorilla/mux"
	gws "github.com/gorilla/websocket"
	"github.com/klauspost/compress/gzhttp"
	"github.com/rs/cors"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// routes is one negotiator and the registry every mount of a test uses:
// echo/1 (every byte back), room/1 (the route's {room} wildcard, then an
// echo), late/1 (waits for the request's context to end, says why it
// ended, then echoes: over HTTP/2 the request lives as long as the
// stream) and websocket (an echo, same-origin only).
type routes struct {
	n   *negotiate.Negotiator
	reg *negotiate.Registry
}

func newRoutes(t *testing.T) *routes {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.HandleFunc("room/1", func(c *negotiate.Conn) error {
		if _, err := io.WriteString(c, "room="+c.Request().PathValue("room")+"\n"); err != nil {
			return err
		}
		return testkit.EchoConn(c)
	})
	reg.HandleFunc("late/1", func(c *negotiate.Conn) error {
		select {
		case <-c.Request().Context().Done():
		case <-time.After(testkit.Timeout):
		}
		if _, err := io.WriteString(c, "request context: "+errString(c.Request().Context().Err())+"\n"); err != nil {
			return err
		}
		return testkit.EchoConn(c)
	})
	ws, err := websocket.New(&websocket.Options{Subprotocols: []string{"chat.v1"}}, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	reg.Register("websocket", ws)
	return &routes{n: n, reg: reg}
}

func errString(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// endpoint is the routes' Endpoint: what does not switch gets 426.
func (r *routes) endpoint() http.Handler { return r.n.Endpoint(r.reg) }

// routerServer is a server of its own for one handler, with the clients
// that reach it: over HTTP/1.1 (cleartext only) and over HTTP/2.
type routerServer struct {
	*httptest.Server
	tls    bool
	client *xconnect.Client
}

func startRouterServer(t *testing.T, h http.Handler, n *negotiate.Negotiator, useTLS bool) *routerServer {
	t.Helper()
	srv := testkit.StartH2Server(t, h, n, useTLS)
	return &routerServer{Server: srv, tls: useTLS, client: testkit.XClient(t, srv, useTLS)}
}

// echoMsg is sent through every switch: big enough to cross a compressing
// middleware's threshold (gzhttp's is 1 KiB) and a small body limit.
var echoMsg = strings.Repeat("switchyard ", 1500)

// upgrade1 sends an HTTP/1.1 upgrade offering token for target (a path,
// or a path and query) with the Host host (example.com if empty) and a
// client's usual Accept-Encoding, and returns the exchange.
func (s *routerServer) upgrade1(t *testing.T, method, target, host, token string) *testkit.Exchange {
	t.Helper()
	if host == "" {
		host = "example.com"
	}
	req := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\nUpgrade: " + token +
		"\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\r\n"
	return testkit.Raw(t, testkit.Addr(s.Server), req)
}

// connect2 sends an extended CONNECT for token to path, with header's
// fields and a client's usual Accept-Encoding. It returns the stream
// (nil if refused), the response (with the refusal's body) and Dial's
// error.
func (s *routerServer) connect2(t *testing.T, path, token string, header http.Header) (*xconnect.Stream, *http.Response, error) {
	t.Helper()
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if h.Get("Accept-Encoding") == "" {
		h.Set("Accept-Encoding", "gzip, deflate, br, zstd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	st, resp, err := s.client.Dial(ctx, s.URL+path, token, h)
	if st != nil {
		t.Cleanup(func() { st.Close() })
		_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
	}
	return st, resp, err
}

// wantEcho checks that what c sends comes back whole: the switch passes
// its bytes unchanged and holds nothing back.
func wantEcho(t *testing.T, what string, c io.ReadWriter) {
	t.Helper()
	if got := testkit.RoundTrip(t, c, echoMsg); got != echoMsg {
		t.Fatalf("%s: the echo differs from what was sent (%d bytes)", what, len(echoMsg))
	}
}

// wantLine reads one line from r and checks it.
func wantLine(t *testing.T, what string, r io.Reader, want string) {
	t.Helper()
	var line []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(line, []byte("\n")) {
		if _, err := r.Read(b); err != nil {
			t.Fatalf("%s: reading a line after %q: %v", what, line, err)
		}
		line = append(line, b[0])
	}
	if got := strings.TrimSuffix(string(line), "\n"); got != want {
		t.Fatalf("%s: protocol said %q, want %q", what, got, want)
	}
}

// wantSwitch1 checks an HTTP/1.1 switch at target: a 101 without
// Content-Encoding, then the echo.
func (s *routerServer) wantSwitch1(t *testing.T, target, host, token string) *testkit.Exchange {
	t.Helper()
	x := s.upgrade1(t, http.MethodGet, target, host, token)
	if x.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("HTTP/1.1 %s at %s: %d %q, want 101", token, target, x.Resp.StatusCode, x.Body)
	}
	if v := x.Resp.Header.Get("Content-Encoding"); v != "" {
		t.Fatalf("HTTP/1.1 %s at %s: the 101 has Content-Encoding %q", token, target, v)
	}
	return x
}

// wantSwitch2 checks an HTTP/2 switch at path: a 200 without
// Content-Encoding, then the echo.
func (s *routerServer) wantSwitch2(t *testing.T, path, token string, header http.Header) *xconnect.Stream {
	t.Helper()
	st, resp, err := s.connect2(t, path, token, header)
	if err != nil {
		t.Fatalf("HTTP/2 %s at %s: %v", token, path, err)
	}
	if v := resp.Header.Get("Content-Encoding"); v != "" {
		t.Fatalf("HTTP/2 %s at %s: the 200 has Content-Encoding %q", token, path, v)
	}
	return st
}

// wantSwitches checks echo/1 and a WebSocket (with the subprotocol the
// switch response names) at path over HTTP/2 and, on the cleartext
// server, over HTTP/1.1.
func (s *routerServer) wantSwitches(t *testing.T, path string) {
	t.Helper()
	wantEcho(t, "HTTP/2 echo/1 at "+path, s.wantSwitch2(t, path, "echo/1", nil))
	dialers := map[string]*gws.Dialer{"HTTP/2": s.client.WebSocketDialer()}
	if !s.tls {
		wantEcho(t, "HTTP/1.1 echo/1 at "+path, s.wantSwitch1(t, path, "", "echo/1"))
		dialers["HTTP/1.1"] = nil
	}
	for name, d := range dialers {
		wsHeader := http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}, "Sec-Websocket-Protocol": {"chat.v1"}}
		ws, resp := wstest.Dial(t, d, wstest.URL(s.URL, path), wsHeader)
		if ws.Subprotocol() != "chat.v1" || resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%s WebSocket at %s: subprotocol %q, Content-Encoding %q; want chat.v1 and none", name, path, ws.Subprotocol(), resp.Header.Get("Content-Encoding"))
		}
		wstest.WantEcho(t, ws, gws.TextMessage, []byte(echoMsg))
	}
}

// refusal is a status and a body, as a client sees it.
type refusal struct {
	status int
	body   string
}

// refusals2 returns what an HTTP/2 client is answered at path: a
// cross-origin WebSocket and a token nobody registered; refusals1, what
// an HTTP/1.1 client is answered: the same WebSocket and a plain GET.
func (s *routerServer) refusals2(t *testing.T, path string) []refusal {
	t.Helper()
	var out []refusal
	for _, c := range []struct {
		token  string
		header http.Header
	}{
		{"websocket", http.Header{"Host": {"example.com"}, "Accept-Encoding": {"gzip"}, "Sec-Websocket-Version": {"13"}, "Origin": {"https://evil.example"}}},
		{"nope/9", http.Header{"Host": {"example.com"}, "Accept-Encoding": {"gzip"}}},
	} {
		_, resp, err := s.connect2(t, path, c.token, c.header)
		if err == nil || resp == nil {
			t.Fatalf("HTTP/2 %s at %s switched (%v), want a refusal", c.token, path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		out = append(out, refusal{resp.StatusCode, decoded(t, resp.Header, body)})
	}
	return out
}

// decoded is body as the client reads it: a compressing middleware may
// encode a refusal, as it may any response, for a client that accepts it.
func decoded(t *testing.T, h http.Header, body []byte) string {
	t.Helper()
	switch h.Get("Content-Encoding") {
	case "":
		return string(body)
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("a gzip refusal: %v", err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("a gzip refusal: %v", err)
		}
		return string(b)
	}
	t.Fatalf("a refusal with Content-Encoding %q", h.Get("Content-Encoding"))
	return ""
}

func (s *routerServer) refusals1(t *testing.T, path string) []refusal {
	t.Helper()
	ws := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://evil.example\r\n" +
		"Accept-Encoding: gzip\r\n\r\n"
	plain := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip\r\n\r\n"
	var out []refusal
	for _, req := range []string{ws, plain} {
		x := testkit.Raw(t, testkit.Addr(s.Server), req)
		out = append(out, refusal{x.Resp.StatusCode, decoded(t, x.Resp.Header, []byte(x.Body))})
	}
	return out
}

// wantRefusals checks that s answers the refusals at path as bare (a
// server with the Endpoint alone) does at barePath, and that each is a
// 4xx with a one-line reason.
func wantRefusals(t *testing.T, s *routerServer, path string, bare *routerServer, barePath string) {
	t.Helper()
	got, want := s.refusals2(t, path), bare.refusals2(t, barePath)
	if !s.tls {
		got, want = append(got, s.refusals1(t, path)...), append(want, bare.refusals1(t, barePath)...)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("refusal %d at %s: %d %q, want %d %q as without the router", i, path, got[i].status, got[i].body, want[i].status, want[i].body)
		}
		if r := want[i]; r.status/100 != 4 || strings.Count(r.body, "\n") != 1 || !strings.HasSuffix(r.body, "\n") {
			t.Errorf("bare refusal %d: %d %q, want a 4xx with one line of reason", i, r.status, r.body)
		}
	}
}

// wantStatus2 checks that an extended CONNECT for echo/1 at path is
// answered status (not switched), with the fields in want, and returns
// the body.
func (s *routerServer) wantStatus2(t *testing.T, path string, header http.Header, status int, want http.Header) string {
	t.Helper()
	_, resp, err := s.connect2(t, path, "echo/1", header)
	if err == nil || resp == nil || resp.StatusCode != status {
		t.Fatalf("HTTP/2 echo/1 at %s: %v, %v; want %d", path, respStatus(resp), err, status)
	}
	for k, v := range want {
		if got := resp.Header.Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
			t.Errorf("HTTP/2 echo/1 at %s: %s %q, want %q", path, k, got, v)
		}
	}
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func respStatus(resp *http.Response) any {
	if resp == nil {
		return "no response"
	}
	return resp.StatusCode
}

// ServeMux patterns. An extended CONNECT's method is CONNECT: a
// "GET /ws" pattern answers it 405, where "/ws", or "GET /ws" and
// "CONNECT /ws" together, or the Middleware in front, reach the
// negotiator. Wildcards reach the protocol (Conn.Request().PathValue);
// the trailing-slash redirect answers both transports 307; a host
// pattern misses an extended CONNECT whose authority has a port (the mux
// does not strip it from a CONNECT's) unless a pattern names the port
// too; HEAD reaches a GET route, and WebSocket refuses it with 405.
func TestServeMuxPatterns(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		r := newRoutes(t)
		m := http.NewServeMux()
		m.Handle("GET /get-only", r.endpoint())
		m.Handle("/any", r.endpoint())
		m.Handle("GET /both", r.endpoint())
		m.Handle("CONNECT /both", r.endpoint())
		m.Handle("/rooms/{room}", r.endpoint())
		m.Handle("/dir/", r.endpoint())
		m.Handle("example.com/host", r.endpoint())
		m.Handle("example.com/hostport", r.endpoint())
		m.Handle("example.com:8443/hostport", r.endpoint())
		m.HandleFunc("/handler", func(w http.ResponseWriter, req *http.Request) {
			if !r.n.Upgrade(w, req, r.reg) {
				io.WriteString(w, "plain\n")
			}
		})
		s := startRouterServer(t, m, r.n, useTLS)
		mw := startRouterServer(t, r.n.Middleware(r.reg)(m), r.n, useTLS)

		// "GET /get-only": HTTP/1.1 switches, an extended CONNECT is the
		// mux's 405.
		if body := s.wantStatus2(t, "/get-only", nil, http.StatusMethodNotAllowed, http.Header{"Allow": {"GET, HEAD"}}); body != "Method Not Allowed\n" {
			t.Errorf("CONNECT at GET /get-only: body %q, want the mux's", body)
		}
		if !useTLS {
			wantEcho(t, "HTTP/1.1 at GET /get-only", s.wantSwitch1(t, "/get-only", "", "echo/1"))
		}
		// The remedies.
		s.wantSwitches(t, "/any")
		s.wantSwitches(t, "/both")
		s.wantSwitches(t, "/handler")
		mw.wantSwitches(t, "/get-only")

		// {room}
		st := s.wantSwitch2(t, "/rooms/lobby", "room/1", nil)
		wantLine(t, "HTTP/2 at /rooms/{room}", st, "room=lobby")
		wantEcho(t, "HTTP/2 at /rooms/{room}", st)
		if !useTLS {
			x := s.wantSwitch1(t, "/rooms/lobby", "", "room/1")
			wantLine(t, "HTTP/1.1 at /rooms/{room}", x, "room=lobby")
			wantEcho(t, "HTTP/1.1 at /rooms/{room}", x)
		}

		// "/dir/": "/dir" is redirected, not switched; "/dir/" switches.
		s.wantStatus2(t, "/dir", nil, http.StatusTemporaryRedirect, http.Header{"Location": {"/dir/"}})
		if !useTLS {
			if x := s.upgrade1(t, http.MethodGet, "/dir", "", "echo/1"); x.Resp.StatusCode != http.StatusTemporaryRedirect || x.Resp.Header.Get("Location") != "/dir/" {
				t.Errorf("HTTP/1.1 upgrade at /dir: %d, Location %q; want 307 to /dir/", x.Resp.StatusCode, x.Resp.Header.Get("Location"))
			}
		}
		s.wantSwitches(t, "/dir/")

		// Host patterns.
		wantEcho(t, "HTTP/2 at example.com/host", s.wantSwitch2(t, "/host", "echo/1", http.Header{"Host": {"example.com"}}))
		s.wantStatus2(t, "/host", http.Header{"Host": {"example.com:8443"}}, http.StatusNotFound, nil)
		wantEcho(t, "HTTP/2 at example.com:8443/hostport", s.wantSwitch2(t, "/hostport", "echo/1", http.Header{"Host": {"example.com:8443"}}))
		wantEcho(t, "HTTP/2 through the Middleware at example.com/host", mw.wantSwitch2(t, "/host", "echo/1", http.Header{"Host": {"example.com:8443"}}))
		if !useTLS {
			wantEcho(t, "HTTP/1.1 at example.com/host", s.wantSwitch1(t, "/host", "example.com:8443", "echo/1"))
		}

		// HEAD at "GET /get-only" reaches the Endpoint; WebSocket refuses it.
		if !useTLS {
			req := "HEAD /get-only HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
			conn := testkit.DialTCP(t, testkit.Addr(s.Server))
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodHead})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
				t.Errorf("HEAD WebSocket at GET /get-only: %d, Allow %q; want 405, Allow GET", resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	})
}

// statusLogger is a logging wrapper as middleware adds: it records the
// status and counts the bytes written through it, and unwraps.
type statusLogger struct {
	http.ResponseWriter
	mu     *sync.Mutex
	status *int
	bytes  *int
}

func (l statusLogger) WriteHeader(code int) {
	l.mu.Lock()
	*l.status = code
	l.mu.Unlock()
	l.ResponseWriter.WriteHeader(code)
}

func (l statusLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	*l.bytes += len(p)
	l.mu.Unlock()
	return l.ResponseWriter.Write(p)
}

func (l statusLogger) Unwrap() http.ResponseWriter { return l.ResponseWriter }

// opaqueWriter is a wrapper without Unwrap: only the three methods.
type opaqueWriter struct{ w http.ResponseWriter }

func (o opaqueWriter) Header() http.Header         { return o.w.Header() }
func (o opaqueWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
func (o opaqueWriter) WriteHeader(code int)        { o.w.WriteHeader(code) }

// hijackOnly is an old-style wrapper: it passes Hijack on (http.Hijacker)
// but has no Unwrap.
type hijackOnly struct{ http.ResponseWriter }

func (h hijackOnly) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

// holdingWriter buffers the response, its header included, until its
// handler returns, as a caching or ETag middleware does, and unwraps.
type holdingWriter struct {
	http.ResponseWriter
	header http.Header
	status int
	buf    bytes.Buffer
}

func (h *holdingWriter) Header() http.Header { return h.header }
func (h *holdingWriter) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
func (h *holdingWriter) Write(p []byte) (int, error) { return h.buf.Write(p) }
func (h *holdingWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

func holding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &holdingWriter{ResponseWriter: w, header: w.Header().Clone()}
		next.ServeHTTP(hw, r)
		for k, v := range hw.header {
			w.Header()[k] = v
		}
		if hw.status != 0 {
			w.WriteHeader(hw.status)
		}
		_, _ = w.Write(hw.buf.Bytes())
	})
}

// recording runs next into an httptest.ResponseRecorder and copies what
// it recorded: a wrapper that can neither hijack nor unwrap.
func recording(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// skipUpgrades applies mw to everything but upgrade requests (the
// README's remedy for a middleware that must not see a switch).
func skipUpgrades(mw func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		wrapped := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if negotiate.IsUpgrade(r) {
				next.ServeHTTP(w, r)
				return
			}
			wrapped.ServeHTTP(w, r)
		})
	}
}

// net/http's wrappers around a mux that mounts the Endpoint at /ws.
// StripPrefix, AllowQuerySemicolons and a logger that unwraps let every
// switch through; the logger sees the HTTP/2 switch's 200 but none of the
// stream's bytes, which pass it by as a hijacked connection does. A
// wrapper that holds the response back until its handler returns (and
// unwraps) holds nothing of a switch. A wrapper without Unwrap or Hijack,
// an httptest.ResponseRecorder and http.TimeoutHandler cannot switch:
// 500 and the reason, on both transports; an old-style wrapper with
// Hijack alone switches HTTP/1.1 only. http.MaxBytesHandler leaves an
// HTTP/1.1 switch alone but bounds an HTTP/2 stream's incoming bytes,
// which are its request's body: the README's remedy passes upgrades by.
func TestStandardWrappers(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		// start serves wrap around a mux that mounts the Endpoint at /ws,
		// and the mux alone (bare), each subtest with a negotiator of its
		// own.
		start := func(t *testing.T, wrap func(http.Handler) http.Handler) (s, bare *routerServer) {
			r := newRoutes(t)
			m := http.NewServeMux()
			m.Handle("/ws", r.endpoint())
			return startRouterServer(t, wrap(m), r.n, useTLS), startRouterServer(t, m, r.n, useTLS)
		}
		wrapWith := func(f func(http.ResponseWriter) http.ResponseWriter) func(http.Handler) http.Handler {
			return func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.ServeHTTP(f(w), req) })
			}
		}

		for _, c := range []struct {
			name string
			wrap func(http.Handler) http.Handler
			path string
		}{
			{"StripPrefix", func(h http.Handler) http.Handler { return http.StripPrefix("/api", h) }, "/api/ws"},
			{"AllowQuerySemicolons", http.AllowQuerySemicolons, "/ws?a=1;b=2"},
			{"holding", holding, "/ws"},
			{"MaxBytesHandler, upgrades passed by", skipUpgrades(func(h http.Handler) http.Handler { return http.MaxBytesHandler(h, 1024) }), "/ws"},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, bare := start(t, c.wrap)
				s.wantSwitches(t, c.path)
				wantRefusals(t, s, c.path, bare, strings.TrimPrefix(c.path, "/api"))
			})
		}

		t.Run("logger", func(t *testing.T) {
			var mu sync.Mutex
			var status, written int
			s, bare := start(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter {
				return statusLogger{w, &mu, &status, &written}
			}))
			wantEcho(t, "HTTP/2", s.wantSwitch2(t, "/ws", "echo/1", nil))
			mu.Lock()
			if status != http.StatusOK || written != 0 {
				t.Errorf("the logger saw status %d and %d bytes written, want 200 and none", status, written)
			}
			mu.Unlock()
			s.wantSwitches(t, "/ws")
			wantRefusals(t, s, "/ws", bare, "/ws")
		})

		t.Run("MaxBytesHandler", func(t *testing.T) {
			s, _ := start(t, func(h http.Handler) http.Handler { return http.MaxBytesHandler(h, 1024) })
			st := s.wantSwitch2(t, "/ws", "echo/1", nil)
			if _, err := io.WriteString(st, echoMsg); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(st)
			if len(got) != 1024 || err != nil {
				t.Errorf("HTTP/2 stream behind MaxBytesHandler(1024): echoed %d bytes then %v; want 1024, then its end", len(got), err)
			}
			if !useTLS {
				wantEcho(t, "HTTP/1.1 behind MaxBytesHandler", s.wantSwitch1(t, "/ws", "", "echo/1"))
			}
		})

		const noHijack = "cannot switch protocols: the ResponseWriter does not support Hijack (a wrapper without Unwrap, or a timeout handler)\n"
		const noDeadlines = "cannot switch protocols on this stream: the ResponseWriter does not support deadlines (a wrapper without Unwrap, or a timeout handler)\n"
		for _, c := range []struct {
			name string
			wrap func(http.Handler) http.Handler
			ok1  bool // switches over HTTP/1.1
		}{
			{"opaque", wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return opaqueWriter{w} }), false},
			{"ResponseRecorder", recording, false},
			{"TimeoutHandler", func(h http.Handler) http.Handler { return http.TimeoutHandler(h, testkit.Timeout, "timed out") }, false},
			{"Hijacker only", wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return hijackOnly{w} }), true},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, _ := start(t, c.wrap)
				if body := s.wantStatus2(t, "/ws", nil, http.StatusInternalServerError, nil); body != noDeadlines {
					t.Errorf("HTTP/2: 500 %q, want %q", body, noDeadlines)
				}
				if useTLS {
					return
				}
				if c.ok1 {
					wantEcho(t, "HTTP/1.1", s.wantSwitch1(t, "/ws", "", "echo/1"))
					return
				}
				if x := s.upgrade1(t, http.MethodGet, "/ws", "", "echo/1"); x.Resp.StatusCode != http.StatusInternalServerError || x.Body != noHijack {
					t.Errorf("HTTP/1.1: %d %q, want 500 %q", x.Resp.StatusCode, x.Body, noHijack)
				}
			})
		}
	})
}

// gorilla/mux: a route restricted to GET answers an extended CONNECT 405;
// one that allows GET and CONNECT (or no method) switches both ways.
func TestGorillaMux(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		r := newRoutes(t)
		m := http.NewServeMux()
		m.Handle("/ws", r.endpoint())
		bare := startRouterServer(t, m, r.n, useTLS)

		g := mux.NewRouter()
		g.Handle("/get-only", r.endpoint()).Methods(http.MethodGet)
		g.Handle("/ws", r.endpoint()).Methods(http.MethodGet, http.MethodConnect)
		g.Handle("/rooms/{room}", r.endpoint())
		s := startRouterServer(t, g, r.n, useTLS)

		s.wantStatus2(t, "/get-only", nil, http.StatusMethodNotAllowed, nil)
		if !useTLS {
			wantEcho(t, "HTTP/1.1 at a GET route", s.wantSwitch1(t, "/get-only", "", "echo/1"))
		}
		s.wantSwitches(t, "/ws")
		s.wantSwitches(t, "/rooms/lobby")
		wantRefusals(t, s, "/ws", bare, "/ws")
	})
}

// chi with its Logger, Compress and Timeout middleware: r.Get answers an
// extended CONNECT 405; r.Handle (or r.Get with r.Connect) switches both
// ways, uncompressed. The Logger logs the HTTP/2 switch's 200, and chi's
// Timeout ends the request's context but not the stream, which the
// protocol keeps using after it.
func TestChi(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		r := newRoutes(t)
		m := http.NewServeMux()
		m.Handle("/ws", r.endpoint())
		bare := startRouterServer(t, m, r.n, useTLS)

		var logged testkit.LockedBuffer
		c := chi.NewRouter()
		c.Use(chimw.RequestLogger(&chimw.DefaultLogFormatter{Logger: log.New(&logged, "", 0), NoColor: true}))
		c.Use(chimw.Compress(5))
		c.Use(chimw.Timeout(50 * time.Millisecond))
		c.Get("/get-only", r.endpoint().ServeHTTP)
		c.Handle("/ws", r.endpoint())
		c.Get("/both", r.endpoint().ServeHTTP)
		c.Connect("/both", r.endpoint().ServeHTTP)
		c.Handle("/late", r.endpoint())
		s := startRouterServer(t, c, r.n, useTLS)

		s.wantStatus2(t, "/get-only", nil, http.StatusMethodNotAllowed, http.Header{"Allow": {"GET"}})
		if !useTLS {
			wantEcho(t, "HTTP/1.1 at r.Get", s.wantSwitch1(t, "/get-only", "", "echo/1"))
		}
		s.wantSwitches(t, "/ws")
		s.wantSwitches(t, "/both")
		wantRefusals(t, s, "/ws", bare, "/ws")

		st := s.wantSwitch2(t, "/late", "late/1", nil)
		wantLine(t, "HTTP/2 behind chi's Timeout", st, "request context: "+context.DeadlineExceeded.Error())
		wantEcho(t, "HTTP/2 after chi's Timeout", st)
		st.Close()
		var line string
		testkit.WaitFor(t, "chi's Logger to log the stream", func() bool {
			for _, l := range strings.Split(logged.String(), "\n") {
				if strings.Contains(l, `/late HTTP/2.0" from `) {
					line = l
					return true
				}
			}
			return false
		})
		testkit.Contains(t, "chi's log line of the stream", line, `"CONNECT `, " - 200 ")
	})
}

// rs/cors passes switches and refusals by.
func TestCORS(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		r := newRoutes(t)
		m := http.NewServeMux()
		m.Handle("/ws", r.endpoint())
		bare := startRouterServer(t, m, r.n, useTLS)
		s := startRouterServer(t, cors.AllowAll().Handler(m), r.n, useTLS)
		s.wantSwitches(t, "/ws")
		wantRefusals(t, s, "/ws", bare, "/ws")
	})
}

// gzhttp compresses bodies; a switch is none: the 101 and the 200 carry
// no Content-Encoding and every byte passes unencoded and at once.
func TestGzhttp(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		r := newRoutes(t)
		m := http.NewServeMux()
		m.Handle("/ws", r.endpoint())
		m.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, echoMsg) })
		bare := startRouterServer(t, m, r.n, useTLS)
		s := startRouterServer(t, gzhttp.GzipHandler(m), r.n, useTLS)
		s.wantSwitches(t, "/ws")
		wantRefusals(t, s, "/ws", bare, "/ws")

		// The middleware is on: a page is compressed.
		req, err := http.NewRequest(http.MethodGet, s.URL+"/page", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := s.client.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
			t.Errorf("a page through gzhttp: Content-Encoding %q, want gzip", got)
		}
	})
}
