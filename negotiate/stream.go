package negotiate

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-http/switchyard/internal/unwrap"
)

// switchStream answers an extended CONNECT (RFC 8441) whose protocol
// accepted with 200 and serves the protocol on the request's stream, on
// the request's goroutine: an HTTP/2 stream lives as long as its handler,
// so the handler returns when the protocol has returned and the stream
// has ended.
func (n *Negotiator) switchStream(w http.ResponseWriter, c *Conn, serve func(*Conn) error) {
	rc := http.NewResponseController(w)
	// The server's ReadTimeout and WriteTimeout would end the stream; the
	// protocol sets its own deadlines.
	if err := rc.SetReadDeadline(time.Time{}); errors.Is(err, http.ErrNotSupported) {
		n.unswitched(c, serve, func() {
			n.refuseFor(w, c.sw.Request, c.e, &Error{Status: http.StatusInternalServerError,
				Reason: "cannot switch protocols on this stream: the ResponseWriter does not support deadlines (a wrapper without Unwrap, or a timeout handler)", Err: err}, true)
		})
		return
	}
	_ = rc.SetWriteDeadline(time.Time{})
	r := c.sw.Request
	// The stream's bytes go to the writer under every wrapper, as a
	// hijacked connection is the server's own: they are not a body for
	// middleware to encode or hold back (gzhttp holds back even the
	// status until it has seen enough of a body). Only the 200 goes
	// through the wrappers, for them to see the status (write200).
	inner := unwrap.Innermost(w)
	s := &streamConn{w: inner, rc: rc, fc: http.NewResponseController(inner), body: r.Body, remote: parseAddr(r.RemoteAddr)}
	s.rdl.expire, s.wdl.expire = s.expireRead, s.expireWrite
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		s.local = a
	} else {
		s.local = &net.TCPAddr{}
	}
	c.nc = s
	c.start = time.Now()
	if !n.track(c) {
		// A shutdown's context ended since Upgrade looked: nothing was
		// written, so the stream is refused like a switch still in Accept.
		n.unswitched(c, serve, func() { n.refuseFor(w, r, c.e, errShuttingDown(), false) })
		return
	}
	if err := c.write200(w); err != nil {
		c.switchErr = err
		_ = c.Close()
	}
	c.serve(serve)
	s.end(c.n.opts.Linger) // after a Close too: wait for what is under way
}

// write200 answers the extended CONNECT with 200 and the fields of the
// Switch's Header a switch response may carry, under the handshake
// timeout. Upgrade and Connection are not among them: HTTP/2 has no
// connection-specific fields, and clients reset a stream that carries one.
// The status goes through w, the writer the negotiator was given, so that
// middleware's wrappers see it; the flush of the writer under them sends
// it, even if a wrapper holds it back.
func (c *Conn) write200(w http.ResponseWriter) error {
	// The server writes the header of the writer under the wrappers,
	// which is the Switch's unless a wrapper keeps one of its own: leave
	// in both what appendHeader writes into a 101, and the Switch's
	// fields in the server's.
	s := c.nc.(*streamConn)
	keepSwitchFields(c.sw.Header)
	h := s.w.Header()
	for k, vs := range c.sw.Header {
		h[k] = vs
	}
	keepSwitchFields(h)
	_ = s.rc.SetWriteDeadline(time.Now().Add(c.n.opts.HandshakeTimeout))
	w.WriteHeader(http.StatusOK)
	err := s.fc.Flush()
	_ = s.rc.SetWriteDeadline(time.Time{})
	c.sw.Header = nil
	return err
}

// keepSwitchFields removes from h the fields and values a switch response
// may not carry.
func keepSwitchFields(h http.Header) {
	for k, vs := range h {
		switch {
		case !switchField(k):
			delete(h, k)
		case slices.ContainsFunc(vs, invalidValue):
			// A copy: the values may be a protocol's shared slice.
			h[k] = slices.DeleteFunc(slices.Clone(vs), invalidValue)
		}
	}
}

