package negotiate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// firstRead is a protocol that reports what its first read returned and
// then returns that read's error. before, if set, runs first.
func firstRead(reads chan<- string, before func(c *negotiate.Conn)) func(*negotiate.Conn) error {
	return func(c *negotiate.Conn) error {
		if before != nil {
			before(c)
		}
		p := make([]byte, 64)
		n, err := c.Read(p)
		reads <- fmt.Sprintf("%q, closed error %v", p[:n], errors.Is(err, net.ErrClosed))
		return err
	}
}

// smallSendListener gives each connection it accepts a small send
// buffer, so that a client that does not read soon blocks the server's
// writes.
type smallSendListener struct{ net.Listener }

func (l smallSendListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// A connection whose Conn is closed returns no more of what the client
// sent, the bytes it sent behind its request head included: its reads fail,
// as a net.Conn's do once it is closed, whether the protocol closed it, the
// 101 could not be written (the client never learnt that it switched, and
// must not have its first bytes acted on: "DEL everything"), or a shutdown
// closed it. Before the fix the first read returned the early bytes in all
// three cases, and OnClose counted them as read.
func TestClosedConnReadsNoEarlyBytes(t *testing.T) {
	t.Parallel()
	const early = "DEL everything\n"
	t.Run("protocol closed it", func(t *testing.T) {
		t.Parallel()
		reads := make(chan string, 1)
		infos := testkit.NewConnInfos()
		reg := new(negotiate.Registry)
		reg.HandleFunc("kv", firstRead(reads, func(c *negotiate.Conn) { _ = c.Close() }))
		_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)
		testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "kv")+early)
		wantNoEarlyBytes(t, reads, infos)
	})
	t.Run("the 101 could not be written", func(t *testing.T) {
		t.Parallel()
		reads := make(chan string, 1)
		infos := testkit.NewConnInfos()
		reg := new(negotiate.Registry)
		reg.HandleFunc("kv", firstRead(reads, nil))
		n := testkit.NewNegotiator(t, &negotiate.Options{
			OnClose:          infos.Hook,
			HandshakeTimeout: 100 * time.Millisecond,
			// A 101 of 1 MiB, to a client that does not read, through a
			// send buffer of a few KiB: its write cannot finish in time.
			Authorize: func(s *negotiate.Switch) error {
				s.Header.Set("X-Big", strings.Repeat("b", 1<<20))
				return nil
			},
		})
		srv := httptest.NewUnstartedServer(n.Endpoint(reg))
		srv.Listener = smallSendListener{srv.Listener}
		srv.Start()
		t.Cleanup(srv.Close)
		c := testkit.DialTCP(t, testkit.Addr(srv))
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "kv")+early); err != nil {
			t.Fatal(err)
		}
		info := wantNoEarlyBytes(t, reads, infos)
		var ne net.Error
		if !errors.As(info.Err, &ne) || !ne.Timeout() {
			t.Errorf("OnClose Err = %v, want the timeout of the 101's write", info.Err)
		}
	})
	t.Run("a shutdown closed it", func(t *testing.T) {
		t.Parallel()
		reads := make(chan string, 1)
		started, release := make(chan struct{}), make(chan struct{})
		infos := testkit.NewConnInfos()
		reg := new(negotiate.Registry)
		// A protocol that ignores its context until the shutdown has
		// closed its connection, then reads.
		reg.HandleFunc("kv", firstRead(reads, func(*negotiate.Conn) {
			close(started)
			<-release
		}))
		n, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)
		testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "kv")+early)
		testkit.Receive(t, started, "the protocol to start")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := n.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown = %v, want the forced end of an ended context", err)
		}
		close(release)
		wantNoEarlyBytes(t, reads, infos)
	})
}

// wantNoEarlyBytes checks that the protocol's first read failed as a read
// of a closed connection and that OnClose counts nothing read; it returns
// what OnClose reported.
func wantNoEarlyBytes(t *testing.T, reads <-chan string, infos *testkit.ConnInfos) negotiate.ConnInfo {
	t.Helper()
	if got, want := testkit.Receive(t, reads, "the protocol's first read"), `"", closed error true`; got != want {
		t.Errorf("first read after the close: %s; want %s", got, want)
	}
	info := infos.Next(t)
	if info.BytesIn != 0 {
		t.Errorf("OnClose BytesIn = %d, want 0: nothing was read", info.BytesIn)
	}
	return info
}

// The close does not wait for the client to read what the protocol wrote,
// and need not: a client that has stopped sending reads it all, and then
// the end of the stream, even when it starts reading only after the
// negotiator has closed the connection and reported it (Options.Linger
// bounds the close, not the client's reading).
func TestCloseLosesNothingForALateReader(t *testing.T) {
	t.Parallel()
	// Small enough for the system's buffers: the protocol's write returns
	// without the client reading.
	reply := strings.Repeat("0123456789abcdef", 256<<10/16)
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("reply", func(c *negotiate.Conn) error {
		_, err := io.WriteString(c, reply)
		return err
	})
	_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook, Linger: time.Millisecond}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"reply"}, nil)
	if info := infos.Next(t); info.Err != nil || info.BytesOut != int64(len(reply)) {
		t.Fatalf("OnClose = %+v, want a clean end with %d bytes out", info, len(reply))
	}
	if got := testkit.ReadAll(t, c); got != reply {
		t.Errorf("read %d bytes after the close, want the %d the protocol wrote", len(got), len(reply))
	}
}
