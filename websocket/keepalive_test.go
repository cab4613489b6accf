package websocket_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/websocket"
)

// The keep-alive is on unless turned off, with the values the package
// documents: a ping every 30s, and as long again for an answer.
func TestKeepAliveDefaults(t *testing.T) {
	t.Parallel()
	const def = 30 * time.Second
	for _, tc := range []struct {
		name              string
		opts              *websocket.Options
		interval, timeout time.Duration // resolved; a negative interval: off
	}{
		{"nil options", nil, def, def},
		{"zero options", &websocket.Options{}, def, def},
		{"interval set", &websocket.Options{PingInterval: 10 * time.Second}, 10 * time.Second, 10 * time.Second},
		{"timeout set", &websocket.Options{PongTimeout: 5 * time.Second}, def, 5 * time.Second},
		{"both set", &websocket.Options{PingInterval: time.Minute, PongTimeout: 5 * time.Second}, time.Minute, 5 * time.Second},
		{"off", &websocket.Options{PingInterval: -1}, -1, 0},
	} {
		o, err := websocket.Resolve(tc.opts)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if o.PingInterval != tc.interval || o.PongTimeout != tc.timeout {
			t.Errorf("%s: PingInterval, PongTimeout: got %v, %v; want %v, %v", tc.name, o.PingInterval, o.PongTimeout, tc.interval, tc.timeout)
		}
	}
	if _, err := websocket.New(&websocket.Options{PingInterval: -1}, wstest.Echo); err != nil {
		t.Errorf("keep-alive off: New: %v", err)
	}
}

// A peer that completes the handshake and then sends nothing at all, not
// even a pong, is closed once an answer to a ping is overdue, and the
// connection reports ErrPongTimeout. What it was sent, read only after the
// close, is pings and then the end of the stream.
func TestKeepAliveClosesSilentPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts websocket.Options
	}{
		{"pong timeout by default", websocket.Options{PingInterval: 20 * time.Millisecond}},
		{"pong timeout shorter", websocket.Options{PingInterval: 20 * time.Millisecond, PongTimeout: 5 * time.Millisecond}},
		{"pong timeout longer", websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: 30 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, closes := serveHostile(t, &tc.opts, wstest.Echo)
			p := dialPeer(t, addr)
			if ci := closes.Next(t); !errors.Is(ci.Err, websocket.ErrPongTimeout) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrPongTimeout)
			}
			pings := 0
			for {
				f, err := p.next()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("the server left the connection open")
				}
				if err != nil {
					break
				}
				if f.b0 != finBit|opPing || len(f.payload) != 0 {
					t.Fatalf("frame %d: got %v, want an empty ping", pings, f)
				}
				pings++
			}
			if pings == 0 {
				t.Error("the peer was closed without a ping")
			}
		})
	}
}

// A peer that answers every ping is not closed by the keep-alive, however
// long it stays, while the handler waits in a read: the answer to the
// watched ping clears it, and the next ping is watched. The peer answers
// pings spanning more than twice PongTimeout (counted in pings, which go
// out PingInterval apart at least), then gets its echo and closes
// normally. No other test keeps an answering peer past PongTimeout: with
// the answers not looked at, every test passed.
func TestKeepAliveSparesAnsweringPeer(t *testing.T) {
	t.Parallel()
	// PongTimeout leaves a loaded machine room to run the peer's answer.
	const interval, timeout = 5 * time.Millisecond, 300 * time.Millisecond
	addr, closes := serveHostile(t, &websocket.Options{PingInterval: interval, PongTimeout: timeout}, wstest.Echo)
	p := dialPeer(t, addr)
	for pings := 0; pings < int(2*timeout/interval)+2; pings++ {
		f, err := p.next()
		if err != nil {
			t.Fatalf("after %d pings answered: %v; want the connection open", pings, err)
		}
		if f.b0 != finBit|opPing {
			t.Fatalf("frame after %d pings: got %v, want a ping", pings, f)
		}
		p.send(wstest.ClientFrame(finBit|opPong, f.payload))
	}
	p.send(wstest.ClientFrame(finBit|opText, []byte("still here")))
	if got := p.message(); string(got) != "still here" {
		t.Fatalf("echo after the pings: got %q, want %q", got, "still here")
	}
	p.closeNormally(closes)
}

// A handler that does not read cannot see a pong (gorilla reads control
// frames only inside the handler's reads), so an unanswered ping does not
// close its connection: a handler that only writes keeps its peer. Pings
// still go out, and each one after the first comes after the check of the
// one before it.
func TestKeepAliveSparesHandlerNotReading(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	// PongTimeout is long so that a loaded machine cannot turn a ping's
	// write into a timeout (which rightly closes a peer that does not read).
	addr, closes := serveHostile(t, &websocket.Options{PingInterval: 2 * time.Millisecond, PongTimeout: testkit.Timeout}, func(c *websocket.Conn) error {
		select {
		case <-release:
		case <-c.Context().Done(): // closed: the test has failed
			return nil
		}
		return c.WriteMessage(gws.TextMessage, []byte("done"))
	})
	p := dialPeer(t, addr)
	for i := range 4 {
		if f, err := p.next(); err != nil || f.b0 != finBit|opPing {
			t.Fatalf("frame %d: got %v, %v; want a ping", i, f, err)
		}
	}
	close(release)
	for {
		f, err := p.next()
		if err != nil {
			t.Fatalf("waiting for the handler's message: %v", err)
		}
		if f.b0 == finBit|opPing {
			continue
		}
		if f.b0 != finBit|opText || string(f.payload) != "done" {
			t.Fatalf("got %v %q, want the handler's text message", f, f.payload)
		}
		break
	}
	if f, err := p.next(); err != nil || f.b0 != finBit|opClose {
		t.Fatalf("after the handler's message: got %v, %v; want its close frame", f, err)
	}
	p.Conn.Close()
	if ci := closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

// PongTimeout is how long the peer has to answer each ping, also when it
// is longer than PingInterval and several pings are out at once: a peer
// that answers the first ping and then nothing is closed PongTimeout after
// the next one, the first it left unanswered. Counted in pings, which a
// loaded machine sends fewer of, not more: about PongTimeout/PingInterval
// of them come after the answer. When only a ping sent after the answered
// one's PongTimeout was watched, twice as many came.
func TestKeepAliveTimesEachPing(t *testing.T) {
	t.Parallel()
	const interval, timeout = 10 * time.Millisecond, time.Second
	addr, closes := serveHostile(t, &websocket.Options{PingInterval: interval, PongTimeout: timeout}, wstest.Echo)
	p := dialPeer(t, addr)
	if f, err := p.next(); err != nil || f.b0 != finBit|opPing {
		t.Fatalf("first frame: got %v, %v; want a ping", f, err)
	}
	p.send(wstest.ClientFrame(finBit|opPong, nil))
	pings := 0
	for {
		f, err := p.next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server left the silent peer open")
		}
		if err != nil {
			break // closed by the keep-alive
		}
		if f.b0 != finBit|opPing {
			t.Fatalf("frame %d after the answer: got %v, want a ping", pings, f)
		}
		pings++
	}
	if n := int(timeout / interval); pings > n+n/5 {
		t.Errorf("%d pings came after the answer before the close, want about %d (PongTimeout after the first unanswered one)", pings, n)
	}
	if ci := closes.Next(t); !errors.Is(ci.Err, websocket.ErrPongTimeout) {
		t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrPongTimeout)
	}
}

