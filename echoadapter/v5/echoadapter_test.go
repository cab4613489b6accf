package echoadapter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v5"
	"github.com/labstack/echo/v5/middleware"

	"github.com/switchyard-http/switchyard/echoadapter/v5"
	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testApp is an Echo app served on loopback by an http.Server whose
// Handler is the *echo.Echo.
type testApp struct {
	e      *echo.Echo
	srv    *http.Server
	n      *negotiate.Negotiator
	url    string // http://HOST:PORT
	errLog *testkit.LockedBuffer
}

// newApp builds e with front in front of everything (e.Use), then the
// parts of adaptertest.NewApp mounted as adaptertest.App says. The
// negotiator is tied to the app's server, whose ErrorLog is kept.
func newApp(t *testing.T, front ...echo.MiddlewareFunc) *testApp {
	t.Helper()
	return serveApp(t, adaptertest.NewApp(t), front...)
}

// serveApp mounts app on a new Echo behind front and serves it.
func serveApp(t *testing.T, app adaptertest.App, front ...echo.MiddlewareFunc) *testApp {
	t.Helper()
	_, _, e := newParts(t)
	e.Use(front...)
	e.Use(echoadapter.Middleware(app.N, app.AnyPath))
	e.Any("/ws", echoadapter.Handler(app.N, app.WS))
	e.GET("/plain", func(c *echo.Context) error { return c.String(http.StatusOK, "plain "+c.Request().Proto) })
	e.POST("/body", echoBody)
	return startApp(t, e, app.N)
}

// The adapter passes the suite every adapter passes, with Echo's
// RequestLogger and ContextTimeout in front where it asks for them.
func TestAdapterSuite(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, app adaptertest.App) *adaptertest.Server {
		var front []echo.MiddlewareFunc
		if app.Logged != nil {
			front = append(front, middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true,
				LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
					app.Logged(v.Status)
					return nil
				},
			}))
		}
		if app.Seen != nil {
			front = append(front, middleware.ContextTimeout(time.Minute), func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c *echo.Context) error {
					app.Seen(c.Request())
					return next(c)
				}
			})
		}
		return serveApp(t, app, front...).server()
	})
}

// newParts returns the parts a test mounts its own way: a negotiator, a
// registry with echo/1 (testkit.EchoConn), and an Echo that prints
// nothing.
func newParts(t *testing.T) (*negotiate.Negotiator, *negotiate.Registry, *echo.Echo) {
	t.Helper()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	e := echo.New()
	e.Logger = slog.New(slog.DiscardHandler)
	return testkit.NewNegotiator(t, nil), reg, e
}

// echoBody answers a request's body.
func echoBody(c *echo.Context) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, string(b))
}

// startApp serves e on loopback from an http.Server whose Handler is e,
// as echo.StartConfig would, with the negotiator tied to its shutdown.
func startApp(t *testing.T, e *echo.Echo, n *negotiate.Negotiator) *testApp {
	t.Helper()
	a := &testApp{e: e, n: n, errLog: new(testkit.LockedBuffer)}
	srv := httptest.NewUnstartedServer(e)
	srv.Config.ErrorLog = log.New(a.errLog, "", 0)
	n.RegisterOnShutdown(srv.Config)
	a.srv = srv.Config
	srv.Start()
	a.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
		if s := a.errLog.String(); strings.Contains(s, "hijacked") {
			t.Errorf("server log: %q, want nothing written to a hijacked connection", s)
		}
	})
	return a
}

func (a *testApp) addr() string { return strings.TrimPrefix(a.url, "http://") }

