package protocols

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Stream returns a protocol that hands the switched connection to f as a
// plain bidirectional byte stream, the "Upgrade: tcp" style of Docker's
// attach and exec. Register it under any token:
//
//	reg.Register("tcp", protocols.Stream(f))
//
// f reads what the client sends from c and writes to c. A read returns
// io.EOF once the client has half-closed its side (it sends no more but
// still reads); c.CloseWrite ends f's side the same way while f goes on
// reading. On an HTTP/2 stream (an extended CONNECT) the client's
// END_STREAM is its half-close, but f's side cannot half-close:
// c.CloseWrite is an error there, and f's side ends when f returns.
//
// When f returns, with nil or an error, the client reads everything f
// wrote and then the end of the stream: the negotiator half-closes the
// connection, discards what the client still sends for a bounded time
// (Options.Linger), then closes it, so that unread input cannot reset the
// connection and destroy f's last bytes in flight. An error goes to the
// negotiator's OnClose hook, not to the client. Stream panics if f is nil.
//
// On the negotiator's shutdown c.Context() ends: an f that watches it
// (with context.AfterFunc, or a select on its Done) gets to finish its own
// way (sending a goodbye, say) until the shutdown's deadline, and its last
// bytes reach the client as above; an f that ignores it holds the shutdown
// until the shutdown's deadline, when the negotiator closes the
// connection under it (see [negotiate.Conn.Context]).
func Stream(f func(c *negotiate.Conn) error) negotiate.Protocol {
	if f == nil {
		panic("protocols: Stream(nil)")
	}
	return negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return f, nil }}
}

// Join copies bytes both ways between the switched connection c and peer
// (a local service, a backend) until both directions have ended, then
// closes peer. When one side half-closes, the other side's write half is
// closed too (CloseWrite), so each peer sees the end of the other's stream
// while its own goes on; a side that cannot half-close (c on an HTTP/2
// stream, a peer made by net.Pipe) is closed instead, and what the other
// still sends is not read: a close of Join's own, not an error. If a
// direction fails, both connections are closed and Join returns that
// error. On the negotiator's shutdown (c.Context() ends) peer is closed
// and Join returns, and the negotiator closes c: Join does not know the
// joined protocol's own goodbye, but what it passed on to the client
// before reaches it, then the end of the stream, as when a Stream's
// function returns. Bytes are counted by c, so the negotiator's OnClose
// hook sees them. A nil c or peer is an error (peer, if any, is closed).
func Join(c *negotiate.Conn, peer net.Conn) error {
	if c == nil || peer == nil {
		// A copy from or to nil would panic in one of Join's goroutines,
		// where no one recovers it: the whole program would end.
		if peer != nil {
			_ = peer.Close()
		}
		return errors.New("protocols: Join with a nil connection")
	}
	sc := &streamCopier{client: c, peer: peer}
	shutDown := make(chan struct{})
	stop := context.AfterFunc(c.Context(), func() {
		sc.shutdown()
		close(shutDown)
	})
	defer func() {
		if !stop() {
			// Not before the shutdown has set c's deadline: set after
			// Join returns, it would cut the negotiator's close short.
			<-shutDown
		}
	}()
	errc := make(chan error, 2)
	go sc.copyToPeer(errc)
	go sc.copyToClient(errc)
	err := <-errc
	if err != nil {
		sc.closeBoth()
	}
	if err2 := <-errc; err == nil {
		err = err2
	}
	_ = peer.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed under Join: the negotiator's forced close
	}
	return err
}

// streamCopier copies the two directions of a joined connection; its
// methods run as the two goroutines, named so that stack dumps explain
// them.
type streamCopier struct {
	client *negotiate.Conn
	peer   net.Conn
	// closed is set before Join closes a side itself (shutdown, the other
	// direction's failure, a side that cannot half-close): a direction
	// that fails then failed of that close, not of its own, whatever error
	// the closed connection gives (an HTTP/2 stream's read a timeout, a
	// net.Pipe io.ErrClosedPipe).
	closed atomic.Bool
}

func (sc *streamCopier) copyToPeer(errc chan<- error) {
	errc <- sc.copyHalf(sc.peer, sc.client)
}

func (sc *streamCopier) copyToClient(errc chan<- error) {
	errc <- sc.copyHalf(sc.client, sc.peer)
}

// shutdown ends both directions when c's context ends: it closes peer,
// and ends c's reads and writes at once without closing c, so that Join
// returns and the negotiator closes c as it closes every connection whose
// protocol has returned. Closed at once with the client's input unread, c
// would send a reset, which destroys what Join already passed on to the
// client and is still in flight.
func (sc *streamCopier) shutdown() {
	sc.closed.Store(true)
	_ = sc.peer.Close()
	_ = sc.client.SetDeadline(time.Unix(1, 0))
}

// closeBoth closes both connections at once.
func (sc *streamCopier) closeBoth() {
	sc.closed.Store(true)
	_ = sc.client.Close()
	_ = sc.peer.Close()
}

// copyHalf copies src to dst until src ends, then passes the end on as a
// half-close of dst.
func (sc *streamCopier) copyHalf(dst, src net.Conn) error {
	if _, err := io.Copy(dst, src); err != nil {
		if sc.closed.Load() {
			return nil // Join closed a side: not this direction's failure
		}
		return err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return nil
	}
	sc.closed.Store(true)
	return dst.Close() // cannot half-close: the end is a close
}
