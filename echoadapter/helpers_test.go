package echoadapter_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// wsEcho is the real WebSocket engine, echoing each message with its type.
func wsEcho(t *testing.T) negotiate.Protocol {
	t.Helper()
	p, err := websocket.New(nil, func(c *websocket.Conn) error {
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return err
			}
		}
	})
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

// echoUntilShutdown is echo/1 as a protocol should write it: every byte
// comes back until the client ends its stream or the connection's context
// ends (a shutdown), when it stops reading and returns, and the negotiator
// closes the connection.
func echoUntilShutdown(c *negotiate.Conn) error {
	ctx := c.Context()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	_, err := io.Copy(c, c)
	if ctx.Err() != nil {
		return nil
	}
	return err
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

// testApp is an Echo app served from its own e.Server on loopback.
type testApp struct {
	e      *echo.Echo
	n      *negotiate.Negotiator
	url    string // http://HOST:PORT
	errLog *testkit.LockedBuffer
}

// newApp builds e with front in front of everything (e.Use), then the
// adapter's middleware with echo/1, ctx/1 and h2c on any path, the real
// WebSocket engine required on /ws, and plain routes GET /plain and POST
// /body. The server is Echo's own e.Server, so e.Shutdown is the server's
// shutdown, and its ErrorLog is kept.
func newApp(t *testing.T, front ...echo.MiddlewareFunc) *testApp {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	anyPath := new(negotiate.Registry)
	anyPath.HandleFunc("echo/1", echoUntilShutdown)
	anyPath.HandleFunc("ctx/1", ctxWatch)
	anyPath.Register("h2c", h2cProto(t))
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho(t))

	e := newEcho()
	e.Use(front...)
	e.Use(echoadapter.Middleware(n, anyPath))
	e.Any("/ws", echoadapter.Handler(n, ws))
	e.GET("/plain", func(c echo.Context) error { return c.String(http.StatusOK, "plain "+c.Request().Proto) })
	e.POST("/body", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	})
	n.RegisterOnShutdown(e.Server)
	return startApp(t, e, n)
}

// newEcho is an Echo that prints nothing.
func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	return e
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

// dialWS opens a WebSocket to path with gorilla's client, which checks
// Sec-WebSocket-Accept.
func (a *testApp) dialWS(t *testing.T, path string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	d := gws.Dialer{HandshakeTimeout: testkit.Timeout}
	c, resp, err := d.Dial("ws://"+a.addr()+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	return c, resp
}

// wsRoundTrip sends msg as typ and wants it back unchanged.
func wsRoundTrip(t *testing.T, c *gws.Conn, typ int, msg string) {
	t.Helper()
	if err := c.WriteMessage(typ, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	gotTyp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	if gotTyp != typ || string(got) != msg {
		t.Errorf("websocket echo: got type %d %q, want type %d %q", gotTyp, got, typ, msg)
	}
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
