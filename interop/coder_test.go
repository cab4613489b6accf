package interop_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/coder/websocket"
)

// TestCoder: github.com/coder/websocket in each of its compression modes.
func TestCoder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode websocket.CompressionMode
	}{
		{"plain", websocket.CompressionDisabled},
		{"no-context-takeover", websocket.CompressionNoContextTakeover},
		// coder offers context takeover; gorilla answers without it, and
		// coder must accept that.
		{"context-takeover", websocket.CompressionContextTakeover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newEchoServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()

			c, resp, err := websocket.Dial(ctx, s.wsURL(), &websocket.DialOptions{CompressionMode: tc.mode})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.CloseNow()
			checkHandshake(t, resp, tc.mode != websocket.CompressionDisabled)
			c.SetReadLimit(2 << 20) // coder's default is 32 KiB

			for _, m := range messages() {
				typ := websocket.MessageText
				if m.binary {
					typ = websocket.MessageBinary
				}
				if err := c.Write(ctx, typ, m.data); err != nil {
					t.Fatalf("%s: write: %v", m.name, err)
				}
				gotType, got, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("%s: read: %v", m.name, err)
				}
				if gotType != typ {
					t.Errorf("%s: echoed as %v, want %v", m.name, gotType, typ)
				}
				if !bytes.Equal(got, m.data) {
					t.Errorf("%s: echo differs: got %d bytes, want %d", m.name, len(got), len(m.data))
				}
			}

			// Close returns nil only when the server answers with the same
			// code.
			if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
				t.Errorf("close: %v", err)
			}
			s.wantServerClose(ctx, t)
		})
	}
}
