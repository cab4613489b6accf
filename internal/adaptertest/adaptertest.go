// Package adaptertest is the test suite every web-framework adapter of
// Switchyard passes, whatever the framework: an adapter's test builds the
// framework's app around the parts the suite gives it (Start), and Run
// checks through a real loopback server with real clients what every
// adapter promises — plain requests pass through, the middleware switches
// on every path, a route that requires an upgrade answers 426, refusals are
// the framework's responses with their status logged, and the server's
// shutdown closes each switched connection its protocol's way. It also
// holds the protocols and client helpers those adapter tests share.
package adaptertest

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// App is what an adapter's test mounts on its framework. The app it builds
// has the adapter's middleware with AnyPath in front of every route, the
// adapter's handler with WS on /ws for any method, GET /plain answering
// "plain " and the request's protocol, and POST /body answering the
// request's body; N's shutdown is tied to the app's server.
type App struct {
	N       *negotiate.Negotiator
	AnyPath *negotiate.Registry // echo/1, ctx/1 (CtxWatch) and h2c
	WS      *negotiate.Registry // websocket (WSEcho)

	// Seen, when not nil, is called by a middleware in front of the
	// adapter's with each request as it reaches that point, behind the
	// framework's own request-context timeout middleware: the suite checks
	// that the upgrade requests' contexts end after the switch.
	Seen func(*http.Request)
	// Logged, when not nil, receives the status the framework's request
	// logger, in front of everything, logs for each request.
	Logged func(status int)
}

// NewApp returns the parts of an App, without Seen and Logged.
func NewApp(t *testing.T) App {
	t.Helper()
	anyPath := new(negotiate.Registry)
	anyPath.HandleFunc("echo/1", testkit.EchoConn)
	anyPath.HandleFunc("ctx/1", CtxWatch)
	anyPath.Register("h2c", H2C(t))
	ws := new(negotiate.Registry)
	ws.Register("websocket", WSEcho(t))
	return App{N: testkit.NewNegotiator(t, nil), AnyPath: anyPath, WS: ws}
}

// Server is an app served on loopback.
type Server struct {
	URL string // http://HOST:PORT
	N   *negotiate.Negotiator
	// Shutdown is the shutdown of the server that serves the app, the one
	// the negotiator is tied to.
	Shutdown func(context.Context) error
}

// Addr is the server's HOST:PORT.
func (s *Server) Addr() string { return strings.TrimPrefix(s.URL, "http://") }

// Start serves app on loopback until the test ends.
type Start func(t *testing.T, app App) *Server

// Run runs the suite against the apps start serves, each subtest in
// parallel with its own app.
func Run(t *testing.T, start Start) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Start)
	}{
		{"MiddlewarePassesPlainRequests", passesPlainRequests},
		{"MiddlewareSwitchesOnAnyPath", switchesOnAnyPath},
		{"HandlerRequiresUpgrade", handlerRequiresUpgrade},
		{"RefusalsAreLoggedResponses", refusalsAreLogged},
		{"ShutdownDrainsSwitchedConnections", shutdownDrains},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, start)
		})
	}
}

func passesPlainRequests(t *testing.T, start Start) {
	s := start(t, NewApp(t))
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		body   string
	}{
		{"not an upgrade", "/plain", nil, 200, "plain HTTP/1.1"},
		{"unknown token", "/plain", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"foo/9"}}, 200, "plain HTTP/1.1"},
		{"HTTP/1.1 Upgrade without Connection", "/plain", http.Header{"Upgrade": {"echo/1"}}, 200, "plain HTTP/1.1"},
		{"h2c with bad HTTP2-Settings", "/plain", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"},
			"Http2-Settings": {"not base64!"}}, 200, "plain HTTP/1.1"},
		{"no route", "/nowhere", nil, 404, ""},
	}
	for _, tt := range tests {
		code, body, _ := Get(t, "GET", s.URL+tt.path, tt.header)
		if code != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, code, body, tt.status, tt.body)
		}
	}
}

// The middleware runs before each route's handler, so an offer of its
// tokens switches everywhere, the route mounted with the handler included.
func switchesOnAnyPath(t *testing.T, start Start) {
	s := start(t, NewApp(t))
	for _, path := range []string{"/nowhere", "/plain", "/ws"} {
		c, resp := testkit.Dial(t, s.URL+path, []string{"echo/1"}, nil)
		if got, want := resp.Header.Get("Upgrade"), "echo/1"; got != want {
			t.Errorf("%s: Upgrade = %q, want %q", path, got, want)
		}
		StreamRoundTrip(t, c, "through "+path)
		c.Close()
	}
	if got, want := s.N.Stats().Switched["echo"], int64(3); got != want {
		t.Errorf("switched echo = %d, want %d", got, want)
	}
}

