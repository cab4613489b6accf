package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"time"

	cws "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The server under test runs in a child process (this binary again, with
// -serve KIND), so that its RSS is its own. Every kind serves a WebSocket
// echo on /ws over net/http on 127.0.0.1:0, each message sent back with
// its type; nothing else differs between them but the WebSocket library
// and how it is mounted. The child prints "control on http://HOST:PORT"
// (net/http/pprof on a second loopback listener, for -profile) and then
// "listening on http://HOST:PORT", and serves until SIGINT or SIGTERM.

// Figures are what the server measures of itself, after two collections
// unless said otherwise.
type Figures struct {
	HeapAlloc  uint64 `json:"heap_alloc"`  // bytes of live heap objects
	StackInuse uint64 `json:"stack_inuse"` // bytes of goroutine stacks
	Goroutines int    `json:"goroutines"`
	// Before the collections, as RSS was read: stacks the collector has
	// not shrunk yet, and heap spans in use (live and not yet swept).
	StackNoGC     uint64 `json:"stack_no_gc"`
	HeapInuseNoGC uint64 `json:"heap_inuse_no_gc"`
}

// kinds are the servers, in the order they are run and printed; gorilla
// is the reference the ratios are taken against.
var kinds = []string{"switchyard", "gorilla", "coder", "gobwas"}

const reference = "gorilla"

// serveMain is the child's main.
func serveMain(kind string, memProfileRate int) int {
	if memProfileRate > 0 {
		runtime.MemProfileRate = memProfileRate
	}
	return child.Main("wsload server "+kind, func(ctx context.Context, logger *slog.Logger) error {
		return serve(ctx, kind, os.Stdout, logger)
	})
}

func serve(ctx context.Context, kind string, out io.Writer, logger *slog.Logger) error {
	var srv *http.Server
	var n *negotiate.Negotiator
	switch kind {
	case "switchyard":
		// examples/server's configuration, as the soak builds it (the
		// demo's MaxConns, 1,000, would refuse the 2,000 held open here).
		var err error
		n, err = negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: demoserver.ShutdownGrace})
		if err != nil {
			return err
		}
		h, err := demoserver.Handler(n)
		if err != nil {
			return err
		}
		srv = demoserver.Server(n, h, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	case "gorilla":
		srv = plainServer(gorillaEcho())
	case "coder":
		srv = plainServer(http.HandlerFunc(coderEcho))
	case "gobwas":
		srv = plainServer(http.HandlerFunc(gobwasEcho))
	default:
		return fmt.Errorf("unknown server kind %q", kind)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /figures", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		f := Figures{StackNoGC: ms.StackInuse, HeapInuseNoGC: ms.HeapInuse}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		f.HeapAlloc, f.StackInuse, f.Goroutines = ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f)
	})
	return child.Serve(ctx, out, srv, mux, func() {
		// Hijacked connections are not the http.Server's: close it, and
		// let the process exit take the rest (switchyard's negotiator
		// first sends its 1001s, as the demo does).
		if n != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = n.Shutdown(sctx)
		}
		_ = srv.Close()
	})
}

// plainServer serves h on /ws with only a header timeout, as a user of a
// WebSocket library on net/http would.
func plainServer(h http.Handler) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
}

// gorillaEcho is gorilla's Upgrader used directly with its defaults (4 KiB
// buffers, net/http's reused at the hijack, no compression), echoing as
// demoapp.EchoMessages does.
func gorillaEcho() http.Handler {
	up := &gws.Upgrader{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		echo(c.NextReader, c.NextWriter)
	})
}

// coderEcho is coder/websocket's Accept with its defaults.
func coderEcho(w http.ResponseWriter, r *http.Request) {
	c, err := cws.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	echo(
		func() (cws.MessageType, io.Reader, error) { return c.Reader(ctx) },
		func(typ cws.MessageType) (io.WriteCloser, error) { return c.Writer(ctx, typ) },
	)
}

// echo sends every message back with its type, until an error: next
// opens the next message, writer the answer, as gorilla's and coder's
// streaming APIs do.
func echo[T any](next func() (T, io.Reader, error), writer func(T) (io.WriteCloser, error)) {
	for {
		typ, rd, err := next()
		if err != nil {
			return
		}
		wr, err := writer(typ)
		if err != nil {
			return
		}
		if _, err := io.Copy(wr, rd); err != nil {
			return
		}
		if err := wr.Close(); err != nil {
			return
		}
	}
}

// gobwasEcho is gobwas/ws's UpgradeHTTP with its wsutil helpers, one
// goroutine per connection like the others.
func gobwasEcho(w http.ResponseWriter, r *http.Request) {
	conn, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		msg, op, err := wsutil.ReadClientData(conn)
		if err != nil {
			return
		}
		if err := wsutil.WriteServerMessage(conn, op, msg); err != nil {
			return
		}
	}
}
