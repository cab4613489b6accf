package echoadapter_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/switchyard-http/switchyard/echoadapter/v5"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMiddlewarePassesPlainRequests(t *testing.T) {
	t.Parallel()
	a := newApp(t)
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
		code, body, _ := get(t, "GET", a.url+tt.path, tt.header)
		if code != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, code, body, tt.status, tt.body)
		}
	}
}

// The middleware runs before each route's handler, so an offer of its
// tokens switches everywhere, the route mounted with Handler included.
func TestMiddlewareSwitchesOnAnyPath(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, path := range []string{"/nowhere", "/plain", "/ws"} {
		c, resp := testkit.Dial(t, a.url+path, []string{"echo/1"}, nil)
		if got, want := resp.Header.Get("Upgrade"), "echo/1"; got != want {
			t.Errorf("%s: Upgrade = %q, want %q", path, got, want)
		}
		streamRoundTrip(t, c, "through "+path)
		c.Close()
	}
	if got, want := a.n.Stats().Switched["echo"], int64(3); got != want {
		t.Errorf("switched echo = %d, want %d", got, want)
	}
}

func TestHandlerRequiresUpgrade(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	for _, h := range []http.Header{nil, {"Connection": {"Upgrade"}, "Upgrade": {"foo"}}} {
		code, body, hdr := get(t, "GET", a.url+"/ws", h)
		if code != http.StatusUpgradeRequired || hdr.Get("Upgrade") != "websocket" || body == "" {
			t.Errorf("GET /ws offering %q: got %d Upgrade=%q %q, want 426 with Upgrade: websocket and a reason",
				h.Get("Upgrade"), code, hdr.Get("Upgrade"), body)
		}
	}
	c, resp := wstest.Dial(t, nil, wstest.URL(a.url, "/ws"), nil)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("websocket status %d, want 101", resp.StatusCode)
	}
	wstest.WantEcho(t, c, gws.TextMessage, []byte("hello"))
	wstest.WantEcho(t, c, gws.BinaryMessage, []byte("\x00\x01\xff"))
}

// Refusals are written through c.Response(): Echo's loggers log their
// status.
func TestRefusalsAreEchoResponses(t *testing.T) {
	t.Parallel()
	statusCh := make(chan int, 4)
	a := newApp(t, middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true,
		LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
			statusCh <- v.Status
			return nil
		},
	}))
	h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	if code, body, _ := get(t, "PUT", a.url+"/ws", h); code != http.StatusMethodNotAllowed || body == "" {
		t.Errorf("PUT /ws: got %d %q, want 405 with a reason", code, body)
	}
	code, body, _ := get(t, "GET", a.url+"/ws", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}})
	if code != http.StatusBadRequest || body == "" {
		t.Errorf("GET /ws without a version: got %d %q, want 400 with a reason", code, body)
	}
	var statuses []int
	for range 2 {
		select {
		case s := <-statusCh:
			statuses = append(statuses, s)
		case <-time.After(testkit.Timeout):
			t.Fatal("RequestLogger logged nothing")
		}
	}
	if got, want := statuses, []int{http.StatusMethodNotAllowed, http.StatusBadRequest}; !slices.Equal(got, want) {
		t.Errorf("RequestLogger statuses = %v, want %v", got, want)
	}
}

