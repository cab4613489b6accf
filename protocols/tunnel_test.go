package protocols_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/protocols"
)

// backend is a Switchyard server behind the tunnel: echo/1 echoes, info
// tells what request it got, /refuse answers 403 to every offer it does not
// know, and /ws-only requires websocket (426).
func backend(t *testing.T) *negotiateServer {
	t.Helper()
	bn := newNegotiator(t, &negotiate.Options{
		Authorize: func(r *http.Request, token string, h http.Header) error {
			h.Set("X-Backend", "switched "+token)
			return nil
		},
	})
	reg := new(negotiate.Registry)
	must(t, reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	}))
	must(t, reg.HandleFunc("info", func(c *negotiate.Conn) error {
		r := c.Request()
		var lines []string
		for k, vs := range r.Header {
			lines = append(lines, k+": "+strings.Join(vs, " | "))
		}
		sort.Strings(lines)
		_, err := fmt.Fprintf(c, "%s %s\nHost: %s\n%s\n", r.Method, r.URL.RequestURI(), r.Host, strings.Join(lines, "\n"))
		return err
	}))
	must(t, reg.HandleFunc("bye", func(c *negotiate.Conn) error {
		// Half-closes first, then reports what the client still sent.
		if _, err := io.WriteString(c, "bye"); err != nil {
			return err
		}
		if err := c.CloseWrite(); err != nil {
			return err
		}
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		// The client's write side is closed, and so is ours: say it on
		// the only channel left, the test's.
		lateBytes.Store(string(b))
		return nil
	}))
	wsOnly := new(negotiate.Registry)
	must(t, wsOnly.HandleFunc("websocket", func(c *negotiate.Conn) error { return nil }))
	mux := http.NewServeMux()
	mux.HandleFunc("/refuse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reason", "members only")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "<p>no entry</p>\nsecond line\n")
	})
	mux.Handle("/ws-only", bn.Endpoint(wsOnly))
	return &negotiateServer{Server: startServer(t, bn.Middleware(reg)(mux)), N: bn}
}

var lateBytes atomic.Value

type negotiateServer struct {
	*httptest.Server
	N *negotiate.Negotiator
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// gateway tunnels any token to backendURL through a negotiator whose
// OnClose reports to the returned channel; plain requests get "plain".
func gateway(t *testing.T, backendURL string, opts *protocols.TunnelOptions, nopts *negotiate.Options) (*httptest.Server, *negotiate.Negotiator, chan negotiate.ConnInfo) {
	t.Helper()
	closed := make(chan negotiate.ConnInfo, 4)
	var o negotiate.Options
	if nopts != nil {
		o = *nopts
	}
	o.OnClose = func(i negotiate.ConnInfo) { closed <- i }
	n := newNegotiator(t, &o)
	tun, err := protocols.NewTunnel(backendURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain Upgrade=%q Connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
	})
	return startServer(t, tun.Middleware(n)(plain)), n, closed
}

func nextInfo(t *testing.T, ch chan negotiate.ConnInfo) negotiate.ConnInfo {
	t.Helper()
	select {
	case i := <-ch:
		return i
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
	}
	return negotiate.ConnInfo{}
}

// Early bytes from the client, the backend's own 101, byte counts, and
// half-close from the client.
func TestTunnelEcho(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, closed := gateway(t, be.URL, nil, &negotiate.Options{
		Authorize: func(r *http.Request, token string, h http.Header) error {
			h.Set("Set-Cookie", "gw=1")
			return nil
		},
	})
	c, br, resp := rawConn(t, gw.Listener.Addr().String(), upgradeReq("/", "echo/1")+"early")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	for k, want := range map[string]string{"Upgrade": "echo/1", "Connection": "Upgrade", "X-Backend": "switched echo/1", "Set-Cookie": "gw=1"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("101 %s = %q, want %q", k, got, want)
		}
	}
	if _, err := io.WriteString(c, " and late"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, c)
	if got, want := readAll(t, br), "early and late"; got != want {
		t.Errorf("echo %q, want %q", got, want)
	}
	i := nextInfo(t, closed)
	if i.Protocol != "echo/1" || i.BytesIn != 14 || i.BytesOut != 14 || i.Err != nil {
		t.Errorf("OnClose = %+v, want echo/1, 14 bytes each way, no error", i)
	}
}

// The backend half-closes first: the client reads EOF and can still send.
func TestTunnelBackendHalfClose(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, _ := gateway(t, be.URL, nil, nil)
	c, _ := dial(t, gw.URL, "bye")
	if got := readAll(t, c); got != "bye" {
		t.Fatalf("read %q, want bye", got)
	}
	if _, err := io.WriteString(c, "still here"); err != nil {
		t.Fatal(err)
	}
	closeWrite(t, c)
	waitFor(t, "the backend to read the client's late bytes", func() bool {
		s, _ := lateBytes.Load().(string)
		return s == "still here"
	})
}

