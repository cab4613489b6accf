package protocols

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// streamLinger bounds how long a finished [Stream] lets the client go on
// sending before the connection is closed.
const streamLinger = 2 * time.Second

// Stream returns a protocol that hands the switched connection to f as a
// plain bidirectional byte stream, the "Upgrade: tcp" style of Docker's
// attach and exec. Register it under any token:
//
//	reg.Register("tcp", protocols.Stream(f))
//
// f reads what the client sends from c and writes to c. A read returns
// io.EOF once the client has half-closed its side (it sends no more but
// still reads); c.CloseWrite ends f's side the same way while f goes on
// reading. When f returns nil, Stream half-closes the connection (if f did
// not), so the client reads everything f wrote and then io.EOF, and
// discards what the client still sends for up to two seconds before the
// negotiator closes the connection; closing a socket with unread input
// would reset it and could destroy f's last bytes in flight. When f
// returns an error, the connection is closed at once and the error goes to
// the negotiator's OnClose hook.
//
// Half-close is passed through where the connection supports it (TCP and
// TLS do); elsewhere the connection is closed instead. On the negotiator's
// shutdown the connection is closed unless f set [negotiate.Conn.OnShutdown].
func Stream(f func(c *negotiate.Conn) error) negotiate.Protocol {
	return negotiate.Protocol{Serve: func(c *negotiate.Conn) error {
		if err := f(c); err != nil {
			return err
		}
		if c.CloseWrite() != nil {
			return nil
		}
		_ = c.SetReadDeadline(time.Now().Add(streamLinger))
		_, _ = io.Copy(io.Discard, c)
		return nil
	}}
}

// Join copies bytes both ways between the switched connection c and peer
// (a local service, a backend) until both directions have ended, then
// closes peer. When one side half-closes, the other side's write half is
// closed too (CloseWrite), so each peer sees the end of the other's stream
// while its own goes on; a side that cannot half-close is closed instead.
// If a direction fails, both connections are closed and Join returns that
// error. The negotiator's shutdown closes both. Bytes are counted by c, so
// the negotiator's OnClose hook sees them.
func Join(c *negotiate.Conn, peer net.Conn) error {
	return join(c, peer, peer)
}

// join is Join reading the peer through r, which may hold bytes the peer
// sent behind its handshake.
func join(c *negotiate.Conn, peer net.Conn, r io.Reader) error {
	c.OnShutdown(func() {
		_ = c.Close()
		_ = peer.Close()
	})
	sc := streamCopier{client: c, peer: peer, peerR: r}
	errc := make(chan error, 2)
	go sc.copyToPeer(errc)
	go sc.copyToClient(errc)
	err := <-errc
	if err != nil {
		_ = c.Close()
		_ = peer.Close()
	}
	if err2 := <-errc; err == nil {
		err = err2
	}
	_ = peer.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil // closed on purpose: shutdown, or the other direction failed
	}
	return err
}

// streamCopier copies the two directions of a joined connection; its
// methods run as the two goroutines, named so that stack dumps explain
// them.
type streamCopier struct {
	client *negotiate.Conn
	peer   net.Conn
	peerR  io.Reader
}

func (sc streamCopier) copyToPeer(errc chan<- error) {
	errc <- copyHalf(sc.peer, sc.client)
}

func (sc streamCopier) copyToClient(errc chan<- error) {
	errc <- copyHalf(sc.client, sc.peerR)
}

// copyHalf copies src to dst until src ends, then passes the end on as a
// half-close of dst.
func copyHalf(dst net.Conn, src io.Reader) error {
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return nil
	}
	return dst.Close() // cannot half-close: the end is a close
}
