package websocket_test

// What a program that used gorilla's Upgrader directly relies on, and
// where this package answers otherwise, on loopback: the README's "Coming
// from gorilla's Upgrader" says each.

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// RFC 7692 §7.1.2.1: "A server accepts an extension negotiation offer
// with this parameter by including the server_max_window_bits extension
// parameter in the extension negotiation response ... with the same or
// smaller value as the offer." An accepted offer of
// server_max_window_bits=15 is answered with it (gorilla answers without,
// and a client that holds the server to the RFC, as python-websockets
// does, fails the handshake); an accepted offer without it is answered as
// gorilla answers. The messages then go both ways compressed.
func TestDeflateNamesServerWindowItAccepted(t *testing.T) {
	t.Parallel()
	const mode = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	addr, _ := serveHostile(t, &websocket.Options{EnableCompression: true}, wstest.Echo)
	for _, tc := range []struct {
		offers []string // Sec-WebSocket-Extensions field lines
		want   string
	}{
		{[]string{"permessage-deflate; server_max_window_bits=15"}, mode + "; server_max_window_bits=15"},
		{[]string{`permessage-deflate; server_max_window_bits="15"; client_max_window_bits`}, mode + "; server_max_window_bits=15"},
		{[]string{"permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=15"}, mode + "; server_max_window_bits=15"},
		{[]string{"permessage-deflate; server_max_window_bits=9", "permessage-deflate; client_max_window_bits"}, mode},
		{[]string{"permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=15"}, mode},
		{[]string{"permessage-deflate"}, mode},
	} {
		extra := make([]string, len(tc.offers))
		for i, o := range tc.offers {
			extra[i] = "Sec-WebSocket-Extensions: " + o
		}
		p := dialPeer(t, addr, extra...)
		if got := p.Resp.Header.Values("Sec-WebSocket-Extensions"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("offers %q: 101 Sec-WebSocket-Extensions %q, want %q", tc.offers, got, tc.want)
		}
		msg := bytes.Repeat([]byte("window "), 1000)
		p.send(wstest.ClientFrame(0xc1, wstest.Deflate(msg))) // FIN, RSV1, text
		f, err := p.next()
		if err != nil || f.b0 != 0xc1 || !bytes.Equal(inflate(t, f.payload), msg) {
			t.Errorf("offers %q: echo %v (%v), want the message back compressed", tc.offers, f, err)
		}
		p.Conn.Close()
	}
}

// inflate is the message of a permessage-deflate payload (RFC 7692
// §7.2.2: the flush's 00 00 ff ff appended, and no final block after it).
func inflate(t *testing.T, payload []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("inflate: %v", err)
	}
	return b
}

// gorillaAndSwitchyard starts, each on a loopback server of its own, an
// endpoint of gorilla's Upgrader used directly (up, with responseHeader
// passed to Upgrade) and this package's protocol made of opts behind a
// handler that sets the same fields on the ResponseWriter before the
// Endpoint, the way a program moves responseHeader over. Both read one
// message and return. It returns their addresses.
func gorillaAndSwitchyard(t *testing.T, up *gws.Upgrader, opts *websocket.Options, responseHeader http.Header) (gorilla, switchyard string) {
	t.Helper()
	g := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, responseHeader)
		if err != nil {
			return // gorilla has answered
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		_, _, _ = c.ReadMessage()
	}))
	p, err := websocket.New(opts, func(c *websocket.Conn) error {
		_, _, err := c.ReadMessage()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var reg negotiate.Registry
	reg.Register("websocket", p)
	end := testkit.NewNegotiator(t, nil).Endpoint(&reg)
	s := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range responseHeader {
			w.Header()[k] = vs
		}
		end.ServeHTTP(w, r)
	}))
	return testkit.Addr(g), testkit.Addr(s)
}

