package protocols_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// backend is a Switchyard server behind the tunnel: echo/1 echoes, info
// tells what request it got, bye half-closes first, /refuse answers 403 to
// every offer it does not know, and /ws-only requires websocket (426).
func backend(t *testing.T) *negotiateServer {
	t.Helper()
	bn := testkit.NewNegotiator(t, &negotiate.Options{
		Authorize: func(s *negotiate.Switch) error {
			s.Header.Set("X-Backend", "switched "+s.Token)
			return nil
		},
	})
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.HandleFunc("info", func(c *negotiate.Conn) error {
		r := c.Request()
		var lines []string
		for k, vs := range r.Header {
			lines = append(lines, k+": "+strings.Join(vs, " | "))
		}
		sort.Strings(lines)
		_, err := fmt.Fprintf(c, "%s %s\nHost: %s\n%s\n", r.Method, r.URL.RequestURI(), r.Host, strings.Join(lines, "\n"))
		return err
	})
	late := make(chan string, 1)
	reg.HandleFunc("bye", halfClosing("bye", late))
	wsOnly := new(negotiate.Registry)
	wsOnly.HandleFunc("websocket", func(c *negotiate.Conn) error { return nil })
	mux := http.NewServeMux()
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reason", "members only")
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Language", "en")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "<p>no entry</p>\nsecond line\n")
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	mux.Handle("/ws-only", bn.Endpoint(wsOnly))
	return &negotiateServer{Server: testkit.StartServer(t, bn.Middleware(reg)(mux)), N: bn, Late: late}
}

type negotiateServer struct {
	*httptest.Server
	N    *negotiate.Negotiator
	Late chan string // what bye read after its half-close
}

// gateway tunnels any token to backendURL through a negotiator whose
// OnClose reports to the returned collector; plain requests get "plain".
func gateway(t *testing.T, backendURL string, opts *protocols.TunnelOptions, nopts *negotiate.Options) (*httptest.Server, *negotiate.Negotiator, *testkit.ConnInfos) {
	t.Helper()
	infos := testkit.NewConnInfos()
	var o negotiate.Options
	if nopts != nil {
		o = *nopts
	}
	o.OnClose = infos.Hook
	n := testkit.NewNegotiator(t, &o)
	tun, err := protocols.NewTunnel(backendURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.StartServer(t, tun.Middleware(n)(plain)), n, infos
}

var plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "plain Upgrade=%q Connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
})

// Early bytes from the client, the backend's 101 fields with the
// gateway's own, byte counts, and half-close from the client.
func TestTunnelEcho(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, infos := gateway(t, be.URL, nil, &negotiate.Options{
		Authorize: func(s *negotiate.Switch) error {
			s.Header.Set("Set-Cookie", "gw=1")
			return nil
		},
	})
	e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1")+"early")
	if e.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", e.Resp.StatusCode)
	}
	for k, want := range map[string]string{"Upgrade": "echo/1", "Connection": "Upgrade", "X-Backend": "switched echo/1", "Set-Cookie": "gw=1"} {
		if got := e.Resp.Header.Get(k); got != want {
			t.Errorf("101 %s = %q, want %q", k, got, want)
		}
	}
	if _, err := io.WriteString(e.Conn, " and late"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, e.Conn)
	if got, want := testkit.ReadAll(t, e.BR), "early and late"; got != want {
		t.Errorf("echo %q, want %q", got, want)
	}
	if i := infos.Next(t); i.Token != "echo/1" || i.BytesIn != 14 || i.BytesOut != 14 || i.Err != nil {
		t.Errorf("OnClose = %+v, want echo/1, 14 bytes each way, no error", i)
	}
}

