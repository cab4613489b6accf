package websocket

import (
	"errors"
	"net"
	"time"
)

// Options.MessageTimeout is kept with the connection's read deadline:
// while a message is under way (its first frame has begun and its last
// has not ended, as inbound follows them), the deadline gorilla's reads
// run under is the earlier of the handler's own and the message's bound.
// The bound is each message's own: a read that ends one message and
// begins the next restarts it, forgetting the time waited for the one
// before (inbound.began tells), so a peer that streams messages back to
// back, every write holding the end of one and the start of the next, is
// never bounded as one endless message.
// A message that arrives within one read of the connection, as most do,
// costs nothing; one that spans reads costs two deadline changes, and
// three clock readings per read. Only the time spent waiting in reads
// counts: before each read, the bound moves later by the time the handler
// spent since the last one (when that is a millisecond or more), so that
// it passes only once the reads have waited MessageTimeout in all for the
// message, and its passing is final. It must not pass while the handler
// works and be given back after: a read of an HTTP/2 stream cannot go on
// once a deadline has passed.

// readWire reads the connection, under the message's bound while one is
// under way.
func (w *wireConn) readWire(p []byte) (int, error) {
	retried := false
	for {
		if !w.bounded {
			return w.readConn(p)
		}
		w.extendMessageDeadline(time.Now().Add(w.c.p.opts.MessageTimeout - w.waited).UnixNano())
		start := clock()
		n, err := w.readConn(p)
		w.waited += clock() - start
		var ne net.Error
		if n > 0 || !errors.As(err, &ne) || !ne.Timeout() || w.handlerExpired() {
			return n, err
		}
		// What is left is under the millisecond the bound may lag by, or
		// a clock's rounding: wait for it once (a socket can), no more.
		left := w.c.p.opts.MessageTimeout - w.waited
		if left < time.Millisecond || retried {
			return 0, w.failRead(errMessageTimeout)
		}
		retried = true
		w.setMessageDeadline(time.Now().Add(left).UnixNano())
	}
}

// extendMessageDeadline moves the message's bound to end if that is a
// millisecond or more later.
func (w *wireConn) extendMessageDeadline(end int64) {
	w.dl.Lock()
	defer w.dl.Unlock()
	if end-w.msgDeadline >= int64(time.Millisecond) {
		w.msgDeadline = end
		_ = w.applyDeadline()
	}
}

func (w *wireConn) readConn(p []byte) (int, error) {
	if n, ok := w.ra.take(p, w.c.p.readPool); ok {
		return n, nil
	}
	w.reading.Store(true)
	n, err := w.readSocket(p)
	w.reading.Store(false)
	return n, err
}

// boundMessage starts the bound of a message that has begun (on) or lifts
// it once the message has ended.
func (w *wireConn) boundMessage(on bool) {
	w.bounded, w.waited = on, 0
	end := int64(0)
	if on {
		end = time.Now().Add(w.c.p.opts.MessageTimeout).UnixNano()
	}
	w.setMessageDeadline(end)
}

func (w *wireConn) setMessageDeadline(end int64) {
	w.dl.Lock()
	defer w.dl.Unlock()
	w.msgDeadline = end
	_ = w.applyDeadline()
}

// handlerExpired reports whether the handler's own read deadline has
// passed: its timeout is then the handler's, not the message's.
func (w *wireConn) handlerExpired() bool {
	w.dl.Lock()
	defer w.dl.Unlock()
	return w.readDeadline != 0 && time.Now().UnixNano() >= w.readDeadline
}

// SetReadDeadline is the handler's (gorilla's SetReadDeadline calls it):
// it applies at once, or when the message under way has ended, whichever
// of it and the message's bound is earlier.
func (w *wireConn) SetReadDeadline(t time.Time) error {
	w.dl.Lock()
	defer w.dl.Unlock()
	w.readDeadline = 0
	if !t.IsZero() {
		w.readDeadline = t.UnixNano()
	}
	return w.applyDeadline()
}

// SetDeadline sets the write deadline and, as SetReadDeadline, the read
// deadline.
func (w *wireConn) SetDeadline(t time.Time) error {
	if err := w.SetReadDeadline(t); err != nil {
		return err
	}
	return w.Conn.SetWriteDeadline(t)
}

// applyDeadline sets the connection's read deadline to the earlier of the
// two; under dl.
func (w *wireConn) applyDeadline() error {
	d := w.readDeadline
	if m := w.msgDeadline; m != 0 && (d == 0 || m < d) {
		d = m
	}
	if d == 0 {
		return w.Conn.SetReadDeadline(time.Time{})
	}
	return w.Conn.SetReadDeadline(time.Unix(0, d))
}
