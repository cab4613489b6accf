package echoadapter_test

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/switchyard-http/switchyard/echoadapter/v5"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// wsEcho is the real WebSocket engine, echoing each message with its type.
func wsEcho(t *testing.T) negotiate.Protocol {
	t.Helper()
	p, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// h2cProto is the real h2c engine.
func h2cProto(t *testing.T) negotiate.Protocol {
	t.Helper()
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ctxWatch is ctx/1: it answers each byte with "alive" while the
// connection's context lives, and writes "cancelled" once it ends, its own
// goodbye at a shutdown.
func ctxWatch(c *negotiate.Conn) error {
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
// adapter's middleware with echo/1, ctx/1 and h2c on any path, the real
// WebSocket engine required on /ws, and plain routes GET /plain and POST
// /body. The negotiator is tied to the app's server, whose ErrorLog is
// kept.
func newApp(t *testing.T, front ...echo.MiddlewareFunc) *testApp {
	t.Helper()
	n, anyPath, e := newParts(t)
	anyPath.HandleFunc("ctx/1", ctxWatch)
	anyPath.Register("h2c", h2cProto(t))
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho(t))

	e.Use(front...)
	e.Use(echoadapter.Middleware(n, anyPath))
	e.Any("/ws", echoadapter.Handler(n, ws))
	e.GET("/plain", func(c *echo.Context) error { return c.String(http.StatusOK, "plain "+c.Request().Proto) })
	e.POST("/body", echoBody)
	return startApp(t, e, n)
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

// dialH2C upgrades a new connection to h2c with GET path (and extra
// header lines), and fails the test unless it switched.
func (a *testApp) dialH2C(t *testing.T, path string, extra ...string) (*h2ctest.Client, *h2ctest.Response, net.Conn) {
	t.Helper()
	conn := testkit.DialTCP(t, a.addr())
	cl, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", path, a.addr(), extra...), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade: %v, switched=%v", err, first != nil)
	}
	return cl, first, conn
}

// streamRoundTrip writes msg on an echo/1 connection and wants it back.
func streamRoundTrip(t *testing.T, c io.ReadWriter, msg string) {
	t.Helper()
	if got := testkit.RoundTrip(t, c, msg); got != msg {
		t.Errorf("echo/1: got %q, want %q", got, msg)
	}
}

// get sends a plain request and returns the status, body and header.
func get(t *testing.T, method, url string, h http.Header) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}