// server is a as the adapter suite sees it.
func (a *testApp) server() *adaptertest.Server {
	return &adaptertest.Server{URL: a.url, N: a.n, Shutdown: a.srv.Shutdown}
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
	adaptertest.StreamRoundTrip(t, c, "ping")
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
	adaptertest.StreamRoundTrip(t, c, "still echo/1")
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
	code, body, _ := adaptertest.Get(t, "GET", a.url+"/skip", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo/1"}})
	if code != 200 || body != "skipped" {
		t.Errorf("echo/1 offer on /skip: got %d %q, want 200 %q", code, body, "skipped")
	}
	c, _ := testkit.Dial(t, a.url+"/other", []string{"echo/1"}, nil)
	adaptertest.StreamRoundTrip(t, c, "not skipped")
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
			reg.Register("h2c", adaptertest.H2C(t))
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
			cl, first, _ := adaptertest.DialH2C(t, a.addr(), "/proto")
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
	adaptertest.StreamRoundTrip(t, c, "before routing")
	if code, body, _ := adaptertest.Get(t, "GET", a.url+"/plain", nil); code != 200 || body != "plain" {
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

// Each of Echo's own middleware in front of the adapter, with a real
// WebSocket (the websocket package's engine), a real echo/1 and a real h2c
// switch through it.
func TestEchoMiddlewareInFront(t *testing.T) {
	t.Parallel()
	requestLoggerOut := new(testkit.LockedBuffer)
	tests := []struct {
		name   string
		mw     echo.MiddlewareFunc
		header http.Header // sent with each upgrade request
		pause  time.Duration
		check  adaptertest.Check
	}{
		{name: "RequestLogger",
			mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, HandleError: true,
				LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
					fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
					return nil
				},
			}),
			check: adaptertest.LoggedSwitches(requestLoggerOut)},
		{name: "Recover", mw: middleware.Recover()},
		{name: "Secure", mw: middleware.Secure(), check: adaptertest.All(adaptertest.Field101("X-Frame-Options", "SAMEORIGIN"), adaptertest.NoField101("X-Content-Type-Options"))},
		{name: "Content fields", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c *echo.Context) error {
				if negotiate.IsUpgrade(c.Request()) {
					h := c.Response().Header()
					h.Set("Content-Type", "text/plain")
					h.Set("Content-Length", "12")
					h.Set("X-Kept", "yes")
				}
				return next(c)
			}
		}, check: adaptertest.All(adaptertest.NoField101("Content-Type"), adaptertest.NoField101("Content-Length"), adaptertest.Field101("X-Kept", "yes"))},
		{name: "CORS", mw: middleware.CORS("*"), header: http.Header{"Origin": {"ORIGIN"}}, check: adaptertest.Field101("Access-Control-Allow-Origin", "*")},
		{name: "BodyLimit", mw: middleware.BodyLimit(1024), check: adaptertest.BodyLimited},
		{name: "RequestID", mw: middleware.RequestID(), check: adaptertest.Field101(echo.HeaderXRequestID, "")},
		{name: "Gzip", mw: middleware.Gzip(), header: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "Decompress", mw: middleware.Decompress()},
		{name: "BodyDump", mw: middleware.BodyDump(func(*echo.Context, []byte, []byte, error) {})},
		{name: "Response.Before", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c *echo.Context) error {
				res, err := echo.UnwrapResponse(c.Response())
				if err != nil {
					return err
				}
				res.Before(func() { res.Header().Set("X-Before", fmt.Sprint("status ", res.Status)) })
				return next(c)
			}
		}, check: adaptertest.Field101("X-Before", "status 101")},
		// The switched connections outlive the request's deadline.
		{name: "ContextTimeout", mw: middleware.ContextTimeout(20 * time.Millisecond), pause: 80 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newApp(t, tt.mw).server()
			sw := adaptertest.SwitchAll(t, s, tt.header, tt.pause)
			if tt.check != nil {
				tt.check(t, s, sw)
			}
		})
	}
}

// hidingWriter replaces c.Response() with a writer that neither hijacks
// nor unwraps, as a careless middleware might.
func hidingWriter(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		c.SetResponse(struct{ http.ResponseWriter }{c.Response()})
		return next(c)
	}
}

// Behind a middleware whose writer cannot hijack, the upgrade is refused
// with 500 and a reason that says so, and nothing switches.
func TestHidingWriterCannotHijack(t *testing.T) {
	t.Parallel()
	a := newApp(t, hidingWriter)
	wantWords := []string{"Hijack", "Unwrap", "middleware"}

	adaptertest.WantCannotHijack(t, a.url, a.n, wantWords...)
}

