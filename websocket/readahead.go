package websocket

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/switchyard-http/switchyard/internal/connhook"
)

// Reading ahead into a lent buffer.
//
// gorilla reads frames through a bufio.Reader that the connection holds
// for its life. On a connection that is a socket (a plain HTTP/1.1
// upgrade, the usual case) that reader is small (headerBuffer bytes: a
// frame header and a control frame fit), and the socket is read into a
// buffer of Options.ReadBufferSize lent from a pool only once data is
// there: the read waits for the socket to become readable without a
// buffer (through syscall.RawConn, as net's own reads wait, with the same
// system calls), and the buffer goes back to the pool as soon as its
// bytes have been read. So the goroutine of an idle connection waits
// holding no read buffer but the small one, and a burst of small messages
// is still read ReadBufferSize bytes at a time. A read of at least
// ReadBufferSize bytes (the rest of a large message, into the handler's
// buffer) goes straight into its destination.

// headerBuffer is the size of gorilla's reader when the connection reads
// ahead: gorilla takes a reader handed to it only if it is over 256
// bytes, and 288 is an allocation size class.
const headerBuffer = 288

// readAhead is a wireConn's read side on a socket; the reading goroutine's.
// It is kept small: it is part of every connection.
type readAhead struct {
	rc   syscall.RawConn
	fill func(fd uintptr) bool // rc.Read's callback, made once: wireConn.fillFD
	dst  []byte                // fillFD's destination, if at least a lent buffer's size
	lent *[]byte               // bytes read and not yet taken are (*lent)[r:w]; nil when none
	res  int                   // fillFD's result: the bytes read, or −errno
	r, w int32
	// never: no socket, reads go through the negotiate.Conn.
	never bool
}

// readPools lend the read-ahead buffers, one pool for each ReadBufferSize
// in use.
var readPools sync.Map // int -> *sync.Pool

func readPool(size int) *sync.Pool {
	return sizedPool(&readPools, size, func() any {
		b := make([]byte, size)
		return &b
	})
}

// buffered returns how many bytes have been read ahead and not taken.
func (ra *readAhead) buffered() int { return int(ra.w - ra.r) }

// take copies bytes read ahead into p, and gives the buffer back once it
// is empty; it reports false if there were none.
func (ra *readAhead) take(p []byte, pool *sync.Pool) (int, bool) {
	if ra.lent == nil {
		return 0, false
	}
	n := copy(p, (*ra.lent)[ra.r:ra.w])
	ra.r += int32(n)
	if ra.r == ra.w {
		ra.giveBack(pool)
	}
	return n, true
}

func (ra *readAhead) giveBack(pool *sync.Pool) {
	if ra.lent != nil {
		pool.Put(ra.lent)
		ra.lent, ra.r, ra.w = nil, 0, 0
	}
}

// readSocket reads the connection once: through the socket, into a lent
// buffer, where it has one (see readAhead), and otherwise through the
// negotiate.Conn. Nothing has been read ahead.
func (w *wireConn) readSocket(p []byte) (int, error) {
	ra := &w.ra
	if ra.rc == nil && !ra.never {
		w.useSocket()
	}
	if ra.rc == nil {
		return w.Conn.Read(p)
	}
	ra.dst = p
	err := ra.rc.Read(ra.fill)
	ra.dst = nil
	n := ra.res
	switch {
	case err != nil: // a deadline passed, or the connection was closed
		if oe, ok := err.(*net.OpError); ok {
			err = oe.Err
		}
		return 0, w.readError(err)
	case n < 0:
		ra.giveBack(w.c.p.readPool)
		return 0, w.readError(os.NewSyscallError("read", syscall.Errno(-n)))
	case n == 0:
		ra.giveBack(w.c.p.readPool)
		return 0, io.EOF
	}
	connhook.CountIn(w.Conn, n)
	if ra.lent == nil {
		return n, nil // straight into p
	}
	ra.w = int32(n)
	n, _ = ra.take(p, w.c.p.readPool)
	return n, nil
}

// useSocket asks for the connection's socket: it has none on an HTTP/2
// stream or over TLS (never), and not yet while the client's early bytes
// are to be read.
func (w *wireConn) useSocket() {
	ra := &w.ra
	rc, never := connhook.Raw(w.Conn)
	switch {
	case never || !rawReads:
		ra.never = true
	case rc != nil:
		ra.rc = rc
		if ra.fill == nil {
			ra.fill = w.fillFD
		}
	}
}

// fillFD is the socket read: into dst if it is at least a lent buffer's
// size, or else into a buffer it borrows, which it gives back at once if
// there is nothing to read yet (false: RawConn.Read then waits until the
// socket is readable, or its deadline, and calls it again).
func (w *wireConn) fillFD(fd uintptr) bool {
	ra := &w.ra
	pool := w.c.p.readPool
	buf := ra.dst
	if len(buf) < w.c.p.opts.ReadBufferSize {
		ra.lent = pool.Get().(*[]byte)
		buf = *ra.lent
	}
	for {
		n, err := readFD(fd, buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			ra.giveBack(pool)
			return false
		case err != nil:
			n = -int(err.(syscall.Errno))
		}
		ra.res = n
		return true
	}
}

// readError is err as net's own Read of the connection reports it.
func (w *wireConn) readError(err error) error {
	la := w.Conn.LocalAddr()
	return &net.OpError{Op: "read", Net: la.Network(), Source: la, Addr: w.Conn.RemoteAddr(), Err: err}
}