// After a switch the echo.Response is committed with 101: an error
// returned after the switch reaches Echo's error handler without anything
// being written to the switched connection.
func TestErrorAfterSwitch(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	type seen struct {
		committed bool
		status    int
		writeErr  error
	}
	handled := make(chan seen, 1)
	e.HTTPErrorHandler = func(c *echo.Context, err error) {
		// A careless handler that writes whatever the state.
		var s seen
		if res, _ := echo.UnwrapResponse(c.Response()); res != nil {
			s.committed, s.status = res.Committed, res.Status
		}
		s.writeErr = c.String(http.StatusInternalServerError, err.Error())
		handled <- s
	}
	h := echoadapter.Handler(n, reg)
	e.GET("/up", func(c *echo.Context) error {
		if err := h(c); err != nil {
			return err
		}
		return errors.New("the application failed after the switch")
	})
	a := startApp(t, e, n)
	c, _ := testkit.Dial(t, a.url+"/up", []string{"echo/1"}, nil)
	streamRoundTrip(t, c, "ping")
	select {
	case s := <-handled:
		if !s.committed || s.status != http.StatusSwitchingProtocols {
			t.Errorf("error handler saw committed=%v status=%d, want committed with 101", s.committed, s.status)
		}
		if !errors.Is(s.writeErr, http.ErrHijacked) {
			t.Errorf("write after the switch: got %v, want http.ErrHijacked", s.writeErr)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("the error after the switch never reached Echo's error handler")
	}
	// Nothing the error handler wrote reached the connection.
	streamRoundTrip(t, c, "still echo/1")
}

func TestSkipper(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	e.Use(echoadapter.MiddlewareWithConfig(echoadapter.Config{
		Negotiator: n,
		Registry:   reg,
		Skipper:    func(c *echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/skip") },
	}))
	e.GET("/skip", func(c *echo.Context) error { return c.String(http.StatusOK, "skipped") })
	a := startApp(t, e, n)
	code, body, _ := get(t, "GET", a.url+"/skip", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo/1"}})
	if code != 200 || body != "skipped" {
		t.Errorf("echo/1 offer on /skip: got %d %q, want 200 %q", code, body, "skipped")
	}
	c, _ := testkit.Dial(t, a.url+"/other", []string{"echo/1"}, nil)
	streamRoundTrip(t, c, "not skipped")
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	for _, cfg := range []echoadapter.Config{{}, {Negotiator: n}, {Registry: reg}} {
		if mw, err := cfg.ToMiddleware(); err == nil || mw != nil {
			t.Errorf("ToMiddleware(%+v) = %v, %v; want an error", cfg, mw != nil, err)
		}
	}
	if mw, err := (echoadapter.Config{Negotiator: n, Registry: reg}).ToMiddleware(); err != nil || mw == nil {
		t.Errorf("ToMiddleware of a valid config: %v", err)
	}
	for name, f := range map[string]func(){
		"MiddlewareWithConfig": func() { echoadapter.MiddlewareWithConfig(echoadapter.Config{}) },
		"Middleware":           func() { echoadapter.Middleware(nil, reg) },
		"Handler(n, nil)":      func() { echoadapter.Handler(n, nil) },
		"Handler(nil, reg)":    func() { echoadapter.Handler(nil, reg) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with an invalid config did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestPassThroughDoesNotAllocate(t *testing.T) {
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	e := echo.New()
	h := echoadapter.Middleware(n, reg)(func(*echo.Context) error { return nil })
	plain := httptest.NewRequest("GET", "/", nil)
	unknown := httptest.NewRequest("GET", "/", nil)
	unknown.Header.Set("Connection", "Upgrade")
	unknown.Header.Set("Upgrade", "foo")
	for name, r := range map[string]*http.Request{"plain": plain, "unknown token": unknown} {
		c := e.NewContext(r, httptest.NewRecorder())
		if got := testing.AllocsPerRun(100, func() { _ = h(c) }); got != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, got)
		}
	}
}

// h2c streams are served by the server's Handler, the *echo.Echo: through
// Echo's Pre middleware, router and middleware, as HTTP/2 requests, whether
// the adapter is mounted with e.Use or e.Pre.
func TestH2CStreamsGoThroughEcho(t *testing.T) {
	t.Parallel()
	for _, mount := range []string{"Use", "Pre"} {
		t.Run(mount, func(t *testing.T) {
			t.Parallel()
			n, reg, e := newParts(t)
			reg.Register("h2c", h2cProto(t))
			var pre, routed atomic.Int64
			isHTTP2 := func(r *http.Request) bool { return r.ProtoMajor == 2 }
			e.Pre(counting(&pre, isHTTP2))
			if mount == "Pre" {
				e.Pre(echoadapter.Middleware(n, reg))
			}
			e.Use(counting(&routed, isHTTP2))
			if mount == "Use" {
				e.Use(echoadapter.Middleware(n, reg))
			}
			e.GET("/proto", func(c *echo.Context) error { return c.String(http.StatusOK, c.Request().Proto) })
			e.POST("/body", echoBody)
			a := startApp(t, e, n)
			cl, first, _ := a.dialH2C(t, "/proto")
			if got, want := string(first.Body), "HTTP/2.0"; got != want {
				t.Errorf("stream 1 /proto = %q, want %q", got, want)
			}
			r, err := cl.Do("POST", "/body", []byte("over h2"))
			if err != nil || string(r.Body) != "over h2" {
				t.Errorf("POST /body over the upgraded connection: %v, %v; want %q", r, err, "over h2")
			}
			if pre.Load() != 2 || routed.Load() != 2 {
				t.Errorf("HTTP/2 requests seen by Pre = %d, after routing = %d; want 2 and 2", pre.Load(), routed.Load())
			}
		})
	}
}

// The server's Shutdown, with the negotiator tied to it, asks switched
// connections to close their protocol's way and cancels their contexts.
// The upgrade requests' contexts (cut short by Echo's ContextTimeout in
// front) have ended by then, and none of that reached the connections.
func TestShutdownDrainsSwitchedConnections(t *testing.T) {
	t.Parallel()
	reqCtx := make(chan context.Context, 8)
	capture := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if negotiate.IsUpgrade(c.Request()) {
				reqCtx <- c.Request().Context()
			}
			return next(c)
		}
	}
	a := newApp(t, middleware.ContextTimeout(time.Minute), capture)
	ws, _ := wstest.Dial(t, nil, wstest.URL(a.url, "/ws"), nil)
	stream, _ := testkit.Dial(t, a.url+"/", []string{"echo/1"}, nil)
	watch, _ := testkit.Dial(t, a.url+"/", []string{"ctx/1"}, nil)
	h2, _, conn := a.dialH2C(t, "/plain")
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
	streamRoundTrip(t, stream, "alive")
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
	if s := a.n.Stats(); s.Active["websocket"] != 1 || s.Active["echo"] != 1 || s.Active["ctx"] != 1 || s.Active["h2c"] != 1 {
		t.Fatalf("active before shutdown = %v, want one of each", s.Active)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatalf("server Shutdown: %v", err)
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
	if err := a.n.Shutdown(ctx); err != nil {
		t.Errorf("waiting for the switched connections: %v", err)
	}
	for name, k := range a.n.Stats().Active {
		if k != 0 {
			t.Errorf("active %s after shutdown = %d, want 0", name, k)
		}
	}
}

// Mounted with e.Pre, the middleware switches before routing.
func TestPreMiddleware(t *testing.T) {
	t.Parallel()
	n, reg, e := newParts(t)
	var routed atomic.Int64
	e.Pre(echoadapter.Middleware(n, reg))
	e.Use(counting(&routed, nil))
	e.GET("/plain", func(c *echo.Context) error { return c.String(http.StatusOK, "plain") })
	a := startApp(t, e, n)
	c, _ := testkit.Dial(t, a.url+"/nowhere", []string{"echo/1"}, nil)
	streamRoundTrip(t, c, "before routing")
	if code, body, _ := get(t, "GET", a.url+"/plain", nil); code != 200 || body != "plain" {
		t.Errorf("GET /plain: got %d %q, want 200 %q", code, body, "plain")
	}
	if got, want := routed.Load(), int64(1); got != want {
		t.Errorf("requests past routing = %d, want %d (the plain one only)", got, want)
	}
}

// counting is a middleware that counts in n the requests that pass it and
// match (nil: every request).
func counting(n *atomic.Int64, match func(*http.Request) bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			if match == nil || match(c.Request()) {
				n.Add(1)
			}
			return next(c)
		}
	}
}
