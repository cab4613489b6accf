package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// The server under test runs in a child process (this binary again, with
// -serve), so that its heap, RSS and goroutines are its own and not mixed
// with the clients'. It serves what the soak drives of examples/server's
// configuration, built the same way from the public packages (h2c and
// echo/1 on any path, WebSocket echo on /ws, GET /proto and POST /echo), on
// 127.0.0.1:0, and shuts down as that program does. It is not the program
// itself because it also answers a control endpoint on a second loopback
// listener, measured from inside the process: GET /figures (with ?gc=1,
// after two collections) answers its memory, goroutines and the
// negotiator's counts as JSON, and POST /shutdown starts the same graceful
// shutdown as SIGTERM. It prints "control on http://HOST:PORT" and then
// "listening on http://HOST:PORT".

// shutdownGrace bounds the whole shutdown, as examples/server's does.
const shutdownGrace = 8 * time.Second

// Figures are the server's own measurements, as the control endpoint
// answers them.
type Figures struct {
	HeapInuse  uint64           `json:"heap_inuse"`  // runtime.MemStats.HeapInuse, bytes
	HeapAlloc  uint64           `json:"heap_alloc"`  // bytes
	StackInuse uint64           `json:"stack_inuse"` // goroutine stacks, bytes
	Sys        uint64           `json:"sys"`         // bytes obtained from the OS
	RSS        uint64           `json:"rss"`         // VmRSS, bytes (0 where unknown)
	PeakRSS    uint64           `json:"peak_rss"`    // VmHWM, bytes (0 where unknown)
	Goroutines int              `json:"goroutines"`  // runtime.NumGoroutine
	Active     map[string]int   `json:"active"`      // negotiator: live switched connections
	Switched   map[string]int64 `json:"switched"`    // negotiator: switches since start
	Refused    int64            `json:"refused"`
	Panics     int64            `json:"panics"`
}

// serveMain is the child's main: it serves until SIGINT, SIGTERM or POST
// /shutdown, then shuts down gracefully and returns the exit status.
func serveMain() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := serve(ctx, cancel, os.Stdout, logger); err != nil {
		logger.Error("soak server", "err", err)
		return 1
	}
	return 0
}

// serve is examples/server's run on 127.0.0.1:0 with the control endpoint
// beside it; quit ends ctx.
func serve(ctx context.Context, quit func(), out io.Writer, logger *slog.Logger) error {
	n, err := negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: shutdownGrace})
	if err != nil {
		return err
	}
	handler, err := newHandler(n)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	h2c.ConfigureServer(srv)
	n.RegisterOnShutdown(srv)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /figures", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			runtime.GC()
		}
		f := measure()
		s := n.Stats()
		f.Active, f.Switched, f.Refused, f.Panics = s.Active, s.Switched, s.Refused, s.Panics
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f)
	})
	mux.HandleFunc("POST /shutdown", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		quit()
	})
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctl.SetKeepAlivesEnabled(false) // no idle connection goroutine between two calls
	go func() { _ = ctl.Serve(cln) }()
	defer ctl.Close()

	fmt.Fprintf(out, "control on http://%s\n", cln.Addr())
	fmt.Fprintf(out, "listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("plain requests cut short", "err", err)
		_ = srv.Close()
	}
	if err := n.Shutdown(sctx); err != nil {
		logger.Warn("switched connections closed at the deadline", "err", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHandler is examples/server's handler without the page, the chat room
// and /stats, which the soak does not use.
func newHandler(n *negotiate.Negotiator) (http.Handler, error) {
	anyPath := new(negotiate.Registry)
	h2cProto, err := h2c.New(nil)
	if err != nil {
		return nil, err
	}
	anyPath.Register("h2c", h2cProto)
	anyPath.HandleFunc("echo/1", echoStream)
	wsEcho, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, echoMessages)
	if err != nil {
		return nil, err
	}
	ws := new(negotiate.Registry)
	ws.Register("websocket", wsEcho)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, r.Proto)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		_, _ = io.Copy(w, http.MaxBytesReader(w, r.Body, 16<<20))
	})
	mux.Handle("/ws", n.Endpoint(ws))
	return n.Middleware(anyPath)(mux), nil
}

// echoStream is echo/1 as examples/server serves it: every byte back,
// through a 4 KiB buffer (io.Copy's own 32 KiB one would live as long as
// the connection), until the client ends its stream or the shutdown ends
// the connection's context; then it stops reading and returns, and the
// negotiator closes the connection without losing what was written.
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

// echoMessages sends each WebSocket message back with its type.
func echoMessages(c *websocket.Conn) error {
	for {
		typ, r, err := c.NextReader()
		if err != nil {
			return err
		}
		w, err := c.NextWriter(typ)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
}

// measure reads the runtime's and the OS's figures (no collection).
func measure() Figures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, peak := procRSS()
	return Figures{
		HeapInuse:  ms.HeapInuse,
		HeapAlloc:  ms.HeapAlloc,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
		RSS:        rss,
		PeakRSS:    peak,
		Goroutines: runtime.NumGoroutine(),
	}
}