// The handshakes a program moving from gorilla's Upgrader sees answered
// otherwise, each sent to both (Host example.com): the statuses, the
// subprotocol chosen from the same list and offer, and the response
// fields passed at the upgrade.
func TestComingFromGorilla(t *testing.T) {
	t.Parallel()
	fields := http.Header{"Set-Cookie": {"a=1; Path=/", "b=2"}, "X-Custom": {"x"}}
	// gorilla writes these into its 101 as given; the negotiator leaves
	// them out, so that the 101 describes no body and has one Connection.
	dropped := http.Header{"Content-Type": {"text/html"}, "X-Content-Type-Options": {"nosniff"}, "Connection": {"close"}}
	passed := fields.Clone()
	for k, vs := range dropped {
		passed[k] = vs
	}
	up := &gws.Upgrader{Subprotocols: []string{"v2", "v1"}}
	gorilla, switchyard := gorillaAndSwitchyard(t, up, &websocket.Options{Subprotocols: []string{"v2", "v1"}}, passed)
	_, serverOrder := gorillaAndSwitchyard(t, up, &websocket.Options{Subprotocols: []string{"v2", "v1"}, ServerSubprotocolPreference: true}, passed)
	for _, tc := range []struct {
		name                string
		request             string
		gorilla, switchyard int
	}{
		{"version 8", handshake([]string{"Sec-WebSocket-Version"}, "Sec-WebSocket-Version: 8"), 400, 426},
		{"no version", handshake([]string{"Sec-WebSocket-Version"}), 400, 426},
		{"no Upgrade", "GET /ws HTTP/1.1\r\nHost: example.com\r\n\r\n", 400, 426},
		{"POST", strings.Replace(handshake(nil, "Content-Length: 0"), "GET ", "POST ", 1), 405, 405},
		{"cross-origin", handshake(nil, "Origin: https://evil.example"), 403, 403},
		{"empty Origin", handshake(nil, "Origin: "), 403, 101},
		{"same origin", handshake(nil, "Origin: https://example.com"), 101, 101},
		{"no Origin", handshake(nil), 101, 101},
		{"repeated Origin", handshake(nil, "Origin: https://example.com", "Origin: https://example.com"), 101, 403},
	} {
		for _, side := range []struct {
			name, addr string
			want       int
		}{{"gorilla", gorilla, tc.gorilla}, {"switchyard", switchyard, tc.switchyard}} {
			ex := testkit.Raw(t, side.addr, tc.request)
			if got := ex.Resp.StatusCode; got != side.want {
				t.Errorf("%s, %s: got %d (%q), want %d", tc.name, side.name, got, ex.Body, side.want)
			}
			ex.Conn.Close()
		}
	}

	// gorilla picks by the server's order; this package by the client's
	// unless ServerSubprotocolPreference. Both 101s carry the fields
	// passed at the upgrade, each once.
	offer := "Sec-WebSocket-Protocol: v1, v2"
	for _, side := range []struct{ name, addr, want string }{
		{"gorilla", gorilla, "v2"},
		{"switchyard", switchyard, "v1"},
		{"switchyard with ServerSubprotocolPreference", serverOrder, "v2"},
	} {
		ex := testkit.Raw(t, side.addr, handshake(nil, offer))
		h := ex.Resp.Header
		if got := h.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != side.want {
			t.Errorf("%s: Sec-WebSocket-Protocol %q for %q, want %q", side.name, got, offer, side.want)
		}
		for k, vs := range fields {
			if got := h.Values(k); strings.Join(got, "|") != strings.Join(vs, "|") {
				t.Errorf("%s: 101 %s %q, want %q", side.name, k, got, vs)
			}
		}
		head, _, _ := strings.Cut(strings.ToLower(ex.Wire.String()), "\r\n\r\n")
		for k, vs := range dropped {
			line := "\r\n" + strings.ToLower(k+": "+vs[0]) + "\r\n"
			if got, want := strings.Contains(head+"\r\n", line), side.name == "gorilla"; got != want {
				t.Errorf("%s: %q in the 101: %v, want %v\n%s", side.name, line, got, want, head)
			}
		}
		if _, err := ex.Conn.Write(maskedFrame(0x1, []byte("bye"))); err != nil {
			t.Error(err)
		}
		ex.Conn.Close()
	}
}

