package benchmarks

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/switchyard-http/switchyard/internal/wstest"
)

// The WebSocket benchmarks over HTTP/1.1 and over HTTP/2 share one
// client-side framing, below: every message the client sends is a frame
// built and masked once, before the timed loop (the same bytes for every
// transport), and every message it reads is parsed by the same code from
// an io.Reader (the connection's bufio.Reader, or an HTTP/2 stream of
// xcclient_test.go). What differs between the transports is the transport.

// WebSocket opcodes.
const (
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

// wsCloseFrame is the client's close frame, status 1000. The client's
// frames are made once (wstest.ClientFrame, with a random masking key)
// and written again and again: masking costs nothing per message.
var wsCloseFrame = wstest.ClientFrame(0x80|opClose, []byte{0x03, 0xe8})

// wsMessage is a binary message of n bytes and its client frame.
type wsMessage struct {
	payload, frame []byte
}

func newWSMessage(n int) wsMessage {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return wsMessage{payload: p, frame: wstest.ClientFrame(0x80|opBinary, p)}
}

// wsReader reads the server's frames (unmasked) from r.
type wsReader struct {
	r   io.Reader
	hdr [8]byte
	buf []byte
}

// next reads the next data or close frame, skipping the server's pings
// (the keep-alive counts data as an answer) and pongs, and returns its
// opcode and payload, valid until the next call. Only final frames are
// expected: the echo handler writes each message whole.
func (w *wsReader) next() (byte, []byte, error) {
	for {
		if _, err := io.ReadFull(w.r, w.hdr[:2]); err != nil {
			return 0, nil, err
		}
		op, fin := w.hdr[0]&0x0f, w.hdr[0]&0x80 != 0
		if w.hdr[1]&0x80 != 0 {
			return 0, nil, errors.New("masked frame from the server")
		}
		n := uint64(w.hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(w.r, w.hdr[:2]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(w.hdr[:2]))
		case 127:
			if _, err := io.ReadFull(w.r, w.hdr[:8]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(w.hdr[:8])
		}
		if n > 1<<20 {
			return 0, nil, fmt.Errorf("frame of %d bytes", n)
		}
		if uint64(cap(w.buf)) < n {
			w.buf = make([]byte, n)
		}
		p := w.buf[:n]
		if _, err := io.ReadFull(w.r, p); err != nil {
			return 0, nil, err
		}
		if op == opPing || op == opPong {
			continue
		}
		if !fin {
			return 0, nil, fmt.Errorf("fragmented message (opcode %#x)", op)
		}
		return op, p, nil
	}
}

// echo sends m and wants it back.
func (w *wsReader) echo(out io.Writer, m wsMessage) error {
	if _, err := out.Write(m.frame); err != nil {
		return err
	}
	op, p, err := w.next()
	if err != nil {
		return err
	}
	if op != opBinary || !bytes.Equal(p, m.payload) {
		return fmt.Errorf("got opcode %#x with %d bytes, want the %d-byte binary message back", op, len(p), len(m.payload))
	}
	return nil
}

// closeHandshake sends the client's close frame with send, wants the
// server's close frame with status 1000 back, and then the end of the
// stream (io.EOF from next; end names it in the error).
func (w *wsReader) closeHandshake(send func([]byte) error, end string) error {
	if err := send(wsCloseFrame); err != nil {
		return err
	}
	op, p, err := w.next()
	if err != nil {
		return err
	}
	if op != opClose || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		return fmt.Errorf("got opcode %#x %q, want close 1000", op, p)
	}
	if _, _, err := w.next(); err != io.EOF {
		return fmt.Errorf("after the close frames: %v, want %s", err, end)
	}
	return nil
}

// h1WS is a WebSocket over an HTTP/1.1 upgrade, on TCP or TLS.
type h1WS struct {
	tc  *net.TCPConn
	nc  net.Conn // tc, or a *tls.Conn over it
	ws  wsReader
	ops int
	// resumed: the TLS handshake resumed a session
	resumed bool
}

// h1Dialer opens WebSockets with HTTP/1.1 upgrades to one server.
type h1Dialer struct {
	addr string
	tls  *tls.Config // nil: plain TCP
	req  []byte
}

func newH1Dialer(addr string, tlsConf *tls.Config) *h1Dialer {
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		tlsConf.NextProtos = []string{"http/1.1"}
	}
	return &h1Dialer{addr: addr, tls: tlsConf, req: wsUpgradeRequest(addr)}
}

// dial opens a new connection (and TLS session), upgrades it and checks
// the 101. Reads and writes have a deadline of now+ioTimeout.
func (d *h1Dialer) dial() (*h1WS, error) {
	tc, nc, err := dialTimed(d.addr, d.tls)
	if err != nil {
		return nil, err
	}
	c := &h1WS{tc: tc, nc: nc}
	if tlc, ok := nc.(*tls.Conn); ok {
		c.resumed = tlc.ConnectionState().DidResume
	}
	if _, err := c.nc.Write(d.req); err != nil {
		c.abort()
		return nil, err
	}
	br := bufio.NewReaderSize(c.nc, 32<<10)
	if err := read101(br, wsAccepted, "the right Sec-WebSocket-Accept"); err != nil {
		c.abort()
		return nil, err
	}
	c.ws.r = br
	return c, nil
}

// echo sends m and reads it back; the deadline moves every 1024 messages.
func (c *h1WS) echo(m wsMessage) error {
	if c.ops++; c.ops%1024 == 0 {
		_ = c.nc.SetDeadline(time.Now().Add(ioTimeout))
	}
	return c.ws.echo(c.nc, m)
}

// close ends the WebSocket cleanly: the client's close frame, the
// server's answer, then the server's end of the connection (EOF, after
// TLS's close_notify on TLS); then the client resets the connection, so
// that no TIME_WAIT socket is left behind.
func (c *h1WS) close() error {
	defer c.abort()
	return c.ws.closeHandshake(func(f []byte) error {
		_, err := c.nc.Write(f)
		return err
	}, "EOF")
}

// abort closes the connection at once (RST, no TIME_WAIT).
func (c *h1WS) abort() {
	_ = c.tc.SetLinger(0)
	c.tc.Close()
}