func handlerRequiresUpgrade(t *testing.T, start Start) {
	s := start(t, NewApp(t))
	for _, h := range []http.Header{nil, {"Connection": {"Upgrade"}, "Upgrade": {"foo"}}} {
		code, body, hdr := Get(t, "GET", s.URL+"/ws", h)
		if code != http.StatusUpgradeRequired || hdr.Get("Upgrade") != "websocket" || body == "" {
			t.Errorf("GET /ws offering %q: got %d Upgrade=%q %q, want 426 with Upgrade: websocket and a reason",
				h.Get("Upgrade"), code, hdr.Get("Upgrade"), body)
		}
	}
	c, resp := wstest.Dial(t, nil, wstest.URL(s.URL, "/ws"), nil)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("websocket status %d, want 101", resp.StatusCode)
	}
	wstest.WantEcho(t, c, gws.TextMessage, []byte("hello"))
	wstest.WantEcho(t, c, gws.BinaryMessage, []byte("\x00\x01\xff"))
}

// Refusals are written through the framework's response: its request
// logger logs their status.
func refusalsAreLogged(t *testing.T, start Start) {
	statusCh := make(chan int, 4)
	app := NewApp(t)
	app.Logged = func(status int) { statusCh <- status }
	s := start(t, app)
	h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	if code, body, _ := Get(t, "PUT", s.URL+"/ws", h); code != http.StatusMethodNotAllowed || body == "" {
		t.Errorf("PUT /ws: got %d %q, want 405 with a reason", code, body)
	}
	code, body, _ := Get(t, "GET", s.URL+"/ws", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}})
	if code != http.StatusBadRequest || body == "" {
		t.Errorf("GET /ws without a version: got %d %q, want 400 with a reason", code, body)
	}
	var statuses []int
	for range 2 {
		select {
		case s := <-statusCh:
			statuses = append(statuses, s)
		case <-time.After(testkit.Timeout):
			t.Fatal("the request logger logged nothing")
		}
	}
	if got, want := statuses, []int{http.StatusMethodNotAllowed, http.StatusBadRequest}; !slices.Equal(got, want) {
		t.Errorf("logged statuses = %v, want %v", got, want)
	}
}

// The server's shutdown, with the negotiator tied to it, asks switched
// connections to close their protocol's way and cancels their contexts.
// The upgrade requests' contexts (cut short by the framework's context
// timeout in front) have ended by then, and none of that reached the
// connections.
func shutdownDrains(t *testing.T, start Start) {
	reqCtx := make(chan context.Context, 8)
	app := NewApp(t)
	app.Seen = func(r *http.Request) {
		if negotiate.IsUpgrade(r) {
			reqCtx <- r.Context()
		}
	}
	s := start(t, app)
	ws, _ := wstest.Dial(t, nil, wstest.URL(s.URL, "/ws"), nil)
	stream, _ := testkit.Dial(t, s.URL+"/", []string{"echo/1"}, nil)
	watch, _ := testkit.Dial(t, s.URL+"/", []string{"ctx/1"}, nil)
	h2, _, conn := DialH2C(t, s.Addr(), "/plain")
	for range 4 {
		select {
		case ctx := <-reqCtx:
			select {
			case <-ctx.Done():
			case <-time.After(testkit.Timeout):
				t.Fatal("an upgrade request's context did not end after the switch")
			}
		case <-time.After(testkit.Timeout):
			t.Fatal("an upgrade request never reached the middleware in front")
		}
	}

	wstest.WantEcho(t, ws, gws.TextMessage, []byte("alive"))
	StreamRoundTrip(t, stream, "alive")
	if _, err := io.WriteString(watch, "?"); err != nil {
		t.Fatal(err)
	}
	state := make([]byte, len("alive"))
	if _, err := io.ReadFull(watch, state); err != nil || string(state) != "alive" {
		t.Errorf("ctx/1 before shutdown: %q, %v; want its context alive", state, err)
	}
	if r, err := h2.Get("/plain"); err != nil || string(r.Body) != "plain HTTP/2.0" {
		t.Errorf("h2c GET /plain: %v, %v", r, err)
	}
	if st := s.N.Stats(); st.Active["websocket"] != 1 || st.Active["echo"] != 1 || st.Active["ctx"] != 1 || st.Active["h2c"] != 1 {
		t.Fatalf("active before shutdown = %v, want one of each", st.Active)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("server shutdown: %v", err)
	}
	wstest.WantClose(t, ws, gws.CloseGoingAway)
	if b, err := io.ReadAll(stream); err != nil || len(b) != 0 {
		t.Errorf("echo/1 at shutdown: read %q, %v; want it closed", b, err)
	}
	if got := testkit.ReadAll(t, watch); got != "cancelled" {
		t.Errorf("ctx/1 at shutdown: read %q; want %q then EOF", got, "cancelled")
	}
	if ga, err := h2.WaitGoAway(); err != nil || ga == nil {
		t.Errorf("h2c at shutdown: %v, %v; want GOAWAY", ga, err)
	}
	for _, c := range []io.Closer{stream, watch, conn} {
		c.Close() // the client's side of the close, which the server's drain waits for
	}
	if err := s.N.Shutdown(ctx); err != nil {
		t.Errorf("waiting for the switched connections: %v", err)
	}
	for name, k := range s.N.Stats().Active {
		if k != 0 {
			t.Errorf("active %s after shutdown = %d, want 0", name, k)
		}
	}
}

