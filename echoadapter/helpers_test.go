package echoadapter_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/internal/adaptertest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
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
