// Command server is Switchyard's demo, and a complete program to copy:
// WebSocket echo and chat, h2c (by Upgrade and with prior knowledge), a
// custom echo/1 protocol, plain HTTP routes and live statistics on one port,
// with a graceful shutdown of every switched connection. Everything it does
// is in this file.
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-v]
//
// It prints "listening on http://HOST:PORT" once it accepts connections
// (-addr 127.0.0.1:0 picks a free port). SIGINT or SIGTERM shuts it down:
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
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// shutdownGrace bounds the whole shutdown, so that the process exits
// within ten seconds even when peers do not answer.
const shutdownGrace = 8 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address, HOST:PORT (port 0 picks a free one)")
	verbose := flag.Bool("v", false, "log switches and closes")
	flag.Parse()
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	// Standard output carries only the "listening on" line; logs go to
	// standard error.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, os.Stdout, logger); err != nil {
		logger.Error("server", "err", err)
		os.Exit(1)
	}
}

// run serves on addr until ctx ends, then shuts down gracefully.
func run(ctx context.Context, addr string, out io.Writer, logger *slog.Logger) error {
	n, err := negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: shutdownGrace})
	if err != nil {
		return err
	}
	handler, err := newHandler(n)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second, // a client dribbling its head is cut off
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	h2c.ConfigureServer(srv)  // HTTP/2 with prior knowledge too, served by the same handler
	n.RegisterOnShutdown(srv) // srv.Shutdown also starts closing the switched connections

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
	// srv.Shutdown lets plain requests finish and sends GOAWAY to
	// prior-knowledge HTTP/2 connections; net/http does not track the
	// switched connections, so n.Shutdown waits for those.
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

// newHandler registers the protocols and mounts them over the routes:
//
//	any path   Upgrade: h2c (HTTP/2 then serves the same routes), Upgrade: echo/1
//	GET /      the chat page
//	/ws        WebSocket echo; 426 for anything that does not switch there
//	/chat      WebSocket chat room, subprotocol chat.v1; 426 likewise
//	GET /proto the request's protocol, HTTP/1.1 or HTTP/2.0
//	POST /echo the body back
//	GET /stats the negotiator's counts as JSON
//
// The any-path middleware wraps the mux, so h2c and echo/1 take precedence
// over every route, /ws and /chat included.
func newHandler(n *negotiate.Negotiator) (http.Handler, error) {
	anyPath := new(negotiate.Registry)
	h2cProto, err := h2c.New(nil) // streams are served by the server's Handler
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

	rm := new(room)
	wsChat, err := websocket.New(&websocket.Options{EnableCompression: true, Subprotocols: []string{"chat.v1"}}, rm.join)
	if err != nil {
		return nil, err
	}
	chat := new(negotiate.Registry)
	chat.Register("websocket", wsChat)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.HandleFunc("GET /proto", serveProto)
	mux.HandleFunc("POST /echo", echoBody)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { serveStats(w, n.Stats()) })
	mux.Handle("/ws", n.Endpoint(ws))
	mux.Handle("/chat", n.Endpoint(chat))
	return n.Middleware(anyPath)(mux), nil
}

// echoStream is echo/1: every byte received is written back unchanged,
// until the client ends its stream or the server shuts down.
func echoStream(c *negotiate.Conn) error {
	// A shutdown ends the connection's context: stop reading, so that the
	// copy returns and the negotiator closes the connection (what was
	// written still reaches the client).
	ctx := c.Context()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	// A 4 KiB buffer rather than io.Copy's 32 KiB one: the buffer lives as
	// long as the connection, and with thousands of mostly idle
	// connections it is most of what each one costs.
	_, err := io.CopyBuffer(c, c, make([]byte, 4<<10))
	if ctx.Err() != nil {
		return nil // shut down
	}
	return err
}

// echoMessages sends each WebSocket message back with its type, streaming
// it rather than holding it whole.
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

// serveProto answers the request's protocol: HTTP/1.1 or HTTP/2.0.
func serveProto(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, r.Proto)
}

// echoBody answers a POST with its body, unchanged, up to 16 MiB.
func echoBody(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, _ = io.Copy(w, http.MaxBytesReader(w, r.Body, 16<<20))
}