// The replayed request: method, path prefix and query, Host, end-to-end
// fields, forwarding fields, and exactly the chosen token.
func TestTunnelReplaysRequest(t *testing.T) {
	t.Parallel()
	be := backend(t)
	for _, tc := range []struct {
		name  string
		trust bool
		xff   string
	}{
		{"forwarding fields replaced", false, "127.0.0.1"},
		{"forwarding fields trusted", true, "203.0.113.9, 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Registered under info: of "nope, Info/2" only the chosen
			// token is offered to the backend.
			tun, err := protocols.NewTunnel(be.URL+"/base/", &protocols.TunnelOptions{TrustForwarded: tc.trust})
			must(t, err)
			gw := startServer(t, newNegotiator(t, nil).Endpoint(register(t, tun.Protocol(), "info")))
			c, br, resp := rawConn(t, gw.Listener.Addr().String(), upgradeReq("/x/y?q=1", "nope, Info/2",
				"X-Forwarded-For: 203.0.113.9", "X-Test: kept", "Keep-Alive: 5", "X-Hop: dropped",
				"Connection: X-Hop", "User-Agent: probe/1"))
			_ = c
			if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "Info/2" {
				t.Fatalf("status %d Upgrade %q, want 101 Info/2", resp.StatusCode, resp.Header.Get("Upgrade"))
			}
			got := readAll(t, br)
			for _, want := range []string{
				"GET /base/x/y?q=1\n",
				"Host: gateway.test\n",
				"Upgrade: Info/2\n",
				"Connection: Upgrade\n",
				"X-Forwarded-For: " + tc.xff + "\n",
				"X-Forwarded-Host: gateway.test\n",
				"X-Forwarded-Proto: http\n",
				"X-Test: kept\n",
				"User-Agent: probe/1\n",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("backend saw\n%s\nwant a line %q", got, want)
				}
			}
			for _, bad := range []string{"Keep-Alive", "X-Hop", "nope"} {
				if strings.Contains(got, bad) {
					t.Errorf("backend saw\n%s\nwant no %q", got, bad)
				}
			}
		})
	}
}

// The backend's refusals reach the client as they were sent.
func TestTunnelRelaysRefusal(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, gn, _ := gateway(t, be.URL, nil, nil)

	_, br, resp := rawConn(t, gw.Listener.Addr().String(), upgradeReq("/refuse", "members/1"))
	body := readAll(t, resp.Body)
	_ = br
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Reason") != "members only" ||
		resp.Header.Get("Content-Type") != "text/html" || body != "<p>no entry</p>\nsecond line\n" || !resp.Close {
		t.Errorf("got %d %v %q (close %v), want the backend's 403 as it was, and a close", resp.StatusCode, resp.Header, body, resp.Close)
	}

	_, _, resp = rawConn(t, gw.Listener.Addr().String(), upgradeReq("/ws-only", "foo"))
	body = readAll(t, resp.Body)
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" ||
		!strings.Contains(body, "websocket") {
		t.Errorf("got %d %v %q, want the backend's 426 naming websocket", resp.StatusCode, resp.Header, body)
	}
	if s := gn.Stats(); s.Switched["members"] != 0 || s.Active["echo"] != 0 {
		t.Errorf("gateway stats %+v, want no switch", s)
	}
}

// A backend that cannot be asked gets the client a 502 or 504 with a
// reason; one that switches to something else, a 502.
func TestTunnelGatewayErrors(t *testing.T) {
	t.Parallel()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneURL := "http://" + gone.Addr().String()
	gone.Close()
	silent := newFakeBackend(t, func(c net.Conn, _ string) { _, _ = io.Copy(io.Discard, c) })
	hangup := newFakeBackend(t, func(c net.Conn, _ string) {})
	other := newFakeBackend(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	})
	noConn := newFakeBackend(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\n\r\n")
	})
	garbage := newFakeBackend(t, func(c net.Conn, _ string) { _, _ = io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n") })
	for _, tc := range []struct {
		name, url string
		status    int
		reason    string
	}{
		{"unreachable", goneURL, 502, "could not be reached"},
		{"silent", silent.URL(), 504, "did not answer the upgrade in time"},
		{"hangs up", hangup.URL(), 502, "closed the connection without answering"},
		{"other token", other.URL(), 502, `switched to "websocket", not to the offered "echo/1"`},
		{"no Connection", noConn.URL(), 502, "lacks Connection: upgrade"},
		{"not HTTP", garbage.URL(), 502, "not valid HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gw, gn, _ := gateway(t, tc.url, &protocols.TunnelOptions{HandshakeTimeout: 300 * time.Millisecond}, nil)
			_, _, resp := rawConn(t, gw.Listener.Addr().String(), upgradeReq("/", "echo/1"))
			body := readAll(t, resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.reason) || !resp.Close {
				t.Errorf("got %d %q (close %v), want %d with %q and a close", resp.StatusCode, body, resp.Close, tc.status, tc.reason)
			}
			if s := gn.Stats(); s.Switched["echo"] != 0 || s.Refused != 1 {
				t.Errorf("gateway stats %+v, want no switch and one refusal", s)
			}
		})
	}
}

