package negotiate_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Dial to an IPv6 literal over TLS, with the loopback's zone: the
// connection goes to that interface, Host is [::1]:port without the zone,
// and the certificate (httptest's is for ::1) is checked against ::1.
func TestDialIPv6Zone(t *testing.T) {
	ln := testkit.IPv6Loopback(t)
	lo := testkit.LoopbackZone(t)
	hosts := make(chan string, 1)
	reg := new(negotiate.Registry)
	reg.Register("echo/1", negotiate.Protocol{Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		hosts <- s.Request.Host
		return testkit.EchoConn, nil
	}})
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	d := negotiate.Dialer{TLSConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	c, _, err := d.Dial(context.Background(), "wss://[::1%25"+lo+"]:"+port+"/p", []string{"echo/1"}, nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if got := testkit.Receive(t, hosts, "the upgrade's Host"); got != "[::1]:"+port {
		t.Errorf("Host = %q, want %q", got, "[::1]:"+port)
	}
	if got := testkit.RoundTrip(t, c, "zoned"); got != "zoned" {
		t.Errorf("echo = %q", got)
	}
}

// A host name that is not ASCII is refused before anything is dialled,
// with a reason that names the A-label form.
func TestDialNonASCIIHost(t *testing.T) {
	t.Parallel()
	dialled := false
	d := negotiate.Dialer{NetDial: func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("dialled")
	}}
	_, _, err := d.Dial(context.Background(), "wss://bücher.example/ws", []string{"websocket"}, nil)
	if err == nil || !strings.Contains(err.Error(), "xn--") || dialled {
		t.Errorf("Dial = %v (dialled %v), want an error naming the A-label form, before dialling", err, dialled)
	}
}