// hijackOnly replaces c.Response() with a writer that hijacks but does not
// unwrap, which hides Echo's *echo.Response from everything after it.
type hijackOnly struct{ http.ResponseWriter }

func (w hijackOnly) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Behind a middleware whose writer hijacks but does not unwrap, the
// switches work, but Echo's response cannot be found to be committed: a
// request logger in front logs 200, not 101.
func TestHijackOnlyWriterHidesTheResponse(t *testing.T) {
	t.Parallel()
	out := new(testkit.LockedBuffer)
	logger := middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true,
		LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
			fmt.Fprintf(out, "%s %s %d\n", v.Method, v.URI, v.Status)
			return nil
		},
	})
	hide := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c *echo.Context) error {
			c.SetResponse(hijackOnly{c.Response()})
			return next(c)
		}
	}
	s := newApp(t, logger, hide).server()
	adaptertest.SwitchAll(t, s, nil, 0)
	testkit.WaitFor(t, "GET /ws and GET /any logged", func() bool {
		return strings.Contains(out.String(), "GET /ws ") && strings.Contains(out.String(), "GET /any ")
	})
	for _, l := range []string{"GET /ws 200\n", "GET /any 200\n"} {
		if !strings.Contains(out.String(), l) {
			t.Errorf("request log %q, want %q", out.String(), l)
		}
	}
}

// Over HTTP/2 (RFC 8441 extended CONNECT), a real WebSocket at the
// Handler and a real echo/1 through the middleware switch through each of
// Echo's own middleware in front as they do over HTTP/1.1. Gzip leaves the
// streams alone (the 200 and the protocol's bytes pass by its writer, as a
// hijack does), RequestLogger logs 200 once the streams end, and
// BodyLimit and BodyDump, which would count a stream's bytes as a body,
// let the streams through behind Middleware, with a Skipper for Handler's
// route.
func TestXConnectThroughEchoMiddleware(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		requestLoggerOut := new(testkit.LockedBuffer)
		logged := func(buf *testkit.LockedBuffer) func(*testing.T) {
			return func(t *testing.T) {
				testkit.WaitFor(t, "CONNECT /ws 200 and CONNECT /any 200 logged", func() bool {
					return strings.Contains(buf.String(), "CONNECT /ws 200\n") && strings.Contains(buf.String(), "CONNECT /any 200\n")
				})
			}
		}
		tests := []struct {
			name   string
			mw     echo.MiddlewareFunc
			header http.Header // sent with each extended CONNECT
			pause  time.Duration
			check  func(*testing.T)
			behind bool // mounted behind Middleware, not in front of it
		}{
			{name: "none", mw: func(next echo.HandlerFunc) echo.HandlerFunc { return next }},
			{name: "Gzip", mw: middleware.Gzip(), header: http.Header{"Accept-Encoding": {"gzip"}}},
			{name: "RequestLogger",
				mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
					LogStatus: true, LogURI: true, LogMethod: true,
					LogValuesFunc: func(c *echo.Context, v middleware.RequestLoggerValues) error {
						fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
						return nil
					},
				}),
				check: logged(requestLoggerOut)},
			{name: "Recover", mw: middleware.Recover()},
			{name: "Decompress", mw: middleware.Decompress()},
			{name: "BodyLimit behind, with a Skipper", mw: middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
				LimitBytes: 1024,
				Skipper:    handlerRoutes,
			}), behind: true},
			{name: "BodyDump behind, with a Skipper", mw: middleware.BodyDumpWithConfig(middleware.BodyDumpConfig{
				Handler: func(*echo.Context, []byte, []byte, error) {},
				Skipper: handlerRoutes,
			}), behind: true},
			{name: "ContextTimeout", mw: middleware.ContextTimeout(20 * time.Millisecond), pause: 80 * time.Millisecond},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				app := adaptertest.NewApp(t)
				_, _, e := newParts(t)
				if tt.behind {
					e.Use(echoadapter.Middleware(app.N, app.AnyPath), tt.mw)
				} else {
					e.Use(tt.mw, echoadapter.Middleware(app.N, app.AnyPath))
				}
				e.Any("/ws", echoadapter.Handler(app.N, app.WS))
				srv := testkit.StartH2Server(t, e, app.N, useTLS)
				adaptertest.XConnectAll(t, srv, app.N, tt.header, tt.pause)
				if tt.check != nil {
					tt.check(t)
				}
			})
		}
		// A net/http middleware around the app whose writer encodes what
		// goes through it is passed by too: the switch goes to the writer
		// under every wrapper, Echo's and the server's.
		t.Run("net/http gzip around Echo", func(t *testing.T) {
			t.Parallel()
			app := adaptertest.NewApp(t)
			_, _, e := newParts(t)
			e.Use(echoadapter.Middleware(app.N, app.AnyPath))
			e.Any("/ws", echoadapter.Handler(app.N, app.WS))
			srv := testkit.StartH2Server(t, adaptertest.Gzipped(e), app.N, useTLS)
			adaptertest.XConnectAll(t, srv, app.N, http.Header{"Accept-Encoding": {"gzip"}}, 0)
		})
		// Without the Skipper, BodyLimit ends a stream once more than its
		// limit came in, as the package documentation says.
		t.Run("BodyLimit", func(t *testing.T) {
			t.Parallel()
			app := adaptertest.NewApp(t)
			_, _, e := newParts(t)
			e.Use(middleware.BodyLimit(1024))
			e.Use(echoadapter.Middleware(app.N, app.AnyPath))
			srv := testkit.StartH2Server(t, e, app.N, useTLS)
			st, _ := adaptertest.XDial(t, adaptertest.XClient(t, srv), srv.URL+"/any", "echo/1", nil)
			adaptertest.WantStreamEnds(t, st)
		})
	})
}