// streamConn is the net.Conn of a protocol on an HTTP/2 stream: reads
// come from the request body, writes go to the response, under its
// wrappers, and are flushed at once, and deadlines are the stream's
// (http.ResponseController's).
//
// The ResponseWriter must not be used once the handler has returned, yet a
// protocol may write from goroutines of its own: every operation enters
// only while the stream is open, and the handler waits for those under way
// (see end) before it returns.
type streamConn struct {
	w             http.ResponseWriter      // the writer under the wrappers
	rc            *http.ResponseController // the deadlines, through the wrappers
	fc            *http.ResponseController // w's flushes
	body          io.ReadCloser
	local, remote net.Addr

	mu     sync.Mutex
	closed bool
	ended  bool           // end has begun: the handler is returning
	writes int            // writes under way, from enter on; guarded by mu
	busy   sync.WaitGroup // operations under way on w, rc or body

	wmu sync.Mutex // serializes writes and flushes
	// rmu serializes reads: the body wakes one waiting reader when it is
	// closed (a deadline, Close, the end), so readers waiting beside it
	// would wait for ever; behind rmu, each in turn finds it closed.
	rmu sync.Mutex

	dl       sync.Mutex // guards rdl and wdl
	rdl, wdl deadline
}

// deadline is a net.Conn deadline on a stream. The server's own stream
// deadlines are not: once one passes, reads fail for good, and writes
// reset the stream, even with no operation waiting. So the stream keeps
// its deadlines itself, fails an operation that starts after one has
// passed, and uses the server's (by expire) only to end an operation that
// is waiting when it passes.
type deadline struct {
	t      time.Time
	timer  *time.Timer
	active int    // operations waiting
	expire func() // ends the operations waiting, for good
}

// begin starts an operation; s.dl is held.
func (d *deadline) begin() error {
	if !d.t.IsZero() && !time.Now().Before(d.t) {
		return os.ErrDeadlineExceeded
	}
	d.active++
	if d.active == 1 {
		d.arm()
	}
	return nil
}

// done ends an operation; s.dl is held.
func (d *deadline) done() {
	d.active--
	if d.active == 0 && d.timer != nil {
		d.timer.Stop()
	}
}

// set changes the deadline; s.dl is held.
func (d *deadline) set(t time.Time) {
	d.t = t
	if d.timer != nil {
		d.timer.Stop()
	}
	if d.active > 0 {
		d.arm()
	}
}

// arm starts the timer for a deadline with an operation waiting; s.dl is
// held.
func (d *deadline) arm() {
	if d.t.IsZero() {
		return
	}
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(d.t), d.expire)
		return
	}
	d.timer.Reset(time.Until(d.t))
}

// enter starts an operation on the stream; false once it is closed. A
// write is under way from here on, before it takes its turn, so that end
// and Close, which decide under s.mu, see every write that can still go
// out.
func (s *streamConn) enter(write bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.busy.Add(1)
	if write {
		s.writes++
	}
	return true
}

// leaveWrite ends a write enter(true) started.
func (s *streamConn) leaveWrite() {
	s.mu.Lock()
	s.writes--
	s.mu.Unlock()
	s.busy.Done()
}

func (s *streamConn) Read(p []byte) (int, error) {
	if !s.enter(false) {
		return 0, net.ErrClosed
	}
	defer s.busy.Done()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if err := s.begin(&s.rdl); err != nil {
		return 0, err
	}
	defer s.done(&s.rdl)
	n, err := s.body.Read(p)
	return n, s.opError(err)
}

