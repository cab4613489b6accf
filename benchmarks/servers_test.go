package benchmarks

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// A server is one WebSocket implementation behind a net/http handler. Every
// handler calls after(read) once the connection has switched, where read
// blocks reading one message from the client, and closes the connection
// when after returns: the handshake benchmark's after returns at once, the
// idle benchmark's blocks in read.
type server struct {
	name string
	// handler returns the handler and a func that releases what it holds
	// (nil if nothing).
	handler func(after func(read func() error)) (http.Handler, func(), error)
}

// start serves s's handler with after; see serve.
func (s server) start(tb testing.TB, after func(read func() error)) (*httptest.Server, func()) {
	tb.Helper()
	return serve(tb, func() (http.Handler, func(), error) { return s.handler(after) }, nil)
}

// servers lists the peers.
var servers = []server{
	{"switchyard", switchyardHandler},
	{"gorilla", gorillaHandler},
	{"gorilla+close", gorillaCloseHandler},
	{"coder", coderHandler},
	{"gobwas", gobwasHandler},
}

// switchyardHandler is the websocket protocol with its defaults behind a
// negotiator's endpoint, mounted as the README shows.
func switchyardHandler(after func(read func() error)) (http.Handler, func(), error) {
	p, err := websocket.New(nil, func(c *websocket.Conn) error {
		after(func() error { _, _, err := c.ReadMessage(); return err })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return negotiated("websocket", p, (*negotiate.Negotiator).Endpoint)
}

// gorillaHandler is gorilla's Upgrader used directly, with its defaults (the
// buffers net/http's hijack returns are reused).
func gorillaHandler(after func(read func() error)) (http.Handler, func(), error) {
	return gorillaServer(after, false), nil, nil
}

// gorillaCloseHandler is gorilla's Upgrader used directly by a handler
// that ends the WebSocket the way Switchyard's websocket protocol does when
// its handler returns: a 1000 close frame under a write deadline, then
// close. It separates the negotiator's cost from that of the close frame.
func gorillaCloseHandler(after func(read func() error)) (http.Handler, func(), error) {
	return gorillaServer(after, true), nil, nil
}

func gorillaServer(after func(read func() error), closeFrame bool) http.Handler {
	up := &gws.Upgrader{}
	closeNormal := gws.FormatCloseMessage(gws.CloseNormalClosure, "")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		after(func() error { _, _, err := c.ReadMessage(); return err })
		if closeFrame {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_ = c.WriteMessage(gws.CloseMessage, closeNormal)
		}
	})
}

// coderHandler is coder/websocket's Accept with its defaults; it reads with
// the request's context, as its examples do.
func coderHandler(after func(read func() error)) (http.Handler, func(), error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := cws.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		after(func() error { _, _, err := c.Read(r.Context()); return err })
	}), nil, nil
}

// gobwasHandler is gobwas/ws's UpgradeHTTP (it hijacks through net/http
// like the others) and its wsutil helpers.
func gobwasHandler(after func(read func() error)) (http.Handler, func(), error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		defer conn.Close()
		after(func() error { _, _, err := wsutil.ReadClientData(conn); return err })
	}), nil, nil
}

// idleCounter tracks the handlers blocked in read.
type idleCounter struct {
	reading atomic.Int64 // handlers about to block, or blocked, in read
	running atomic.Int64 // handlers that have switched and not returned
}

func (ic *idleCounter) after(read func() error) {
	ic.running.Add(1)
	defer ic.running.Add(-1)
	ic.reading.Add(1)
	_ = read()
	ic.reading.Add(-1)
}

// negotiated registers p as token with a new negotiator and returns the
// handler mount makes of them, and a func that shuts the negotiator down.
func negotiated(token string, p negotiate.Protocol, mount func(*negotiate.Negotiator, *negotiate.Registry) http.Handler) (http.Handler, func(), error) {
	n, err := negotiate.New(nil)
	if err != nil {
		return nil, nil, err
	}
	var reg negotiate.Registry
	reg.Register(token, p)
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}
	return mount(n, &reg), release, nil
}

// serve starts the handler newHandler returns on a loopback httptest
// server (configure, if not nil, sets up its http.Server first) and
// returns the server with a func that stops it: it closes the server and
// every client connection, releases what the handler holds, and waits
// until every goroutine started since serve was called has ended, so that
// nothing runs into the next test or sub-benchmark.
func serve(tb testing.TB, newHandler func() (http.Handler, func(), error), configure func(*http.Server)) (*httptest.Server, func()) {
	tb.Helper()
	before := runtime.NumGoroutine()
	h, release, err := newHandler()
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if configure != nil {
		configure(srv.Config)
	}
	srv.Start()
	return srv, func() {
		srv.CloseClientConnections()
		srv.Close()
		if release != nil {
			release()
		}
		testkit.WaitFor(tb, "the server's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	}
}
