package protocols_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// newNegotiator returns a negotiator shut down when the test ends.
func newNegotiator(t testing.TB, opts *negotiate.Options) *negotiate.Negotiator {
	t.Helper()
	n, err := negotiate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("negotiator shutdown: %v", err)
		}
	})
	return n
}

// register registers p under each token.
func register(t testing.TB, p negotiate.Protocol, tokens ...string) *negotiate.Registry {
	t.Helper()
	reg := new(negotiate.Registry)
	for _, tok := range tokens {
		if err := reg.Register(tok, p); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// startServer serves h on loopback until the test ends.
func startServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// dial offers tokens at url and returns the switched connection, with a
// deadline for everything the test does with it.
func dial(t testing.TB, url string, tokens ...string) (net.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := negotiate.Dial(ctx, url, tokens, nil)
	if err != nil {
		t.Fatalf("dial %s offering %v: %v", url, tokens, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, resp
}

// rawConn sends request bytes over a new connection to srv and reads the
// response head; the reader goes on with what follows it.
func rawConn(t testing.TB, addr, request string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return c, br, resp
}

// upgradeReq is an upgrade request offering tokens, with extra header lines.
func upgradeReq(path, tokens string, extra ...string) string {
	s := "GET " + path + " HTTP/1.1\r\nHost: gateway.test\r\nConnection: Upgrade\r\nUpgrade: " + tokens + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s + "\r\n"
}

func closeWrite(t testing.TB, c net.Conn) {
	t.Helper()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T cannot half-close", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
}

func readAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v (after %q)", err, b)
	}
	return string(b)
}

// fakeBackend is a TCP server that is not HTTP-aware: each connection's
// request head is read and given to serve with the connection. It stops
// when the test ends.
type fakeBackend struct {
	ln    net.Listener
	mu    sync.Mutex
	heads []string
	wg    sync.WaitGroup
}

func newFakeBackend(t testing.TB, serve func(c net.Conn, head string)) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBackend{ln: ln}
	var conns sync.Map
	fb.wg.Add(1)
	go func() {
		defer fb.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			fb.wg.Add(1)
			go func() {
				defer fb.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					head.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				fb.mu.Lock()
				fb.heads = append(fb.heads, head.String())
				fb.mu.Unlock()
				serve(bufConn{Conn: c, r: br}, head.String())
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		fb.wg.Wait()
	})
	return fb
}

func (fb *fakeBackend) URL() string { return "http://" + fb.ln.Addr().String() }

func (fb *fakeBackend) Heads() []string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]string(nil), fb.heads...)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bufConn reads through the reader that read the head.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c bufConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
