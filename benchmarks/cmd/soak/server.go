package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The server under test runs in a child process (this binary again, with
// -serve), so that its heap, RSS and goroutines are its own and not mixed
// with the clients'. It serves examples/server's configuration, built the
// same way from the public packages (internal/demoserver; the soak drives
// h2c and echo/1 on any path, WebSocket echo on /ws, GET /proto and POST
// /echo), on 127.0.0.1:0, and shuts down as that program does. It is not
// the program itself because it also answers a control endpoint on a
// second loopback listener, measured from inside the process: GET /figures
// (with ?gc=1, after two collections) answers its memory, goroutines and
// the negotiator's counts as JSON, and POST /shutdown starts the same
// graceful shutdown as SIGTERM. It prints "control on http://HOST:PORT"
// and then "listening on http://HOST:PORT".

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
	return child.Main("soak server", func(ctx context.Context, logger *slog.Logger) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		return serve(ctx, cancel, os.Stdout, logger)
	})
}

// serve is examples/server's run on 127.0.0.1:0 with the control endpoint
// beside it; quit ends ctx.
func serve(ctx context.Context, quit func(), out io.Writer, logger *slog.Logger) error {
	n, err := negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: demoserver.ShutdownGrace})
	if err != nil {
		return err
	}
	handler, err := demoserver.Handler(n)
	if err != nil {
		return err
	}
	srv := demoserver.Server(n, handler, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))

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
		// The answer goes out, whole, before the shutdown starts: serve
		// closes the control server as it returns, which a quick
		// shutdown would do before this handler's answer left
		// otherwise. Whole means a length: with none the flush sends a
		// chunked head whose last chunk net/http writes only when the
		// handler returns, and the client read "unexpected EOF" when
		// the close came first.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusAccepted)
		_ = http.NewResponseController(w).Flush()
		quit()
	})
	return child.Serve(ctx, out, srv, mux, func() {
		if err := demoserver.Shutdown(srv, n); err != nil {
			logger.Warn("shutdown", "err", err) // a warning fails the soak
		}
	})
}

// measure reads the runtime's and the OS's figures (no collection).
func measure() Figures {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, peak := child.SelfMemory()
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