// The backend half-closes first: the client reads EOF and can still send.
func TestTunnelBackendHalfClose(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, _ := gateway(t, be.URL, nil, nil)
	c, _ := testkit.Dial(t, gw.URL, []string{"bye"}, nil)
	if got := testkit.ReadAll(t, c); got != "bye" {
		t.Fatalf("read %q, want bye", got)
	}
	if _, err := io.WriteString(c, "still here"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got := testkit.Receive(t, be.Late, "the backend's read of the client's late bytes"); got != "still here" {
		t.Errorf("the backend read %q after its half-close, want %q", got, "still here")
	}
}

// The replayed request: method, path prefix and query, Host, end-to-end
// fields, forwarding fields (the client's replaced unless trusted), and
// exactly the chosen token; no hop-by-hop field (RFC 9110 §7.6.1), nor
// Expect, which the gateway answered.
func TestTunnelReplaysRequest(t *testing.T) {
	t.Parallel()
	be := backend(t)
	for _, tc := range []struct {
		name     string
		trust    bool
		xff      string
		xfh, xfp string
		lacks    []string
	}{
		{"forwarding fields replaced", false, "127.0.0.1", "example.com", "http",
			[]string{"Forwarded: for=203.0.113.9", "spoofed.example", "https"}},
		{"forwarding fields trusted", true, "203.0.113.9, 127.0.0.1", "spoofed.example", "https", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Registered under info: of "nope, Info/2" only the chosen
			// token is offered to the backend.
			tun, err := protocols.NewTunnel(be.URL+"/base/", &protocols.TunnelOptions{TrustForwarded: tc.trust})
			if err != nil {
				t.Fatal(err)
			}
			_, gw := testkit.Endpoint(t, nil, register(tun.Protocol(), "info"))
			e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/x/a%2Fb?q=1", "nope, Info/2",
				"X-Forwarded-For: 203.0.113.9", "X-Forwarded-Host: spoofed.example", "X-Forwarded-Proto: https",
				"Forwarded: for=203.0.113.9", "X-Test: kept", "Keep-Alive: 5", "X-Hop: dropped",
				"Connection: X-Hop", "User-Agent: probe/1", "Proxy-Authorization: Basic cHJveHk6c2VjcmV0",
				"Proxy-Connection: keep-alive", "TE: trailers", "Trailer: X-Checksum", "Expect: 100-continue"))
			if e.Resp.StatusCode != http.StatusSwitchingProtocols || e.Resp.Header.Get("Upgrade") != "Info/2" {
				t.Fatalf("status %d Upgrade %q, want 101 Info/2", e.Resp.StatusCode, e.Resp.Header.Get("Upgrade"))
			}
			got := testkit.ReadAll(t, e.BR)
			testkit.Contains(t, "the backend saw", got,
				"GET /base/x/a%2Fb?q=1\n",
				"Host: example.com\n",
				"Upgrade: Info/2\n",
				"Connection: Upgrade\n",
				"X-Forwarded-For: "+tc.xff+"\n",
				"X-Forwarded-Host: "+tc.xfh+"\n",
				"X-Forwarded-Proto: "+tc.xfp+"\n",
				"X-Test: kept\n",
				"User-Agent: probe/1\n",
			)
			if tc.trust {
				testkit.Contains(t, "the backend saw", got, "Forwarded: for=203.0.113.9\n")
			}
			testkit.Lacks(t, "the backend saw", got, append(tc.lacks, "Keep-Alive", "X-Hop", "nope", "Proxy-Authorization",
				"Proxy-Connection", "\nTe: ", "\nTrailer: ", "Expect")...)
		})
	}
}

// The backend's refusals reach the client through the gateway's responder:
// the backend's status and end-to-end fields (a 426's Upgrade too), and its
// body as one line of text, bounded by Dialer.MaxRefusalBytes.
func TestTunnelRelaysRefusal(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, gn, _ := gateway(t, be.URL, &protocols.TunnelOptions{Dialer: &negotiate.Dialer{MaxRefusalBytes: 1000}}, nil)

	e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/refuse", "members/1"))
	if e.Resp.StatusCode != http.StatusForbidden || e.Resp.Header.Get("X-Reason") != "members only" ||
		e.Body != "<p>no entry</p> second line\n" || !e.Resp.Close {
		t.Errorf("got %d %v %q (close %v), want the backend's 403, its field, its body on one line, and a close", e.Resp.StatusCode, e.Resp.Header, e.Body, e.Resp.Close)
	}
	if ct, cl := e.Resp.Header.Get("Content-Type"), e.Resp.Header.Get("Content-Language"); ct != "text/plain; charset=utf-8" || cl != "" {
		t.Errorf("Content-Type %q, Content-Language %q: want the responder's, none of the backend's body fields", ct, cl)
	}

	e = testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/ws-only", "foo"))
	if e.Resp.StatusCode != http.StatusUpgradeRequired || e.Resp.Header.Get("Upgrade") != "websocket" ||
		!strings.Contains(e.Body, "websocket") || !e.Resp.Close {
		t.Errorf("got %d %v %q, want the backend's 426 naming websocket, and a close", e.Resp.StatusCode, e.Resp.Header, e.Body)
	}

	e = testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/long", "foo"))
	if e.Resp.StatusCode != http.StatusForbidden || len(e.Body) != 1001 {
		t.Errorf("long refusal: %d with %d bytes, want 403 with the first 1000 bytes and a newline", e.Resp.StatusCode, len(e.Body))
	}
	if s := gn.Stats(); s.Refused != 3 || s.Switched[protocols.TunnelName] != 0 || len(s.Switched) != 1 {
		t.Errorf("gateway stats %+v, want no switch and three refusals", s)
	}
}

