package negotiate_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TestRefusalKeepsTheServersReadTimeout: the Linger a refusal gives the
// body the client sends does not outlast the http.Server's ReadTimeout,
// which bounds a plain request, body included. A client that declared a
// body and sent it a byte at a time held a refused connection (and its
// goroutine) for Linger, one minute here, where the ReadTimeout of 300ms
// ended it before.
func TestRefusalKeepsTheServersReadTimeout(t *testing.T) {
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	n := testkit.NewNegotiator(t, &negotiate.Options{Linger: time.Minute})
	srv := httptest.NewUnstartedServer(n.Endpoint(reg))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	for _, tc := range []struct{ name, offer, status string }{
		{"413 on a protocol that takes no body", "Connection: Upgrade\r\nUpgrade: echo/1", "413"},
		{"426 at an Endpoint", "Connection: keep-alive", "426"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := testkit.DialTCP(t, testkit.Addr(srv))
			req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: example.com\r\n%s\r\nContent-Length: %d\r\n\r\nb", tc.offer, 200<<10)
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() { // the rest of the body, a byte every 50 ms, for at most 20 s
				defer close(done)
				for range 400 {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := conn.Write([]byte("b")); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-done }()
			_ = conn.SetReadDeadline(time.Now().Add(8 * time.Second))
			all, err := io.ReadAll(conn)
			if isTimeout(err) {
				t.Fatalf("the refused connection was still open 8 s after the request, past the server's ReadTimeout of 300ms (read %.40q)", all)
			}
			if want := "HTTP/1.1 " + tc.status + " "; !strings.HasPrefix(string(all), want) {
				t.Errorf("got %.60q (%v), want %q", all, err, want)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTakesBodyAcceptChangingContentLength: an Accept that changes the
// request's ContentLength (here: gives a request without a body one) does
// not panic the negotiator: it panicked on the body it had not wrapped,
// with the slot taken for good (the shutdown then waited for it).
func TestTakesBodyAcceptChangingContentLength(t *testing.T) {
	reg := new(negotiate.Registry)
	reg.Register("upload/1", negotiate.Protocol{
		TakesBody: true,
		Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			s.Request.ContentLength = 1
			return func(*negotiate.Conn) error { return nil }, nil
		},
	})
	n, srv := testkit.Endpoint(t, nil, reg)
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "upload/1"))
	if x.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%s %q, want 101", x.Resp.Status, x.Body)
	}
	testkit.ExpectClosed(t, x)
	testkit.CloseWrite(t, x.Conn)
	testkit.WaitFor(t, "the slot's release", func() bool { return n.Stats().Active["upload"] == 0 })
}
