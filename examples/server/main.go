// Command server is Switchyard's demo, and a complete program to copy:
// WebSocket echo and chat, h2c (by Upgrade and with prior knowledge), a
// custom echo/1 protocol, plain HTTP routes and live statistics on one port,
// with a graceful shutdown of every switched connection. Its wiring is all
// in this file: the negotiator, which protocol is registered and mounted
// where, and how the server is tied to the negotiator. What it serves (the
// protocols' serve funcs, the chat room, the page and the plain handlers)
// and the start-up every demo shares (flags, TLS, listener, listening
// line, signals, the shutdown's order: demoapp.Main and Config.Serve) is
// package examples/demoapp, which examples/echo serves too.
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-max-conns 1000]
//		[-idle-timeout 2m] [-request-timeout 30s] [-tls | -cert FILE -key FILE] [-v]
//
// It is set up as a server facing the Internet should be, so that no
// client can hold what others need: at most -max-conns switched
// connections (WebSocket, h2c and echo/1 together; over it an upgrade gets
// 503 with Retry-After and plain requests are still served), keep-alive
// and upgraded h2c connections closed after -idle-timeout without a
// request, a plain request's head bounded by 5 s and the whole request and
// its answer by -request-timeout. Switched connections are not bound by
// the request timeout: the negotiator clears the server's deadlines when
// it switches.
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
// What reaches which route: the any-path middleware (h2c and echo/1) wraps
// the whole mux, so it sees every request before the mux routes it. An
// offer of h2c or echo/1 switches on every path, /ws and /chat included.
// Only what it does not switch reaches the routes; there /ws and /chat
// switch to WebSocket and answer everything else 426 Upgrade Required with
// Upgrade: websocket. An offer of a token nobody registered is served as
// ordinary HTTP elsewhere.
//
// # HTTPS, HTTP/2 and WebSockets over HTTP/2
//
// With -tls it serves HTTPS, HTTP/2 and HTTP/1.1 chosen by ALPN, with a
// self-signed ECDSA P-256 certificate made at start for 127.0.0.1, ::1 and
// localhost, valid for a day (-cert and -key serve your own instead).
// Everything above holds over TLS too, except h2c, which is for cleartext
// connections only: an Upgrade: h2c over TLS is ignored.
//
// Started with Go's extended CONNECT (RFC 8441) turned on,
//
//	GODEBUG=http2xconnect=1 go run ./examples/server -tls
//
// the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL on its HTTP/2
// connections, and /ws, /chat and echo/1 are served over HTTP/2 streams
// too: a CONNECT with :protocol websocket at /ws or /chat, or :protocol
// echo/1 on any path, switches as the HTTP/1.1 Upgrade does, through the
// same registries, limits, statistics and shutdown (answered 200 instead
// of 101). Go 1.26 and 1.27 advertise extended CONNECT only with that
// environment variable, read by net/http when the program starts, which
// is why a //go:debug line cannot set it; Go 1.28 adds
// http.HTTP2Config.EnableConnectProtocol. Once it is on, a browser that
// holds an HTTP/2 connection to the origin sends every WebSocket to it
// over that connection: every WebSocket route must then be served through
// a negotiator, as here, or it breaks. To see it, open
// https://127.0.0.1:PORT/ in Chromium and accept the certificate: DevTools'
// Network panel shows the page's WebSocket with protocol h2, and the
// page's "over HTTP/2" line (over_h2 of /stats) counts it. Without the
// variable the same page opens its WebSocket over HTTP/1.1, as before.
package main

import (
	"context"
	"net/http"

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
// registered and mounted on net/http's mux (newHandler), and the server,
// which cfg.Serve serves and shuts down.
func run(ctx context.Context, cfg demoapp.Config) error {
	rec := metrics.NewRecorder() // GET /metrics: the negotiator's upgrades in the Prometheus text format
	n, err := rec.NewNegotiator(&negotiate.Options{Logger: cfg.Logger, ShutdownTimeout: demoapp.ShutdownGrace, MaxConns: cfg.Limits.MaxConns})
	if err != nil {
		return err
	}
	handler, err := newHandler(n, rec)
	if err != nil {
		return err
	}
	srv := cfg.HTTPServer(handler) // timeouts from cfg.Limits; the switch clears the request's for the switched connection
	h2c.ConfigureServer(srv)       // HTTP/2 with prior knowledge too, served by the same handler
	n.RegisterOnShutdown(srv)      // srv.Shutdown also starts closing the switched connections
	return cfg.Serve(ctx, srv, n)
}

// newHandler registers the protocols and mounts them over the routes:
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
// The any-path middleware wraps the mux, so h2c and echo/1 take precedence
// over every route, /ws and /chat included.
func newHandler(n *negotiate.Negotiator, rec *metrics.Recorder) (http.Handler, error) {
	anyPath := new(negotiate.Registry)
	h2cProto, err := h2c.New(nil) // streams are served by the server's Handler
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

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", demoapp.ServePage)
	mux.HandleFunc("GET /proto", demoapp.ServeProto)
	mux.HandleFunc("POST /echo", demoapp.EchoBody)
	mux.Handle("GET /stats", demoapp.StatsHandler(n))
	mux.Handle("GET /metrics", rec)
	mux.Handle("/ws", n.Endpoint(ws))
	mux.Handle("/chat", n.Endpoint(chat))
	return n.Middleware(anyPath)(mux), nil
}
