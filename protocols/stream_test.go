package protocols_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// The client half-closes; the function reads io.EOF and still answers.
func TestStreamClientHalfClose(t *testing.T) {
	t.Parallel()
	_, srv := streamServer(t, nil, func(c *negotiate.Conn) error {
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c, "got %d: %s", len(b), b)
		return err
	})
	c, resp := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	if got := resp.Header.Get("Upgrade"); got != "tcp" {
		t.Fatalf("Upgrade = %q, want tcp", got)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got, want := testkit.ReadAll(t, c), "got 5: hello"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
}

// The function half-closes first; the client reads io.EOF and still sends.
func TestStreamServerHalfClose(t *testing.T) {
	t.Parallel()
	late := make(chan string, 1)
	_, srv := streamServer(t, nil, halfClosing("banner", late))
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	if got, want := testkit.ReadAll(t, c), "banner"; got != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if _, err := io.WriteString(c, "after your EOF"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got, want := testkit.Receive(t, late, "the server's read of the client's bytes"), "after your EOF"; got != want {
		t.Errorf("server read %q, want %q", got, want)
	}
}

// A protocol that writes 4 MiB and returns while the client is still
// sending must not lose the tail of what it wrote: the negotiator's close
// half-closes and drains instead of resetting the connection. The same
// holds for Stream and for Registry.HandleFunc, which Stream now is.
func TestStreamReturnKeepsOutput(t *testing.T) {
	t.Parallel()
	out := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	write := func(c *negotiate.Conn) error {
		_, err := c.Write(out)
		return err
	}
	for _, tc := range []struct {
		name string
		reg  func() *negotiate.Registry
	}{
		{"Stream", func() *negotiate.Registry { return register(protocols.Stream(write), "tcp") }},
		{"HandleFunc", func() *negotiate.Registry {
			reg := new(negotiate.Registry)
			reg.HandleFunc("tcp", write)
			return reg
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			infos := testkit.NewConnInfos()
			_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, tc.reg())
			c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
			// The client keeps sending what the protocol never reads,
			// while it reads the reply.
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				chunk := bytes.Repeat([]byte("y"), 16<<10)
				for range 16 {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, out) {
				t.Errorf("read %d bytes (%v), want all %d and the end of the stream", len(got), err, len(out))
			}
			<-sent
			c.Close()
			if i := infos.Next(t); i.Err != nil || i.BytesOut != int64(len(out)) {
				t.Errorf("OnClose = %+v, want no error and %d bytes out", i, len(out))
			}
		})
	}
}

// An error ends the stream without a word to the client and goes to
// OnClose.
func TestStreamErrorGoesToOnClose(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	boom := errors.New("boom")
	_, srv := streamServer(t, &negotiate.Options{OnClose: infos.Hook}, func(c *negotiate.Conn) error {
		_, _ = io.WriteString(c, "partial")
		return boom
	})
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	if got := testkit.ReadAll(t, c); got != "partial" {
		t.Errorf("read %q, want what the function wrote before its error", got)
	}
	if i := infos.Next(t); !errors.Is(i.Err, boom) {
		t.Errorf("OnClose error = %v, want %v", i.Err, boom)
	}
}

// On shutdown, a function that watches its Context gets to say goodbye;
// one that does not holds the shutdown until its deadline, and is then
// closed by the negotiator all the same.
func TestStreamShutdown(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 2)
	reg := new(negotiate.Registry)
	reg.Register("polite", protocols.Stream(func(c *negotiate.Conn) error {
		done := c.Context().Done()
		started <- struct{}{}
		<-done
		_, err := io.WriteString(c, "bye")
		return err
	}))
	reg.Register("deaf", protocols.Stream(func(c *negotiate.Conn) error {
		started <- struct{}{}
		_, err := io.Copy(io.Discard, c) // ends only when the connection does
		return err
	}))
	n, srv := testkit.Endpoint(t, nil, reg)
	polite, _ := testkit.Dial(t, srv.URL, []string{"polite"}, nil)
	deaf, _ := testkit.Dial(t, srv.URL, []string{"deaf"}, nil)
	for range 2 {
		testkit.Receive(t, started, "a function to start")
	}
	done := testkit.Shutdown(n, time.Second)
	if got := testkit.ReadAll(t, polite); got != "bye" {
		t.Errorf("polite read %q, want bye", got)
	}
	polite.Close()
	testkit.ExpectClosed(t, deaf)
	if err := testkit.Receive(t, done, "Shutdown to return"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want its deadline (the deaf connection held it)", err)
	}
	// The forced connection's function returns once its socket is closed.
	testkit.WaitFor(t, "no connection active after Shutdown", func() bool {
		a := n.Stats().Active
		return a["polite"]+a["deaf"] == 0
	})
}