// The middleware switches on every route: here echo/1, a custom protocol
// that writes back every byte. Plain requests go on to Echo's routes.
func ExampleMiddleware() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	e := echo.New()
	e.Use(echoadapter.Middleware(n, reg))
	e.GET("/hello", func(c *echo.Context) error { return c.String(http.StatusOK, "plain hello") })

	srv := httptest.NewServer(e)
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, resp, err := negotiate.Dial(context.Background(), srv.URL+"/hello", []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Println(resp.Status, "to", resp.Header.Get("Upgrade"))
	fmt.Fprint(conn, "hello")
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf))
	// Output:
	// 101 Switching Protocols to echo/1
	// hello
}

// A route that requires an upgrade answers anything else with 426, naming
// the protocols it would switch to.
func ExampleHandler() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("chat/1", func(c *negotiate.Conn) error { return nil })
	e := echo.New()
	e.GET("/chat", echoadapter.Handler(n, reg))

	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL + "/chat")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println("Upgrade:", resp.Header.Get("Upgrade"))
	// Output:
	// 426 Upgrade Required
	// Upgrade: chat/1
}

// ToMiddleware validates the config and returns its error, where
// MiddlewareWithConfig would panic. The Skipper leaves some requests to
// the next handler without looking at their Upgrade header.
func ExampleConfig_ToMiddleware() {
	_, err := echoadapter.Config{}.ToMiddleware()
	fmt.Println(err)

	n, _ := negotiate.New(nil) // nil options cannot fail
	mw, err := echoadapter.Config{
		Negotiator: n,
		Registry:   new(negotiate.Registry),
		Skipper:    func(c *echo.Context) bool { return c.Path() == "/metrics" },
	}.ToMiddleware()
	fmt.Println(mw != nil, err)
	// Output:
	// echoadapter: Config needs a Negotiator and a Registry
	// true <nil>
}