// WSEcho is the real WebSocket engine, echoing each message with its type.
func WSEcho(t *testing.T) negotiate.Protocol {
	t.Helper()
	p, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// H2C is the real h2c engine; its streams are served by the server's
// Handler.
func H2C(t *testing.T) negotiate.Protocol {
	t.Helper()
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// CtxWatch is ctx/1: it answers each byte with "alive" while the
// connection's context lives, and writes "cancelled" once it ends, its own
// goodbye at a shutdown.
func CtxWatch(c *negotiate.Conn) error {
	ctx := c.Context()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			if ctx.Err() != nil {
				_, err = io.WriteString(c, "cancelled")
			}
			return err
		}
		state := "alive"
		if ctx.Err() != nil {
			state = "ended"
		}
		if _, err := io.WriteString(c, state); err != nil {
			return err
		}
	}
}

// DialH2C upgrades a new connection to addr to h2c with GET path (and
// extra header lines), and fails the test unless it switched.
func DialH2C(t *testing.T, addr, path string, extra ...string) (*h2ctest.Client, *h2ctest.Response, net.Conn) {
	t.Helper()
	conn := testkit.DialTCP(t, addr)
	cl, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", path, addr, extra...), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade: %v, switched=%v", err, first != nil)
	}
	return cl, first, conn
}

// StreamRoundTrip writes msg on an echo/1 connection and wants it back.
func StreamRoundTrip(t *testing.T, c io.ReadWriter, msg string) {
	t.Helper()
	if got := testkit.RoundTrip(t, c, msg); got != msg {
		t.Errorf("echo/1: got %q, want %q", got, msg)
	}
}

// Get sends a plain request and returns the status, body and header.
func Get(t *testing.T, method, url string, h http.Header) (int, string, http.Header) {
	t.Helper()
	resp, body := testkit.Do(t, method, url, h, nil)
	return resp.StatusCode, body, resp.Header
}

// Switches are the 101s SwitchAll got, one for each protocol.
type Switches struct {
	WS, Stream, H2C *http.Response
}

func (sw Switches) each() map[string]*http.Response {
	return map[string]*http.Response{"websocket": sw.WS, "echo/1": sw.Stream, "h2c": sw.H2C}
}