// A backend that cannot be asked gets the client a 502 or 504 with a
// reason; one whose 101 is not valid (another token, several, no
// Connection: upgrade), a 502.
func TestTunnelGatewayErrors(t *testing.T) {
	t.Parallel()
	switching := func(fields string) *testkit.TCPServer {
		return testkit.NewTCPServer(t, func(c net.Conn, _ string) {
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n"+fields+"\r\n")
		})
	}
	silent := testkit.NewTCPServer(t, func(c net.Conn, _ string) { _, _ = io.Copy(io.Discard, c) })
	hangup := testkit.NewTCPServer(t, func(c net.Conn, _ string) {})
	garbage := testkit.NewTCPServer(t, func(c net.Conn, _ string) { _, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n") })
	// A status outside 100-599 is not valid (RFC 9110 §15): no refusal
	// to relay.
	status := func(code string) *testkit.TCPServer {
		return testkit.NewTCPServer(t, func(c net.Conn, _ string) {
			_, _ = io.WriteString(c, "HTTP/1.1 "+code+" Weird\r\nContent-Length: 2\r\n\r\nno")
		})
	}
	for _, tc := range []struct {
		name, url string
		status    int
		reason    string
	}{
		{"unreachable", testkit.ClosedURL(t), 502, "could not be reached"},
		{"silent", silent.URL(), 504, "did not answer the upgrade in time"},
		{"hangs up", hangup.URL(), 502, "closed the connection without answering"},
		{"not HTTP", garbage.URL(), 502, "not valid HTTP/1.1"},
		{"status 999", status("999").URL(), 502, "bad gateway: the backend answered with an invalid status 999"},
		{"status 600", status("600").URL(), 502, "bad gateway: the backend answered with an invalid status 600"},
		{"status 042", status("042").URL(), 502, "bad gateway: the backend answered with an invalid status 42"},
		{"token not offered", switching("Upgrade: websocket\r\nConnection: Upgrade\r\n").URL(), 502, `invalid 101 response: Upgrade "websocket" was not offered`},
		{"two Upgrade lines", switching("Upgrade: echo/1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n").URL(), 502, "invalid 101 response: Upgrade must name one protocol"},
		{"two protocols on one line", switching("Upgrade: echo/1, websocket\r\nConnection: Upgrade\r\n").URL(), 502, "invalid 101 response: Upgrade must name one protocol"},
		{"no Connection", switching("Upgrade: echo/1\r\n").URL(), 502, "Connection does not list upgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Only the silent backend waits the timeout out; the others
			// answer (or fail) at once, and their outcome does not depend
			// on it: a short one failed them with 504 when a loaded
			// machine ran the backend late.
			timeout := testkit.Timeout
			if tc.status == http.StatusGatewayTimeout {
				timeout = 300 * time.Millisecond
			}
			gw, gn, _ := gateway(t, tc.url, &protocols.TunnelOptions{Dialer: &negotiate.Dialer{HandshakeTimeout: timeout}}, nil)
			e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1"))
			if e.Resp.StatusCode != tc.status || !strings.Contains(e.Body, tc.reason) || !e.Resp.Close {
				t.Errorf("got %d %q (close %v), want %d with %q and a close", e.Resp.StatusCode, e.Body, e.Resp.Close, tc.status, tc.reason)
			}
			if s := gn.Stats(); s.Switched[protocols.TunnelName] != 0 || s.Refused != 1 || len(s.Switched) != 1 {
				t.Errorf("gateway stats %+v, want no switch and one refusal", s)
			}
		})
	}
}

// Bytes the backend sends behind its 101 reach the client; the 101's
// end-to-end fields do, its hop-by-hop ones do not.
func TestTunnelBackendEarlyBytes(t *testing.T) {
	t.Parallel()
	fb := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: greet\r\nConnection: upgrade, X-Private\r\n"+
			"X-Greeter: fake\r\nX-Private: hop\r\nKeep-Alive: 5\r\n\r\nhello at once")
	})
	gw, _, infos := gateway(t, fb.URL(), nil, nil)
	c, resp := testkit.Dial(t, gw.URL, []string{"greet"}, nil)
	if got := resp.Header.Get("X-Greeter"); got != "fake" {
		t.Errorf("101 X-Greeter = %q, want fake", got)
	}
	for _, k := range []string{"X-Private", "Keep-Alive"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("101 carries the backend's hop-by-hop %s: %q", k, v)
		}
	}
	if got := testkit.ReadAll(t, c); got != "hello at once" {
		t.Errorf("read %q, want %q", got, "hello at once")
	}
	c.Close() // the client's half ends the tunnel
	if i := infos.Next(t); i.BytesOut != 13 {
		t.Errorf("OnClose BytesOut = %d, want 13", i.BytesOut)
	}
}