// Options.CheckOrigin is asked only about an Origin that neither the
// same-origin rule nor a pattern lets pass, never about a request
// without one or with an empty one (gorilla's replaces its default rule,
// and is asked about every request); and the negotiator's Responder,
// where gorilla's Upgrader.Error goes, writes the protocol's refusals.
func TestCheckOriginAndResponderAsked(t *testing.T) {
	t.Parallel()
	var asked []string
	var refused []int
	var mu sync.Mutex
	opts := &websocket.Options{OriginPatterns: []string{"*.example.org"}, CheckOrigin: func(r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.Header.Get("Origin"))
		return false
	}}
	nopts := &negotiate.Options{Responder: func(w http.ResponseWriter, r *http.Request, e *negotiate.Error) {
		mu.Lock()
		refused = append(refused, e.Status)
		mu.Unlock()
		w.Header().Set("X-Responder", "mine")
		negotiate.DefaultResponder(w, r, e)
	}}
	s := newServer(t, opts, nopts, wstest.Echo)
	for _, tc := range []struct {
		origin []string // Origin field lines
		status int
	}{
		{nil, 101},
		{[]string{""}, 101},
		{[]string{"http://example.com"}, 101},
		{[]string{"https://app.example.org"}, 101},
		{[]string{"https://evil.example"}, 403},
		{[]string{"null"}, 403},
	} {
		var extra []string
		for _, o := range tc.origin {
			extra = append(extra, "Origin: "+o)
		}
		ex := s.raw(t, handshake(nil, extra...))
		if ex.Resp.StatusCode != tc.status {
			t.Errorf("Origin %q: got %d, want %d", tc.origin, ex.Resp.StatusCode, tc.status)
		}
		if got := ex.Resp.Header.Get("X-Responder"); tc.status != 101 && got != "mine" {
			t.Errorf("Origin %q: the refusal was not the Responder's", tc.origin)
		}
		ex.Conn.Close()
	}
	ex := s.raw(t, handshake([]string{"Sec-WebSocket-Version"}))
	ex.Conn.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"https://evil.example", "null"}; !slices.Equal(asked, want) {
		t.Errorf("CheckOrigin asked about %q, want %q", asked, want)
	}
	if want := []int{403, 403, 426}; !slices.Equal(refused, want) {
		t.Errorf("Responder wrote %v, want %v", refused, want)
	}
}

// gorilla answers 500 to a Sec-WebSocket-Extensions field passed at the
// upgrade, and closes a connection whose client sent its first frame with
// the handshake; TestForeignWebSocketFieldsDropped and TestEarlyData hold
// what this package does instead (the field dropped, the frame delivered).
func TestGorillaRefusesWhatSwitchyardTakes(t *testing.T) {
	t.Parallel()
	gorilla, _ := gorillaAndSwitchyard(t, &gws.Upgrader{}, nil, http.Header{"Sec-Websocket-Extensions": {"x-app"}})
	if ex := testkit.Raw(t, gorilla, handshake(nil)); ex.Resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("Sec-WebSocket-Extensions at the upgrade: gorilla answered %d, want 500", ex.Resp.StatusCode)
	}
	gorilla, _ = gorillaAndSwitchyard(t, &gws.Upgrader{}, nil, nil)
	conn := testkit.DialTCP(t, gorilla)
	if _, err := io.WriteString(conn, handshake(nil)+string(maskedFrame(0x1, []byte("early")))); err != nil {
		t.Fatal(err)
	}
	if got := testkit.ReadAll(t, conn); got != "" {
		t.Errorf("a frame with the handshake: gorilla answered %q, want the connection closed without an answer", got)
	}
}

