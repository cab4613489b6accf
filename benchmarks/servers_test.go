package benchmarks

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gws "github.com/gorilla/websocket"
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

// servers lists the peers; switchyard is added by switchyard_test.go.
var servers = []server{
	{"gorilla", gorillaHandler},
	{"gorilla+close", gorillaCloseHandler},
	{"coder", coderHandler},
	{"gobwas", gobwasHandler},
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

func shutdownContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
