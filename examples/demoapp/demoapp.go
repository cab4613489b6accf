// Package demoapp is what the demo programs serve, apart from their
// wiring: the echo/1 and WebSocket echo protocols, the /chat room, the page
// and the plain routes' handlers. examples/server (net/http) and
// examples/echo (Echo) both import it, and each registers these pieces,
// mounts them, and sets up and shuts down its server in its own main.go,
// where a reader sees which protocol reaches which route.
//
// A user who copies a demo program's main.go into a module of their own
// keeps importing this package, which is part of Switchyard's module, or
// copies it into their module too.
package demoapp

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// EchoStream is echo/1: every byte received is written back unchanged,
// until the client ends its stream or the server shuts down.
func EchoStream(c *negotiate.Conn) error {
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

// EchoMessages sends each WebSocket message back with its type, streaming
// it rather than holding it whole.
func EchoMessages(c *websocket.Conn) error {
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

// Room is a chat room: each text message a member sends goes to every
// member, the sender too. Its zero value is an empty room.
type Room struct {
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

// Join serves one chat client as a member of the room until it leaves. A
// member that cannot keep up is dropped.
func (rm *Room) Join(c *websocket.Conn) error {
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

// ServeProto answers the request's protocol: HTTP/1.1 or HTTP/2.0.
func ServeProto(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, r.Proto)
}

// EchoBody answers a POST with its body, unchanged, up to 16 MiB.
func EchoBody(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	_, _ = io.Copy(w, http.MaxBytesReader(w, r.Body, 16<<20))
}

// StatsHandler answers n's live counts as JSON, every protocol of the demo
// present even at 0: {"active": {...}, "switched": {...}, "refused": N}.
func StatsHandler(n *negotiate.Negotiator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := n.Stats()
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
	})
}

// ServePage serves Page.
func ServePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, Page)
}

// Page is the chat page. It chats over /chat with the browser's own
// WebSocket (subprotocol chat.v1), and shows the subprotocol and extensions
// it negotiated and the live counts of /stats: a program that serves it
// mounts the room and StatsHandler at those paths.
const Page = `<!doctype html>
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
