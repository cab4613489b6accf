package benchmarks

import (
	"bufio"
	"bytes"
	"crypto/tls"
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
	return &rawClient{addr: addr, req: wsUpgradeRequest(addr), br: bufio.NewReaderSize(nil, 4096)}
}

// wsUpgradeRequest is the client's WebSocket upgrade request for /ws.
func wsUpgradeRequest(addr string) []byte {
	return []byte("GET /ws HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"\r\n")
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
	tc, _, err := dialTimed(c.addr, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tc.Write(c.req); err != nil {
		tc.Close()
		return nil, err
	}
	c.br.Reset(tc)
	if err := read101(c.br, wsAccepted, "the right Sec-WebSocket-Accept"); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// read101 reads a response head to its blank line and wants a 101 with a
// header line that ok accepts (want says which).
func read101(br *bufio.Reader, ok func(line []byte) bool, want string) error {
	found := false
	for i := 0; ; i++ {
		line, err := br.ReadSlice('\n')
		switch {
		case err != nil:
			return fmt.Errorf("reading the response head: %w", err)
		case i == 0:
			if !bytes.HasPrefix(line, status101) {
				return fmt.Errorf("got status line %q, want 101", line)
			}
		case len(line) <= 2: // "\r\n": end of the head
			if !found {
				return fmt.Errorf("101 without %s", want)
			}
			return nil
		case ok(line):
			found = true
		case i > 64:
			return errors.New("response head too long")
		}
	}
}

// wsAccepted tells whether a header line is Sec-WebSocket-Accept with the
// answer to wsKey.
func wsAccepted(line []byte) bool {
	return len(line) > len(acceptName) && bytes.EqualFold(line[:len(acceptName)], acceptName) &&
		string(bytes.TrimSpace(line[len(acceptName):])) == wsAccept
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

// dialTimed dials addr with a deadline of now+ioTimeout on the
// connection, and makes a TLS client of it if conf is not nil. It returns
// the TCP connection and the one to use (the TCP one, or TLS over it);
// after an error nothing is left open.
func dialTimed(addr string, conf *tls.Config) (*net.TCPConn, net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return nil, nil, err
	}
	tc := nc.(*net.TCPConn)
	_ = tc.SetDeadline(time.Now().Add(ioTimeout))
	if conf == nil {
		return tc, tc, nil
	}
	tlc := tls.Client(tc, conf)
	if err := tlc.Handshake(); err != nil {
		abort(tc)
		return nil, nil, err
	}
	return tc, tlc, nil
}

// abort closes tc at once (RST, no TIME_WAIT).
func abort(tc *net.TCPConn) {
	_ = tc.SetLinger(0)
	tc.Close()
}