// The request's handler, and middleware around the mount, return at the
// switch while the tunnel stays open: the connection runs on the
// negotiator's goroutine.
func TestTunnelHandlerReturnsAtSwitch(t *testing.T) {
	t.Parallel()
	be := backend(t)
	n := testkit.NewNegotiator(t, nil)
	tun, err := protocols.NewTunnel(be.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan int, 1)
	inner := tun.Middleware(n)(plain)
	gw := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		returned <- 1
	}))
	c, _ := testkit.Dial(t, gw.URL, []string{"echo/1"}, nil)
	testkit.Receive(t, returned, "the request's handler to return at the switch")
	if got := testkit.RoundTrip(t, c, "still open"); got != "still open" {
		t.Errorf("echo %q after the handler returned, want %q", got, "still open")
	}
}

// h2c is never forwarded, by the middleware or by a registration, unless
// allowed; and then with its HTTP2-Settings.
func TestTunnelH2C(t *testing.T) {
	t.Parallel()
	var dials atomic.Int32
	fb := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
	})
	counting := &negotiate.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	h2cReq := testkit.UpgradeRequest("/", "h2c", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings")

	gw, _, _ := gateway(t, fb.URL(), &protocols.TunnelOptions{Dialer: counting}, nil)
	e := testkit.Raw(t, testkit.Addr(gw), h2cReq)
	if e.Resp.StatusCode != 200 || e.Body != `plain Upgrade="" Connection="HTTP2-Settings"` {
		t.Errorf("middleware: got %d %q, want the request passed on as plain HTTP without Upgrade", e.Resp.StatusCode, e.Body)
	}
	// h2c in any case or with a version (x/net's h2c takes H2C, a
	// Switchyard registration of h2c takes h2c/1), among other offers,
	// and offers that are no upgrade (HTTP/1.0, Connection without
	// upgrade), which a reverse proxy behind could still forward.
	for _, req := range []string{
		testkit.UpgradeRequest("/", "H2C", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings"),
		testkit.UpgradeRequest("/", "h2c/1", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings"),
		testkit.UpgradeRequest("/", "echo/1, h2c", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings"),
		"GET / HTTP/1.0\r\nHost: example.com\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABk\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: h2c\r\nConnection: HTTP2-Settings\r\nHTTP2-Settings: AAMAAABk\r\n\r\n",
	} {
		e := testkit.Raw(t, testkit.Addr(gw), req)
		if e.Resp.StatusCode != 200 || e.Body != `plain Upgrade="" Connection="HTTP2-Settings"` {
			t.Errorf("middleware, %q: got %d %q, want the request passed on as plain HTTP without Upgrade", req, e.Resp.StatusCode, e.Body)
		}
	}

	n := testkit.NewNegotiator(t, nil)
	tun, err := protocols.NewTunnel(fb.URL(), &protocols.TunnelOptions{Dialer: counting})
	if err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, n.Middleware(register(tun.Protocol(), "h2c", "echo/1"))(http.NotFoundHandler()))
	if e := testkit.Raw(t, testkit.Addr(srv), h2cReq); e.Resp.StatusCode != http.StatusNotFound {
		t.Errorf("registered under h2c: status %d, want the request passed on (404)", e.Resp.StatusCode)
	}
	if d := dials.Load(); d != 0 {
		t.Errorf("the backend was dialed %d times, want never", d)
	}

	gw, _, _ = gateway(t, fb.URL(), &protocols.TunnelOptions{AllowH2C: true}, nil)
	if e := testkit.Raw(t, testkit.Addr(gw), h2cReq); e.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("AllowH2C: status %d, want 101", e.Resp.StatusCode)
	}
	heads := fb.Heads()
	if len(heads) != 1 || !strings.Contains(heads[0], "Http2-Settings: AAMAAABk\r\n") ||
		!strings.Contains(heads[0], "Connection: Upgrade, HTTP2-Settings\r\n") {
		t.Errorf("backend got %q, want the HTTP2-Settings forwarded", heads)
	}
}

// The README's warning, held: with the tunnel registered under chosen
// tokens and the negotiator's Middleware in front of a reverse proxy of
// the program's own, an offer the registry does not hold (h2c among them)
// reaches the proxy as the client sent it, and httputil.ReverseProxy
// forwards an upgrade of any token: the client's h2c gets to the backend,
// which switches it, behind every rule of the gateway. Tunnel.Middleware
// takes the offer off instead (TestTunnelH2C).
func TestProtocolInFrontOfReverseProxyPassesOtherOffers(t *testing.T) {
	t.Parallel()
	fb := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
	})
	u, err := url.Parse(fb.URL())
	if err != nil {
		t.Fatal(err)
	}
	tun, err := protocols.NewTunnel(fb.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(register(tun.Protocol(), "websocket"))(httputil.NewSingleHostReverseProxy(u)))
	e := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "h2c", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings"))
	if e.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("h2c offer through ReverseProxy: status %d, want the backend's 101 relayed (the README says ReverseProxy forwards it)", e.Resp.StatusCode)
	}
	if heads := fb.Heads(); len(heads) != 1 || !strings.Contains(heads[0], "Upgrade: h2c\r\n") {
		t.Errorf("backend got %q, want the h2c offer forwarded", heads)
	}
}

