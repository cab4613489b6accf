package negotiate_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// rawServer answers every connection's request head with response, then
// reads until the client closes. It returns the server's URL.
func rawServer(t *testing.T, response string) string {
	t.Helper()
	return testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		if _, err := io.WriteString(c, response); err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	}).URL()
}

func TestDialValidates101(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	greet := rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: greet\r\nConnection: keep-alive, Upgrade\r\n\r\nhello behind the 101")
	bad := map[string]string{
		"wrongtok":  rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n"),
		"noconn":    rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: noconn\r\n\r\n"),
		"twolines":  rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: twolines\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n"),
		"twotokens": rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: twotokens, other\r\nConnection: Upgrade\r\n\r\n"),
	}
	continued := rawServer(t, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: continued\r\nConnection: Upgrade\r\n\r\n")

	c, resp, err := negotiate.Dial(ctx, greet, []string{"greet"}, http.Header{"X-Extra": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len("hello behind the 101"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello behind the 101" {
		t.Errorf("bytes behind the 101 = %q, %v", buf, err)
	}
	if resp.StatusCode != 101 {
		t.Errorf("status %d", resp.StatusCode)
	}
	c.Close()

	for tok, url := range bad {
		offer := []string{tok}
		if strings.HasPrefix(tok, "two") {
			offer = append(offer, "other") // both offered: naming two is still invalid
		}
		_, _, err := negotiate.Dial(ctx, url, offer, nil)
		if !errors.Is(err, negotiate.ErrBadSwitch) {
			t.Errorf("dial %s: %v, want ErrBadSwitch", tok, err)
		}
	}
	c, _, err = negotiate.Dial(ctx, "ws"+strings.TrimPrefix(continued, "http"), []string{"continued"}, nil)
	if err != nil {
		t.Errorf("101 after a 100 over ws://: %v", err)
	} else {
		c.Close()
	}
}

func TestDialRefusal(t *testing.T) {
	t.Parallel()
	_, srv := testkit.Endpoint(t, nil, echoRegistry())
	_, resp, err := negotiate.Dial(context.Background(), srv.URL, []string{"other/1"}, nil)
	var e *negotiate.Error
	if !errors.As(err, &e) {
		t.Fatalf("refused dial: %v, want an *Error", err)
	}
	if e.Status != 426 || e.Header.Get("Upgrade") != "echo/1" || !strings.Contains(e.Reason, "requires a protocol upgrade") {
		t.Errorf("refusal = %d %q %v", e.Status, e.Reason, e.Header)
	}
	if resp == nil || resp.StatusCode != 426 {
		t.Fatalf("response = %v, want the 426", resp)
	}
	// As with gorilla's Dialer, the response's body reads what the server
	// sent (audit: it was closed, and reads failed).
	if body, err := io.ReadAll(resp.Body); err != nil || strings.TrimRight(string(body), "\r\n") != e.Reason {
		t.Errorf("response body = %q, %v; want the refusal's %q", body, err, e.Reason)
	}
}

func TestDialArgumentsAndContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		url   string
		offer []string
	}{
		{"http://127.0.0.1:1/", nil},
		{"http://127.0.0.1:1/", []string{"bad token"}},
		{"ftp://127.0.0.1:1/", []string{"a"}},
	} {
		if _, _, err := negotiate.Dial(ctx, tc.url, tc.offer, nil); err == nil {
			t.Errorf("Dial(%q, %q) = nil error", tc.url, tc.offer)
		}
	}
	// A server that never answers: the context ends the exchange.
	silent := testkit.NewTCPServer(t, func(c net.Conn, _ string) { _, _ = io.Copy(io.Discard, c) })
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err := negotiate.Dial(ctx, silent.URL(), []string{"a"}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("silent server: %v, want the context's deadline", err)
	}
}

// A Dial its context cancels while it waits for the response head fails
// with context.Canceled and is not a timeout, as at the dial and the TLS
// handshake and as net/http's client reports a cancellation: code that
// retries on a net.Error's Timeout must not retry a caller's give-up. (Dial
// ends the exchange by a deadline in the past, whose "i/o timeout" came
// with the cancellation.) A context's deadline, and HandshakeTimeout, are
// timeouts.
func TestDialCancelIsNotATimeout(t *testing.T) {
	t.Parallel()
	heads := make(chan struct{}, 3)
	silent := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		heads <- struct{}{}
		_, _ = io.Copy(io.Discard, c)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if _, ok := <-heads; ok {
			cancel() // the request is sent: Dial waits for the head
		}
	}()
	_, _, err := negotiate.Dial(ctx, silent.URL(), []string{"a"}, nil)
	var ne net.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("cancelled Dial = %v; want context.Canceled, not a timeout", err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	for name, d := range map[string]*negotiate.Dialer{"the context's deadline": nil, "HandshakeTimeout": {HandshakeTimeout: 50 * time.Millisecond}} {
		c := dctx
		if d != nil {
			c = context.Background()
		}
		_, _, err := d.Dial(c, silent.URL(), []string{"a"}, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: Dial = %v; want context.DeadlineExceeded, a timeout", name, err)
		}
	}
}

// The connection Dial returns fails its reads with net.ErrClosed once it
// is closed, as a net.Conn's do, also while bytes that arrived behind the
// 101 were not read yet: they are not returned after the Close (they
// were, with no error, and the server's Conn drops them the same way).
func TestDialConnReadAfterClose(t *testing.T) {
	t.Parallel()
	url := rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: greet\r\nConnection: Upgrade\r\n\r\nhello behind the 101")
	c, _, err := negotiate.Dial(context.Background(), url, []string{"greet"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if n, err := c.Read(make([]byte, 64)); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %d, %v; want 0, net.ErrClosed", n, err)
	}
}

func TestHandshakeTimeoutBounds101(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	// A deadline already past when the 101 is written: the write fails
	// instead of waiting on a client that does not read.
	n := testkit.NewNegotiator(t, &negotiate.Options{HandshakeTimeout: time.Nanosecond, OnClose: infos.Hook})
	srv := testkit.StartServer(t, n.Endpoint(echoRegistry()))
	_, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"}, nil)
	if err == nil {
		t.Fatal("switched despite a handshake timeout that had passed")
	}
	var ne net.Error
	if info := infos.Next(t); !errors.As(info.Err, &ne) || !ne.Timeout() {
		t.Errorf("close error = %v, want a timeout", info.Err)
	}
}

// A Host field in Dial's header names the request's Host, as with
// gorilla's Dialer, while the connection goes to the URL's address.
func TestDialHostField(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	hosts := make(chan string, 1)
	reg := newRegistry(map[string]negotiate.Protocol{"host": {Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		hosts <- s.Request.Host
		return testkit.EchoConn, nil
	}}})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	c := dial(t, srv, "/", []string{"host"}, http.Header{"Host": {"example.com"}})
	if got := testkit.RoundTrip(t, c, "x"); got != "x" {
		t.Fatalf("echo = %q", got)
	}
	if h := testkit.Receive(t, hosts, "the upgrade request's Host"); h != "example.com" {
		t.Errorf("the server saw Host %q, want example.com", h)
	}
}

// A user and password in Dial's URL are sent as Basic authorization, as
// net/http's client sends them, unless the header has its own
// Authorization field (audit: they were dropped silently).
func TestDialUserinfo(t *testing.T) {
	t.Parallel()
	authorize := func(s *negotiate.Switch) error {
		if user, pass, ok := s.Request.BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
			return negotiate.Refusal(http.StatusUnauthorized, "want alice")
		}
		return nil
	}
	_, srv := testkit.Endpoint(t, &negotiate.Options{Authorize: authorize}, echoRegistry())
	withUser := strings.Replace(srv.URL, "://", "://alice:s3cret@", 1)
	c, _, err := negotiate.Dial(context.Background(), withUser, []string{"echo/1"}, nil)
	if err != nil {
		t.Fatalf("Dial with the user in the URL: %v, want a switch", err)
	}
	c.Close()
	var e *negotiate.Error
	_, _, err = negotiate.Dial(context.Background(), withUser, []string{"echo/1"}, http.Header{"Authorization": {"Bearer t"}})
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Errorf("Dial with an Authorization field of its own: %v, want the 401: the field is sent as given", err)
	}
}