// WriteBufferSize is the buffer frames are written into, not a bound on
// them: a message written through NextWriter in pieces smaller than it
// goes out in frames of at most WriteBufferSize bytes, but gorilla sends
// a larger piece (over twice the buffer) as a frame of its own, and
// WriteMessage's message, uncompressed, as one frame whatever its size.
func TestWriteBufferSizeFrames(t *testing.T) {
	t.Parallel()
	msg := bytes.Repeat([]byte("f"), 2000)
	s := newServer(t, &websocket.Options{WriteBufferSize: 512}, nil, func(c *websocket.Conn) error {
		if err := c.WriteMessage(gws.BinaryMessage, msg); err != nil {
			return err
		}
		for _, piece := range []int{100, len(msg)} {
			w, err := c.NextWriter(gws.BinaryMessage)
			if err != nil {
				return err
			}
			for p := msg; len(p) > 0; p = p[min(piece, len(p)):] {
				if _, err := w.Write(p[:min(piece, len(p))]); err != nil {
					return err
				}
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
		return wstest.Echo(c)
	})
	ex := s.raw(t, handshake(nil))
	for _, tc := range []struct {
		name    string
		largest int // the largest frame's payload
	}{
		{"WriteMessage", len(msg)},
		{"NextWriter, 100-byte writes", 512},
		{"NextWriter, one write", len(msg)},
	} {
		var got []byte
		var sizes []int
		for {
			b0, p, err := wstest.ReadFrame(ex.BR)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			sizes = append(sizes, len(p))
			got = append(got, p...)
			if b0&0x80 != 0 {
				break
			}
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("%s: got %d bytes, want the message", tc.name, len(got))
		}
		if slices.Max(sizes) != tc.largest {
			t.Errorf("%s: frames of %v bytes; want the largest of %d", tc.name, sizes, tc.largest)
		}
	}
}

// gorilla's Upgrader sends no pings; the keep-alive does, with an empty
// payload, and the peer's pongs to them reach the handler's own pong
// handler, next to those answering the handler's pings: a pong handler
// written for gorilla alone must take an empty payload.
func TestKeepAlivePongsReachPongHandler(t *testing.T) {
	t.Parallel()
	pongs := make(chan string, 16)
	s := newServer(t, &websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: testkit.Timeout}, nil, func(c *websocket.Conn) error {
		c.SetPongHandler(func(data string) error {
			select {
			case pongs <- data:
			default:
			}
			return nil
		})
		if err := c.WriteControl(gws.PingMessage, []byte("mine"), time.Now().Add(testkit.Timeout)); err != nil {
			return err
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return err
			}
		}
	})
	c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
	ended := make(chan error, 1)
	go func() { // gorilla's client answers pings inside its reads
		_, _, err := c.ReadMessage()
		ended <- err
	}()
	seen := map[string]bool{}
	for !seen[""] || !seen["mine"] {
		seen[testkit.Receive(t, pongs, "a pong at the handler's pong handler")] = true
	}
	if err := c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), time.Now().Add(testkit.Timeout)); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Receive(t, ended, "the server's close"); !gws.IsCloseError(err, gws.CloseNormalClosure) {
		t.Errorf("client's read: got %v, want the server's close 1000", err)
	}
}

// A handler written for gorilla often returns its read error wrapped
// ("reading: %w"); the peer's normal close inside it still reports nil to
// OnClose, as it does unwrapped, while any other close code, and the 1006
// of a peer that vanished, is reported as the handler returned it.
func TestWrappedPeerCloseReportsNil(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code    int // the peer's close; 0: the peer goes without one
		wantNil bool
	}{
		{gws.CloseNormalClosure, true},
		{gws.CloseGoingAway, true},
		{gws.CloseNoStatusReceived, true},
		{gws.CloseTryAgainLater, false},
		{0, false},
	} {
		s := newServer(t, nil, nil, func(c *websocket.Conn) error {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return fmt.Errorf("chat: reading: %w", err)
				}
			}
		})
		c, _ := wstest.Dial(t, nil, s.ws("/ws"), nil)
		var payload []byte
		switch tc.code {
		case 0:
		case gws.CloseNoStatusReceived:
			payload = []byte{} // a close frame without a code
		default:
			payload = gws.FormatCloseMessage(tc.code, "")
		}
		if payload != nil {
			if err := c.WriteControl(gws.CloseMessage, payload, time.Now().Add(testkit.Timeout)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(); err == nil {
				t.Fatalf("close %d: the server sent a message, want its close", tc.code)
			}
		}
		c.Close()
		ci := s.closes.Next(t)
		if tc.wantNil && ci.Err != nil || !tc.wantNil && ci.Err == nil {
			t.Errorf("close %d: OnClose error %v, want nil: %v", tc.code, ci.Err, tc.wantNil)
		}
	}
}