// An h2c offer on a request with a body (curl --http2 offers it on a POST)
// is ignored as without one: the request goes on as plain HTTP/1.1, body
// and all (audit: the negotiator's 413 for a body came before the tunnel
// ignored the offer). An offer the tunnel forwards still takes no body.
func TestTunnelH2COfferWithBody(t *testing.T) {
	t.Parallel()
	var dials atomic.Int32
	counting := &negotiate.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	tun, err := protocols.NewTunnel(testkit.ClosedURL(t), &protocols.TunnelOptions{Dialer: counting})
	if err != nil {
		t.Fatal(err)
	}
	n := testkit.NewNegotiator(t, nil)
	gw := testkit.StartServer(t, tun.Middleware(n)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "plain Upgrade=%q body=%q err=%v", r.Header.Get("Upgrade"), b, err)
	})))
	const h2c = "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABk\r\n"
	for _, framing := range []string{
		"Content-Length: 5\r\n\r\nhello",
		"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
	} {
		e := testkit.Raw(t, testkit.Addr(gw), "POST /form HTTP/1.1\r\nHost: example.com\r\n"+h2c+framing)
		if want := `plain Upgrade="" body="hello" err=<nil>`; e.Resp.StatusCode != 200 || e.Body != want {
			t.Errorf("%q: got %d %q, want 200 %q", framing, e.Resp.StatusCode, e.Body, want)
		}
	}
	e := testkit.Raw(t, testkit.Addr(gw), "POST /form HTTP/1.1\r\nHost: example.com\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\nContent-Length: 5\r\n\r\nhello")
	if e.Resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("echo/1 with a body: status %d, want 413", e.Resp.StatusCode)
	}
	if d := dials.Load(); d != 0 {
		t.Errorf("the backend was dialed %d times, want never", d)
	}
}

