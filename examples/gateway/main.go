// Command gateway is an upgrade-aware gateway in front of one backend (the
// demo server, say): plain requests go through httputil.ReverseProxy, and
// upgrades of any token but h2c through Switchyard's tunnel
// (protocols.Tunnel), so that each switched connection is negotiated,
// checked and tracked like the gateway's own.
//
//	go run ./examples/gateway [-addr 127.0.0.1:8081] [-backend http://127.0.0.1:8080]
//
// The backend's answers pass through unchanged: a WebSocket handshake and
// its frames, echo/1 bytes, a 426 with its Upgrade list, any refusal with
// its status, fields and body. A 101 from the backend must name the offered
// token, or the client gets 502. An offer of h2c is served as plain
// HTTP/1.1 and never reaches the backend as an upgrade (h2c smuggling).
//
// It prints "listening on http://HOST:PORT" once it accepts connections.
// SIGINT or SIGTERM shuts it down: in-flight plain requests finish, tunnels
// are closed, and it exits 0 within ten seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// shutdownGrace bounds the whole shutdown, so that the process exits
// within ten seconds even when peers do not answer.
const shutdownGrace = 8 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address, HOST:PORT (port 0 picks a free one)")
	backend := flag.String("backend", "http://127.0.0.1:8080", "the backend's URL, http(s)://HOST:PORT[/prefix]")
	verbose := flag.Bool("v", false, "log switches and closes")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *backend, os.Stdout, logger); err != nil {
		logger.Error("gateway", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr, backend string, out io.Writer, logger *slog.Logger) error {
	g, err := newGateway(backend, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	g.n.RegisterOnShutdown(srv) // srv.Shutdown also starts closing the tunnels
	defer g.transport.CloseIdleConnections()

	fmt.Fprintf(out, "listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// srv.Shutdown lets proxied requests finish; net/http does not track
	// the tunnels, so g.n.Shutdown waits for those.
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("plain requests cut short", "err", err)
		_ = srv.Close()
	}
	if err := g.n.Shutdown(sctx); err != nil {
		logger.Warn("tunnels closed at the deadline", "err", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
