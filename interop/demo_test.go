package interop_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// demoConfig is examples/server's configuration, built here from the
// public packages for the servers of these tests that need hooks the
// program has not got (what reached an instance behind nginx, switch
// counts, server settings): h2c and echo/1 in anyPath, to mount as
// middleware on every path, and on mux WebSocket echo at /ws, GET /proto,
// POST /echo and GET /stats.
func demoConfig(t *testing.T, n *negotiate.Negotiator) (anyPath *negotiate.Registry, mux *http.ServeMux) {
	t.Helper()
	anyPath = new(negotiate.Registry)
	h2cProto, err := h2c.New(nil) // streams are served by the server's handler
	if err != nil {
		t.Fatal(err)
	}
	anyPath.Register("h2c", h2cProto)
	anyPath.HandleFunc("echo/1", echoStream)
	wsEcho, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, echoLoop)
	if err != nil {
		t.Fatal(err)
	}
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho)

	mux = http.NewServeMux()
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, r.Proto)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		io.Copy(w, http.MaxBytesReader(w, r.Body, 16<<20))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s := n.Stats()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"active": s.Active, "switched": s.Switched, "refused": s.Refused})
	})
	mux.Handle("/ws", n.Endpoint(ws))
	return anyPath, mux
}

// echoStream is echo/1 as examples/server serves it: every byte back until
// the client ends its stream or the shutdown ends the connection's
// context; then it stops reading and returns, and the negotiator closes the
// connection without losing what was written.
func echoStream(c *negotiate.Conn) error {
	ctx := c.Context()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	_, err := io.CopyBuffer(c, c, make([]byte, 4<<10))
	if ctx.Err() != nil {
		return nil // shut down
	}
	return err
}
