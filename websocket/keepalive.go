package websocket

import (
	"container/heap"
	"errors"
	"net"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"
)

// keepAlive is a connection's keep-alive (Options.PingInterval and
// PongTimeout). It is neither a goroutine nor a timer of its own: the
// connection has a place in its protocol's schedule, one runtime timer for
// all of them, so that an idle connection holds only this struct, and a
// run (tick) goes in a goroutine of its own only while it pings or checks.
// Each run sends the ping that is due, closes the connection if the
// watched ping is unanswered, and puts the connection back in the schedule
// for the next of the two. One ping is watched at a time; any byte from
// the peer after it counts as its answer (a pong, or data that crossed the
// ping), so a handler may replace gorilla's pong handler. Every run looks
// for the answer, so that when PongTimeout is longer than PingInterval the
// first ping sent after it is watched next, not one sent after the watched
// ping's PongTimeout.
type keepAlive struct {
	// mu is held by each run of tick from start to end, and by stop, which
	// therefore waits for a run under way.
	mu sync.Mutex

	pingAt  time.Duration // when the next ping is due, as a clock reading
	checkAt time.Duration // when the watched ping must have had an answer; 0: none watched
	before  int64         // bytes read from the peer when the watched ping was sent

	// The connection's place in the schedule, under the schedule's mu:
	// when its next run is due, and its index in the heap plus one (0: not
	// in it).
	wake time.Duration
	slot int32

	stopped bool  // stop was called: the connection is not scheduled again
	expired uint8 // why the keep-alive closed the connection; 0: it did not
}

// Why the keep-alive closed a connection.
const (
	expiredPong  = 1 + iota // an answer to a ping was overdue, or the socket took nothing for PongTimeout
	expiredWrite            // a write of the handler's had failed, so no ping could go out
)

// epoch is the origin of clock: time.Since reads the monotonic clock.
var epoch = time.Now()

// clock is a monotonic clock reading, never 0.
func clock() time.Duration { return time.Since(epoch) + 1 }

// startKeepAlive schedules the connection's first ping.
func (c *Conn) startKeepAlive() {
	k := &c.ka
	k.mu.Lock()
	k.pingAt = clock() + c.p.opts.PingInterval
	c.p.keepAlive.add(c, k.pingAt)
	k.mu.Unlock()
}

// tick is a scheduled run, in a goroutine of its own. It writes only with
// WriteControl, which gorilla allows next to the handler's (or any
// application) writer.
func (c *Conn) tick() {
	k := &c.ka
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped {
		return
	}
	o := &c.p.opts
	now := clock()
	in := c.wire.Conn.Info().BytesIn
	if k.checkAt != 0 && in != k.before {
		// Answered, whenever the answer is due: with PongTimeout longer
		// than PingInterval, the ping this run sends is the one to watch.
		k.checkAt = 0
	}
	if k.checkAt != 0 && now >= k.checkAt {
		if c.wire.reading.Load() {
			k.expire(c, expiredPong)
			return
		}
		// The handler is not waiting in a read, so an answer could not be
		// seen (gorilla reads control frames only inside the handler's
		// reads): a busy handler, or one that only writes, is not the
		// peer's silence.
		k.checkAt = 0
	}
	if now >= k.pingAt {
		k.pingAt = now + o.PingInterval
		watch := k.checkAt == 0
		if watch {
			k.checkAt, k.before = now+o.PongTimeout, in
		}
		out := c.wire.Conn.Info().BytesOut
		deadline := time.Now().Add(o.PongTimeout)
		if err := c.Conn.WriteControl(gws.PingMessage, nil, deadline); err != nil {
			var ne net.Error
			switch {
			case !errors.As(err, &ne) || !ne.Timeout():
				return // the WebSocket is closing: a close frame was sent, or the conn is gone
			case time.Now().Before(deadline):
				// Not this ping's timeout (its wait for gorilla's write
				// lock and its write both end at deadline): the error of
				// an earlier write, the handler's, which timed out, and
				// which gorilla returns for every write after it. No ping
				// can go out any more.
				k.expire(c, expiredWrite)
				return
			case c.wire.Conn.Info().BytesOut == out:
				// gorilla's write lock was held for all of PongTimeout, by
				// a frame of the application's (or a close frame), or the
				// ping's own write timed out, and the socket took nothing
				// meanwhile: the peer reads nothing, or too slowly for
				// what is queued, and gorilla fails every later write.
				k.expire(c, expiredPong)
				return
			}
			// The socket took some of a frame the ping waited behind: a
			// large message to a peer that reads it at its pace, no sign
			// of the peer's silence. No ping went out, so none is watched;
			// the next goes when it is due.
			if watch {
				k.checkAt = 0
			}
		}
	}
	wake := k.pingAt
	if k.checkAt != 0 && k.checkAt < wake {
		wake = k.checkAt
	}
	c.p.keepAlive.add(c, wake)
}

