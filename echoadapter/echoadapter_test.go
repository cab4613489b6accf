package echoadapter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
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
		{"no route", "/nowhere", nil, 404, ""},
	}
	for _, tt := range tests {
		code, body, _ := get(t, "GET", a.url+tt.path, tt.header)
		if code != tt.status || (tt.body != "" && body != tt.body) {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, code, body, tt.status, tt.body)
		}
	}
}

func TestMiddlewareSwitchesOnAnyPath(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	// A path without a route, a plain route and the WebSocket route: the
	// middleware runs before each handler.
	for _, path := range []string{"/nowhere", "/plain", "/ws"} {
		c, resp := a.dial(t, path, "echo/1", nil)
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
	c, _ := a.dialWS(t, "/ws", nil)
	wsRoundTrip(t, c, gws.TextMessage, "hello")
	wsRoundTrip(t, c, gws.BinaryMessage, "\x00\x01\xff")
}

func TestRefusalsAreEchoResponses(t *testing.T) {
	t.Parallel()
	var statuses []int
	statusCh := make(chan int, 4)
	a := newApp(t, middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			statusCh <- v.Status
			return nil
		},
	}))
	h := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	code, _, _ := get(t, "PUT", a.url+"/ws", h) // no PUT route: Echo's 405
	if code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /ws: got %d, want 405", code)
	}
	code, body, _ := get(t, "GET", a.url+"/ws", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}})
	if code != http.StatusBadRequest || body == "" {
		t.Errorf("GET /ws without a version: got %d %q, want 400 with a reason", code, body)
	}
	for range 2 {
		select {
		case s := <-statusCh:
			statuses = append(statuses, s)
		case <-time.After(wait):
			t.Fatal("RequestLogger logged nothing")
		}
	}
	if got, want := statuses, []int{http.StatusMethodNotAllowed, http.StatusBadRequest}; !slices.Equal(got, want) {
		t.Errorf("RequestLogger statuses = %v, want %v", got, want)
	}
}

// After a switch the echo.Response is committed with 101: the loggers log
// 101, and an error returned after the switch reaches Echo's error handler
// without anything being written to the hijacked connection.
func TestErrorAfterSwitch(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	reg := new(negotiate.Registry)
	if err := reg.HandleFunc("echo/1", echoStream); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		committed bool
		status    int
		writeErr  error
	}
	handled := make(chan seen, 1)
	e := echo.New()
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		// A careless handler that writes whatever the state.
		res := c.Response()
		s := seen{committed: res.Committed, status: res.Status}
		s.writeErr = c.String(http.StatusInternalServerError, err.Error())
		handled <- s
	}
	h := echoadapter.Handler(n, reg)
	e.GET("/up", func(c echo.Context) error {
		if err := h(c); err != nil {
			return err
		}
		return errors.New("the application failed after the switch")
	})
	a := startApp(t, e, n)
	c, _ := a.dial(t, "/up", "echo/1", nil)
	streamRoundTrip(t, c, "ping")
	c.Close()
	select {
	case s := <-handled:
		if !s.committed || s.status != http.StatusSwitchingProtocols {
			t.Errorf("error handler saw committed=%v status=%d, want committed with 101", s.committed, s.status)
		}
		if !errors.Is(s.writeErr, http.ErrHijacked) {
			t.Errorf("write after the switch: got %v, want http.ErrHijacked", s.writeErr)
		}
	case <-time.After(wait):
		t.Fatal("the error after the switch never reached Echo's error handler")
	}
}

func TestSkipper(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	reg := new(negotiate.Registry)
	if err := reg.HandleFunc("echo/1", echoStream); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(echoadapter.MiddlewareWithConfig(echoadapter.Config{
		Negotiator: n,
		Registry:   reg,
		Skipper:    func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/skip") },
	}))
	e.GET("/skip", func(c echo.Context) error { return c.String(http.StatusOK, "skipped") })
	a := startApp(t, e, n)
	code, body, _ := get(t, "GET", a.url+"/skip", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo/1"}})
	if code != 200 || body != "skipped" {
		t.Errorf("echo/1 offer on /skip: got %d %q, want 200 %q", code, body, "skipped")
	}
	c, _ := a.dial(t, "/other", "echo/1", nil)
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
		if h, err := cfg.ToHandler(); err == nil || h != nil {
			t.Errorf("ToHandler(%+v) = %v, %v; want an error", cfg, h != nil, err)
		}
	}
	if _, err := (echoadapter.Config{Negotiator: n, Registry: reg}).ToMiddleware(); err != nil {
		t.Errorf("ToMiddleware of a valid config: %v", err)
	}
	for name, f := range map[string]func(){
		"MiddlewareWithConfig": func() { echoadapter.MiddlewareWithConfig(echoadapter.Config{}) },
		"Middleware":           func() { echoadapter.Middleware(nil, reg) },
		"Handler":              func() { echoadapter.Handler(n, nil) },
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
	if err := reg.HandleFunc("echo/1", echoStream); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	h := echoadapter.Middleware(n, reg)(func(echo.Context) error { return nil })
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

// h2c streams are served by the *echo.Echo itself: through Echo's router
// and middleware, as HTTP/2 requests.
func TestH2CStreamsGoThroughEcho(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	reg := new(negotiate.Registry)
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("h2c", p); err != nil {
		t.Fatal(err)
	}
	var h2seen atomic.Int64
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if c.Request().ProtoMajor == 2 {
				h2seen.Add(1)
			}
			return next(c)
		}
	})
	e.Use(echoadapter.Middleware(n, reg))
	e.GET("/proto", func(c echo.Context) error { return c.String(http.StatusOK, c.Request().Proto) })
	e.POST("/body", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	})
	a := startApp(t, e, n)
	conn, err := net.DialTimeout("tcp", a.addr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	cl, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/proto", a.addr()), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade: %v, switched=%v", err, first != nil)
	}
	if got, want := string(first.Body), "HTTP/2.0"; got != want {
		t.Errorf("stream 1 /proto = %q, want %q", got, want)
	}
	r, err := cl.Do("POST", "/body", []byte("over h2"))
	if err != nil || string(r.Body) != "over h2" {
		t.Errorf("POST /body over the upgraded connection: %v, %v; want %q", r, err, "over h2")
	}
	if got, want := h2seen.Load(), int64(2); got != want {
		t.Errorf("HTTP/2 requests seen by Echo's middleware = %d, want %d", got, want)
	}
}

