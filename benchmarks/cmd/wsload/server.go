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
	"sync"
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
var kinds = []string{"switchyard", "gorilla", "gorilla-lean", "coder", "gobwas"}

const reference = "gorilla"

// The http.Server settings every kind runs on (-http): "demo" is
// examples/server's (demoserver.Configure: timeouts and HTTP/2 with prior
// knowledge, which costs every connection one read more, whatever serves
// it), "plain" only a 5 s ReadHeaderTimeout. Either way all kinds share
// them, so that the figures differ by the WebSocket stack alone.
var httpModes = []string{"demo", "plain"}

// serveMain is the child's main.
func serveMain(kind, httpMode string, memProfileRate int) int {
	if memProfileRate > 0 {
		runtime.MemProfileRate = memProfileRate
	}
	return child.Main("wsload server "+kind, func(ctx context.Context, logger *slog.Logger) error {
		return serve(ctx, kind, httpMode, os.Stdout, logger)
	})
}

func serve(ctx context.Context, kind, httpMode string, out io.Writer, logger *slog.Logger) error {
	var h http.Handler
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
		if h, err = demoserver.Handler(n); err != nil {
			return err
		}
	case "gorilla":
		h = onPath(gorillaEcho())
	case "gorilla-lean":
		h = onPath(gorillaLeanEcho())
	case "coder":
		h = onPath(http.HandlerFunc(coderEcho))
	case "gobwas":
		h = onPath(http.HandlerFunc(gobwasEcho))
	default:
		return fmt.Errorf("unknown server kind %q", kind)
	}
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	switch httpMode {
	case "demo":
		demoserver.Configure(srv)
	case "plain":
		srv.ReadHeaderTimeout = 5 * time.Second
	default:
		return fmt.Errorf("unknown -http %q", httpMode)
	}
	if n != nil {
		n.RegisterOnShutdown(srv)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /figures", serveFigures)
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

// serveFigures answers the process's Figures, as JSON.
func serveFigures(w http.ResponseWriter, r *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := Figures{StackNoGC: ms.StackInuse, HeapInuseNoGC: ms.HeapInuse}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	f.HeapAlloc, f.StackInuse, f.Goroutines = ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(f)
}

// onPath serves h on /ws, as a user of a WebSocket library on net/http
// would.
func onPath(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	return mux
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

// gorillaLeanEcho is gorilla's Upgrader set for the least memory per idle
// connection its API allows: a 256-byte read buffer of its own (net/http's
// 4 KiB one is let go), write buffers from a pool, and the connection
// served in a goroutine of its own, so that the handler returns and
// net/http's per-request state goes. It keeps nothing else: none of what
// a negotiate endpoint adds (the live set and its hooks, the keep-alive,
// the shutdown watch, the upgrade request Conn.Request returns, the close
// that loses nothing). It is the floor of a goroutine-per-connection
// server on gorilla, for context.
func gorillaLeanEcho() http.Handler {
	up := &gws.Upgrader{ReadBufferSize: 256, WriteBufferPool: new(sync.Pool)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			echo(c.NextReader, c.NextWriter)
		}()
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
