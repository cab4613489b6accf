package demoapp_test

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// roomURL serves a new room on loopback and returns its ws:// address.
// The server's connections have 64 KiB send buffers, so that the kernel
// holds little of what a member does not read.
func roomURL(t *testing.T) string {
	t.Helper()
	rm := new(demoapp.Room)
	p, err := websocket.New(nil, rm.Join)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	return wstest.URL(srv.URL, "/")
}

type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	}
	return c, err
}

// join dials the room with d and returns the new member once it is in the
// room: it says its name and reads until it hears itself, and so does
// every member already in, which hears it too.
func join(t *testing.T, d *gws.Dialer, url, name string, in ...*gws.Conn) *gws.Conn {
	t.Helper()
	c, _ := wstest.Dial(t, d, url, nil)
	if err := c.WriteMessage(gws.TextMessage, []byte(name)); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(in, c) {
		for {
			_, msg, err := m.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s to join: %v", name, err)
			}
			if string(msg) == name {
				break
			}
		}
	}
	return c
}

// smallReadBuffer dials with a 256 KiB receive buffer, so that the kernel
// holds little of what a member does not read (not smaller: a window under
// the loopback MSS stalls the sender).
var smallReadBuffer = &gws.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
	c, err := net.Dial(network, addr)
	if err == nil {
		err = c.(*net.TCPConn).SetReadBuffer(256 << 10)
	}
	return c, err
}}

// A member that reads steadily but too slowly (one message for every
// eight the others read) does not hold up the room: the sender and another
// member get every message, in order, while the slow one falls behind,
// and it is dropped with close 1008 and a reason once its queue is full,
// after far fewer messages. The room's old way, writing to each member
// from the sender's goroutine, made everyone wait for the slow member
// until its write timed out, and then dropped it without a close frame.
func TestSlowMemberDoesNotHoldUpTheRoom(t *testing.T) {
	url := roomURL(t)
	sender := join(t, nil, url, "sender")
	other := join(t, nil, url, "other", sender)
	slow := join(t, smallReadBuffer, url, "slow", sender, other)

	const n, window, pace = 800, 16, 8
	pad := strings.Repeat("x", 4<<10)
	msg := func(i int) string { return fmt.Sprintf("%06d %s", i, pad) }

	// readAll reads the n messages at c, in order; each one read goes to
	// got, if not nil, and every pace-th one to tick, if not nil.
	readAll := func(c *gws.Conn, got, tick chan<- int) <-chan error {
		done := make(chan error, 1)
		go func() {
			if tick != nil {
				defer close(tick)
			}
			for i := range n {
				_, b, err := c.ReadMessage()
				if err != nil {
					done <- fmt.Errorf("after %d messages: %w", i, err)
					return
				}
				if string(b) != msg(i) {
					done <- fmt.Errorf("message %d is %.6q…, want %06d", i, b, i)
					return
				}
				if got != nil {
					got <- i
				}
				if tick != nil && i%pace == pace-1 {
					tick <- i
				}
			}
			done <- nil
		}()
		return done
	}
	heard := make(chan int, n)
	tick := make(chan int, n)
	senderDone := readAll(sender, heard, tick)
	otherDone := readAll(other, nil, nil)

	// The slow member reads one message per tick while the others read,
	// then all that is left, until the connection ends.
	type result struct {
		read int
		err  error
	}
	slowDone := make(chan result, 1)
	go func() {
		read := 0
		for range tick {
			if _, _, err := slow.ReadMessage(); err != nil {
				slowDone <- result{read, err}
				return
			}
			read++
		}
		for {
			if _, _, err := slow.ReadMessage(); err != nil {
				slowDone <- result{read, err}
				return
			}
			read++
		}
	}()

	// The sender keeps at most window messages in flight to itself.
	for i := range n {
		if i >= window {
			testkit.Receive(t, heard, fmt.Sprintf("the sender hearing message %d", i-window))
		}
		if err := sender.WriteMessage(gws.TextMessage, []byte(msg(i))); err != nil {
			t.Fatalf("sending message %d: %v", i, err)
		}
	}
	if err := testkit.Receive(t, senderDone, "the sender's messages"); err != nil {
		t.Errorf("sender: %v", err)
	}
	if err := testkit.Receive(t, otherDone, "the other member's messages"); err != nil {
		t.Errorf("other member: %v", err)
	}
	r := testkit.Receive(t, slowDone, "the slow member's end")
	var ce *gws.CloseError
	if !errors.As(r.err, &ce) || ce.Code != gws.ClosePolicyViolation || ce.Text == "" {
		t.Errorf("slow member: read ended with %v, want close 1008 with a reason", r.err)
	}
	if r.read >= n/2 {
		t.Errorf("slow member read %d of %d messages before it was dropped, want far fewer", r.read, n)
	}
	// The room goes on without the slow member.
	wstest.WantEcho(t, sender, gws.TextMessage, []byte("still here"))
	wstest.CloseNormally(t, sender)
	wstest.CloseNormally(t, other)
}