// Bytes the backend sends behind its 101 reach the client.
func TestTunnelBackendEarlyBytes(t *testing.T) {
	t.Parallel()
	fb := newFakeBackend(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: greet\r\nConnection: upgrade\r\nX-Greeter: fake\r\n\r\nhello at once")
	})
	gw, _, closed := gateway(t, fb.URL(), nil, nil)
	c, resp := dial(t, gw.URL, "greet")
	if got := resp.Header.Get("X-Greeter"); got != "fake" {
		t.Errorf("101 X-Greeter = %q, want fake", got)
	}
	if got := readAll(t, c); got != "hello at once" {
		t.Errorf("read %q, want %q", got, "hello at once")
	}
	c.Close() // the client's half ends the tunnel
	if i := nextInfo(t, closed); i.BytesOut != 13 {
		t.Errorf("OnClose BytesOut = %d, want 13", i.BytesOut)
	}
}

// h2c is never forwarded, by the middleware or by a registration, unless
// allowed; and then with its HTTP2-Settings.
func TestTunnelH2C(t *testing.T) {
	t.Parallel()
	var dials atomic.Int32
	fb := newFakeBackend(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
	})
	counting := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	h2cReq := upgradeReq("/", "h2c", "HTTP2-Settings: AAMAAABk", "Connection: HTTP2-Settings")

	gw, _, _ := gateway(t, fb.URL(), &protocols.TunnelOptions{Dial: counting}, nil)
	_, _, resp := rawConn(t, gw.Listener.Addr().String(), h2cReq)
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != `plain Upgrade="" Connection="HTTP2-Settings"` {
		t.Errorf("middleware: got %d %q, want the request passed on as plain HTTP without Upgrade", resp.StatusCode, body)
	}

	n := newNegotiator(t, nil)
	tun, err := protocols.NewTunnel(fb.URL(), &protocols.TunnelOptions{Dial: counting})
	must(t, err)
	srv := startServer(t, n.Middleware(register(t, tun.Protocol(), "h2c", "echo/1"))(http.NotFoundHandler()))
	_, _, resp = rawConn(t, srv.Listener.Addr().String(), h2cReq)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("registered under h2c: status %d, want the request passed on (404)", resp.StatusCode)
	}
	if d := dials.Load(); d != 0 {
		t.Errorf("the backend was dialed %d times, want never", d)
	}

	gw, _, _ = gateway(t, fb.URL(), &protocols.TunnelOptions{AllowH2C: true}, nil)
	_, _, resp = rawConn(t, gw.Listener.Addr().String(), h2cReq)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("AllowH2C: status %d, want 101", resp.StatusCode)
	}
	heads := fb.Heads()
	if len(heads) != 1 || !strings.Contains(heads[0], "Http2-Settings: AAMAAABk\r\n") ||
		!strings.Contains(heads[0], "Connection: Upgrade, HTTP2-Settings\r\n") {
		t.Errorf("backend got %q, want the HTTP2-Settings forwarded", heads)
	}
}

// The middleware leaves plain requests alone and refuses malformed offers.
func TestTunnelMiddlewarePassesAndRefuses(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, _, _ := gateway(t, be.URL, nil, nil)
	resp, err := gw.Client().Get(gw.URL)
	must(t, err)
	if body := readAll(t, resp.Body); body != `plain Upgrade="" Connection=""` {
		t.Errorf("plain request: %q", body)
	}
	resp.Body.Close()
	_, _, resp = rawConn(t, gw.Listener.Addr().String(), upgradeReq("/", "echo/1, not a token"))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed Upgrade: status %d, want 400", resp.StatusCode)
	}
	gw.Client().CloseIdleConnections()
}

// Shutdown closes both sides of a tunnel.
func TestTunnelShutdown(t *testing.T) {
	t.Parallel()
	be := backend(t)
	gw, gn, closed := gateway(t, be.URL, nil, nil)
	c, _ := dial(t, gw.URL, "echo/1")
	buf := make([]byte, 1)
	if _, err := io.WriteString(c, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the backend's switch", func() bool { return be.N.Stats().Active["echo"] == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gn.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if got := readAll(t, c); got != "" {
		t.Errorf("read %q, want EOF", got)
	}
	if i := nextInfo(t, closed); i.Err != nil {
		t.Errorf("OnClose error %v, want none", i.Err)
	}
	waitFor(t, "the backend's close", func() bool { return be.N.Stats().Active["echo"] == 0 })
}

func TestNewTunnelRejects(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "ftp://x", "http://", "http://u:p@x", "http://x/?q", "::"} {
		if _, err := protocols.NewTunnel(u, nil); err == nil {
			t.Errorf("NewTunnel(%q) = nil error, want one", u)
		}
	}
	if _, err := protocols.NewTunnel("http://x", &protocols.TunnelOptions{HandshakeTimeout: -1}); err == nil {
		t.Error("negative HandshakeTimeout accepted")
	}
	if tun, err := protocols.NewTunnel("https://x:8443/p", nil); err != nil || tun == nil {
		t.Errorf("NewTunnel(https) = %v", err)
	}
	_ = errors.New
}
