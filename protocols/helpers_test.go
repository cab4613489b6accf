package protocols_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// register registers p under each token.
func register(p negotiate.Protocol, tokens ...string) *negotiate.Registry {
	reg := new(negotiate.Registry)
	for _, tok := range tokens {
		reg.Register(tok, p)
	}
	return reg
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
				_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
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

// bufConn reads through the reader that read the head.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c bufConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }
