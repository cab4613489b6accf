// Package demoserver is examples/server's configuration, built in process
// from the same public packages and the same examples/demoapp, for the
// tests and tools that cannot run the program itself because they need
// hooks it has not got: the hostile handshake table checks what each case
// leaves behind (http.Server.ConnState, Negotiator.Stats), the interop
// servers read switch counts, vary server settings and record what a proxy
// forwarded, and the soak's server measures its own memory. Whatever can
// run the real program does (testkit.StartProgram); the hostile table runs
// against both, which keeps this copy of the wiring true to the program's.
package demoserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// ShutdownGrace bounds a whole shutdown, as examples/server's does.
const ShutdownGrace = 8 * time.Second

// Options returns examples/server's negotiator options, logging to logger
// (nil: silent): demoapp.DefaultLimits' MaxConns and ShutdownGrace. A
// caller that needs more switched connections (the soak) raises MaxConns.
func Options(logger *slog.Logger) *negotiate.Options {
	return &negotiate.Options{Logger: logger, ShutdownTimeout: ShutdownGrace, MaxConns: demoapp.DefaultLimits().MaxConns}
}

// Routes registers examples/server's protocols on n and returns them as
// the program mounts them: anyPath (h2c and echo/1) for n.Middleware
// around the mux, and the mux with the plain routes (GET /, GET /proto,
// POST /echo, GET /stats) and the WebSocket endpoints (echo at /ws, the
// chat room speaking chat.v1 at /chat; 426 for anything else there). A
// caller may add routes to the mux before it serves.
func Routes(n *negotiate.Negotiator) (anyPath *negotiate.Registry, mux *http.ServeMux, err error) {
	anyPath = new(negotiate.Registry)
	h2cProto, err := h2c.New(nil) // streams are served by the server's handler
	if err != nil {
		return nil, nil, err
	}
	anyPath.Register("h2c", h2cProto)
	anyPath.HandleFunc("echo/1", demoapp.EchoStream)

	wsEcho, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, demoapp.EchoMessages)
	if err != nil {
		return nil, nil, err
	}
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho)

	wsChat, err := new(demoapp.Room).WebSocket() // subprotocol chat.v1
	if err != nil {
		return nil, nil, err
	}
	chat := new(negotiate.Registry)
	chat.Register("websocket", wsChat)

	mux = http.NewServeMux()
	mux.HandleFunc("GET /{$}", demoapp.ServePage)
	mux.HandleFunc("GET /proto", demoapp.ServeProto)
	mux.HandleFunc("POST /echo", demoapp.EchoBody)
	mux.Handle("GET /stats", demoapp.StatsHandler(n))
	mux.Handle("/ws", n.Endpoint(ws))
	mux.Handle("/chat", n.Endpoint(chat))
	return anyPath, mux, nil
}

// Handler is examples/server's handler: Routes, with anyPath's middleware
// around the mux, so that h2c and echo/1 switch on every path.
func Handler(n *negotiate.Negotiator) (http.Handler, error) {
	anyPath, mux, err := Routes(n)
	if err != nil {
		return nil, err
	}
	return n.Middleware(anyPath)(mux), nil
}

// Server returns a server for h set up as examples/server's (see
// Configure), with n's shutdown started by the server's.
func Server(n *negotiate.Negotiator, h http.Handler, errorLog *log.Logger) *http.Server {
	srv := &http.Server{Handler: h, ErrorLog: errorLog}
	Configure(srv)
	n.RegisterOnShutdown(srv)
	return srv
}

// Configure gives srv examples/server's settings: a 5 s
// ReadHeaderTimeout, demoapp.DefaultLimits' RequestTimeout as ReadTimeout
// and WriteTimeout (which the negotiator clears at the switch) and its
// IdleTimeout (which h2c takes for upgraded connections), and HTTP/2 with
// prior knowledge (h2c.ConfigureServer: net/http then peeks at the first
// 14 bytes of every connection for the preface, one read more each).
// wsload runs its peer servers with them too, so that only the WebSocket
// stack differs.
func Configure(srv *http.Server) {
	lim := demoapp.DefaultLimits()
	srv.ReadHeaderTimeout = 5 * time.Second
	srv.ReadTimeout = lim.RequestTimeout
	srv.WriteTimeout = lim.RequestTimeout
	srv.IdleTimeout = lim.IdleTimeout
	h2c.ConfigureServer(srv)
}

// Shutdown shuts srv and n down as examples/server does at SIGTERM, within
// ShutdownGrace: srv.Shutdown lets plain requests finish (srv is closed if
// they do not in time), then n.Shutdown waits for the switched
// connections, which net/http does not track. It reports what the
// deadline cut short, nil when nothing. The caller still waits for
// srv.Serve to return.
func Shutdown(srv *http.Server, n *negotiate.Negotiator) error {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	var errs []error
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		errs = append(errs, fmt.Errorf("plain requests cut short: %w", err))
	}
	if err := n.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("switched connections closed at the deadline: %w", err))
	}
	return errors.Join(errs...)
}
