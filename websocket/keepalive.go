package websocket

import (
	"errors"
	"net"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"
)

// keepAlive is a connection's keep-alive (Options.PingInterval and
// PongTimeout). It is a runtime timer, not a goroutine: an idle
// connection holds no more than this and the timer, and the callback
// runs in a goroutine of its own only while it pings or checks. Each run
// sends the ping that is due, closes the connection if the watched ping
// is unanswered, and re-arms the timer for the next of the two. One ping
// is watched at a time; any byte from the peer after it counts as its
// answer (a pong, or data that crossed the ping), so a handler may
// replace gorilla's pong handler.
type keepAlive struct {
	// mu is held by each run of tick from start to end, and by stop, which
	// therefore waits for a run under way.
	mu sync.Mutex
	t  *time.Timer

	pingAt  time.Duration // when the next ping is due, as a clock reading
	checkAt time.Duration // when the watched ping must have had an answer; 0: none watched
	before  int64         // bytes read from the peer when the watched ping was sent

	stopped  bool // stop was called: the timer is not re-armed
	timedOut bool // the keep-alive closed the connection
}

// epoch is the origin of clock: time.Since reads the monotonic clock.
var epoch = time.Now()

// clock is a monotonic clock reading, never 0.
func clock() time.Duration { return time.Since(epoch) + 1 }

// startKeepAlive arms the connection's timer for its first ping.
func (c *Conn) startKeepAlive() {
	k := &c.ka
	interval := c.p.opts.PingInterval
	k.mu.Lock()
	k.pingAt = clock() + interval
	k.t = time.AfterFunc(interval, c.tick)
	k.mu.Unlock()
}

// tick is the timer's callback. It writes only with WriteControl, which
// gorilla allows next to the handler's (or any application) writer.
func (c *Conn) tick() {
	k := &c.ka
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	o := &c.p.opts
	now := clock()
	if k.checkAt != 0 && now >= k.checkAt {
		if c.wire.Conn.Info().BytesIn == k.before && c.wire.reading.Load() {
			k.expire(c)
			return
		}
		// Answered; or the handler is not waiting in a read, so an answer
		// could not be seen (gorilla reads control frames only inside the
		// handler's reads): a busy handler, or one that only writes, is
		// not the peer's silence.
		k.checkAt = 0
	}
	if now >= k.pingAt {
		k.pingAt = now + o.PingInterval
		if k.checkAt == 0 {
			k.checkAt, k.before = now+o.PongTimeout, c.wire.Conn.Info().BytesIn
		}
		if err := c.Conn.WriteControl(gws.PingMessage, nil, time.Now().Add(o.PongTimeout)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				k.expire(c) // the peer does not even read
			}
			return // otherwise the WebSocket is closing: a close frame was sent, or the conn is gone
		}
	}
	wake := k.pingAt
	if k.checkAt != 0 && k.checkAt < wake {
		wake = k.checkAt
	}
	k.t.Reset(wake - clock())
}

// expire closes the connection of a peer that stopped answering; the
// handler's read fails and it returns. The timer is not re-armed.
func (k *keepAlive) expire(c *Conn) {
	k.timedOut = true
	_ = c.wire.Conn.Close()
}

// stop stops the keep-alive, waiting for a run of tick under way, and
// reports whether it closed the connection. After it, no run of tick
// touches the connection (one that the timer had just started returns at
// once). It may be called more than once, and without startKeepAlive.
func (k *keepAlive) stop() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	if k.t != nil {
		k.t.Stop()
	}
	return k.timedOut
}
