// Package demoapp is what the demo programs serve, apart from their
// wiring: the echo/1 and WebSocket echo protocols, the /chat room, the page
// and the plain routes' handlers, and the limits they serve within; and
// how every example program starts and stops: its flags (Main), its
// server's timeouts (Config.HTTPServer), the listener, the listening line
// and the graceful shutdown (Config.Serve). examples/server (net/http),
// examples/echo (Echo) and examples/echo5 (Echo v5) import it, and each
// makes its negotiator, registers these pieces, mounts them and ties its
// server to the negotiator in its own main.go, where a reader sees which
// protocol reaches which route.
//
// A user who copies a demo program's main.go into a module of their own
// keeps importing this package, which is part of Switchyard's module, or
// copies it into their module too.
package demoapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// Limits is how the demos bound what a client can hold, so that no client
// holds what the others need; their flags set each field.
type Limits struct {
	// MaxConns caps the switched connections, WebSocket, h2c and echo/1
	// together (negotiate.Options.MaxConns): over it an upgrade gets 503
	// with Retry-After, and plain requests are still served. Keep it under
	// the process's open-file limit, less what plain connections need.
	MaxConns int
	// IdleTimeout closes a keep-alive connection waiting for its next
	// request (http.Server.IdleTimeout) and an upgraded h2c connection
	// with no stream open (h2c takes the server's by default).
	IdleTimeout time.Duration
	// RequestTimeout bounds reading a plain request, body included, and
	// writing its answer (http.Server.ReadTimeout and WriteTimeout). The
	// negotiator clears both when it switches a connection.
	RequestTimeout time.Duration
}

// DefaultLimits are the demos' defaults: 1,000 switched connections, 2
// minutes idle, 30 s per plain request.
func DefaultLimits() Limits {
	return Limits{MaxConns: 1000, IdleTimeout: 2 * time.Minute, RequestTimeout: 30 * time.Second}
}

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
// member, the sender too, in the same order for all. Its zero value is an
// empty room.
//
// Each member has an outbound queue of up to QueueMessages messages or
// QueueBytes bytes and a writer goroutine of its own, the only goroutine
// that writes messages to its connection (the WebSocket engine's close
// frames go through WriteControl, which may run beside it). The room holds
// each message once, however many queues it is in, until every member's
// writer has taken it.
//
// The room throttles senders, not readers. When the room holds
// SenderMessages or SenderBytes of a sender's messages, or its next
// message does not fit in some member's queue, the sender waits: the room
// reads nothing more from it until enough of its messages have been taken
// and the message fits. A client that sends faster than the members can
// be written to is held to their pace by its connection's own flow
// control, and no member is dropped for it. A member that reads slowly
// holds back only the senders whose messages it has not taken yet, up to
// those bounds; at chat rates a line does not wait.
//
// A member is dropped only when a write to it makes no progress for
// WriteWait: its peer has stopped reading, and the room's messages fill
// its connection. It leaves the room at once, its queue is emptied, and
// its connection is closed (a close frame cannot pass the write that is
// stuck), so a member that stops reading holds back the senders waiting
// for it for at most WriteWait. A sender waiting to be read also stops
// waiting when it leaves the room or its connection's context ends
// (shutdown).
type Room struct {
	mu      sync.Mutex
	members map[*member]struct{}
	// wake is closed, and set to nil, when a queue has been taken from or
	// a member has left, for the senders waiting (nil: none waits).
	wake    chan struct{}
	waiting atomic.Int32 // senders in broadcast, waiting or about to
}

const (
	// QueueMessages and QueueBytes bound what waits to be written to one
	// member: the messages a member can be behind the room. A message is
	// held once however many queues it is in. A message larger than
	// QueueBytes still goes into an empty queue.
	QueueMessages = 64
	QueueBytes    = 1 << 20

	// SenderMessages and SenderBytes bound what the room holds of one
	// sender's messages, waiting to be taken by some member's writer: past
	// them the room reads nothing more from that sender until its messages
	// have been taken. A quarter of a queue, so that a burst from one
	// sender leaves room in every queue for the others' messages.
	SenderMessages = QueueMessages / 4
	SenderBytes    = QueueBytes / 4

	// MaxChatMessage is the room's message size limit, the ReadLimit of
	// its WebSocket protocol: chat lines are short, and every message is
	// held until the slowest member has been sent it.
	MaxChatMessage = 64 << 10

	// WriteWait bounds each write to a member: a member whose write makes
	// no progress for this long is dropped, and the senders that waited
	// for its queue go on.
	WriteWait = 5 * time.Second
)

// entry is a message in the queues: held once, with its sender and the
// number of queues that still hold it.
type entry struct {
	msg  []byte
	from *member
	refs atomic.Int32
}