// SwitchAll switches through the app s serves, each offered with header
// (an Origin of "ORIGIN" stands for s's own origin, which the WebSocket
// accepts): a real WebSocket on /ws, echo/1 on /any and h2c on /plain. It
// waits pause (to get past a request's deadline), exchanges data on each,
// wants a plain GET /plain answered, closes the three and waits until none
// is active. A middleware in front of the adapter must let all of that
// through.
func SwitchAll(t *testing.T, s *Server, header http.Header, pause time.Duration) Switches {
	t.Helper()
	h := header.Clone()
	if h.Get("Origin") == "ORIGIN" {
		h.Set("Origin", s.URL)
	}
	var sw Switches
	var ws *gws.Conn
	ws, sw.WS = wstest.Dial(t, nil, wstest.URL(s.URL, "/ws"), h)
	stream, streamResp := testkit.Dial(t, s.URL+"/any", []string{"echo/1"}, h)
	sw.Stream = streamResp
	var extra []string
	for k, vs := range h {
		for _, v := range vs {
			extra = append(extra, k+": "+v)
		}
	}
	h2, first, conn := DialH2C(t, s.Addr(), "/plain", extra...)
	sw.H2C = h2.Upgrade
	if first.Status != 200 {
		t.Errorf("h2c stream 1 GET /plain: status %d", first.Status)
	}
	if pause > 0 {
		time.Sleep(pause) // past the request's deadline
	}
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("through the middleware"))
	wstest.WantEcho(t, ws, gws.BinaryMessage, []byte("\x00\xff"))
	StreamRoundTrip(t, stream, "through the middleware")
	if r, err := h2.Get("/plain"); err != nil || r.Status != 200 {
		t.Errorf("h2c GET /plain: %v, %v", r, err)
	}
	if code, body, _ := Get(t, "GET", s.URL+"/plain", nil); code != 200 || body != "plain HTTP/1.1" {
		t.Errorf("GET /plain: got %d %q, want 200", code, body)
	}
	wstest.CloseNormally(t, ws)
	stream.Close()
	conn.Close()
	testkit.WaitFor(t, "switched connections to close", func() bool {
		st := s.N.Stats()
		return st.Active["websocket"] == 0 && st.Active["echo"] == 0 && st.Active["h2c"] == 0
	})
	return sw
}

// XClient is an extended CONNECT client (RFC 8441) of srv, a server of
// testkit.StartH2Server: over TLS it trusts srv's certificate.
func XClient(t *testing.T, srv *httptest.Server) *xconnect.Client {
	t.Helper()
	var cfg *tls.Config
	if srv.TLS != nil {
		cfg = srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	c := xconnect.New(cfg)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// XDial opens an extended CONNECT stream for protocol to url with c and
// fails the test unless it switched. The stream has a read deadline of
// testkit.Timeout and is closed when the test ends.
func XDial(t *testing.T, c *xconnect.Client, url, protocol string, header http.Header) (*xconnect.Stream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	st, resp, err := c.Dial(ctx, url, protocol, header)
	if err != nil {
		t.Fatalf("%s over HTTP/2 to %s: %v", protocol, url, err)
	}
	t.Cleanup(func() { st.Close() })
	_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
	return st, resp
}

// XConnectAll switches over HTTP/2 streams (RFC 8441) through the app srv
// serves (testkit.StartH2Server, in a process with extended CONNECT on),
// each offered with header: a real WebSocket on /ws and echo/1 on /any.
// Neither 200 may carry a Content-Encoding: what a switched stream carries
// is not a body for a middleware in front to encode. It waits pause (to
// get past a request's deadline), sends 4 KiB each way on each, closes
// both and waits until none is active. A middleware in front of the
// adapter must let all of that through.
func XConnectAll(t *testing.T, srv *httptest.Server, n *negotiate.Negotiator, header http.Header, pause time.Duration) {
	t.Helper()
	c := XClient(t, srv)
	ws, wsResp := wstest.Dial(t, c.WebSocketDialer(), wstest.URL(srv.URL, "/ws"), header)
	stream, streamResp := XDial(t, c, srv.URL+"/any", "echo/1", header)
	for proto, resp := range map[string]*http.Response{"websocket": wsResp, "echo/1": streamResp} {
		if v, ok := resp.Header["Content-Encoding"]; ok {
			t.Fatalf("%s over HTTP/2: the 200 carries Content-Encoding %q; header %v", proto, v, resp.Header)
		}
	}
	if pause > 0 {
		time.Sleep(pause) // past the request's deadline
	}
	big := strings.Repeat("x", 4<<10)
	wstest.WantEcho(t, ws, gws.BinaryMessage, []byte(big))
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("over HTTP/2"))
	StreamRoundTrip(t, stream, big)
	StreamRoundTrip(t, stream, "over HTTP/2")
	wstest.CloseNormally(t, ws)
	stream.Close()
	testkit.WaitFor(t, "switched streams to close", func() bool {
		st := n.Stats()
		return st.Active["websocket"] == 0 && st.Active["echo"] == 0
	})
	if st := n.Stats(); st.OverH2["websocket"] != 1 || st.OverH2["echo"] != 1 {
		t.Errorf("switched over HTTP/2 = %v, want one websocket and one echo", st.OverH2)
	}
}

// Gzipped is a net/http middleware in front of a framework's app, as a
// server may mount one around it: for a client that accepts gzip it
// encodes what the app writes, and it unwraps to the writer it wraps, as
// http.ResponseController expects. A switched stream must pass its writer
// by, as a hijacked connection does: XConnectAll through it fails
// otherwise.
func Gzipped(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w}
		h.ServeHTTP(gw, r)
		if gw.gz != nil {
			_ = gw.gz.Close()
		}
	})
}

