package demoapp_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// roomURL serves a new room with opts on loopback and returns its ws:// address.
// The server's connections have 64 KiB send buffers, so that the kernel
// holds little of what a member does not read.
func roomURL(t *testing.T, opts *websocket.Options) string {
	t.Helper()
	rm := new(demoapp.Room)
	p, err := websocket.New(opts, rm.Join)
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

// A member that stops reading is dropped once a write to it has made no
// progress for WriteWait, and the room goes on without it: the sender and
// another member get every message, in order, while the silent member's
// connection ends (closed, with no close frame: the write that timed out
// was cut short) after far fewer. Until then the room holds back only
// the sender, whose messages wait in the silent member's queue.
func TestMemberThatStopsReadingIsDropped(t *testing.T) {
	url := roomURL(t, nil)
	sender := join(t, nil, url, "sender")
	other := join(t, nil, url, "other", sender)
	silent := join(t, smallReadBuffer, url, "silent", sender, other)

	const n, window = 800, 16
	pad := strings.Repeat("x", 4<<10)
	msg := func(i int) string { return fmt.Sprintf("%06d %s", i, pad) }

	// The sender keeps at most window messages in flight to itself.
	heard := make(chan int, n)
	senderDone := make(chan error, 1)
	go func() {
		senderDone <- readEach(sender, n, func(i int) string {
			heard <- i
			return msg(i)
		})
	}()
	otherDone := make(chan error, 1)
	go func() { otherDone <- readEach(other, n, msg) }()
	for i := range n {
		if i >= window {
			select {
			case <-heard:
			case err := <-senderDone:
				t.Fatalf("the sender, before message %d: %v", i, err)
			}
		}
		_ = sender.SetWriteDeadline(time.Now().Add(testkit.Timeout + demoapp.WriteWait))
		if err := sender.WriteMessage(gws.TextMessage, []byte(msg(i))); err != nil {
			t.Fatalf("sending message %d: %v", i, err)
		}
	}
	if err := <-senderDone; err != nil { // each read is bounded
		t.Errorf("sender: %v", err)
	}
	if err := <-otherDone; err != nil {
		t.Errorf("other member: %v", err)
	}

	// What reached the silent member before it was dropped, then the end.
	read := 0
	var err error
	for {
		_ = silent.SetReadDeadline(time.Now().Add(testkit.Timeout))
		if _, _, err = silent.ReadMessage(); err != nil {
			break
		}
		read++
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("silent member: still connected after %d messages: %v", read, err)
	} else if gws.IsCloseError(err, gws.CloseNormalClosure, gws.CloseGoingAway) {
		t.Errorf("silent member: %v, want its connection dropped", err)
	}
	if read >= n/2 {
		t.Errorf("silent member got %d of %d messages before it was dropped, want far fewer", read, n)
	}
	// The room goes on without the silent member.
	wstest.WantEcho(t, sender, gws.TextMessage, []byte("still here"))
	if err := readEach(other, 1, func(int) string { return "still here" }); err != nil {
		t.Errorf("other member: %v", err)
	}
	wstest.CloseNormally(t, sender)
	wstest.CloseNormally(t, other)
}

// readEach reads n messages at c and checks that message i is want(i);
// each read is bounded by testkit.Timeout plus demoapp.WriteWait (the
// longest the room may wait for a member that stopped reading).
func readEach(c *gws.Conn, n int, want func(i int) string) error {
	for i := range n {
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout + demoapp.WriteWait))
		_, b, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", i, n, err)
		}
		if string(b) != want(i) {
			return fmt.Errorf("message %d is %.6q…, want %.6q…", i, b, want(i))
		}
	}
	return nil
}

// A client that sends faster than the room can write to its members is
// held back: the room stops reading from it while its messages wait to be
// written. Here the sender writes a burst of 100 messages near the size
// limit (60 KiB of random letters) as ready-made frames in one go, and the
// room must compress each for each of four members (permessage-deflate),
// which takes far longer than reading it. No member that reads is
// dropped: each, the sender too, gets every message, in order, and stays
// in the room. The members read through 256 KiB receive buffers and the
// server writes through 64 KiB send buffers (roomURL), so that the kernel
// hides little of a member's queue. The room used to drop every member
// whose queue the burst had filled, members reading as fast as loopback
// allows among them, with close 1008 "too slow: outbound queue full".
func TestBurstDoesNotDropMembersThatRead(t *testing.T) {
	url := roomURL(t, &websocket.Options{EnableCompression: true})
	d := *smallReadBuffer
	d.EnableCompression = true
	burst := join(t, &d, url, "burst")
	members := []*gws.Conn{burst}
	for _, name := range []string{"a", "b", "c"} {
		members = append(members, join(t, &d, url, name, members...))
	}

	const n = 100
	pad := make([]byte, demoapp.MaxChatMessage-4<<10)
	for i := range pad {
		pad[i] = byte('a' + rand.IntN(26))
	}
	msg := func(i int) string { return fmt.Sprintf("%06d %s", i, pad) }
	done := make(chan error, len(members))
	for _, c := range members {
		go func() { done <- readEach(c, n, msg) }()
	}
	// The frames go straight to the connection, so that the sender is as
	// fast as a client can be; nothing else writes to it meanwhile (the
	// server's first ping is 30 s away).
	var frames []byte
	for i := range n {
		frames = append(frames, wstest.ClientFrame(0x80|gws.TextMessage, []byte(msg(i)))...)
	}
	raw := burst.NetConn()
	_ = raw.SetWriteDeadline(time.Now().Add(4*testkit.Timeout + demoapp.WriteWait))
	if _, err := raw.Write(frames); err != nil {
		t.Errorf("sending the burst: %v", err)
	}
	for range members {
		if err := <-done; err != nil { // each read is bounded
			t.Errorf("a member: %v", err)
		}
	}
	if t.Failed() {
		return
	}
	wstest.WantEcho(t, members[1], gws.TextMessage, []byte("still here"))
	for _, c := range members {
		if c != members[1] {
			if err := readEach(c, 1, func(int) string { return "still here" }); err != nil {
				t.Errorf("after the burst: %v", err)
			}
		}
		wstest.CloseNormally(t, c)
	}
}
