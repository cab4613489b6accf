package websocket_test

// What a program that used gorilla's Upgrader directly relies on, and
// where this package answers otherwise, on loopback.

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"

	"github.com/switchyard-http/switchyard/internal/wstest"
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