type member struct {
	c      *websocket.Conn
	queue  chan *entry
	queued int          // bytes in queue; guarded by the room's mu
	sent   atomic.Int64 // bytes the writer took out of queue since
	gone   bool         // out of the room; guarded by the room's mu
	// heldMsgs and heldBytes are what the room holds of the member's own
	// messages, each message once, until every queue's writer took it.
	heldMsgs  atomic.Int64
	heldBytes atomic.Int64
	left      chan struct{} // closed when the member's reading ends
	writeErr  error         // why the writer stopped, if a write failed
}

// WebSocket is the room as the page speaks to it: a WebSocket protocol
// with the subprotocol chat.v1 (the one the page offers and a client must
// offer), messages up to MaxChatMessage and compression, each connection
// it switches a member (Join).
func (rm *Room) WebSocket() (negotiate.Protocol, error) {
	return websocket.New(&websocket.Options{EnableCompression: true, Subprotocols: []string{"chat.v1"},
		ReadLimit: MaxChatMessage}, rm.Join)
}

// Join serves one chat client as a member of the room until it leaves or
// is dropped; its writer goroutine ends before Join returns.
func (rm *Room) Join(c *websocket.Conn) error {
	me := &member{
		c:     c,
		queue: make(chan *entry, QueueMessages),
		left:  make(chan struct{}),
	}
	rm.mu.Lock()
	if rm.members == nil {
		rm.members = make(map[*member]struct{})
	}
	rm.members[me] = struct{}{}
	rm.mu.Unlock()

	written := make(chan struct{})
	go rm.write(me, written)
	err := rm.read(me)
	rm.leave(me)
	close(me.left)
	<-written
	if me.writeErr != nil {
		var ne net.Error
		if errors.As(me.writeErr, &ne) && ne.Timeout() {
			return fmt.Errorf("chat: member dropped: a write to it made no progress for %v: %w", WriteWait, me.writeErr)
		}
		return fmt.Errorf("chat: writing to a member: %w", me.writeErr)
	}
	return err
}

// read broadcasts each text message the member sends until its read
// fails.
func (rm *Room) read(me *member) error {
	for {
		typ, msg, err := me.c.ReadMessage()
		if err != nil {
			return err
		}
		if typ == gws.TextMessage {
			rm.broadcast(me, msg)
		}
	}
}

// broadcast queues msg for every member once from's share and every
// queue allow it (fitsLocked), waiting outside the lock until they do, or
// until from has left the room or its connection's context has ended
// (then msg is not the room's). The lock makes every member get the
// messages in the same order.
func (rm *Room) broadcast(from *member, msg []byte) {
	// Counted before looking, so that what the writers take after the look
	// wakes this sender (progress).
	rm.waiting.Add(1)
	defer rm.waiting.Add(-1)
	for {
		rm.mu.Lock()
		if from.gone {
			rm.mu.Unlock()
			return
		}
		if rm.fitsLocked(from, len(msg)) {
			e := &entry{msg: msg, from: from}
			e.refs.Store(int32(len(rm.members)))
			from.heldMsgs.Add(1)
			from.heldBytes.Add(int64(len(msg)))
			for m := range rm.members {
				m.queue <- e // fitsLocked saw room in every queue
				m.queued += len(msg)
			}
			rm.mu.Unlock()
			return
		}
		if rm.wake == nil {
			rm.wake = make(chan struct{})
		}
		wake := rm.wake
		rm.mu.Unlock()
		select {
		case <-wake:
		case <-from.c.Context().Done():
			return // shutting down
		}
	}
}

// fitsLocked reports whether a message of size bytes from from may be
// queued now: the room holds less than SenderMessages and SenderBytes of
// from's messages (or none), and every queue has room for it. The caller
// holds rm.mu.
func (rm *Room) fitsLocked(from *member, size int) bool {
	if held := from.heldBytes.Load(); held > 0 &&
		(held+int64(size) > SenderBytes || from.heldMsgs.Load() >= SenderMessages) {
		return false
	}
	for m := range rm.members {
		m.queued -= int(m.sent.Swap(0))
		if len(m.queue) == cap(m.queue) || (m.queued > 0 && m.queued+size > QueueBytes) {
			return false
		}
	}
	return true
}

// took accounts for e leaving one queue: once the last queue has let go
// of it, the room no longer holds it for its sender.
func took(e *entry) {
	if e.refs.Add(-1) == 0 {
		e.from.heldMsgs.Add(-1)
		e.from.heldBytes.Add(-int64(len(e.msg)))
	}
}

// progress wakes the senders waiting for a queue or for their share,
// after a writer took a message.
func (rm *Room) progress() {
	if rm.waiting.Load() == 0 {
		return
	}
	rm.mu.Lock()
	rm.wakeLocked()
	rm.mu.Unlock()
}

func (rm *Room) wakeLocked() {
	if rm.wake != nil {
		close(rm.wake)
		rm.wake = nil
	}
}