func TestJoinLocalService(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	// A local TCP service: it reads until EOF and answers in upper case.
	svc := testkit.NewTCPServer(t, func(c net.Conn, first string) {
		rest, _ := io.ReadAll(c)
		_, _ = io.WriteString(c, strings.ToUpper(first+string(rest)))
	})
	_, srv := streamServer(t, &negotiate.Options{OnClose: infos.Hook}, joining(svc.Addr()))
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	// The service reads a first line as its "head".
	if _, err := io.WriteString(c, "first line\r\n\r\nand the rest"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got, want := testkit.ReadAll(t, c), "FIRST LINE\r\n\r\nAND THE REST"; got != want {
		t.Errorf("read %q, want %q", got, want)
	}
	if i := infos.Next(t); i.Err != nil || i.BytesIn != 26 || i.BytesOut != 26 {
		t.Errorf("OnClose = %+v, want no error, 26 bytes each way", i)
	}
}

// Shutdown ends a joined connection whose peers would go on forever.
func TestJoinShutdown(t *testing.T) {
	t.Parallel()
	peerClosed := make(chan struct{})
	svc := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.Copy(io.Discard, c) // never ends on its own
		close(peerClosed)
	})
	n, srv := streamServer(t, nil, joining(svc.Addr()))
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	if _, err := io.WriteString(c, "x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the peer's connection", func() bool { return len(svc.Heads()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	testkit.ExpectClosed(t, c)
	testkit.Receive(t, peerClosed, "the peer's connection to close")
}

// A shutdown ends a joined connection without destroying what Join
// already passed on to the client: the peer's answer, counted in BytesOut,
// reaches the client, then the end of the stream, although the client was
// still sending (audit: Join closed the connection at once, with the
// client's input unread, and the reset that sends destroyed the answer in
// flight: the client read 64 KiB of the 1 MiB OnClose reported, then a
// reset). The peer reads nothing, so the client's upload waits unread.
func TestJoinShutdownKeepsWhatWasPassedOn(t *testing.T) {
	t.Parallel()
	const answer = 1 << 20
	release := make(chan struct{})
	svc := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		if _, err := c.Write(bytes.Repeat([]byte("a"), answer)); err == nil {
			<-release // reads nothing meanwhile
		}
	})
	t.Cleanup(func() { close(release) })
	infos := testkit.NewConnInfos()
	n, srv := streamServer(t, &negotiate.Options{OnClose: infos.Hook}, func(c *negotiate.Conn) error {
		peer, err := net.Dial("tcp", svc.Addr())
		if err != nil {
			return err
		}
		_ = peer.(*net.TCPConn).SetWriteBuffer(16 << 10) // the upload stays in c's socket
		return protocols.Join(c, peer)
	})
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	var sent atomic.Int64
	uploaded := make(chan error, 1)
	go func() {
		p := make([]byte, 16<<10)
		copy(p, "x\r\n\r\n")
		for range 32 { // 512 KiB, under the negotiator's 1 MiB drain
			k, err := c.Write(p)
			sent.Add(int64(k))
			if err != nil {
				uploaded <- err
				return
			}
		}
		uploaded <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	testkit.WaitFor(t, "the answer passed on and the upload waiting unread", func() bool {
		cs := n.Conns()
		return len(cs) == 1 && cs[0].BytesOut == answer && sent.Load()-cs[0].BytesIn >= 64<<10
	})
	if err := <-testkit.Shutdown(n, testkit.Timeout); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	b, err := io.ReadAll(c)
	if len(b) != answer || err != nil {
		t.Errorf("after the shutdown the client read %d bytes, then %v; want the %d of the answer, then the end", len(b), err, answer)
	}
	if err := testkit.Receive(t, uploaded, "the upload"); err != nil {
		t.Errorf("upload: %v, want every byte taken (the negotiator drains it)", err)
	}
	if i := infos.Next(t); i.Err != nil || i.CloseReason != negotiate.CloseShutdown || i.BytesOut != answer {
		t.Errorf("OnClose = %+v, want no error, a shutdown, %d bytes out", i, answer)
	}
}
