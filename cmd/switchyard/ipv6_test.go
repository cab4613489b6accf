package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// ipv6Server is h2Server's setup on [::1] (HTTP/2 over TLS, or HTTP/1.1
// and prior-knowledge h2c): websocket (same origin only) and echo/1 on
// any path; hosts gets the Host (:authority) of each switch.
func ipv6Server(t *testing.T, useTLS bool, hosts chan<- string) *httptest.Server {
	t.Helper()
	ln := testkit.IPv6Loopback(t)
	n := testkit.NewNegotiator(t, nil)
	reg := new(negotiate.Registry)
	reg.Register("echo/1", negotiate.Protocol{Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
		hosts <- s.Request.Host
		return testkit.EchoConn, nil
	}})
	ws, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	reg.Register("websocket", ws)
	return testkit.StartH2ServerOn(t, ln, n.Middleware(reg)(http.NotFoundHandler()), n, useTLS)
}

// A URL with an IPv6 zone ([::1%25lo]) reaches the server through that
// interface, and the request names the host as a browser on that page
// would, [::1]:port, over HTTP/1.1 (Host) and with -h2 (:authority): the
// zone, which means something on this host alone (RFC 6874 §4), is not
// sent, so a same-origin Origin passes. With -h2 the zone went out in
// :authority and the WebSocket was refused 403.
func TestIPv6Zone(t *testing.T) {
	testkit.IPv6Loopback(t) // skips without IPv6
	lo := testkit.LoopbackZone(t)
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		t.Parallel()
		hosts := make(chan string, 4)
		srv := ipv6Server(t, useTLS, hosts)
		port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
		scheme, origin := "http://", "http://[::1]:"+port
		var flags []string
		if useTLS {
			scheme, origin = "https://", "https://[::1]:"+port
			flags = []string{"-k"}
		}
		zoned := scheme + "[::1%25" + lo + "]:" + port
		for _, h2 := range []bool{false, true} {
			fl := flags
			if h2 {
				fl = append(fl, "-h2")
			}
			code, out, errOut := inspect(t, "zoned", args(fl, "raw", "-offer", "echo/1", zoned+"/")...)
			if code != 0 || out != "zoned" {
				t.Errorf("raw %v %s: exit %d, out %q; want 0 and the bytes back; stderr:\n%s", fl, zoned, code, out, errOut)
				continue
			}
			if got := testkit.Receive(t, hosts, "the switch's Host"); got != "[::1]:"+port {
				t.Errorf("raw %v %s: the server read Host %q, want %q", fl, zoned, got, "[::1]:"+port)
			}
			code, out, errOut = inspect(t, "", args(fl, "probe", "-H", "Origin: "+origin, zoned+"/ws")...)
			if code != 0 {
				t.Errorf("probe %v -H 'Origin: %s' %s/ws: exit %d, want 0 (same origin); stdout:\n%s\nstderr:\n%s", fl, origin, zoned, code, out, errOut)
			}
		}
	})
}

// An internationalized host name as typed is refused with a reason that
// names the A-label form, over HTTP/1.1 and with -h2, before anything is
// dialled (it went out as is: in Host, which Go's servers answer 400, as
// the TLS server name, and to the resolver).
func TestNonASCIIHost(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		a := []string{"probe", "wss://bücher.example/ws"}
		if h2 {
			a = []string{"probe", "-h2", "wss://bücher.example/ws"}
		}
		code, out, errOut := inspect(t, "", a...)
		if code != exitError || out != "" || !strings.Contains(errOut, "A-label form (xn--") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and the reason", a, code, out, errOut)
		}
	}
}
