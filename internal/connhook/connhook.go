// Package connhook gives the module's protocol engines what
// [negotiate.Conn] does not export: the socket under a switched connection,
// for reads that wait for data without holding a buffer. The negotiate
// package sets the hooks when it starts; they are nil in a program that
// does not link it.
package connhook

import (
	"net"
	"syscall"
)

// Raw returns the socket of c, a *negotiate.Conn, for reads that bypass
// its Read, and reports whether there is one. There is none on an HTTP/2
// stream or where the connection is not a socket (TLS served by Go, a
// wrapper): never is then true. There is none yet while bytes the client
// sent before the switch are still to be read through c (never is false):
// a caller reads them with c.Read and asks again. Reads through the socket
// must be counted with CountIn; deadlines set on c apply to them.
var Raw func(c net.Conn) (rc syscall.RawConn, never bool)

// CountIn adds n bytes read through Raw's socket to what c reports as read
// ([negotiate.ConnInfo].BytesIn).
var CountIn func(c net.Conn, n int)

// Unswitched reports whether c, a *negotiate.Conn, is one whose switch was
// not made (the hijack failed, or a refusal or a shutdown came after
// Accept): its serve func runs only to release what Accept acquired, on a
// connection that reads and writes nothing, and must not act on the
// request.
var Unswitched func(c net.Conn) bool
