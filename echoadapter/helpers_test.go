package echoadapter_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/negotiate"
)

// wait bounds every network wait of the tests.
const wait = 10 * time.Second

// echoStream is echo/1: every byte comes back.
func echoStream(c *negotiate.Conn) error {
	_, err := io.Copy(c, c)
	return err
}

// wsEcho is a WebSocket echo on gorilla through the negotiator's Handshake,
// as the websocket package builds it: gorilla writes its own 101 with the
// ResponseWriter's header, refusals go through negotiate.Refuse, and the
// shutdown sends close 1001.
func wsEcho() negotiate.Protocol {
	up := gws.Upgrader{
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			negotiate.Refuse(w, r, negotiate.Refusal(status, reason.Error()))
		},
	}
	return negotiate.Protocol{Handshake: func(w http.ResponseWriter, r *http.Request) error {
		ws, err := up.Upgrade(w, r, w.Header())
		if err != nil {
			return nil // refused through the negotiator
		}
		defer ws.Close()
		if nc, ok := ws.NetConn().(*negotiate.Conn); ok {
			nc.OnShutdown(func() {
				_ = ws.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseGoingAway, ""), time.Now().Add(time.Second))
			})
		}
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil {
				return err
			}
			if err := ws.WriteMessage(typ, msg); err != nil {
				return err
			}
		}
	}}
}

// ctxWatch is ctx/1: it writes "cancelled" once the connection's context
// ends, and closes the connection its own way on shutdown (by returning).
func ctxWatch(c *negotiate.Conn) error {
	c.OnShutdown(func() {})
	<-c.Context().Done()
	_, err := io.WriteString(c, "cancelled")
	return err
}

func newNegotiator(t *testing.T, opts *negotiate.Options) *negotiate.Negotiator {
	t.Helper()
	n, err := negotiate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("negotiator shutdown: %v", err)
		}
	})
	return n
}

// testApp is an Echo app with the adapter behind the middleware under test.
type testApp struct {
	e      *echo.Echo
	n      *negotiate.Negotiator
	srv    *httptest.Server
	url    string // http://HOST:PORT
	errLog *lockedBuffer
}

// newApp builds e with front in front of everything (e.Use), then the
// adapter's middleware with echo/1 and ctx/1 on any path, WebSocket
// required on /ws, and plain routes GET /plain and POST /body. The server
// is Echo's own e.Server, so e.Shutdown is the server's shutdown, and its
// ErrorLog is kept.
func newApp(t *testing.T, front ...echo.MiddlewareFunc) *testApp {
	t.Helper()
	n := newNegotiator(t, nil)
	anyPath := new(negotiate.Registry)
	if err := anyPath.HandleFunc("echo/1", echoStream); err != nil {
		t.Fatal(err)
	}
	if err := anyPath.HandleFunc("ctx/1", ctxWatch); err != nil {
		t.Fatal(err)
	}
	ws := new(negotiate.Registry)
	if err := ws.Register("websocket", wsEcho()); err != nil {
		t.Fatal(err)
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.Use(front...)
	e.Use(echoadapter.Middleware(n, anyPath))
	e.GET("/ws", echoadapter.Handler(n, ws))
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

// startApp serves e from e.Server on loopback.
func startApp(t *testing.T, e *echo.Echo, n *negotiate.Negotiator) *testApp {
	t.Helper()
	a := &testApp{e: e, n: n, errLog: new(lockedBuffer)}
	e.Server.Handler = e
	e.Server.ErrorLog = log.New(a.errLog, "", 0)
	a.srv = httptest.NewUnstartedServer(e)
	a.srv.Config = e.Server
	a.srv.Start()
	a.url = a.srv.URL
	t.Cleanup(func() {
		a.srv.Close()
		http.DefaultClient.CloseIdleConnections()
		if s := a.errLog.String(); strings.Contains(s, "hijacked") {
			t.Errorf("server log: %q, want nothing written to a hijacked connection", s)
		}
	})
	return a
}

func (a *testApp) addr() string { return strings.TrimPrefix(a.url, "http://") }

// dialWS opens a WebSocket to path with gorilla's client.
func (a *testApp) dialWS(t *testing.T, path string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	d := gws.Dialer{HandshakeTimeout: wait}
	c, resp, err := d.Dial("ws://"+a.addr()+path, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(wait))
	return c, resp
}

// dial switches a connection to token on path with negotiate.Dial.
func (a *testApp) dial(t *testing.T, path, token string, h http.Header) (net.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := negotiate.Dial(ctx, a.url+path, []string{token}, h)
	if err != nil {
		t.Fatalf("dial %s on %s: %v", token, path, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(wait))
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
func streamRoundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo/1 read: %v", err)
	}
	if string(got) != msg {
		t.Errorf("echo/1: got %q, want %q", got, msg)
	}
}

// get sends a plain request and returns the status, body and header.
func get(t *testing.T, method, url string, h http.Header) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
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

// lockedBuffer is a bytes.Buffer written by the server and read by tests.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond until it holds or the wait ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
