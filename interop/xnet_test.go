package interop_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// TestXNet: golang.org/x/net/websocket, which offers no extensions.
func TestXNet(t *testing.T) {
	t.Parallel()
	s := newEchoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	// x/net requires an Origin; the server's own is same-origin.
	cfg, err := websocket.NewConfig(s.wsURL(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, err := cfg.DialContext(dctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	// x/net does not expose the 101; a completed dial means it checked
	// Upgrade, Connection and Sec-WebSocket-Accept.

	for _, m := range messages() {
		c.PayloadType = websocket.TextFrame
		if m.binary {
			c.PayloadType = websocket.BinaryFrame
		}
		if _, err := c.Write(m.data); err != nil {
			t.Fatalf("%s: write: %v", m.name, err)
		}
		// x/net's Receive returns one frame, not one message, and gorilla
		// fragments large messages at its write buffer size: take the
		// first frame with its type, then the continuations as a stream.
		var got []byte
		var gotType byte
		typed := websocket.Codec{Unmarshal: func(data []byte, payloadType byte, _ any) error {
			got, gotType = data, payloadType
			return nil
		}}
		if err := typed.Receive(c, nil); err != nil {
			t.Fatalf("%s: read: %v", m.name, err)
		}
		if gotType != c.PayloadType {
			t.Errorf("%s: echoed as frame type %d, want %d", m.name, gotType, c.PayloadType)
		}
		if n := len(got); n < len(m.data) {
			got = append(got, make([]byte, len(m.data)-n)...)
			if _, err := io.ReadFull(c, got[n:]); err != nil {
				t.Fatalf("%s: read continuation: %v", m.name, err)
			}
		}
		if !bytes.Equal(got, m.data) {
			t.Errorf("%s: echo differs: got %d bytes, want %d", m.name, len(got), len(m.data))
		}
	}

	// x/net's Close sends close 1000 and closes the socket without waiting
	// for the answer, so only the server's side can be checked.
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	s.wantServerClose(ctx, t)
}