// A handler that writes a message larger than the sockets hold, to a peer
// that reads it at its own pace, holds gorilla's write lock for as long as
// the frame takes, and the keep-alive's ping waits behind it. That says
// nothing of the peer, which is reading: as long as the socket takes some
// of the frame, the connection is not closed under it (a handler that only
// writes is not closed by the keep-alive). The peer gets the message
// whole, then the close 1000.
func TestKeepAliveSparesLongWrite(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	addr, closes := serveHostile(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: 2 * time.Second}, func(c *websocket.Conn) error {
		return c.WriteMessage(gws.BinaryMessage, make([]byte, size)) // one frame
	})
	p := dialPeer(t, addr)
	var h [10]byte
	for {
		if _, err := io.ReadFull(p.BR, h[:2]); err != nil {
			t.Fatalf("waiting for the message: %v", err)
		}
		if h != [10]byte{finBit | opPing} {
			break
		}
	}
	if _, err := io.ReadFull(p.BR, h[2:]); err != nil || h[0] != finBit|opBinary || h[1] != 127 || binary.BigEndian.Uint64(h[2:]) != size {
		t.Fatalf("frame header % x, %v: want one binary frame of %d bytes", h, err, size)
	}
	// The payload straight from the socket, the first 24 MiB at 64 KiB
	// every 8 ms at most: 3 s or more, while the handler is still writing
	// (the sockets hold a few MiB on loopback), and PingInterval +
	// PongTimeout is 2.005 s; the socket takes some of the frame every few
	// tens of milliseconds. PongTimeout is what a loaded machine may hold
	// the reader for without the keep-alive closing the connection (the
	// socket then takes nothing): at 500 ms a CI run under -race, every
	// package at once, did once. Then the rest as fast as it comes, so that
	// the ping that follows the frame finds room in them in time.
	r := io.MultiReader(io.LimitReader(p.BR, int64(p.BR.Buffered())), p.Conn)
	buf := make([]byte, 64<<10)
	for got := 0; got < size; {
		n, err := io.ReadFull(r, buf[:min(len(buf), size-got)])
		got += n
		if err != nil {
			t.Fatalf("after %d of the message's %d bytes: %v", got, size, err)
		}
		if got < 24<<20 {
			time.Sleep(8 * time.Millisecond)
		}
	}
	p.wantClose(gws.CloseNormalClosure)
	p.Conn.Close()
	if ci := closes.Next(t); ci.Err != nil {
		t.Errorf("OnClose error: got %v, want nil", ci.Err)
	}
}

// A frame that the socket takes nothing of, the peer reading nothing (it
// vanished, or stopped reading), holds gorilla's write lock for ever, and
// no ping can go out: the keep-alive closes the connection PongTimeout
// after the ping that waited for it, as it does a ping the socket does not
// take, whether or not the handler reads meanwhile.
func TestKeepAliveClosesStuckWrite(t *testing.T) {
	t.Parallel()
	for _, reads := range []bool{false, true} {
		t.Run(map[bool]string{false: "handler only writes", true: "handler reads"}[reads], func(t *testing.T) {
			t.Parallel()
			addr, closes := serveHostile(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: 50 * time.Millisecond}, func(c *websocket.Conn) error {
				write := func() error { return c.WriteMessage(gws.BinaryMessage, make([]byte, 64<<20)) }
				if !reads {
					return write()
				}
				wrote := make(chan error, 1)
				go func() { wrote <- write() }()
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						<-wrote
						return err
					}
				}
			})
			p := dialPeer(t, addr) // and never read from
			if ci := closes.Next(t); !errors.Is(ci.Err, websocket.ErrPongTimeout) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrPongTimeout)
			}
			p.Conn.Close()
		})
	}
}

// A write of the handler's own that timed out (its write deadline passed,
// the peer reading nothing) makes gorilla fail every write after it, the
// keep-alive's pings too. That is not the peer's silence: no ping went
// out. The keep-alive still closes the connection, which can send nothing
// more, but the connection reports the write's timeout, not
// ErrPongTimeout.
func TestKeepAliveAfterHandlerWriteTimeout(t *testing.T) {
	t.Parallel()
	// PongTimeout is long: the ping that waits behind the handler's frame
	// gets gorilla's write lock when the frame's own deadline ends it.
	addr, closes := serveHostile(t, &websocket.Options{PingInterval: 5 * time.Millisecond, PongTimeout: testkit.Timeout}, func(c *websocket.Conn) error {
		wrote := make(chan error, 1)
		go func() {
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			wrote <- c.WriteMessage(gws.BinaryMessage, make([]byte, 64<<20))
		}()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				if werr := <-wrote; werr == nil {
					t.Error("the handler's write did not fail")
				}
				return err
			}
		}
	})
	p := dialPeer(t, addr) // and never read from
	ci := closes.Next(t)
	var ne net.Error
	if errors.Is(ci.Err, websocket.ErrPongTimeout) || !errors.As(ci.Err, &ne) || !ne.Timeout() {
		t.Errorf("OnClose error: got %v, want the handler's write timeout", ci.Err)
	}
	p.Conn.Close()
}
