package testkit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TCPServer is a loopback server that is not HTTP-aware, for what a real
// server would never send (an invalid 101, a hang-up, a silence): it reads
// each connection's request head, through the blank line, and gives serve
// the connection, whose reads go on after the head, and the head. The
// connection is closed when serve returns; everything is closed when the
// test ends. Each connection has a deadline of Timeout.
type TCPServer struct {
	ln    net.Listener
	mu    sync.Mutex
	heads []string
}

// NewTCPServer starts a TCPServer.
func NewTCPServer(t testing.TB, serve func(c net.Conn, head string)) *TCPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &TCPServer{ln: ln}
	var conns sync.Map
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(Timeout))
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					head.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				s.mu.Lock()
				s.heads = append(s.heads, head.String())
				s.mu.Unlock()
				serve(bufConn{Conn: c, r: br}, head.String())
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return s
}

// Addr is the server's host:port.
func (s *TCPServer) Addr() string { return s.ln.Addr().String() }

// URL is the server's http URL.
func (s *TCPServer) URL() string { return "http://" + s.Addr() }

// Heads returns the request heads read so far.
func (s *TCPServer) Heads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.heads...)
}

// bufConn reads through the reader that read the head.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c bufConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// ClosedURL is an http URL of a loopback port nothing listens on (one
// just closed): a dial to it is refused.
func ClosedURL(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// Holding starts a TCPServer that answers every request head with
// response, then reads and discards what comes until the client closes,
// holding the connection open: a peer whose answer is unfinished or never
// ends.
func Holding(t testing.TB, response string) *TCPServer {
	t.Helper()
	return NewTCPServer(t, func(c net.Conn, _ string) {
		if _, err := io.WriteString(c, response); err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	})
}

// Answered dials srv, sends it a request head, reads the first n bytes of
// its answer, and returns a NetDial (for negotiate.Dialer, upgrade.Client)
// that hands out that connection, once, with those bytes first to read.
// A client whose timeout counts from its dial then finds the head there
// however late a loaded machine ran the server: with Holding's refusals,
// the timeout can pass only while the body is read. (Dialled as it is,
// a server not run within a test's 300 ms failed the exchange before the
// head under -race.) srv sees the head Answered sent and then the
// client's.
func Answered(t testing.TB, srv *TCPServer, n int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	t.Helper()
	c := DialTCP(t, srv.Addr())
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	answer := make([]byte, n)
	if _, err := io.ReadFull(c, answer); err != nil {
		t.Fatalf("testkit.Answered: the server's answer: %v", err)
	}
	var once sync.Once
	return func(context.Context, string, string) (net.Conn, error) {
		var conn net.Conn
		once.Do(func() { conn = readFirst{Conn: c, r: io.MultiReader(bytes.NewReader(answer), c)} })
		if conn == nil {
			return nil, errors.New("testkit.Answered: dialled twice")
		}
		return conn, nil
	}
}

// readFirst reads from r: what was read before, then the connection.
type readFirst struct {
	net.Conn
	r io.Reader
}

func (c readFirst) Read(p []byte) (int, error) { return c.r.Read(p) }

// Arrived wraps a server's listener so that Accept hands over a connection
// only once the client's first bytes have arrived on it. net/http counts
// a ReadTimeout from the start of its read of the request, which begins as
// soon as the connection is accepted: a test whose ReadTimeout is short
// (it means to see the switched connection outlive it) then failed when
// a loaded machine ran the client late between its connect and its write
// (the server closed the connection, and the client read a reset). Behind
// Arrived the bound covers the server's reading of a request that is
// there. Accept waits for one connection at a time, at most Timeout: for
// servers whose clients write as soon as they connect.
func Arrived(ln net.Listener) net.Listener { return arrived{ln} }

type arrived struct{ net.Listener }

func (l arrived) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(Timeout))
	buf := make([]byte, 4096)
	n, _ := c.Read(buf) // an EOF or a reset recurs at the server's first read
	_ = c.SetReadDeadline(time.Time{})
	return &arrivedConn{Conn: c, first: buf[:n]}, nil
}

// arrivedConn reads what Accept read first, then the connection. Reads
// may be concurrent, as a net.Conn's may (an HTTP/2 server's frame reader
// still reads while the connection closes).
type arrivedConn struct {
	net.Conn
	mu    sync.Mutex
	first []byte
}

func (c *arrivedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *arrivedConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
