package websocket

import (
	"compress/flate"
	"errors"
	"io"
	"reflect"
	"unsafe"

	gws "github.com/gorilla/websocket"
)

// gorilla's read limit counts the bytes of a message on the wire, so with
// permessage-deflate a message under the limit may inflate a thousand
// times over. gorilla offers no hook to bound the inflated size, and
// guarding only our Conn's read methods would leave every other way of
// reading unguarded (c.Conn passed to a library, gws.JoinMessages). So the
// guard sits where every compressed message is inflated: gorilla's Conn
// makes each message's inflating reader with the func in its unexported
// field newDecompressionReader, and the switch replaces that func, on the
// connection it has just built, with one that wraps gorilla's own reader
// in an inflateGuard. The field is found by name and type when the package
// is initialized; if a gorilla version lacks it, compression is never
// negotiated (TestInflateHook fails), so a message is never inflated
// unguarded.

// decompressorField is the offset of gorilla's newDecompressionReader in
// gws.Conn; ok reports whether it was found, with the expected type.
var decompressorField = func() (f struct {
	offset uintptr
	ok     bool
}) {
	sf, ok := reflect.TypeFor[gws.Conn]().FieldByName("newDecompressionReader")
	if ok && sf.Type == reflect.TypeFor[func(io.Reader) io.ReadCloser]() {
		f.offset, f.ok = sf.Offset, true
	}
	return f
}()

// guardInflation makes every inflating reader of c's gorilla Conn an
// inflateGuard, which applies c.readLimit as it is when the message
// begins. The Conn has negotiated permessage-deflate, so gorilla has set
// the field.
func (c *Conn) guardInflation() {
	field := (*func(io.Reader) io.ReadCloser)(unsafe.Add(unsafe.Pointer(c.Conn), decompressorField.offset))
	inflate := *field
	*field = func(r io.Reader) io.ReadCloser {
		return &inflateGuard{rc: inflate(r), c: c, left: c.readLimit, text: c.wire.in.nextCompressedIsText()}
	}
}

// inflateGuard is the reader of one compressed message: gorilla's
// inflating reader, stopped at the read limit and, for a text message,
// checked for UTF-8 as it inflates. It never inflates more than one byte
// past the limit, and hands the handler none of it. Data that does not
// inflate fails the connection with 1007, as invalid UTF-8 does, where
// gorilla would hand the handler flate's error (and the handler's
// returning it would make the close 1011, a server error).
type inflateGuard struct {
	rc   io.ReadCloser
	c    *Conn
	left int64 // bytes the message may still have; -1: no limit
	text bool  // validate UTF-8
	utf8 utf8Tail
	err  error
}

func (g *inflateGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.left >= 0 && int64(len(p)) > g.left {
		p = p[:g.left+1] // enough to see that the message goes on
	}
	n, err := g.rc.Read(p)
	if err != nil && err != io.EOF && corrupt(err) {
		return 0, g.fail(errDeflate)
	}
	if g.left >= 0 {
		if int64(n) > g.left {
			return int(g.left), g.fail(errTooBig)
		}
		g.left -= int64(n)
	}
	if g.text && (!g.utf8.valid(p[:n]) || err == io.EOF && g.utf8.n > 0) {
		return 0, g.fail(errUTF8)
	}
	return n, err
}

func (g *inflateGuard) Close() error { return g.rc.Close() }

// corrupt reports whether err, from gorilla's inflating reader, says the
// compressed data is bad: flate's CorruptInputError, or io.ErrUnexpectedEOF
// for a DEFLATE stream that ends early. (gorilla inflates the message and
// a tail of its own, and reports the connection's errors as they are, so
// an end of the message within a DEFLATE block can only be the data's.)
func corrupt(err error) bool {
	var ce flate.CorruptInputError
	return errors.As(err, &ce) || err == io.ErrUnexpectedEOF
}

// fail ends the message and the connection's reading with v.
func (g *inflateGuard) fail(v *violation) error {
	g.err = v.err
	g.c.wire.failRead(v)
	return v.err
}
