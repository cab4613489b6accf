package interop_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"
)

// TestGorillaDialer: gorilla's own client, with and without
// permessage-deflate.
func TestGorillaDialer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		compress bool
	}{
		{"plain", false},
		{"deflate", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newEchoServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			deadline, _ := ctx.Deadline()

			var wire countingDialer
			d := gws.Dialer{EnableCompression: tc.compress, HandshakeTimeout: 10 * time.Second, NetDialContext: wire.DialContext}
			c, resp, err := d.DialContext(ctx, s.wsURL(), nil)
			if err != nil {
				t.Fatalf("dial: %v (response %v)", err, resp)
			}
			defer c.Close()
			checkHandshake(t, resp, tc.compress)
			c.SetReadDeadline(deadline)
			c.SetWriteDeadline(deadline)

			for _, m := range messages() {
				typ := gws.TextMessage
				if m.binary {
					typ = gws.BinaryMessage
				}
				before := wire.read.Load()
				if err := c.WriteMessage(typ, m.data); err != nil {
					t.Fatalf("%s: write: %v", m.name, err)
				}
				gotType, got, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("%s: read: %v", m.name, err)
				}
				if gotType != typ {
					t.Errorf("%s: echoed as type %d, want %d", m.name, gotType, typ)
				}
				if !bytes.Equal(got, m.data) {
					t.Errorf("%s: echo differs: got %d bytes, want %d", m.name, len(got), len(m.data))
				}
				// Negotiating is not enough: the server must also deflate
				// what it writes (the 1 MiB message compresses tenfold).
				if onWire := wire.read.Load() - before; tc.compress && len(m.data) == 1<<20 && onWire > 1<<19 {
					t.Errorf("%s: %d bytes on the wire for a %d-byte echo: the server did not compress", m.name, onWire, len(m.data))
				}
			}

			// The client starts the close; the server's handler sees 1000
			// and gorilla answers with the same code.
			if err := c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, "done"), deadline); err != nil {
				t.Fatalf("write close: %v", err)
			}
			_, _, err = c.ReadMessage()
			var ce *gws.CloseError
			if !errors.As(err, &ce) || ce.Code != gws.CloseNormalClosure {
				t.Errorf("after close, read %v, want the server's close 1000", err)
			}
			s.wantServerClose(ctx, t)
		})
	}
}

// countingDialer dials TCP and counts the bytes read from the server.
type countingDialer struct{ read atomic.Int64 }

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &d.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
