package websocket_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// An IPv6 literal in an origin pattern: path.Match reads "[::1]" as a
// character class (one ':' or '1'), so "[::1]:*" never let a page on
// http://[::1]:8080 through (and let http://1:80 through instead), and New
// took it. New now refuses a class that holds a colon, and says how to
// write the literal; with its brackets escaped it matches.
func TestOriginPatternIPv6(t *testing.T) {
	t.Parallel()
	for _, pat := range []string{"[::1]:*", "[::1]", "[fe80::1]:8080", "[2001:db8::7]:*"} {
		_, err := websocket.New(&websocket.Options{OriginPatterns: []string{pat}}, wstest.Echo)
		if err == nil || !strings.Contains(err.Error(), `\[`) {
			t.Errorf("pattern %q: New = %v, want an error that shows the brackets escaped", pat, err)
		}
	}
	p, err := websocket.New(&websocket.Options{OriginPatterns: []string{`\[::1\]:*`, "[a-c].example.com"}}, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	_, srv := testkit.Endpoint(t, nil, reg) // on 127.0.0.1: every origin below is another's
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"http://[::1]:8080", http.StatusSwitchingProtocols},
		{"https://[::1]:443", http.StatusSwitchingProtocols},
		{"http://[::2]:8080", http.StatusForbidden},
		{"http://[::1]", http.StatusForbidden}, // no port: the pattern wants one
		{"http://1:80", http.StatusForbidden},
		{"https://b.example.com", http.StatusSwitchingProtocols},
	} {
		_, resp := wstest.TryDial(t, nil, wstest.URL(srv.URL, "/"), http.Header{"Origin": {tc.origin}})
		if resp.StatusCode != tc.status {
			t.Errorf("Origin %s: %s, want %d", tc.origin, resp.Status, tc.status)
		}
	}
}

// The same-origin rule on [::1] over TLS, as a browser on
// https://[::1]:port/ opens wss://[::1]:port/ws: Host and Origin both
// carry the literal with its brackets and the port, and match; another
// port, or the default one left out, is another origin (the scheme is not
// compared, as the package documentation says).
func TestSameOriginIPv6TLS(t *testing.T) {
	t.Parallel()
	ln := testkit.IPv6Loopback(t)
	p, err := websocket.New(nil, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("websocket", p)
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Endpoint(reg))
	srv.Listener.Close()
	srv.Listener = ln
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	d := &gws.Dialer{TLSClientConfig: &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://[::1]:" + port, http.StatusSwitchingProtocols},
		{"http://[::1]:" + port, http.StatusSwitchingProtocols},
		{"https://[::1]", http.StatusForbidden},
		{"https://[::1]:1", http.StatusForbidden},
		{"https://127.0.0.1:" + port, http.StatusForbidden},
	} {
		c, resp := wstest.TryDial(t, d, "wss://[::1]:"+port+"/ws", http.Header{"Origin": {tc.origin}})
		if resp.StatusCode != tc.status {
			t.Errorf("Origin %s: %s, want %d", tc.origin, resp.Status, tc.status)
			continue
		}
		if c != nil {
			wstest.WantEcho(t, c, gws.TextMessage, []byte("over [::1]"))
		}
	}
}