// The middleware leaves plain requests alone, refuses malformed offers,
// and takes an offer repeated in another case as one.
func TestTunnelMiddlewarePassesAndRefuses(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, _ := gateway(t, be.URL, nil, nil)
	resp, err := gw.Client().Get(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	if body := testkit.ReadAll(t, resp.Body); body != `plain Upgrade="" Connection=""` {
		t.Errorf("plain request: %q", body)
	}
	resp.Body.Close()
	gw.Client().CloseIdleConnections()
	if e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1, not a token")); e.Resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed Upgrade: status %d, want 400", e.Resp.StatusCode)
	}
	e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1, ECHO/1"))
	if e.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("repeated offer: status %d, want 101", e.Resp.StatusCode)
	}
	if got := testkit.RoundTrip(t, e, "x"); got != "x" {
		t.Errorf("echo %q", got)
	}
}

// Shutdown closes both sides of a tunnel.
func TestTunnelShutdown(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, gn, infos := gateway(t, be.URL, nil, nil)
	c, _ := testkit.Dial(t, gw.URL, []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, c, "x"); got != "x" {
		t.Fatalf("echo %q", got)
	}
	testkit.WaitFor(t, "the backend's switch", func() bool { return be.N.Stats().Active["echo"] == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := gn.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	testkit.ExpectClosed(t, c)
	if i := infos.Next(t); i.Err != nil {
		t.Errorf("OnClose error %v, want none", i.Err)
	}
	testkit.WaitFor(t, "the backend's close", func() bool { return be.N.Stats().Active["echo"] == 0 })
}

func TestNewTunnelRejects(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://x", "http://", "http://u:p@x", "http://x/?q", "http://x/#f", "http://x:0", "http://x:65536", "::"} {
		if _, err := protocols.NewTunnel(u, nil); err == nil {
			t.Errorf("NewTunnel(%q) = nil error, want one", u)
		}
	}
	for _, d := range []negotiate.Dialer{{HandshakeTimeout: -1}, {MaxRefusalBytes: -1}, {MaxResponseHeaderBytes: -1}} {
		if _, err := protocols.NewTunnel("http://x", &protocols.TunnelOptions{Dialer: &d}); err == nil {
			t.Errorf("Dialer %+v accepted", d)
		}
	}
	if tun, err := protocols.NewTunnel("https://x:8443/p", nil); err != nil || tun == nil {
		t.Errorf("NewTunnel(https) = %v", err)
	}
}

// A client that sends its head and its payload at once and half-closes
// (issue 12, defect 9): net/http cancels the request's context when it
// reads the FIN, and that must not end the exchange with the backend. The
// backend is dialed only once the request's context has ended, so the
// exchange cannot win the race; the payload reaches the backend and its
// echo the client.
func TestTunnelClientHalfClosesAtOnce(t *testing.T) {
	t.Parallel()
	be := backend(t)
	cancelled := make(chan struct{})
	var once sync.Once
	afterCancel := &negotiate.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		select {
		case <-cancelled:
		case <-time.After(testkit.Timeout):
			t.Error("net/http never cancelled the request's context at the client's FIN: this test no longer tests that")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	tun, err := protocols.NewTunnel(be.URL, &protocols.TunnelOptions{Dialer: afterCancel})
	if err != nil {
		t.Fatal(err)
	}
	h := tun.Middleware(testkit.NewNegotiator(t, nil))(plain)
	gw := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		context.AfterFunc(r.Context(), func() { once.Do(func() { close(cancelled) }) })
		h.ServeHTTP(w, r)
	}))
	c := testkit.DialTCP(t, testkit.Addr(gw))
	// One write: the head and the payload reach the server together, and
	// the FIN behind them.
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "echo/1")+"payload then FIN"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %q, want 101", resp.StatusCode, body)
	}
	if got := testkit.ReadAll(t, br); got != "payload then FIN" {
		t.Errorf("echo %q, want the payload back, then EOF", got)
	}
}

