package switchyard_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
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

// A read of a stream that its deadline ends fails as a net.Conn's does:
// with an error whose Timeout method reports true (code that asserts
// net.Error, as net/http does, must see a timeout), and which is
// os.ErrDeadlineExceeded. Both for a read that was waiting when the
// deadline passed and for one that started after.
func TestXConnectReadDeadlineErrorIsATimeout(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		errs := make(chan error, 2)
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("deadline/1", func(c *negotiate.Conn) error {
			if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				return err
			}
			buf := make([]byte, 1)
			for range 2 { // waiting when it passes, then after
				_, err := c.Read(buf)
				errs <- err
			}
			return nil
		})
		s := startXServer(t, n.Middleware(reg)(http.NotFoundHandler()), n, useTLS)
		st, _, err := s.dial(t, "/", "deadline/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, when := range []string{"waiting", "after"} {
			err := testkit.Receive(t, errs, "the read that the deadline ends")
			ne, ok := err.(net.Error)
			if !ok || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("read %s the deadline: %T %v; want a net.Error that is a timeout and os.ErrDeadlineExceeded", when, err, err)
			}
		}
	})
}

// A read deadline that passes while a read of a stream waits ends the
// stream's reads for good, as the negotiate package doc says and unlike a
// net.Conn's: with the deadline cleared and the client's bytes arriving,
// the next read fails too. (The README said deadlines on a stream behave
// as on a net.Conn, which a protocol that polls with read deadlines, as
// it may on a connection of its own, cannot rely on.)
func TestXConnectReadDeadlineEndsReadsForGood(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		errs := make(chan error, 2)
		cleared := make(chan struct{})
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("poll/1", func(c *negotiate.Conn) error {
			if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				return err
			}
			buf := make([]byte, 1)
			_, err := c.Read(buf) // waiting when the deadline passes
			errs <- err
			if err := c.SetReadDeadline(time.Time{}); err != nil {
				return err
			}
			close(cleared)
			k, err := c.Read(buf) // the client's byte is on its way
			if k > 0 {
				err = errors.New("read the client's byte after the deadline was cleared")
			}
			errs <- err
			return nil
		})
		s := startXServer(t, n.Middleware(reg)(http.NotFoundHandler()), n, useTLS)
		st, _, err := s.dial(t, "/", "poll/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := testkit.Receive(t, errs, "the read the deadline ends"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the read waiting at the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		testkit.Receive(t, cleared, "the deadline cleared")
		// The read fails at once, so the serve func may have returned and
		// ended the stream before this write: its error tells nothing.
		_, _ = io.WriteString(st, "x")
		if err := testkit.Receive(t, errs, "the read after the deadline was cleared"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the read after the deadline was cleared: %v, want os.ErrDeadlineExceeded (the stream's reads ended for good)", err)
		}
	})
}
