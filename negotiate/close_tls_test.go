package negotiate_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// tlsEndpoint serves reg over TLS (HTTP/2 and HTTP/1.1 by ALPN, as most
// TLS servers do) and returns a client connection that asked for
// http/1.1, its upgrade request for token written and the 101 read.
func tlsEndpoint(t *testing.T, opts *negotiate.Options, reg *negotiate.Registry, token string) (*negotiate.Negotiator, *tls.Conn, *bufio.Reader) {
	t.Helper()
	n := testkit.NewNegotiator(t, opts)
	srv := httptest.NewUnstartedServer(n.Endpoint(reg))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", token)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade over TLS: %v, %v", resp, err)
	}
	return n, c, br
}

// Over TLS the close loses nothing either: the half-close is TLS's
// close_notify, which the client reads as the end of the stream after
// everything the protocol wrote, its own input left unread by the
// protocol.
func TestCloseOverTLSLosesNothing(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("big", func(c *negotiate.Conn) error {
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			return err
		}
		_, err := c.Write(big)
		return err
	})
	_, c, br := tlsEndpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg, "big")
	if _, err := c.Write(bytes.Repeat([]byte("x"), 256<<10)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(br)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("client read %d of %d bytes, then %v", len(got), len(big), err)
	}
	c.Close()
	if info := infos.Next(t); info.Err != nil || info.BytesOut != int64(len(big)) {
		t.Errorf("OnClose = %+v, want no error and %d bytes out", info, len(big))
	}
}

// The close is bounded over TLS as over TCP when a goroutine of the
// protocol is still writing to a client that does not read: crypto/tls's
// half-close (close_notify) waits for the write under way, which never
// ended, so the connection was never closed nor reported, and a shutdown
// waited for it to its end (over TCP the half-close does not wait: it ends
// the write at once, TestCloseOverTCPEndsAWriteUnderWay). Now the write
// under way gets Linger, as on an HTTP/2 stream; crypto/tls then gives
// close_notify up to 5 s of its own.
func TestCloseOverTLSWithAWriteUnderWay(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	writing := make(chan error, 1)
	reg := new(negotiate.Registry)
	reg.HandleFunc("push", stuckWriter(t, writing))
	n, _, _ := tlsEndpoint(t, &negotiate.Options{Linger: 100 * time.Millisecond, OnClose: infos.Hook}, reg, "push")
	info := infos.Next(t)
	if info.Err != nil {
		t.Errorf("OnClose error = %v, want nil", info.Err)
	}
	if err := testkit.Receive(t, writing, "the end of the write under way"); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("the write under way ended with %v, want an error", err)
	}
	if s := n.Stats(); s.Active["push"] != 0 {
		t.Errorf("active after the close = %d, want 0", s.Active["push"])
	}
}

// Over TCP a write under way in a goroutine of the protocol's ends at the
// half-close, not after Linger: the half-close (shutdown) fails it at
// once. Linger here outlasts the test, so only the half-close can end the
// write.
func TestCloseOverTCPEndsAWriteUnderWay(t *testing.T) {
	t.Parallel()
	writing := make(chan error, 1)
	reg := new(negotiate.Registry)
	reg.HandleFunc("push", stuckWriter(t, writing))
	n := testkit.NewNegotiator(t, &negotiate.Options{Linger: time.Hour})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "push")); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Receive(t, writing, "the end of the write under way"); err == nil {
		t.Errorf("the write under way ended with %v, want an error", err)
	}
}

// stuckWriter is a protocol that leaves a goroutine writing to a client
// that reads nothing and returns once that write is stuck; the write's
// error goes to writing when it ends.
func stuckWriter(t *testing.T, writing chan<- error) func(*negotiate.Conn) error {
	return func(c *negotiate.Conn) error {
		go func() {
			chunk := make([]byte, 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					writing <- err
					return
				}
			}
		}()
		// Return once the write is stuck: the client reads nothing.
		testkit.WaitFor(t, "the client's buffers full", func() bool {
			out := c.Info().BytesOut
			time.Sleep(20 * time.Millisecond)
			return c.Info().BytesOut == out && out > 0
		})
		return nil
	}
}
