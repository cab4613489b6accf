package protocols_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// The client half-closes; the function reads io.EOF and still answers.
func TestStreamClientHalfClose(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error {
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c, "got %d: %s", len(b), b)
		return err
	}), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, resp := dial(t, srv.URL, "tcp")
	if got := resp.Header.Get("Upgrade"); got != "tcp" {
		t.Fatalf("Upgrade = %q, want tcp", got)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, c)
	if got, want := readAll(t, c), "got 5: hello"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

// The function half-closes first; the client reads io.EOF and still sends.
func TestStreamServerHalfClose(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	late := make(chan string, 1)
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error {
		if _, err := io.WriteString(c, "banner"); err != nil {
			return err
		}
		if err := c.CloseWrite(); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		late <- string(b)
		return err
	}), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, _ := dial(t, srv.URL, "tcp")
	if got, want := readAll(t, c), "banner"; got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if _, err := io.WriteString(c, "after your EOF"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, c)
	select {
	case got := <-late:
		if want := "after your EOF"; got != want {
			t.Errorf("server read %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server never read the client's bytes")
	}
}

// A function that returns nil while the client still sends must not lose
// its last bytes: the end is a half-close, then a bounded drain.
func TestStreamReturnKeepsOutput(t *testing.T) {
	t.Parallel()
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{OnClose: func(i negotiate.ConnInfo) { closed <- i }})
	out := strings.Repeat("x", 1<<20)
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error {
		_, err := io.WriteString(c, out)
		return err
	}), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, _ := dial(t, srv.URL, "tcp")
	// The client keeps sending what the function never reads.
	if _, err := io.WriteString(c, strings.Repeat("y", 64<<10)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, c); got != out {
		t.Errorf("read %d bytes, want %d", len(got), len(out))
	}
	c.Close()
	select {
	case i := <-closed:
		if i.Err != nil || i.BytesOut != int64(len(out)) {
			t.Errorf("OnClose = %+v, want no error and %d bytes out", i, len(out))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection never closed")
	}
}

func TestStreamErrorGoesToOnClose(t *testing.T) {
	t.Parallel()
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{OnClose: func(i negotiate.ConnInfo) { closed <- i }})
	boom := errors.New("boom")
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error { return boom }), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, _ := dial(t, srv.URL, "tcp")
	if got := readAll(t, c); got != "" {
		t.Errorf("read %q, want nothing", got)
	}
	select {
	case i := <-closed:
		if !errors.Is(i.Err, boom) {
			t.Errorf("OnClose error = %v, want %v", i.Err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection never closed")
	}
}

// upperService is a local TCP service: it reads until EOF, answers in
// upper case and closes.
func upperService(t *testing.T) net.Addr {
	fb := newFakeBackend(t, func(c net.Conn, first string) {
		rest, _ := io.ReadAll(c)
		_, _ = io.WriteString(c, strings.ToUpper(first+string(rest)))
	})
	return fb.ln.Addr()
}

func TestJoinLocalService(t *testing.T) {
	t.Parallel()
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{OnClose: func(i negotiate.ConnInfo) { closed <- i }})
	addr := upperService(t)
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error {
		peer, err := net.Dial("tcp", addr.String())
		if err != nil {
			return err
		}
		return protocols.Join(c, peer)
	}), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, _ := dial(t, srv.URL, "tcp")
	// The fake service reads a first line as its "head".
	if _, err := io.WriteString(c, "first line\r\n\r\nand the rest"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, c)
	if got, want := readAll(t, c), "FIRST LINE\r\n\r\nAND THE REST"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
	select {
	case i := <-closed:
		if i.Err != nil || i.BytesIn != 26 || i.BytesOut != 26 {
			t.Errorf("OnClose = %+v, want no error, 26 bytes each way", i)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection never closed")
	}
}

// Shutdown ends a joined connection whose peers would go on forever.
func TestJoinShutdown(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	peerClosed := make(chan struct{})
	fb := newFakeBackend(t, func(c net.Conn, _ string) {
		_, _ = io.Copy(io.Discard, c) // never ends on its own
		close(peerClosed)
	})
	reg := register(t, protocols.Stream(func(c *negotiate.Conn) error {
		peer, err := net.Dial("tcp", fb.ln.Addr().String())
		if err != nil {
			return err
		}
		return protocols.Join(c, peer)
	}), "tcp")
	srv := startServer(t, n.Endpoint(reg))
	c, _ := dial(t, srv.URL, "tcp")
	if _, err := io.WriteString(c, "x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the peer's connection", func() bool { return len(fb.Heads()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if got := readAll(t, c); got != "" {
		t.Errorf("read %q, want EOF", got)
	}
	select {
	case <-peerClosed:
	case <-time.After(10 * time.Second):
		t.Fatal("the peer's connection was not closed")
	}
}
