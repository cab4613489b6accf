//go:build unix

package websocket

import "syscall"

// rawReads reports whether this system's sockets can be read ahead into a
// lent buffer (see readAhead).
const rawReads = true

func readFD(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }
