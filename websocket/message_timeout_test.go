package websocket_test

// Options.MessageTimeout: a message the peer has started must be finished
// in time, or the connection fails with 1008, however steadily the peer
// answers pings; messages that do arrive in time, idle time between
// messages, a handler's slowness between its reads and the handler's own
// read deadline are untouched by it.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/websocket"
)

// A peer that starts a message and then only answers pings keeps the
// keep-alive satisfied for ever; MessageTimeout fails it with 1008 and a
// reason, and the connection reports ErrMessageTimeout.
func TestMessageTimeoutFailsUnfinishedMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		whole string // a whole message sent first, which must come back
		first []byte // the first frame of the message that never ends
	}{
		{"text", "", wstest.ClientFrame(opText, []byte("unfinished"))},
		{"binary", "", wstest.ClientFrame(opBinary, []byte{1, 2, 3})},
		{"text after a whole message", "whole", wstest.ClientFrame(opText, []byte("half"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Pings every 5ms, answered; a long PongTimeout so that a loaded
			// machine cannot make the keep-alive close it instead.
			opts := &websocket.Options{MessageTimeout: 100 * time.Millisecond, PingInterval: 5 * time.Millisecond, PongTimeout: testkit.Timeout}
			addr, closes := serveHostile(t, opts, echoUncompressed)
			p := dialPeer(t, addr)
			if tc.whole != "" {
				p.send(wstest.ClientFrame(finBit|opText, []byte(tc.whole)))
				if got := string(p.message()); got != tc.whole {
					t.Fatalf("echo: got %q, want %q", got, tc.whole)
				}
			}
			p.send(tc.first)
			f, pings := p.serverClose(true)
			if want := "\x03\xf0message not finished in time"; string(f.payload) != want { // 1008
				t.Errorf("close: got %q, want %q", f.payload, want)
			}
			if pings == 0 {
				t.Error("no ping came before the close: the test did not show that answering pings is not enough")
			}
			p.Conn.Close()
			if ci := closes.Next(t); !errors.Is(ci.Err, websocket.ErrMessageTimeout) {
				t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrMessageTimeout)
			}
		})
	}
}

