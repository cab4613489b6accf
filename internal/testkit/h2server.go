package testkit

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
)

// StartH2Server serves h on loopback over HTTP/2: over TLS (ALPN h2, and
// http/1.1) when useTLS, otherwise HTTP/1.1 and prior-knowledge h2c. The
// server is closed when the test ends, after n's shutdown when n is not
// nil: the shutdown ends the switched streams, which the server's Close
// would otherwise wait for.
func StartH2Server(t testing.TB, h http.Handler, n *negotiate.Negotiator, useTLS bool) *httptest.Server {
	t.Helper()
	return StartH2ServerOn(t, nil, h, n, useTLS)
}

// StartH2ServerOn is StartH2Server on ln (IPv6Loopback's, say); nil is
// httptest's own listener on 127.0.0.1.
func StartH2ServerOn(t testing.TB, ln net.Listener, h http.Handler, n *negotiate.Negotiator, useTLS bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	StartH2(t, srv, n, useTLS)
	return srv
}

// StartH2 starts srv, made by httptest.NewUnstartedServer and configured
// by the caller (its http.Server's timeouts, say), as StartH2Server starts
// its own.
func StartH2(t testing.TB, srv *httptest.Server, n *negotiate.Negotiator, useTLS bool) {
	t.Helper()
	if useTLS {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
	}
	t.Cleanup(srv.Close)
	if n != nil {
		// Cleanups run last first: this one before the server's Close.
		t.Cleanup(func() { <-Shutdown(n, Timeout) })
	}
}

// EachXConnect runs f in two subtests, "tls" and "h2c" (useTLS true and
// false), of a child process with extended CONNECT on (InXConnectChild):
// the tests of RFC 8441 switches over both of StartH2Server's transports.
func EachXConnect(t *testing.T, f func(t *testing.T, useTLS bool)) {
	t.Helper()
	if InXConnectChild(t) {
		return
	}
	for _, useTLS := range []bool{true, false} {
		name := "h2c"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) { f(t, useTLS) })
	}
}

// XClient returns an extended CONNECT client (internal/xconnect) for srv,
// a server StartH2Server started with useTLS. Its connections are closed
// when the test ends.
func XClient(t testing.TB, srv *httptest.Server, useTLS bool) *xconnect.Client {
	t.Helper()
	var cfg *tls.Config
	if useTLS {
		cfg = srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	c := xconnect.New(cfg)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// XDial opens a stream for protocol to url with c, within Timeout, and
// returns what c.Dial returns. The stream is closed when the test ends.
func XDial(t testing.TB, c *xconnect.Client, url, protocol string, h http.Header) (*xconnect.Stream, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	st, resp, err := c.Dial(ctx, url, protocol, h)
	if st != nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, resp, err
}

// ExpectBodyLimit checks, as a client of srv (StartH2Server), a body limit
// of 1 KiB that must bound every request reaching the app and no switch.
// The app serves upload for every method, answering the length of the
// body it read or, where the limit ended it, a text that says "too large"
// (to a CONNECT, after a 200 it sends before it reads); srv switches each
// of streams (path: token) whatever the path. Over HTTP/1.1 (h2c's server
// alone, in clear) a POST of 64 KiB, plain and offering a protocol nobody
// registered, must be refused 413; over HTTP/2 an extended CONNECT to
// upload naming one must meet the limit; the streams must carry 64 KiB.
func ExpectBodyLimit(t *testing.T, srv *httptest.Server, useTLS bool, upload string, streams map[string]string) {
	t.Helper()
	body := strings.Repeat("b", 64<<10)
	for _, h := range []http.Header{
		nil,
		{"Connection": {"Upgrade"}, "Upgrade": {"not-registered"}},
	} {
		if useTLS {
			break // the same HTTP/1.1 requests: the h2c server's are in clear
		}
		resp, got := Do(t, http.MethodPost, srv.URL+upload, h, strings.NewReader(body))
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("POST of %d bytes with %v: %s %q, want 413 from the limit", len(body), h, resp.Status, got)
		}
	}
	c := XClient(t, srv, useTLS)
	st, resp, err := XDial(t, c, srv.URL+upload, "not-registered", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("extended CONNECT to the app: %v, %v; want the app's 200", resp, err)
	}
	small := body[:2048] // over the limit, within the stream's window
	if _, err := io.WriteString(st, small); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(st); !strings.Contains(string(got), "too large") {
		t.Errorf("the app read a CONNECT's %d-byte body past the limit of 1 KiB: %q", len(small), got)
	}
	for path, token := range streams {
		st, resp, err := XDial(t, c, srv.URL+path, token, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("extended CONNECT %s to %s: %v, %v; want 200", token, path, resp, err)
		}
		if got := RoundTrip(t, st, body); got != body {
			t.Errorf("%s's stream echoed %d of %d bytes", token, len(got), len(body))
		}
	}
}