func (s *streamConn) Write(p []byte) (int, error) {
	if !s.enter(true) {
		return 0, net.ErrClosed
	}
	defer s.leaveWrite()
	if h := testHookWriteEntered.Load(); h != nil {
		(*h)()
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.begin(&s.wdl); err != nil {
		return 0, err
	}
	defer s.done(&s.wdl)
	n, err := s.w.Write(p)
	if err == nil {
		err = s.fc.Flush()
	}
	return n, s.opError(err)
}

// opError is the error of a read or write that failed on the stream as a
// net.Conn's: net.ErrClosed once the stream is closed (its close is made
// of the server's deadlines, set in the past), and os.ErrDeadlineExceeded
// for a deadline that passed, which net/http wraps in an error without a
// Timeout method.
func (s *streamConn) opError(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}

func (s *streamConn) begin(d *deadline) error {
	s.dl.Lock()
	defer s.dl.Unlock()
	return d.begin()
}

func (s *streamConn) done(d *deadline) {
	s.dl.Lock()
	d.done()
	s.dl.Unlock()
}

// expireRead and expireWrite run when a deadline passes with an operation
// waiting: the server's deadline, set in the past, ends it.
func (s *streamConn) expireRead()  { s.expire(&s.rdl, s.rc.SetReadDeadline) }
func (s *streamConn) expireWrite() { s.expire(&s.wdl, s.rc.SetWriteDeadline) }

func (s *streamConn) expire(d *deadline, set func(time.Time) error) {
	if !s.enter(false) {
		return // the stream has ended
	}
	defer s.busy.Done()
	s.dl.Lock()
	due := d.active > 0 && !d.t.IsZero() && !time.Now().Before(d.t)
	s.dl.Unlock()
	if due {
		_ = set(time.Unix(1, 0))
	}
}

// Close closes the stream at once for the protocol: reads and writes
// fail from now on, a read waiting ends, and a write waiting resets the
// stream (the server's deadlines, set in the past, do both). Otherwise the
// stream ends (END_STREAM, after everything written) when the handler
// returns, once the serve func has: a WebSocket closes its connection
// after the close handshake, and its client must see a clean end, not a
// reset.
func (s *streamConn) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	writing := s.writes > 0 // and none can start
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()
	past := time.Unix(1, 0)
	_ = s.rc.SetReadDeadline(past)
	if writing {
		_ = s.rc.SetWriteDeadline(past)
	}
	if h := testHookWritesSettled.Load(); h != nil {
		(*h)()
	}
	return nil
}

// reset closes the stream and resets it (RST_STREAM) at once, unless its
// handler is already returning: a forced shutdown's close, which the
// client sees as a hijacked connection's close, whether or not the
// protocol returns.
func (s *streamConn) reset() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()
	past := time.Unix(1, 0)
	_ = s.rc.SetReadDeadline(past)
	_ = s.rc.SetWriteDeadline(past) // resets the stream, with or without a write waiting
}

// end closes the stream for its handler to return: what is being read
// stops, what is being written has until linger to go out, and end
// returns when nothing uses the stream any more. The handler's return
// then ends the stream (END_STREAM) after everything written.
func (s *streamConn) end(linger time.Duration) {
	s.mu.Lock()
	open := !s.closed
	s.closed, s.ended = true, true
	writing := s.writes > 0 // and none can start
	s.mu.Unlock()
	s.dl.Lock()
	for _, d := range []*deadline{&s.rdl, &s.wdl} {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
	s.dl.Unlock()
	if open {
		_ = s.rc.SetReadDeadline(time.Unix(1, 0))
		if writing {
			_ = s.rc.SetWriteDeadline(time.Now().Add(linger))
		}
	}
	if h := testHookWritesSettled.Load(); h != nil {
		(*h)()
	}
	s.busy.Wait()
}

func (s *streamConn) LocalAddr() net.Addr  { return s.local }
func (s *streamConn) RemoteAddr() net.Addr { return s.remote }

func (s *streamConn) SetDeadline(t time.Time) error {
	if err := s.SetReadDeadline(t); err != nil {
		return err
	}
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline as net.Conn's: a read waiting
// when it passes fails, and so does a read that starts after it; unlike on
// a socket, the stream then cannot be read any more.
func (s *streamConn) SetReadDeadline(t time.Time) error { return s.setDeadline(&s.rdl, t) }

// SetWriteDeadline sets the write deadline as net.Conn's: a write waiting
// when it passes fails (and resets the stream), and so does a write that
// starts after it.
func (s *streamConn) SetWriteDeadline(t time.Time) error { return s.setDeadline(&s.wdl, t) }

func (s *streamConn) setDeadline(d *deadline, t time.Time) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return net.ErrClosed // as a closed socket's
	}
	s.dl.Lock()
	defer s.dl.Unlock()
	d.set(t)
	return nil
}

// Hooks for tests: testHookWriteEntered runs in a stream's Write once it
// has entered, before it takes its turn; testHookWritesSettled runs in end
// and Close once they have dealt with the writes under way.
var testHookWriteEntered, testHookWritesSettled atomic.Pointer[func()]

// streamAddr is the address of a peer whose RemoteAddr does not parse
// as an IP and port.
type streamAddr string

func (a streamAddr) Network() string { return "tcp" }
func (a streamAddr) String() string  { return string(a) }

func parseAddr(s string) net.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return streamAddr(s)
}
