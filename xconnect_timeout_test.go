package switchyard_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// MessageTimeout counts only the time the server waits in reads, on an
// HTTP/2 stream as on a connection of its own: a handler that works
// between two reads of a message does not fail a peer that sent the rest
// in time. A stream's read cannot go on once a deadline has passed, so
// the bound must not pass while the handler works; it did, and the
// message failed with 1008 over HTTP/2 only.
func TestMessageTimeoutSparesSlowHandlerOverStreams(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		const bound = time.Second
		got := make(chan string, 1)
		ws, err := websocket.New(&websocket.Options{MessageTimeout: bound}, func(c *websocket.Conn) error {
			_, r, err := c.NextReader()
			if err != nil {
				got <- err.Error()
				return err
			}
			first := make([]byte, 3)
			if _, err := io.ReadFull(r, first); err != nil {
				got <- err.Error()
				return err
			}
			time.Sleep(bound * 4 / 5) // the handler's own work, with the message under way
			rest, err := io.ReadAll(r)
			if err != nil {
				got <- err.Error()
				return err
			}
			got <- string(first) + string(rest)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.Register("websocket", ws)
		s := startXServer(t, n.Middleware(reg)(http.NotFoundHandler()), n, useTLS)
		c, _ := wstest.Dial(t, s.client.WebSocketDialer(), s.wsURL("/"), nil)
		defer c.Close()
		if _, err := c.NetConn().Write(wstest.ClientFrame(0x01, []byte("abc"))); err != nil {
			t.Fatal(err)
		}
		// The rest comes after more than the bound in all, but after less
		// than half of it of the server's waiting: the handler works for
		// four fifths of it.
		time.Sleep(bound * 6 / 5)
		if _, err := c.NetConn().Write(wstest.ClientFrame(0x80, []byte("def"))); err != nil {
			t.Fatal(err)
		}
		if msg := testkit.Receive(t, got, "the handler's message"); msg != "abcdef" {
			t.Errorf("the handler read %q, want abcdef", msg)
		}
	})
}
