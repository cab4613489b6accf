package upgrade_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/upgrade"
	"github.com/switchyard-http/switchyard/negotiate"
)

// An IPv6 literal keeps its brackets in the Host field, and its zone, which
// means something on this host alone, is not sent (RFC 6874 §4: a client
// removes it from what it sends; the Host field's syntax has no room for
// it), as net/http's client drops it. The connection still goes to the
// zone's interface.
func TestHeadIPv6Host(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, host string }{
		{"ws://[::1]:8080/p", "[::1]:8080"},
		{"wss://[::1]/p", "[::1]"},
		{"ws://[fe80::1%25eth0]:8080/p", "[fe80::1]:8080"},
		{"wss://[fe80::1%25en0]/p", "[fe80::1]"},
	} {
		head := string(upgrade.Head(&upgrade.Request{URL: mustURL(t, tc.url), Offer: []string{"echo/1"}}))
		want := "GET /p HTTP/1.1\r\nHost: " + tc.host + "\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n"
		if head != want {
			t.Errorf("%s: head:\n%q\nwant\n%q", tc.url, head, want)
		}
	}
}

// Over TLS to an IPv6 literal, with or without a zone: the server reads
// Host [::1]:port, no server name is sent (RFC 6066 §3: a literal IP
// address is not a HostName), and the certificate is checked against the
// address (httptest's is for 127.0.0.1, ::1 and example.com), the zone
// left out: with it, the check failed ("not valid for ::1%lo").
func TestDoIPv6TLS(t *testing.T) {
	ln := testkit.IPv6Loopback(t)
	var mu sync.Mutex
	var hosts, names []string
	reg := new(negotiate.Registry)
	reg.Register("echo/1", negotiate.Protocol{Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		mu.Lock()
		hosts = append(hosts, s.Request.Host)
		mu.Unlock()
		return testkit.EchoConn, nil
	}})
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.Listener.Close()
	srv.Listener = ln
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	srv.TLS.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		names = append(names, h.ServerName)
		mu.Unlock()
		return nil, nil
	}
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	urls := []string{"wss://[::1]:" + port + "/p"}
	urls = append(urls, "wss://[::1%25"+testkit.LoopbackZone(t)+"]:"+port+"/p")
	for _, u := range urls {
		c := upgrade.Client{Timeout: testkit.Timeout, TLSConfig: &tls.Config{RootCAs: roots}}
		res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, u), Offer: []string{"echo/1"}})
		if err != nil || res.Conn == nil {
			t.Errorf("%s: Do = %v, want a switch over TLS", u, err)
			continue
		}
		if got := testkit.RoundTrip(t, res.Conn, "over IPv6"); got != "over IPv6" {
			t.Errorf("%s: echo = %q", u, got)
		}
		res.Conn.Close()
		mu.Lock()
		host, name := hosts[len(hosts)-1], names[len(names)-1]
		mu.Unlock()
		if host != "[::1]:"+port || name != "" {
			t.Errorf("%s: the server read Host %q and server name %q, want %q and none", u, host, name, "[::1]:"+port)
		}
	}
}

// A host name that is not ASCII (an internationalized name as typed,
// "bücher.example") is refused before anything is dialled, with a reason
// that says to give its A-label: it went out as is, in Host (which Go's
// servers answer 400 "malformed Host header"), as the TLS server name
// (which RFC 6066 §3 wants in ASCII) and to the resolver, where net/http's
// client converts it with IDNA, which the standard library alone does not
// offer. The A-label itself goes through.
func TestDoNonASCIIHost(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	hosts := make(chan string, 1)
	reg.Register("echo/1", negotiate.Protocol{Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		hosts <- s.Request.Host
		return testkit.EchoConn, nil
	}})
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dialled := 0
	c := upgrade.Client{Timeout: testkit.Timeout, TLSConfig: &tls.Config{InsecureSkipVerify: true},
		NetDial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dialled++
			return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
		}}
	_, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, "wss://bücher.example/p"), Offer: []string{"echo/1"}})
	if err == nil || !strings.Contains(err.Error(), "xn--") || dialled != 0 {
		t.Errorf("Do(wss://bücher.example/p) = %v after %d dials; want an error naming the A-label form, before dialling", err, dialled)
	}
	res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, "wss://xn--bcher-kva.example/p"), Offer: []string{"echo/1"}})
	if err != nil || res.Conn == nil {
		t.Fatalf("Do(wss://xn--bcher-kva.example/p) = %v, want a switch", err)
	}
	res.Conn.Close()
	if got := testkit.Receive(t, hosts, "the switch's Host"); got != "xn--bcher-kva.example" {
		t.Errorf("Host = %q, want the A-label", got)
	}
}
