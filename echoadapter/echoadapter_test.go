package echoadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testApp is an Echo app served from its own e.Server on loopback.
type testApp struct {
	e      *echo.Echo
	n      *negotiate.Negotiator
	url    string // http://HOST:PORT
	errLog *testkit.LockedBuffer
}

// newApp builds e with front in front of everything (e.Use), then the
// parts of adaptertest.NewApp mounted as adaptertest.App says. The server
// is Echo's own e.Server, so e.Shutdown is the server's shutdown, and its
// ErrorLog is kept.
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
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain "+c.Request().Proto) })
	e.POST("/body", echoBody)
	app.N.RegisterOnShutdown(e.Server)
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
				LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
					app.Logged(v.Status)
					return nil
				},
			}))
		}
		if app.Seen != nil {
			front = append(front, middleware.ContextTimeout(time.Minute), func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
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
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	return testkit.NewNegotiator(t, nil), reg, e
}

// echoBody answers a request's body.
func echoBody(c echo.Context) error {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, string(b))
}

// startApp serves e from e.Server on loopback, as e.Start would: the
// server's Handler is e.
func startApp(t *testing.T, e *echo.Echo, n *negotiate.Negotiator) *testApp {
	t.Helper()
	a := &testApp{e: e, n: n, errLog: new(testkit.LockedBuffer)}
	e.Server.Handler = e
	e.Server.ErrorLog = log.New(a.errLog, "", 0)
	srv := httptest.NewUnstartedServer(e)
	srv.Config = e.Server
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
	return &adaptertest.Server{URL: a.url, N: a.n, Shutdown: a.e.Shutdown}
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
		Skipper:    func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/skip") },
	}))
	e.GET("/skip", func(c echo.Context) error { return c.String(http.StatusOK, "skipped") })
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
			e.GET("/proto", func(c echo.Context) error { return c.String(http.StatusOK, c.Request().Proto) })
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
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain") })
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
		return func(c echo.Context) error {
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
	loggerOut, requestLoggerOut := new(testkit.LockedBuffer), new(testkit.LockedBuffer)
	tests := []struct {
		name   string
		mw     echo.MiddlewareFunc
		header http.Header // sent with each upgrade request
		pause  time.Duration
		check  adaptertest.Check
	}{
		{name: "Logger",
			//lint:ignore SA1019 Echo's Logger is deprecated but still in use; it must log 101 too
			mw:    middleware.LoggerWithConfig(middleware.LoggerConfig{Format: "${method} ${uri} ${status}\n", Output: loggerOut}),
			check: adaptertest.LoggedSwitches(loggerOut)},
		{name: "RequestLogger",
			mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
				LogStatus: true, LogURI: true, LogMethod: true, HandleError: true,
				LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
					fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
					return nil
				},
			}),
			check: adaptertest.LoggedSwitches(requestLoggerOut)},
		{name: "Recover", mw: middleware.Recover()},
		{name: "Secure", mw: middleware.Secure(), check: adaptertest.All(adaptertest.Field101("X-Frame-Options", "SAMEORIGIN"), adaptertest.NoField101("X-Content-Type-Options"))},
		{name: "Content fields", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if negotiate.IsUpgrade(c.Request()) {
					h := c.Response().Header()
					h.Set("Content-Type", "text/plain")
					h.Set("Content-Length", "12")
					h.Set("X-Kept", "yes")
				}
				return next(c)
			}
		}, check: adaptertest.All(adaptertest.NoField101("Content-Type"), adaptertest.NoField101("Content-Length"), adaptertest.Field101("X-Kept", "yes"))},
		{name: "CORS", mw: middleware.CORS(), header: http.Header{"Origin": {"ORIGIN"}}, check: adaptertest.Field101("Access-Control-Allow-Origin", "*")},
		{name: "BodyLimit", mw: middleware.BodyLimit("1K"), check: adaptertest.BodyLimited},
		{name: "RequestID", mw: middleware.RequestID(), check: adaptertest.Field101(echo.HeaderXRequestID, "")},
		{name: "Gzip", mw: middleware.Gzip(), header: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "Decompress", mw: middleware.Decompress()},
		{name: "BodyDump", mw: middleware.BodyDump(func(echo.Context, []byte, []byte) {})},
		{name: "Response.Before", mw: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				res := c.Response()
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

// Echo's deprecated Timeout middleware runs handlers behind
// http.TimeoutHandler, whose writer cannot hijack: the upgrade is refused
// with 500 and a reason that says so, and nothing switches.
func TestTimeoutMiddlewareCannotHijack(t *testing.T) {
	t.Parallel()
	//lint:ignore SA1019 the deprecated Timeout middleware is the one under test: it cannot hijack, and the refusal says so
	a := newApp(t, middleware.TimeoutWithConfig(middleware.TimeoutConfig{Timeout: testkit.Timeout}))
	wantWords := []string{"Timeout middleware", "ContextTimeout", "Hijack"}

	adaptertest.WantCannotHijack(t, a.url, a.n, wantWords...)
}

// Over HTTP/2 (RFC 8441 extended CONNECT), a real WebSocket at the
// Handler and a real echo/1 through the middleware switch through each of
// Echo's own middleware in front as they do over HTTP/1.1. Gzip leaves the
// streams alone (the 200 and the protocol's bytes pass by its writer, as a
// hijack does), the loggers log 200 once the streams end, and BodyLimit
// and BodyDump, which would count a stream's bytes as a body, let the
// streams through behind Middleware, with a Skipper for Handler's route.
func TestXConnectThroughEchoMiddleware(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		loggerOut, requestLoggerOut := new(testkit.LockedBuffer), new(testkit.LockedBuffer)
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
			{name: "Logger",
				//lint:ignore SA1019 Echo's Logger is deprecated but still in use; it must log the 200 too
				mw:    middleware.LoggerWithConfig(middleware.LoggerConfig{Format: "${method} ${uri} ${status}\n", Output: loggerOut}),
				check: logged(loggerOut)},
			{name: "RequestLogger",
				mw: middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
					LogStatus: true, LogURI: true, LogMethod: true,
					LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
						fmt.Fprintf(requestLoggerOut, "%s %s %d\n", v.Method, v.URI, v.Status)
						return nil
					},
				}),
				check: logged(requestLoggerOut)},
			{name: "Recover", mw: middleware.Recover()},
			{name: "Decompress", mw: middleware.Decompress()},
			{name: "BodyLimit behind, with a Skipper", mw: middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
				Limit:   "1K",
				Skipper: handlerRoutes,
			}), behind: true},
			{name: "BodyDump behind, with a Skipper", mw: middleware.BodyDumpWithConfig(middleware.BodyDumpConfig{
				Handler: func(echo.Context, []byte, []byte) {},
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
			e.Use(middleware.BodyLimit("1K"))
			e.Use(echoadapter.Middleware(app.N, app.AnyPath))
			srv := testkit.StartH2Server(t, e, app.N, useTLS)
			st, _ := adaptertest.XDial(t, adaptertest.XClient(t, srv), srv.URL+"/any", "echo/1", nil)
			adaptertest.WantStreamEnds(t, st)
		})
		// The deprecated Timeout middleware's writer cannot set a stream's
		// deadlines: the switch is refused with 500 and a reason.
		t.Run("Timeout", func(t *testing.T) {
			t.Parallel()
			app := adaptertest.NewApp(t)
			_, _, e := newParts(t)
			//lint:ignore SA1019 the deprecated Timeout middleware is the one under test
			e.Use(middleware.TimeoutWithConfig(middleware.TimeoutConfig{Timeout: testkit.Timeout}))
			e.Use(echoadapter.Middleware(app.N, app.AnyPath))
			srv := testkit.StartH2Server(t, e, app.N, useTLS)
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			st, resp, err := adaptertest.XClient(t, srv).Dial(ctx, srv.URL+"/any", "echo/1", nil)
			if st != nil {
				st.Close()
				t.Fatal("echo/1 switched behind the Timeout middleware")
			}
			if resp == nil || resp.StatusCode != http.StatusInternalServerError || !strings.Contains(err.Error(), "timeout handler") {
				t.Errorf("echo/1 behind the Timeout middleware: %v, want 500 with a reason that names a timeout handler", err)
			}
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
	e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "plain hello") })

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
		Skipper:    func(c echo.Context) bool { return c.Path() == "/metrics" },
	}.ToMiddleware()
	fmt.Println(mw != nil, err)
	// Output:
	// echoadapter: Config needs a Negotiator and a Registry
	// true <nil>
}

// Tied to Echo's server, the negotiator's shutdown starts with e.Shutdown:
// it cancels each switched connection's Context, and the protocol ends the
// connection its own way (here: it stops reading and returns); n.Shutdown
// waits for them.
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
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	e.Use(echoadapter.Middleware(n, reg))
	n.RegisterOnShutdown(e.Server)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	e.Listener = ln
	served := make(chan error, 1)
	go func() { served <- e.Start("") }()

	conn, _, err := negotiate.Dial(context.Background(), "http://"+ln.Addr().String(), []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	if err := e.Shutdown(context.Background()); err != nil {
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