type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer // from the first write on
}

func (w *gzipWriter) WriteHeader(code int) {
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	if w.gz == nil {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Del("Content-Length")
		w.gz = gzip.NewWriter(w.ResponseWriter)
	}
	n, err := w.gz.Write(p)
	if err == nil {
		err = w.gz.Flush()
	}
	return n, err
}

func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WantStreamEnds writes 2 KiB on an echo/1 stream and wants the server
// to end the stream, within testkit.Timeout.
func WantStreamEnds(t *testing.T, st *xconnect.Stream) {
	t.Helper()
	if _, err := io.WriteString(st, strings.Repeat("x", 2<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, st); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the stream did not end")
	}
}

// A Check looks at what SwitchAll got from the app s serves.
type Check func(t *testing.T, s *Server, sw Switches)

// Field101 wants the field, with the value want if it is not "", in every
// protocol's 101, written by the negotiator.
func Field101(name, want string) Check {
	return func(t *testing.T, _ *Server, sw Switches) {
		for proto, resp := range sw.each() {
			got := resp.Header.Get(name)
			if got == "" || want != "" && got != want {
				t.Errorf("%s 101: %s = %q, want %q; header %v", proto, name, got, want, resp.Header)
			}
		}
	}
}

// NoField101 wants the field absent from every 101: it describes a body.
func NoField101(name string) Check {
	return func(t *testing.T, _ *Server, sw Switches) {
		for proto, resp := range sw.each() {
			if v, ok := resp.Header[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("%s 101 carries %s: %q", proto, name, v)
			}
		}
	}
}

// All runs each of cs.
func All(cs ...Check) Check {
	return func(t *testing.T, s *Server, sw Switches) {
		for _, c := range cs {
			c(t, s, sw)
		}
	}
}

// LoggedSwitches wants buf, a request logger's output of "METHOD URI
// STATUS" lines, to show SwitchAll's three switches with 101 and its
// plain GET /plain with 200.
func LoggedSwitches(buf *testkit.LockedBuffer) Check {
	lines := []string{"GET /ws 101", "GET /any 101", "GET /plain 101", "GET /plain 200"}
	return func(t *testing.T, _ *Server, _ Switches) {
		testkit.WaitFor(t, fmt.Sprintf("log lines %q", lines), func() bool {
			for _, l := range lines {
				if !strings.Contains(buf.String(), l+"\n") {
					return false
				}
			}
			return true
		})
	}
}

// BodyLimited wants a POST /body of 2 KiB refused with 413: a body limit
// of 1 KiB in front is in force.
func BodyLimited(t *testing.T, s *Server, _ Switches) {
	resp, err := http.Post(s.URL+"/body", "text/plain", strings.NewReader(strings.Repeat("x", 2048)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusRequestEntityTooLarge; got != want {
		t.Errorf("POST of 2 KiB: got %d, want %d (BodyLimit in force)", got, want)
	}
}

// WantCannotHijack checks that behind a writer that cannot hijack, both an
// echo/1 offer on any path and a WebSocket handshake at /ws are refused
// with 500 and a reason holding each of words, and that nothing switched.
func WantCannotHijack(t *testing.T, url string, n *negotiate.Negotiator, words ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	c, _, err := negotiate.Dial(ctx, url+"/any", []string{"echo/1"}, nil)
	var e *negotiate.Error
	if !errors.As(err, &e) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("echo/1 behind a writer that cannot hijack: %v, want a refusal", err)
	}
	wantRefusal(t, "echo/1", e.Status, e.Reason, words)
	ws, resp := wstest.TryDial(t, nil, wstest.URL(url, "/ws"), nil)
	if ws != nil {
		t.Fatal("websocket behind a writer that cannot hijack switched")
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantRefusal(t, "websocket", resp.StatusCode, string(body), words)
	if s := n.Stats(); s.Switched["echo"] != 0 || s.Switched["websocket"] != 0 {
		t.Errorf("switched = %v, want nothing", s.Switched)
	}
}

func wantRefusal(t *testing.T, what string, status int, reason string, words []string) {
	t.Helper()
	if status != http.StatusInternalServerError {
		t.Errorf("%s refusal status = %d, want 500", what, status)
	}
	for _, w := range words {
		if !strings.Contains(reason, w) {
			t.Errorf("%s refusal %q does not mention %q", what, reason, w)
		}
	}
}