// Tied to the server that serves Echo, the negotiator's shutdown starts
// with the server's: it cancels each switched connection's Context, and
// the protocol ends the connection its own way (here: it stops reading and
// returns); n.Shutdown waits for them.
func Example_shutdown() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		ctx := c.Context()
		stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
		defer stop()
		_, err := io.Copy(c, c)
		if ctx.Err() != nil {
			return nil // shut down
		}
		return err
	})
	e := echo.New()
	e.Use(middleware.Recover())
	e.Use(echoadapter.Middleware(n, reg))
	srv := &http.Server{Handler: e}
	n.RegisterOnShutdown(srv)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	conn, _, err := negotiate.Dial(context.Background(), "http://"+ln.Addr().String(), []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	if err := srv.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(conn) // the end of the stream
	fmt.Printf("read %q, %v\n", b, err)
	conn.Close()
	if err := n.Shutdown(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(errors.Is(<-served, http.ErrServerClosed))
	fmt.Println("active:", n.Stats().Active["echo"])
	// Output:
	// read "", <nil>
	// true
	// active: 0
}

// A WebSocket route behind Echo's middleware: the negotiator writes the 101
// from c.Response()'s header, so the X-Request-Id that RequestID sets is
// sent with it.
func Example_webSocket() {
	n, _ := negotiate.New(nil) // nil options cannot fail
	greet, err := websocket.New(nil, func(c *websocket.Conn) error {
		return c.WriteMessage(gws.TextMessage, []byte("hello from behind Echo's middleware"))
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", greet)

	e := echo.New()
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: func() string { return "req-1" }}))
	e.Any("/ws", echoadapter.Handler(n, reg))

	srv := httptest.NewServer(e)
	defer srv.Close()
	defer n.Shutdown(context.Background())

	d := gws.Dialer{HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fmt.Println(resp.Status, "X-Request-Id:", resp.Header.Get("X-Request-Id"))
	_, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(msg))
	_, _, err = c.ReadMessage() // the handler returned: the server closes with 1000
	fmt.Println(err)
	// Output:
	// 101 Switching Protocols X-Request-Id: req-1
	// hello from behind Echo's middleware
	// websocket: close 1000 (normal)
}

// Served by echo.StartConfig, the negotiator is tied to the server Echo
// makes in BeforeServeFunc: the end of Start's context shuts the server
// down, and with it the switched connections (WebSocket close 1001).
func TestStartConfigShutdown(t *testing.T) {
	t.Parallel()
	n, _, e := newParts(t)
	ws := new(negotiate.Registry)
	ws.Register("websocket", adaptertest.WSEcho(t))
	e.Any("/ws", echoadapter.Handler(n, ws))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := echo.StartConfig{
		Listener: ln, HideBanner: true, HidePort: true, GracefulTimeout: testkit.Timeout,
		BeforeServeFunc: func(s *http.Server) error {
			n.RegisterOnShutdown(s)
			return nil
		},
	}
	served := make(chan error, 1)
	go func() { served <- sc.Start(ctx, e) }()

	c, _ := wstest.Dial(t, nil, wstest.URL("http://"+ln.Addr().String(), "/ws"), nil)
	wstest.WantEcho(t, c, gws.TextMessage, []byte("before shutdown"))
	cancel()
	wstest.WantClose(t, c, gws.CloseGoingAway)
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-time.After(testkit.Timeout):
		t.Fatal("Start did not return after its context ended")
	}
	sctx, scancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer scancel()
	if err := n.Shutdown(sctx); err != nil {
		t.Errorf("waiting for the switched connections: %v", err)
	}
}

// A Negotiator not made by negotiate.New is refused when the mount is
// made, by ToMiddleware with an error and by the panicking forms with a
// message, instead of failing inside the first upgrade request (a nil
// map, a nil Responder).
func TestZeroNegotiatorRefusedAtMount(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	zero := new(negotiate.Negotiator)
	if mw, err := (echoadapter.Config{Negotiator: zero, Registry: reg}).ToMiddleware(); err == nil || mw != nil {
		t.Errorf("ToMiddleware with a zero Negotiator = %v, %v; want an error", mw != nil, err)
	} else if !strings.Contains(err.Error(), "not made by New") {
		t.Errorf("ToMiddleware's error %q does not say what is wrong", err)
	}
	for name, f := range map[string]func(){
		"Middleware": func() { echoadapter.Middleware(zero, reg) },
		"Handler":    func() { echoadapter.Handler(zero, reg) },
	} {
		msg := func() (msg string) {
			defer func() { msg = fmt.Sprint(recover()) }()
			f()
			return
		}()
		if !strings.Contains(msg, "not made by New") {
			t.Errorf("%s with a zero Negotiator: panic %q, want one that says what is wrong", name, msg)
		}
	}
}
