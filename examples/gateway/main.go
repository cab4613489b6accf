// Command gateway is an upgrade-aware gateway in front of one backend (the
// demo server, say): plain requests go through httputil.ReverseProxy, and
// upgrades of any token but h2c through Switchyard's tunnel
// (protocols.Tunnel), so that each switched connection is negotiated,
// checked and tracked like the gateway's own.
//
//	go run ./examples/gateway [-addr 127.0.0.1:8081] [-backend http://127.0.0.1:8080]
//
// The backend's answers pass through: a WebSocket handshake and its
// frames, echo/1 bytes, a 426 with its Upgrade list, a plain request's
// answer unchanged. An upgrade the backend refuses is answered with its
// status and end-to-end fields, and its body (up to 64 KiB) as one line
// of plain text, with Connection: close. A 101 from the backend must name
// the offered token, or the client gets 502. A backend that cannot be
// reached gets plain requests and upgrades alike a 502 with a one-line
// reason; one that does not answer an upgrade within 5 s, a 504, also
// during a shutdown. A 101 to a plain request (the gateway forwards none
// of the client's offers there) is a 502 too, and the backend's
// connection is closed. An offer of h2c is served as plain HTTP/1.1 and never reaches
// the backend as an upgrade (h2c smuggling).
//
// It prints "listening on http://HOST:PORT" once it accepts connections.
// SIGINT or SIGTERM shuts it down: in-flight plain requests finish, tunnels
// are closed, and it exits 0 within ten seconds.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/switchyard-http/switchyard/examples/demoapp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address, HOST:PORT (port 0 picks a free one)")
	backend := flag.String("backend", "http://127.0.0.1:8080", "the backend's URL, http(s)://HOST:PORT[/prefix]")
	verbose := flag.Bool("v", false, "log switches and closes")
	flag.Parse()
	logger := demoapp.Logger(*verbose)
	demoapp.RunUntilSignal(logger, func(ctx context.Context) error {
		return run(ctx, *addr, *backend, os.Stdout, logger)
	})
}

// run serves until ctx ends, then shuts down gracefully: demoapp's
// Config.Serve lets proxied requests finish, and waits for the tunnels,
// which net/http does not track, through the gateway's negotiator.
func run(ctx context.Context, addr, backend string, out io.Writer, logger *slog.Logger) error {
	g, err := newGateway(backend, logger)
	if err != nil {
		return err
	}
	defer g.transport.CloseIdleConnections()
	cfg := demoapp.Config{Addr: addr, Out: out, Logger: logger} // no limits but the 5 s for a request's head
	srv := cfg.HTTPServer(g.handler)
	g.n.RegisterOnShutdown(srv) // srv.Shutdown also starts closing the tunnels
	return cfg.Serve(ctx, srv, g.n)
}