// A refusal whose body is still coming when HandshakeTimeout passes comes
// back as its *Error with the part that arrived; a status outside 100-599
// is no refusal but an invalid response.
func TestDialRefusalBounds(t *testing.T) {
	t.Parallel()
	hold := func(answer string) string { return testkit.Holding(t, answer).URL() }
	// The answer is in before the dial, so that the 200 ms pass while
	// the body is read, however late the machine runs the server.
	const short = "HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nshort"
	srv := testkit.Holding(t, short)
	d := &negotiate.Dialer{HandshakeTimeout: 200 * time.Millisecond, NetDial: testkit.Answered(t, srv, len(short))}
	_, _, err := d.Dial(context.Background(), srv.URL(), []string{"a"}, nil)
	var e *negotiate.Error
	if !errors.As(err, &e) || e.Status != 403 || e.Reason != "short" {
		t.Errorf("a refusal with an unfinished body: %v, want the 403 with reason %q", err, "short")
	}
	_, resp, err := negotiate.Dial(context.Background(), hold("HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nno"), []string{"a"}, nil)
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "outside 100-599") {
		t.Errorf("status 999: %v, want an invalid-response error, not a refusal", err)
	}
	if resp == nil || resp.StatusCode != 999 {
		t.Errorf("status 999: response %v, want it handed back", resp)
	}
}