// An Upgrade field of thousands of offers costs the gateway work in
// proportion to its size, not to its square (issue 12, defect 10), and a
// tunnel considers at most 64 offers in at most 4 KiB: over either, 431.
// Each case answers within the client's deadline (testkit.Timeout), which
// the quadratic registration and check took minutes to do.
func TestTunnelManyOffers(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, _ := gateway(t, be.URL, nil, nil)
	tun, err := protocols.NewTunnel(be.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, registered := testkit.Endpoint(t, nil, register(tun.Protocol(), "echo/1", "h2c"))
	tokens := func(n int, f func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, ", ")
	}
	distinct := func(i int) string { return fmt.Sprintf("t%d", i) }
	tooLarge := "request header fields too large: the tunnel considers at most 64 offered protocols in at most 4096 bytes of Upgrade"
	for _, tc := range []struct {
		name   string
		srv    *httptest.Server
		offer  string
		status int
		reason string
	}{
		{"middleware: 100 KB of distinct tokens", gw, "echo/1, " + tokens(14000, distinct), 431, tooLarge},
		{"middleware: 100 KB of one token", gw, tokens(12500, func(int) string { return "echo/1" }), 431, tooLarge},
		{"middleware: 100 KB of one token and h2c", gw, tokens(12500, func(int) string { return "echo/1" }) + ", h2c", 431, tooLarge},
		{"middleware: 64 offers", gw, "echo/1, " + tokens(63, distinct), 101, ""},
		{"middleware: 65 offers", gw, "echo/1, " + tokens(64, distinct), 431, tooLarge},
		{"middleware: 65 Upgrade lines", gw, "echo/1" + strings.Repeat("\r\nUpgrade: x", 64), 431, tooLarge},
		{"middleware: over 4 KiB", gw, "echo/1, " + strings.Repeat("x", 4096), 431, tooLarge},
		{"registered: 100 KB of one token and h2c", registered, tokens(12500, func(int) string { return "echo/1" }) + ", h2c", 431, tooLarge},
		{"registered: 64 offers", registered, tokens(63, distinct) + ", echo/1", 101, ""},
		{"registered: 65 offers", registered, tokens(64, distinct) + ", echo/1", 431, tooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testkit.Raw(t, testkit.Addr(tc.srv), testkit.UpgradeRequest("/", tc.offer))
			if e.Resp.StatusCode != tc.status || !strings.Contains(e.Body, tc.reason) {
				t.Fatalf("got %d %q, want %d with %q", e.Resp.StatusCode, e.Body, tc.status, tc.reason)
			}
			if tc.status == 101 {
				if got := testkit.RoundTrip(t, e, "x"); got != "x" {
					t.Errorf("echo %q", got)
				}
			}
		})
	}
}

// A backend whose response heads have no end, or never come to a final
// one, costs the gateway a bounded read (issue 12, defect 11): 502 with
// the reason as soon as the heads pass Dialer.MaxResponseHeaderBytes
// (64 KiB by default) or the ninth interim response arrives, long before
// the handshake timeout. Each backend sends a bounded amount (an endless
// backend would take the unbounded gateway to gigabytes) and then waits.
func TestTunnelUnboundedResponseHeads(t *testing.T) {
	t.Parallel()
	sending := func(head string) string {
		return testkit.NewTCPServer(t, func(c net.Conn, _ string) {
			if _, err := io.WriteString(c, head); err == nil {
				_, _ = io.Copy(io.Discard, c)
			}
		}).URL()
	}
	endless := "HTTP/1.1 101 Switching Protocols\r\nX-Endless: " + strings.Repeat("a", 4<<20)
	manyHeads := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n" + strings.Repeat("X-Many: v\r\n", 10000)
	continues := strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 1000)
	for _, tc := range []struct {
		name, backend, reason string
	}{
		{"endless header line", sending(endless), "bad gateway: the backend's response heads are over 65536 bytes"},
		{"endless field lines", sending(manyHeads), "bad gateway: the backend's response heads are over 65536 bytes"},
		{"flood of 100 Continue", sending(continues), "bad gateway: the backend sent more than 8 interim (1xx) responses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw, _, _ := gateway(t, tc.backend, nil, nil)
			e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1"))
			if e.Resp.StatusCode != http.StatusBadGateway || !strings.Contains(e.Body, tc.reason) {
				t.Errorf("got %d %q, want 502 with %q", e.Resp.StatusCode, e.Body, tc.reason)
			}
		})
	}
}