// expire closes the connection of a peer that stopped answering (or one
// that can send nothing more), for the reason why; the handler's read
// fails and it returns. It is not scheduled again.
func (k *keepAlive) expire(c *Conn, why uint8) {
	k.expired = why
	_ = c.wire.Conn.Close()
}

// stopKeepAlive stops the keep-alive, waiting for a run of tick under
// way, and reports why it closed the connection (0: it did not). After
// it, no run of tick touches the connection (one that the schedule had
// just started returns at once) and the schedule holds no reference to
// it. It may be called more than once, and without startKeepAlive.
func (c *Conn) stopKeepAlive() uint8 {
	k := &c.ka
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	c.p.keepAlive.remove(c)
	return k.expired
}

// schedule is a protocol's keep-alive timer: its connections in a heap
// ordered by their next run, and one runtime timer armed for the earliest.
// A timer per connection would cost every connection the timer and its
// func (about 130 bytes, two allocations at the switch) and the runtime a
// timer per connection in its heaps.
type schedule struct {
	mu    sync.Mutex
	conns connHeap
	t     *time.Timer
	armed time.Duration // the wake t is armed for; 0: none
}

// add schedules c's next run at wake; c is not in the schedule.
func (s *schedule) add(c *Conn, wake time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.ka.wake = wake
	heap.Push(&s.conns, c)
	s.arm()
}

// remove takes c out of the schedule, if it is there. The timer stays
// armed: a run with nothing due arms it for what is left.
func (s *schedule) remove(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ka.slot == 0 {
		return
	}
	heap.Remove(&s.conns, int(c.ka.slot)-1)
	if n := cap(s.conns); n > 64 && len(s.conns) < n/4 {
		s.conns = append(make(connHeap, 0, n/2), s.conns...) // let a crowd that left go
	}
}

// fire is the timer's callback: each connection whose run is due leaves
// the schedule and runs tick in a goroutine of its own (which puts it
// back); then the timer is armed for the next.
func (s *schedule) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = 0
	now := clock()
	for len(s.conns) > 0 && s.conns[0].ka.wake <= now {
		go heap.Pop(&s.conns).(*Conn).tick()
	}
	s.arm()
}

// arm makes the timer fire at the earliest wake, unless it already fires
// no later. Under mu.
func (s *schedule) arm() {
	if len(s.conns) == 0 {
		return
	}
	w := s.conns[0].ka.wake
	if s.armed != 0 && s.armed <= w {
		return
	}
	s.armed = w
	if s.t == nil {
		s.t = time.AfterFunc(w-clock(), s.fire)
	} else {
		s.t.Reset(w - clock())
	}
}

// connHeap is heap.Interface over connections by their next run; each
// connection's ka.slot is its index plus one while it is in the heap.
type connHeap []*Conn

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return h[i].ka.wake < h[j].ka.wake }

func (h connHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ka.slot, h[j].ka.slot = int32(i+1), int32(j+1)
}

func (h *connHeap) Push(x any) {
	c := x.(*Conn)
	*h = append(*h, c)
	c.ka.slot = int32(len(*h))
}

func (h *connHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.ka.slot = 0
	return c
}
