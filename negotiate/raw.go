package negotiate

import (
	"net"
	"syscall"

	"github.com/switchyard-http/switchyard/internal/connhook"
)

func init() {
	connhook.Raw = rawConn
	connhook.CountIn = func(c net.Conn, n int) { c.(*Conn).in.Add(int64(n)) }
	connhook.Unswitched = func(c net.Conn) bool {
		x, ok := c.(*Conn)
		if !ok {
			return false
		}
		_, dead := x.nc.(deadConn)
		return dead
	}
}

// rawConn is connhook.Raw: the socket under c, once the client's early
// bytes have been read.
func rawConn(c net.Conn) (rc syscall.RawConn, never bool) {
	x, ok := c.(*Conn)
	if !ok || x.h2 {
		return nil, true
	}
	sc, ok := x.nc.(syscall.Conn)
	if !ok {
		return nil, true
	}
	if x.hasEarly.Load() {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, true
	}
	return rc, false
}
