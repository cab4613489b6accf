// Command server is Switchyard's demo: WebSocket echo and chat, h2c (by
// Upgrade and with prior knowledge), a custom echo/1 protocol, plain HTTP
// routes and live statistics on one port, with graceful shutdown of every
// switched connection.
//
//	go run ./examples/server [-addr 127.0.0.1:8080]
//
// It prints "listening on http://HOST:PORT" once it accepts connections.
// SIGINT or SIGTERM shuts it down: WebSockets get close 1001, h2c
// connections GOAWAY, echo/1 connections are closed, in-flight requests finish, and it exits 0 within
// ten seconds.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard-http/switchyard/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address, HOST:PORT (port 0 picks a free one)")
	verbose := flag.Bool("v", false, "log switches and closes")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout, logger); err != nil {
		logger.Error("server", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, out io.Writer, logger *slog.Logger) error {
	a, err := newApp(logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second, // a client dribbling its head is cut off
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	a.configure(srv)
	a.n.RegisterOnShutdown(srv) // srv.Shutdown also starts closing switched connections
	return demo.Serve(ctx, srv, ln, a.n, srv.Shutdown, out, logger)
}