// Fields the backend names in Connection belong to its connection to the
// gateway: they reach the client neither on the 101 nor on a refusal
// (RFC 9110 §7.6.1; issue 12, defect 12), whatever their case, however the
// Connection list is spread over lines, and even when they name a field
// that is usually end-to-end.
func TestTunnelBackendConnectionFields(t *testing.T) {
	t.Parallel()
	const fields = "Connection: Upgrade, x-hop-one\r\nConnection: ,\tX-HOP-TWO , Set-Cookie\r\n" +
		"X-Hop-One: 1\r\nX-Hop-Two: 2\r\nSet-Cookie: hop=1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n"
	fb := testkit.NewTCPServer(t, func(c net.Conn, head string) {
		var resp string
		switch {
		case strings.HasPrefix(head, "GET /switch "):
			resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: greet\r\n" + fields + "\r\n"
		case strings.HasPrefix(head, "GET /refuse "):
			resp = "HTTP/1.1 403 Forbidden\r\n" + fields + "Content-Length: 2\r\n\r\nno"
		default:
			resp = "HTTP/1.1 426 Upgrade Required\r\nUpgrade: greet/2\r\n" + fields + "Content-Length: 2\r\n\r\nno"
		}
		_, _ = io.WriteString(c, resp)
	})
	gw, _, _ := gateway(t, fb.URL(), nil, nil)
	for _, tc := range []struct {
		path    string
		status  int
		upgrade string
	}{
		{"/switch", 101, "greet"},
		{"/refuse", 403, ""},
		{"/426", 426, "greet/2"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest(tc.path, "greet"))
			if e.Resp.StatusCode != tc.status || e.Resp.Header.Get("Upgrade") != tc.upgrade || e.Resp.Header.Get("X-Kept") != "yes" {
				t.Errorf("got %d Upgrade %q X-Kept %q, want %d, %q and the end-to-end field", e.Resp.StatusCode,
					e.Resp.Header.Get("Upgrade"), e.Resp.Header.Get("X-Kept"), tc.status, tc.upgrade)
			}
			for _, k := range []string{"X-Hop-One", "X-Hop-Two", "Set-Cookie", "Keep-Alive"} {
				if v, ok := e.Resp.Header[k]; ok {
					t.Errorf("the client got the backend's hop-by-hop %s: %q", k, v)
				}
			}
			for _, v := range e.Resp.Header["Connection"] {
				testkit.Lacks(t, "the client's Connection", strings.ToLower(v), "hop", "set-cookie")
			}
		})
	}
}

// A backend's refusal is relayed as soon as the HandshakeTimeout has ended
// its body, with the part of the body that arrived, even when the body is
// slow or never ends: the head arrived, so the backend answered (audit: the
// client got 504, "the backend did not answer the upgrade in time"). A 2xx
// that is not a switch, an event stream from a route that ignores Upgrade,
// is relayed as the refusal it is, with its status.
func TestTunnelRefusalUnfinishedBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, response string
		status         int
		body           string
	}{
		{"short body", "HTTP/1.1 403 Forbidden\r\nX-Reason: members only\r\nContent-Length: 100\r\n\r\nshort", 403, "short\n"},
		{"event stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: hi\n\n", 200, "data: hi\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The backend's answer is in before the gateway dials, so
			// that the 500 ms pass while the body is read, however late
			// the machine runs the backend.
			be := testkit.Holding(t, tc.response)
			d := &negotiate.Dialer{HandshakeTimeout: 500 * time.Millisecond, NetDial: testkit.Answered(t, be, len(tc.response))}
			gw, gn, _ := gateway(t, be.URL(), &protocols.TunnelOptions{Dialer: d}, nil)
			e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1"))
			if e.Resp.StatusCode != tc.status || e.Body != tc.body || !e.Resp.Close {
				t.Errorf("got %d %q (close %v), want the backend's %d with %q and a close", e.Resp.StatusCode, e.Body, e.Resp.Close, tc.status, tc.body)
			}
			if ct := e.Resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q, want the responder's, not the backend's", ct)
			}
			if s := gn.Stats(); s.Switched[protocols.TunnelName] != 0 || s.Refused != 1 || len(s.Switched) != 1 {
				t.Errorf("gateway stats %+v, want no switch and one refusal", s)
			}
		})
	}
}
