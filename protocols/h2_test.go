package protocols_test

// Stream and Join on HTTP/2 streams (extended CONNECT, RFC 8441), over TLS
// and prior-knowledge h2c, driven by internal/xconnect. Go's HTTP/2 servers
// accept extended CONNECT only with GODEBUG=http2xconnect=1 in the
// environment at start, so each test runs in a child process that has it
// (testkit.EachXConnect).

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// h2Stream serves f as protocols.Stream under "tcp" over HTTP/2 (TLS or
// h2c) through a negotiator whose OnClose reports to the returned
// collector, and opens a stream to it, with a read deadline of
// testkit.Timeout.
func h2Stream(t *testing.T, useTLS bool, f func(*negotiate.Conn) error) (*negotiate.Negotiator, *xconnect.Stream, *testkit.ConnInfos) {
	t.Helper()
	infos := testkit.NewConnInfos()
	n := testkit.NewNegotiator(t, &negotiate.Options{OnClose: infos.Hook})
	srv := testkit.StartH2Server(t, n.Middleware(register(protocols.Stream(f), "tcp"))(http.NotFoundHandler()), n, useTLS)
	st, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL+"/", "tcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
	return n, st, infos
}

// On a stream, the function cannot half-close (CloseWrite is an error, as
// the Stream doc says): its side ends when it returns, after everything
// it wrote. The client's half-close (END_STREAM) is its io.EOF.
func TestStreamOverH2(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		closeWrite := make(chan error, 1)
		_, st, infos := h2Stream(t, useTLS, func(c *negotiate.Conn) error {
			if _, err := io.WriteString(c, "first "); err != nil {
				return err
			}
			closeWrite <- c.CloseWrite()
			in, err := io.ReadAll(c)
			if err != nil {
				return err
			}
			_, err = io.WriteString(c, "then "+string(in))
			return err
		})
		if err := testkit.Receive(t, closeWrite, "the function's CloseWrite"); err == nil {
			t.Error("CloseWrite on a stream = nil, want an error")
		}
		if _, err := io.WriteString(st, "the input"); err != nil {
			t.Fatal(err)
		}
		if err := st.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, want := testkit.ReadAll(t, st), "first then the input"; got != want {
			t.Errorf("read %q, want %q and the end of the stream", got, want)
		}
		if i := infos.Next(t); i.Err != nil || i.Transport != negotiate.TransportH2 {
			t.Errorf("OnClose = %+v, want no error on %s", i, negotiate.TransportH2)
		}
	})
}

// Join on a stream: the stream cannot half-close, so when the peer ends
// first the stream is closed instead, as Join's doc says; that close is
// Join's own, not a failure (audit: OnClose reported "i/o timeout", the
// stream's read error after the close, with CloseReason "error", for every
// joined stream whose peer ended first, and at every shutdown). The
// client's half-close reaches the peer as on HTTP/1.1.
func TestJoinOverH2(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		t.Run("peer ends first", func(t *testing.T) {
			svc := testkit.NewTCPServer(t, func(c net.Conn, head string) {
				_, _ = io.WriteString(c, "answer to "+head)
			})
			_, st, infos := h2Stream(t, useTLS, joining(svc.Addr()))
			if _, err := io.WriteString(st, "hi\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if got, want := testkit.ReadAll(t, st), "answer to hi\r\n\r\n"; got != want {
				t.Errorf("read %q, want %q and the end of the stream", got, want)
			}
			if i := infos.Next(t); i.Err != nil || i.CloseReason != negotiate.CloseNormal || i.BytesIn != 6 || i.BytesOut != 16 {
				t.Errorf("OnClose = %+v, want no error, a normal close, 6 bytes in and 16 out", i)
			}
		})
		t.Run("client half-closes first", func(t *testing.T) {
			svc := testkit.NewTCPServer(t, func(c net.Conn, head string) {
				rest, _ := io.ReadAll(c)
				_, _ = io.WriteString(c, strings.ToUpper(head+string(rest)))
			})
			_, st, infos := h2Stream(t, useTLS, joining(svc.Addr()))
			if _, err := io.WriteString(st, "hi\r\n\r\nand the rest"); err != nil {
				t.Fatal(err)
			}
			if err := st.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got, want := testkit.ReadAll(t, st), "HI\r\n\r\nAND THE REST"; got != want {
				t.Errorf("read %q, want %q and the end of the stream", got, want)
			}
			if i := infos.Next(t); i.Err != nil || i.CloseReason != negotiate.CloseNormal {
				t.Errorf("OnClose = %+v, want no error and a normal close", i)
			}
		})
		t.Run("shutdown", func(t *testing.T) {
			svc := testkit.NewTCPServer(t, func(c net.Conn, _ string) { _, _ = io.Copy(c, c) })
			n, st, infos := h2Stream(t, useTLS, joining(svc.Addr()))
			if _, err := io.WriteString(st, "hi\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if got := testkit.RoundTrip(t, st, "echo"); got != "echo" {
				t.Fatalf("echo %q", got)
			}
			if err := <-testkit.Shutdown(n, testkit.Timeout); err != nil {
				t.Fatalf("Shutdown = %v, want nil", err)
			}
			if i := infos.Next(t); i.Err != nil || i.CloseReason != negotiate.CloseShutdown {
				t.Errorf("OnClose = %+v, want no error and a shutdown", i)
			}
		})
	})
}

// A peer that cannot half-close (a net.Pipe) is closed when the client
// half-closes, as Join's doc says: it reads the client's bytes and the
// end, and the close is Join's own, not a failure (audit: OnClose
// reported io.ErrClosedPipe, the peer's read error after the close).
func TestJoinPeerCannotHalfClose(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	peerRead := make(chan string, 1)
	_, srv := streamServer(t, &negotiate.Options{OnClose: infos.Hook}, func(c *negotiate.Conn) error {
		peer, svc := net.Pipe()
		go func() {
			defer svc.Close()
			b, err := io.ReadAll(svc)
			if err != nil && !errors.Is(err, io.ErrClosedPipe) {
				b = append(b, " read error: "+err.Error()...)
			}
			peerRead <- string(b)
		}()
		return protocols.Join(c, peer)
	})
	c, _ := testkit.Dial(t, srv.URL, []string{"tcp"}, nil)
	if _, err := io.WriteString(c, "input"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got := testkit.Receive(t, peerRead, "the peer's read"); got != "input" {
		t.Errorf("the peer read %q, want the client's input and the end", got)
	}
	testkit.ExpectClosed(t, c)
	if i := infos.Next(t); i.Err != nil || i.CloseReason != negotiate.CloseNormal {
		t.Errorf("OnClose = %+v, want no error and a normal close", i)
	}
}