// serveStats answers the live counts as JSON, every protocol of the demo
// present even at 0.
func serveStats(w http.ResponseWriter, s negotiate.Stats) {
	out := struct {
		Active   map[string]int   `json:"active"`
		Switched map[string]int64 `json:"switched"`
		Refused  int64            `json:"refused"`
	}{Active: map[string]int{}, Switched: map[string]int64{}, Refused: s.Refused}
	for _, name := range []string{"websocket", "h2c", "echo"} {
		out.Active[name] = s.Active[name]
		out.Switched[name] = s.Switched[name]
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// room is the /chat broadcast room.
type room struct {
	mu      sync.Mutex
	members map[*member]struct{}
}

type member struct {
	mu sync.Mutex // one writer at a time
	c  *websocket.Conn
}

func (m *member) send(msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return m.c.WriteMessage(gws.TextMessage, msg)
}

// join serves one chat client: each text message goes to every member,
// the sender too. A member that cannot keep up is dropped.
func (rm *room) join(c *websocket.Conn) error {
	me := &member{c: c}
	rm.mu.Lock()
	if rm.members == nil {
		rm.members = make(map[*member]struct{})
	}
	rm.members[me] = struct{}{}
	rm.mu.Unlock()
	defer func() {
		rm.mu.Lock()
		delete(rm.members, me)
		rm.mu.Unlock()
	}()
	for {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if typ != gws.TextMessage {
			continue
		}
		rm.mu.Lock()
		members := make([]*member, 0, len(rm.members))
		for m := range rm.members {
			members = append(members, m)
		}
		rm.mu.Unlock()
		for _, m := range members {
			if err := m.send(msg); err != nil {
				_ = m.c.Close()
			}
		}
	}
}

// servePage serves the chat page.
func servePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, page)
}

// page chats over /chat with the browser's own WebSocket, and shows the
// subprotocol and extensions it negotiated and the live counts of /stats.
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchyard demo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }
  #log { border: 1px solid #ccc; height: 16rem; overflow-y: auto; padding: .5rem; font-family: ui-monospace, monospace; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
  dt { font-weight: 600; }
  form { display: flex; gap: .5rem; margin-top: .5rem; } input { flex: 1; }
</style>
</head>
<body>
<h1>Switchyard</h1>
<p>This page chats over <code>/chat</code> with your browser's own <code>WebSocket</code>.
Open it twice and talk to yourself.</p>
<dl>
  <dt>state</dt><dd id="state">connecting…</dd>
  <dt>subprotocol</dt><dd id="protocol">–</dd>
  <dt>extensions</dt><dd id="extensions">–</dd>
  <dt>live</dt><dd id="live">–</dd>
  <dt>switched</dt><dd id="switched">–</dd>
  <dt>refused</dt><dd id="refused">–</dd>
</dl>
<div id="log" aria-live="polite"></div>
<form id="form"><input id="text" autocomplete="off" placeholder="say something" disabled><button id="send" disabled>Send</button></form>
<script>
const $ = id => document.getElementById(id);
const log = line => { const p = document.createElement('div'); p.textContent = line; $('log').append(p); $('log').scrollTop = 1e9; };
const url = new URL('/chat', location.href); url.protocol = url.protocol.replace('http', 'ws');
const ws = new WebSocket(url, ['chat.v1']);
ws.onopen = () => {
  $('state').textContent = 'open';
  $('protocol').textContent = ws.protocol || '(none)';
  $('extensions').textContent = ws.extensions || '(none)';
  $('text').disabled = $('send').disabled = false;
  $('text').focus();
};
ws.onmessage = e => log(e.data);
ws.onclose = e => { $('state').textContent = 'closed (' + e.code + (e.reason ? ' ' + e.reason : '') + ')'; $('text').disabled = $('send').disabled = true; };
$('form').onsubmit = e => { e.preventDefault(); if ($('text').value) { ws.send($('text').value); $('text').value = ''; } };
const fmt = m => Object.entries(m).map(([k, v]) => k + ' ' + v).join(', ');
async function stats() {
  try {
    const s = await (await fetch('/stats', {cache: 'no-store'})).json();
    $('live').textContent = fmt(s.active); $('switched').textContent = fmt(s.switched); $('refused').textContent = s.refused;
  } catch (_) {}
}
stats(); setInterval(stats, 1000);
</script>
</body>
</html>
`
