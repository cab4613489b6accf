// Command echo is Switchyard's demo on Echo (github.com/labstack/echo/v4),
// through package echoadapter, and a complete program to copy: the same
// contract as examples/server — WebSocket echo and chat, h2c (by Upgrade
// and with prior knowledge), a custom echo/1 protocol, plain HTTP routes and
// live statistics on one port, with a graceful shutdown of every switched
// connection. Its wiring is all in this file: the negotiator, which
// protocol is registered and mounted where on Echo, and how the server is
// tied to the negotiator. What it serves (the protocols' serve funcs, the
// chat room, the page and the plain handlers) and the start-up every demo
// shares (flags, TLS, listener, listening line, signals, the shutdown's
// order: demoapp.Main and Config.Serve) is package examples/demoapp,
// shared with examples/server.
//
//	go run ./examples/echo [-addr 127.0.0.1:8080] [-max-conns 1000]
//		[-idle-timeout 2m] [-request-timeout 30s] [-tls | -cert FILE -key FILE] [-v]
//
// It is set up as a server facing the Internet should be, as
// examples/server is: at most -max-conns switched connections (WebSocket,
// h2c and echo/1 together; over it an upgrade gets 503 with Retry-After
// and plain requests are still served), keep-alive and upgraded h2c
// connections closed after -idle-timeout without a request, a plain
// request's head bounded by 5 s and the whole request and its answer by
// -request-timeout. Switched connections are not bound by the request
// timeout: the negotiator clears the server's deadlines when it switches.
// A WebSocket whose peer has vanished or stays silent is closed by the
// websocket package's keep-alive, on by default: a ping every 30 s and 30 s
// for an answer.
//
// It prints "listening on http://HOST:PORT" once it accepts connections
// (-addr 127.0.0.1:0 picks a free port), "listening on https://HOST:PORT"
// with -tls. SIGINT or SIGTERM shuts it down:
// WebSockets get close 1001, h2c connections GOAWAY, echo/1 connections are
// closed, plain requests in flight finish, and it exits 0 within ten
// seconds, even when peers do not answer.
//
// What reaches which route: the adapter's middleware (h2c and echo/1) is
// mounted with e.Use, so it runs before every route's handler. An offer of
// h2c or echo/1 switches on every path, /ws and /chat included. Only what
// it does not switch reaches the handlers; there /ws and /chat switch to
// WebSocket and answer everything else 426 Upgrade Required with Upgrade:
// websocket. An offer of a token nobody registered is served as ordinary
// HTTP elsewhere.
//
// # HTTPS, HTTP/2 and WebSockets over HTTP/2
//
// With -tls it serves HTTPS, HTTP/2 and HTTP/1.1 chosen by ALPN, with a
// self-signed certificate made at start for 127.0.0.1, ::1 and localhost
// (-cert and -key serve your own instead), as examples/server does; h2c
// is for cleartext connections only. Started with
//
//	GODEBUG=http2xconnect=1 go run ./examples/echo -tls
//
// Go's HTTP/2 server advertises extended CONNECT (RFC 8441), and /ws,
// /chat and echo/1 are served over HTTP/2 streams too, through the same
// registries, limits, statistics and shutdown; /stats counts them in
// over_h2. Why the environment variable (Go 1.26 and 1.27 read it when the
// program starts, so //go:debug cannot set it; Go 1.28 adds
// http.HTTP2Config.EnableConnectProtocol), why every WebSocket route must
// then go through a negotiator, and how to watch a browser use it: see
// examples/server's documentation.
package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/switchyard-http/switchyard/echoadapter"
	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// main takes the flags above and runs run until SIGINT or SIGTERM
// (demoapp.Main, which every demo shares).
func main() { demoapp.Main(run) }

// run serves the demo as cfg says until ctx ends, then shuts down
// gracefully: the negotiator with its limits and metrics, the protocols
// registered and mounted on Echo (newEcho), and the server, which
// cfg.Serve serves and shuts down. An http.Server of the program's serves
// e, an http.Handler, so that the demos share their server's set-up;
// with e.Start or e.StartServer, tie the negotiator to e.Server instead.
func run(ctx context.Context, cfg demoapp.Config) error {
	rec := metrics.NewRecorder() // GET /metrics: the negotiator's upgrades in the Prometheus text format
	n, err := rec.NewNegotiator(&negotiate.Options{Logger: cfg.Logger, ShutdownTimeout: demoapp.ShutdownGrace, MaxConns: cfg.Limits.MaxConns})
	if err != nil {
		return err
	}
	e, err := newEcho(n, rec, cfg.Log()) // cfg.Logger, or a logger that discards when it is nil
	if err != nil {
		return err
	}
	srv := cfg.HTTPServer(e)  // timeouts from cfg.Limits; the switch clears the request's for the switched connection
	h2c.ConfigureServer(srv)  // HTTP/2 with prior knowledge too, served by e
	n.RegisterOnShutdown(srv) // srv.Shutdown also starts closing the switched connections
	return cfg.Serve(ctx, srv, n)
}

// newEcho registers the protocols and mounts them on Echo:
//
//	any path   Upgrade: h2c (HTTP/2 then serves the same routes), Upgrade: echo/1
//	GET /      the chat page
//	/ws        WebSocket echo; 426 for anything that does not switch there
//	/chat      WebSocket chat room, subprotocol chat.v1; 426 likewise
//	GET /proto the request's protocol, HTTP/1.1 or HTTP/2.0
//	POST /echo the body back
//	GET /stats the negotiator's counts as JSON
//	GET /metrics the upgrades, connections and refusals for Prometheus
//
// The adapter's middleware runs before every route's handler, so h2c and
// echo/1 take precedence over every route, /ws and /chat included.
func newEcho(n *negotiate.Negotiator, rec *metrics.Recorder, logger *slog.Logger) (*echo.Echo, error) {
	anyPath := new(negotiate.Registry)
	h2cProto, err := h2c.New(nil) // streams are served by the server's Handler: e
	if err != nil {
		return nil, err
	}
	anyPath.Register("h2c", h2cProto)
	anyPath.HandleFunc("echo/1", demoapp.EchoStream)

	wsEcho, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, demoapp.EchoMessages)
	if err != nil {
		return nil, err
	}
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho)

	wsChat, err := new(demoapp.Room).WebSocket() // subprotocol chat.v1
	if err != nil {
		return nil, err
	}
	chat := new(negotiate.Registry)
	chat.Register("websocket", wsChat)

	e := echo.New()
	e.Logger.SetOutput(slog.NewLogLogger(logger.Handler(), slog.LevelWarn).Writer())

	e.Use(echoadapter.Middleware(n, anyPath))
	getOrHead := []string{http.MethodGet, http.MethodHead}
	e.Match(getOrHead, "/", func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, []byte(demoapp.Page)) })
	e.Match(getOrHead, "/proto", func(c echo.Context) error { return c.String(http.StatusOK, c.Request().Proto) })
	// net/http handlers run under Echo through echo.WrapHandler.
	e.POST("/echo", echo.WrapHandler(http.HandlerFunc(demoapp.EchoBody)))
	e.Match(getOrHead, "/stats", echo.WrapHandler(demoapp.StatsHandler(n)))
	e.Match(getOrHead, "/metrics", echo.WrapHandler(rec))
	// Any method: the WebSocket protocol answers a PUT with its own 405.
	e.Any("/ws", echoadapter.Handler(n, ws))
	e.Any("/chat", echoadapter.Handler(n, chat))
	return e, nil
}
