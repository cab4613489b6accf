package interop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
)

// TestShutdownGoingAway: the negotiator's Shutdown closes a live WebSocket
// with 1001 (going away), and a real client's answering close lets Shutdown
// return before its deadline.
func TestShutdownGoingAway(t *testing.T) {
	t.Parallel()
	t.Run("gorilla", func(t *testing.T) {
		t.Parallel()
		s := newEchoServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		deadline, _ := ctx.Deadline()
		c, _, err := (&gws.Dialer{HandshakeTimeout: 10 * time.Second}).DialContext(ctx, s.wsURL(), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		c.SetReadDeadline(deadline)
		c.SetWriteDeadline(deadline)
		if err := c.WriteMessage(gws.TextMessage, []byte("before shutdown")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}

		done := shutdown(ctx, s)
		// gorilla answers the close frame from inside ReadMessage.
		_, _, err = c.ReadMessage()
		var ce *gws.CloseError
		if !errors.As(err, &ce) || ce.Code != gws.CloseGoingAway {
			t.Errorf("read during shutdown: %v, want close 1001", err)
		}
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Run("coder", func(t *testing.T) {
		t.Parallel()
		s := newEchoServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, _, err := websocket.Dial(ctx, s.wsURL(), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageText, []byte("before shutdown")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}

		done := shutdown(ctx, s)
		_, _, err = c.Read(ctx)
		if got, want := websocket.CloseStatus(err), websocket.StatusGoingAway; got != want {
			t.Errorf("read during shutdown: %v (status %d), want status %d", err, got, want)
		}
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

// shutdown starts the negotiator's Shutdown, bounded well inside ctx so
// that a connection it cannot close gracefully fails the test rather than
// timing it out.
func shutdown(ctx context.Context, s *echoServer) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- s.n.Shutdown(ctx)
	}()
	return done
}