// leave takes m out of the room, once, and lets go of what its queue
// holds, so that the senders waiting for it go on.
func (rm *Room) leave(m *member) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if m.gone {
		return
	}
	m.gone = true
	delete(rm.members, m)
	for {
		select {
		case e := <-m.queue:
			took(e)
		default:
			rm.wakeLocked()
			return
		}
	}
}

// write is the member's writer: it writes what is queued, in order, each
// write bounded by WriteWait, until the member's reading ends or a write
// fails. A failed write takes the member out of the room at once and ends
// its read: a write that timed out was cut short, so nothing more can be
// written to the connection, a close frame included.
func (rm *Room) write(m *member, done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case e := <-m.queue:
			m.sent.Add(int64(len(e.msg)))
			took(e)
			rm.progress()
			_ = m.c.SetWriteDeadline(time.Now().Add(WriteWait))
			err := m.c.WriteMessage(gws.TextMessage, e.msg)
			if err == nil {
				continue
			}
			rm.leave(m)
			if errors.Is(err, gws.ErrCloseSent) {
				return // the engine is closing: the close handshake ends the read
			}
			m.writeErr = err
			_ = m.c.SetReadDeadline(time.Now())
			return
		case <-m.left:
			return
		}
	}
}

// ServeProto answers the request's protocol: HTTP/1.1 or HTTP/2.0.
func ServeProto(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, r.Proto)
}

// MaxEchoBody bounds the body EchoBody sends back.
const MaxEchoBody = 16 << 20

// EchoBody answers a POST with its body, unchanged, up to MaxEchoBody,
// reading it while it writes it back (over HTTP/1.1 too, where net/http
// would otherwise discard the part not read yet once the answer starts).
// A body declared longer than MaxEchoBody gets 413 with a one-line reason
// before any of it is read. A body of unknown length that passes
// MaxEchoBody, or one that ends early, is not answered with a clean end:
// the answer already started is broken off (http.ErrAbortHandler: the
// HTTP/1.1 connection is closed before its final chunk, the HTTP/2 stream
// is reset, and net/http logs nothing), so the client sees an error
// rather than a body that looks whole.
func EchoBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxEchoBody {
		http.Error(w, fmt.Sprintf("the body is over the %d bytes this route sends back", MaxEchoBody), http.StatusRequestEntityTooLarge)
		return
	}
	// HTTP/2 reads and writes at once anyway (ErrNotSupported there).
	_ = http.NewResponseController(w).EnableFullDuplex()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if _, err := io.Copy(w, http.MaxBytesReader(w, r.Body, MaxEchoBody)); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// StatsHandler answers n's live counts as JSON, every protocol of the demo
// present even at 0:
//
//	{"active": {...}, "switched": {...}, "over_h2": {"websocket": N, "echo": N}, "refused": N}
//
// over_h2 counts the switches, of those in switched, made on HTTP/2
// streams by extended CONNECT (RFC 8441; negotiate.Stats.OverH2): the
// protocols that can run over a stream, WebSocket and echo/1 (h2c cannot).
func StatsHandler(n *negotiate.Negotiator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := n.Stats()
		out := struct {
			Active   map[string]int   `json:"active"`
			Switched map[string]int64 `json:"switched"`
			OverH2   map[string]int64 `json:"over_h2"`
			Refused  int64            `json:"refused"`
		}{Active: map[string]int{}, Switched: map[string]int64{}, OverH2: map[string]int64{}, Refused: s.Refused}
		for _, name := range []string{"websocket", "h2c", "echo"} {
			out.Active[name] = s.Active[name]
			out.Switched[name] = s.Switched[name]
		}
		for _, name := range []string{"websocket", "echo"} {
			out.OverH2[name] = s.OverH2[name]
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
// WebSocket (subprotocol chat.v1; wss:// when the page came over https),
// and shows the subprotocol and extensions it negotiated, the HTTP version
// the page's requests travel over (GET /proto) and the live counts of
// /stats, among them the switches made over HTTP/2 (over_h2): a program
// that serves it mounts the room, ServeProto and StatsHandler at those
// paths. A browser that holds an HTTP/2 connection to a server advertising
// extended CONNECT (RFC 8441) opens its WebSocket on that connection: then
// the page shows HTTP/2.0 and over_h2 counts the page's WebSocket.
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
  <dt>page over</dt><dd id="http">–</dd>
  <dt>live</dt><dd id="live">–</dd>
  <dt>switched</dt><dd id="switched">–</dd>
  <dt>over HTTP/2</dt><dd id="overh2">–</dd>
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
    $('overh2').textContent = fmt(s.over_h2);
  } catch (_) {}
}
// The HTTP version this page's requests use: with HTTP/2.0 here, a browser
// also sends its WebSocket over HTTP/2 when the server advertises
// extended CONNECT, and "over HTTP/2" counts it.
fetch('/proto', {cache: 'no-store'}).then(r => r.text()).then(p => { $('http').textContent = p + ' (' + location.protocol.replace(':', '') + ')'; }, () => {});
stats(); setInterval(stats, 1000);
</script>
</body>
</html>
`