// e.Shutdown, with the negotiator tied to e.Server, closes switched
// connections their protocol's way and cancels their contexts; Echo's
// ContextTimeout in front does not.
func TestShutdownDrainsSwitchedConnections(t *testing.T) {
	t.Parallel()
	a := newApp(t, middleware.ContextTimeout(20*time.Millisecond))
	ws, _ := a.dialWS(t, "/ws", nil)
	stream, _ := a.dial(t, "/", "echo/1", nil)
	watch, _ := a.dial(t, "/", "ctx/1", nil)

	// Well past the request's timeout, everything is alive.
	time.Sleep(100 * time.Millisecond)
	wsRoundTrip(t, ws, gws.TextMessage, "alive")
	streamRoundTrip(t, stream, "alive")
	_ = watch.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := watch.Read(make([]byte, 16)); !isTimeout(err) {
		t.Fatalf("ctx/1 before shutdown: read %d bytes, %v; want its context alive (a read timeout)", n, err)
	}
	if s := a.n.Stats(); s.Active["websocket"] != 1 || s.Active["echo"] != 1 || s.Active["ctx"] != 1 {
		t.Fatalf("active before shutdown = %v, want one of each", s.Active)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := a.e.Shutdown(ctx); err != nil {
		t.Fatalf("e.Shutdown: %v", err)
	}
	_, _, err := ws.ReadMessage()
	if !gws.IsCloseError(err, gws.CloseGoingAway) {
		t.Errorf("websocket at shutdown: %v, want close 1001", err)
	}
	ws.Close()
	if b, err := io.ReadAll(stream); err != nil || len(b) != 0 {
		t.Errorf("echo/1 at shutdown: read %q, %v; want it closed", b, err)
	}
	_ = watch.SetReadDeadline(time.Now().Add(wait))
	if b, err := io.ReadAll(watch); err != nil || string(b) != "cancelled" {
		t.Errorf("ctx/1 at shutdown: read %q, %v; want %q then EOF", b, err, "cancelled")
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

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Mounted with e.Pre, the middleware switches before routing.
func TestPreMiddleware(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	reg := new(negotiate.Registry)
	if err := reg.HandleFunc("echo/1", echoStream); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	routed := new(atomic.Int64)
	e.Pre(echoadapter.Middleware(n, reg))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			routed.Add(1)
			return next(c)
		}
	})
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain") })
	a := startApp(t, e, n)
	c, _ := a.dial(t, "/nowhere", "echo/1", nil)
	streamRoundTrip(t, c, "before routing")
	if code, body, _ := get(t, "GET", a.url+"/plain", nil); code != 200 || body != "plain" {
		t.Errorf("GET /plain: got %d %q, want 200 %q", code, body, "plain")
	}
	if got, want := routed.Load(), int64(1); got != want {
		t.Errorf("requests past routing = %d, want %d (the plain one only)", got, want)
	}
}

// Protocols get the Echo app, never the pooled echo.Context: Conn.Next is
// the *echo.Echo under the middleware, and nil under the handler, as at a
// negotiate Endpoint.
func TestConnNext(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	nexts := make(chan http.Handler, 2)
	reg := new(negotiate.Registry)
	if err := reg.HandleFunc("next/1", func(c *negotiate.Conn) error {
		nexts <- c.Next()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(echoadapter.Middleware(n, reg))
	a := startApp(t, e, n)
	a.dial(t, "/any", "next/1", nil)
	select {
	case got := <-nexts:
		if got != http.Handler(e) {
			t.Errorf("middleware: Conn.Next() = %T, want the *echo.Echo", got)
		}
	case <-time.After(wait):
		t.Fatal("next/1 never served")
	}

	e2 := echo.New()
	e2.GET("/required", echoadapter.Handler(n, reg))
	a2 := startApp(t, e2, n)
	a2.dial(t, "/required", "next/1", nil)
	select {
	case got := <-nexts:
		if got != nil {
			t.Errorf("handler: Conn.Next() = %T, want nil", got)
		}
	case <-time.After(wait):
		t.Fatal("next/1 never served")
	}
}
