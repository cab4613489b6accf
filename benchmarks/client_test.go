package benchmarks

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"time"
)

// The raw client below is the only client of every benchmark: the same
// bytes on the wire and the same code for every server, so that the
// client's share of the time and of the allocations (which -benchmem counts
// together with the server's, since both run in this process) is identical
// for all of them and the differences are the servers'.

// wsKey is the sample nonce of RFC 6455 §1.3; wsAccept is its answer.
const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// ioTimeout bounds every dial, read and write of the client, so that a
// server that stops answering fails the benchmark instead of hanging it.
const ioTimeout = 10 * time.Second

type rawClient struct {
	addr string
	req  []byte
	br   *bufio.Reader // reused for every connection, one at a time
	buf  [512]byte
}

func newRawClient(srv *httptest.Server) *rawClient {
	addr := srv.Listener.Addr().String()
	req := "GET /ws HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n"
	return &rawClient{addr: addr, req: []byte(req), br: bufio.NewReaderSize(nil, 4096)}
}

var (
	status101  = []byte("HTTP/1.1 101 ")
	acceptName = []byte("sec-websocket-accept:")
)

// handshake dials a new connection, writes the upgrade request and reads
// the response head up to its blank line. It checks the status and the
// Sec-WebSocket-Accept value, and returns the connection with its read and
// write deadlines set to now+ioTimeout. Bytes the server sent behind the
// 101 are left in c.br.
func (c *rawClient) handshake() (*net.TCPConn, error) {
	nc, err := net.DialTimeout("tcp", c.addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	_ = tc.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := tc.Write(c.req); err != nil {
		tc.Close()
		return nil, err
	}
	c.br.Reset(tc)
	accepted := false
	for i := 0; ; i++ {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			tc.Close()
			return nil, fmt.Errorf("reading the response head: %w", err)
		}
		if i == 0 {
			if !bytes.HasPrefix(line, status101) {
				tc.Close()
				return nil, fmt.Errorf("got status line %q, want 101", line)
			}
			continue
		}
		if len(line) <= 2 { // "\r\n": end of the head
			break
		}
		if len(line) > len(acceptName) && bytes.EqualFold(line[:len(acceptName)], acceptName) {
			accepted = string(bytes.TrimSpace(line[len(acceptName):])) == wsAccept
		}
		if i > 64 {
			tc.Close()
			return nil, errors.New("response head too long")
		}
	}
	if !accepted {
		tc.Close()
		return nil, errors.New("101 without the right Sec-WebSocket-Accept")
	}
	return tc, nil
}

// drainAndClose reads until the server closes (EOF, or a reset), then
// closes with SO_LINGER 0, so that no TIME_WAIT socket is left behind and
// tens of thousands of iterations do not run out of ephemeral ports. Reading
// to the server's close makes each handshake iteration include all of the
// server's work, instead of overlapping it with the next dial on the second
// core.
func (c *rawClient) drainAndClose(tc *net.TCPConn) error {
	var err error
	for n := 0; n < 1<<20; {
		var k int
		k, err = c.br.Read(c.buf[:])
		n += k
		if err != nil {
			break
		}
	}
	_ = tc.SetLinger(0)
	tc.Close()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return errors.New("server did not close the connection")
	}
	return nil
}

// abort closes tc at once (RST, no TIME_WAIT).
func abort(tc *net.TCPConn) {
	_ = tc.SetLinger(0)
	tc.Close()
}
