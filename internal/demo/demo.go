// Package demo holds what the demo servers (examples/server on net/http,
// examples/echo on Echo) share: the protocols, the chat room, the page and
// the statistics, so that both keep the contract of shared/DEMO.md.
package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// Page is the HTML page served at "/": it chats over /chat with the
// browser's WebSocket and shows what was negotiated and the live counts.
//
//go:embed page.html
var Page []byte

// ShutdownGrace bounds a demo's whole shutdown, so the process exits within
// ten seconds even when peers do not answer.
const ShutdownGrace = 8 * time.Second

// Registries are the demo's three sets of protocols over one negotiator.
type Registries struct {
	N       *negotiate.Negotiator
	AnyPath *negotiate.Registry // h2c and echo/1, on every path
	WS      *negotiate.Registry // /ws: WebSocket echo
	Chat    *negotiate.Registry // /chat: the room
	room    room
}

// New builds the negotiator and the registries.
func New(logger *slog.Logger) (*Registries, error) {
	n, err := negotiate.New(&negotiate.Options{Logger: logger, ShutdownTimeout: ShutdownGrace})
	if err != nil {
		return nil, err
	}
	d := &Registries{N: n, AnyPath: new(negotiate.Registry), WS: new(negotiate.Registry), Chat: new(negotiate.Registry)}

	h2cProto, err := h2c.New(nil) // streams are served by the app the middleware wraps
	if err != nil {
		return nil, err
	}
	if err := d.AnyPath.Register("h2c", h2cProto); err != nil {
		return nil, err
	}
	if err := d.AnyPath.HandleFunc("echo/1", EchoStream); err != nil {
		return nil, err
	}

	wsEcho, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, EchoMessages)
	if err != nil {
		return nil, err
	}
	if err := d.WS.Register("websocket", wsEcho); err != nil {
		return nil, err
	}
	wsChat, err := websocket.New(&websocket.Options{EnableCompression: true, Subprotocols: []string{"chat.v1"}}, d.room.join)
	if err != nil {
		return nil, err
	}
	if err := d.Chat.Register("websocket", wsChat); err != nil {
		return nil, err
	}
	return d, nil
}

// Handler is the net/http demo's handler: the page and plain routes on a
// mux, WebSocket endpoints on /ws and /chat (426 for anything else there),
// and h2c and echo/1 on any path through the middleware, whose wrapped mux
// also serves the h2c streams. Serve it from an http.Server set up with
// h2c.ConfigureServer for prior knowledge too.
func (d *Registries) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", ServePage)
	mux.HandleFunc("GET /proto", Proto)
	mux.HandleFunc("POST /echo", Echo)
	mux.HandleFunc("GET /stats", d.Stats)
	mux.Handle("/ws", d.N.Endpoint(d.WS))
	mux.Handle("/chat", d.N.Endpoint(d.Chat))
	return d.N.Middleware(d.AnyPath)(mux)
}

// EchoStream is echo/1: every byte received is written back unchanged.
//
// It copies through a 4 KiB buffer: io.Copy's own is 32 KiB, held for the
// connection's whole life (the soak measured 35 KB of heap per idle echo/1
// connection with it).
func EchoStream(c *negotiate.Conn) error {
	_, err := io.CopyBuffer(c, c, make([]byte, 4<<10))
	return err
}

// EchoMessages sends each WebSocket message back with its type.
func EchoMessages(c *gws.Conn) error {
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

// Proto answers the request's protocol: HTTP/1.1 or HTTP/2.0.
func Proto(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, r.Proto)
}

// Echo answers a POST with its body, unchanged.
func Echo(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, _ = io.Copy(w, http.MaxBytesReader(w, r.Body, 16<<20))
}

// ServePage serves the chat page.
func ServePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(Page)
}

// Stats answers the live counts as JSON, every demo protocol present.
func (d *Registries) Stats(w http.ResponseWriter, r *http.Request) {
	s := d.N.Stats()
	type counts struct {
		Active   map[string]int   `json:"active"`
		Switched map[string]int64 `json:"switched"`
		Refused  int64            `json:"refused"`
	}
	out := counts{Active: map[string]int{}, Switched: map[string]int64{}, Refused: s.Refused}
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
	c  *gws.Conn
}

func (m *member) send(msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_ = m.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return m.c.WriteMessage(gws.TextMessage, msg)
}

// join serves one chat client: each text message goes to every member,
// the sender too. A member that cannot keep up is dropped.
func (rm *room) join(c *gws.Conn) error {
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

// Serve prints the "listening on" line, serves srv on ln until ctx ends,
// then shuts down within ShutdownGrace: stop (srv.Shutdown, or Echo's) lets
// plain requests finish, then n.Shutdown waits for the switched connections,
// which net/http does not track.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, n *negotiate.Negotiator, stop func(context.Context) error, out io.Writer, logger *slog.Logger) error {
	fmt.Fprintf(out, "listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := stop(sctx); err != nil {
		logger.Warn("http shutdown", "err", err)
		_ = srv.Close()
	}
	if err := n.Shutdown(sctx); err != nil {
		logger.Warn("switched connections forced closed", "err", err)
	}
	return nil
}