// Messages whose frames keep arriving within the bound are delivered
// whole, one after another for longer than the bound in all, and so is
// one that spans many reads; the time between messages is not bounded.
func TestMessageTimeoutSparesMessagesInTime(t *testing.T) {
	t.Parallel()
	const bound = time.Second // the peer's turns count: a loaded machine's too
	addr, closes := serveHostile(t, &websocket.Options{MessageTimeout: bound}, echoUncompressed)
	p := dialPeer(t, addr)
	fragmented := func(i int) {
		t.Helper()
		s := strconv.Itoa(i)
		p.send(wstest.ClientFrame(opText, []byte("a"+s)))
		time.Sleep(bound / 20) // pacing: the message spans reads
		p.send(wstest.ClientFrame(opCont, []byte("b")))
		time.Sleep(bound / 20)
		p.send(wstest.ClientFrame(finBit|opCont, []byte("c")))
		if got, want := string(p.message()), "a"+s+"bc"; got != want {
			t.Fatalf("message %d: got %q, want %q", i, got, want)
		}
	}
	for i := range 4 {
		fragmented(i)
		time.Sleep(bound / 4) // pacing: four messages take longer than the bound
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB: many reads
	p.send(wstest.ClientFrame(finBit|opBinary, big))
	if got := p.message(); !bytes.Equal(got, big) {
		t.Fatalf("big message: got %d bytes, want %d", len(got), len(big))
	}
	time.Sleep(2 * bound) // idle, not in a message: no bound applies
	fragmented(4)
	p.closeNormally(closes)
}

// The bound is per message, not per stream of messages: a peer whose
// every write carries the end of one message and the start of the next
// never has the server between messages at the end of a read, yet each
// message arrives well within the bound. All must come back, though the
// stream lasts twice the bound. (Each message's wait includes the peer's
// turn: it reads the echo before it sends the rest. A bound of 500 ms was
// passed by a peer a CI run under -race held that long.)
func TestMessageTimeoutRestartsWithEachMessage(t *testing.T) {
	t.Parallel()
	const (
		bound = 2 * time.Second
		gap   = bound / 25 // what each message takes, far under the bound
		n     = 50         // messages: the stream lasts at least n*gap, twice the bound
	)
	addr, closes := serveHostile(t, &websocket.Options{MessageTimeout: bound}, echoUncompressed)
	p := dialPeer(t, addr)
	payloads, frames := make([][]byte, n), make([][]byte, n)
	for i := range n {
		payloads[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 100)
		frames[i] = wstest.ClientFrame(finBit|opBinary, payloads[i])
	}
	half := len(frames[0]) / 2
	p.send(frames[0][:half])
	for i := range n {
		time.Sleep(gap) // pacing: message i spans two reads, gap apart
		w := frames[i][half:]
		if i+1 < n {
			w = append(w[:len(w):len(w)], frames[i+1][:half]...) // and the next one begins in the same write
		}
		p.send(w)
		if got := p.message(); !bytes.Equal(got, payloads[i]) {
			t.Fatalf("message %d: got %.20q (%d bytes), want %.20q (%d bytes)", i, got, len(got), payloads[i], len(payloads[i]))
		}
	}
	p.closeNormally(closes)
}

// The bound is on the peer: time the handler spends between its reads of
// a message (its own work) does not count, so a message that has arrived
// whole is not failed because the handler was slow to read it.
func TestMessageTimeoutSparesSlowHandler(t *testing.T) {
	t.Parallel()
	const bound = 50 * time.Millisecond
	addr, closes := serveHostile(t, &websocket.Options{MessageTimeout: bound}, func(c *websocket.Conn) error {
		for {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			var first [1]byte
			if _, err := io.ReadFull(r, first[:]); err != nil {
				return err
			}
			time.Sleep(3 * bound) // the handler's slow work, with the message under way
			rest, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if err := c.WriteMessage(gws.TextMessage, []byte(strconv.Itoa(1+len(rest)))); err != nil {
				return err
			}
		}
	})
	p := dialPeer(t, addr)
	const n = 64 << 10 // more than gorilla's 4 KiB buffer: the handler's reads wait on the wire
	p.send(wstest.ClientFrame(finBit|opBinary, make([]byte, n)))
	if got := string(p.message()); got != strconv.Itoa(n) {
		t.Fatalf("the handler read %s bytes, want %d", got, n)
	}
	p.closeNormally(closes)
}

// A handler's own read deadline keeps its meaning: the earlier of it and
// the message's bound applies, the handler's expiring first is the
// handler's plain timeout (not ErrMessageTimeout, and the close is the
// handler's error, 1011), and it still applies after a message that was
// under the bound has ended.
func TestMessageTimeoutKeepsHandlerDeadline(t *testing.T) {
	t.Parallel()
	const short, long = 100 * time.Millisecond, testkit.Timeout / 2
	for _, tc := range []struct {
		name            string
		deadline, bound time.Duration
		frames          [][]byte // sent one by one, a little apart
		echo            string   // the message that must come back first; "" for none
		code            int      // the server's close code
		messageTimeout  bool     // OnClose reports ErrMessageTimeout; else the handler's timeout
	}{
		{"handler's deadline first", short, long, [][]byte{wstest.ClientFrame(opText, []byte("half"))}, "", gws.CloseInternalServerErr, false},
		{"message's bound first", long, short, [][]byte{wstest.ClientFrame(opText, []byte("half"))}, "", gws.ClosePolicyViolation, true},
		{"handler's deadline after a message", short, long, [][]byte{
			wstest.ClientFrame(opText, []byte("a")), wstest.ClientFrame(finBit|opCont, []byte("b")),
		}, "ab", gws.CloseInternalServerErr, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, closes := serveHostile(t, &websocket.Options{MessageTimeout: tc.bound}, func(c *websocket.Conn) error {
				if err := c.SetReadDeadline(time.Now().Add(tc.deadline)); err != nil {
					return err
				}
				return echoUncompressed(c)
			})
			p := dialPeer(t, addr)
			for _, f := range tc.frames {
				p.send(f)
				time.Sleep(short / 10) // pacing: each frame its own read
			}
			if tc.echo != "" {
				if got := string(p.message()); got != tc.echo {
					t.Fatalf("echo: got %q, want %q", got, tc.echo)
				}
			}
			p.wantClose(tc.code)
			p.Conn.Close()
			ci := closes.Next(t)
			var ne net.Error
			switch {
			case tc.messageTimeout && !errors.Is(ci.Err, websocket.ErrMessageTimeout):
				t.Errorf("OnClose error: got %v, want %v", ci.Err, websocket.ErrMessageTimeout)
			case !tc.messageTimeout && (errors.Is(ci.Err, websocket.ErrMessageTimeout) || !errors.As(ci.Err, &ne) || !ne.Timeout()):
				t.Errorf("OnClose error: got %v, want the handler's read timeout", ci.Err)
			}
		})
	}
}

// MessageTimeout's default and its off switch.
func TestMessageTimeoutDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts *websocket.Options
		want time.Duration
	}{
		{"nil options", nil, time.Minute},
		{"zero options", &websocket.Options{}, time.Minute},
		{"set", &websocket.Options{MessageTimeout: time.Second}, time.Second},
		{"off", &websocket.Options{MessageTimeout: -1}, -1},
	} {
		o, err := websocket.Resolve(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if o.MessageTimeout != tc.want {
			t.Errorf("%s: MessageTimeout: got %v, want %v", tc.name, o.MessageTimeout, tc.want)
		}
	}
}
