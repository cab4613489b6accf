package negotiate_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestSwitchAndEcho(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(echoRegistry())(testkit.Plain))
	ctx := context.Background()
	c, resp, err := negotiate.Dial(ctx, srv.URL+"/any", []string{"nope", "echo/1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Get("Upgrade"); got != "echo/1" {
		t.Errorf("101 Upgrade = %q, want echo/1", got)
	}
	if got := resp.Header.Get("Connection"); got != "Upgrade" {
		t.Errorf("101 Connection = %q, want Upgrade", got)
	}
	if got := testkit.RoundTrip(t, c, "hello, switch"); got != "hello, switch" {
		t.Errorf("echo = %q", got)
	}
}

func TestMiddlewarePassesThrough(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(echoRegistry())(testkit.Plain))
	tests := []struct {
		name, request string
	}{
		{"not an upgrade", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"unregistered offer", testkit.UpgradeRequest("/", "echo/2, other")},
		{"upgrade without Connection: upgrade", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo/1\r\n\r\n"},
		{"HTTP/1.0 ignores Upgrade", "GET / HTTP/1.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, _, _ := raw(t, srv, tt.request)
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "plain HTTP/1.") {
				t.Errorf("got %d %q, want 200 from the next handler", resp.StatusCode, body)
			}
		})
	}
	if s := n.Stats(); s.Refused != 0 || s.Switched["echo"] != 0 {
		t.Errorf("stats after pass-through = %+v, want nothing counted", s)
	}
}

func TestHTTP2NeverHijacked(t *testing.T) {
	t.Parallel()
	// Nothing switches here, so a recorder (which cannot hijack) is enough
	// to see the request pass through, and an attempt to hijack would fail.
	n := testkit.NewNegotiator(t, nil)
	h := n.Middleware(echoRegistry())(testkit.Plain)
	r := httptest.NewRequest("GET", "/", nil)
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "echo/1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "plain HTTP/2.0" {
		t.Errorf("HTTP/2 request got %d %q, want passed through", w.Code, w.Body)
	}
}

func TestEndpointRefusals(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	reg := newRegistry(map[string]negotiate.Protocol{
		"echo/1": serving(testkit.EchoConn),
		"strict": {Accept: serving(testkit.EchoConn).Accept, Check: func(r *http.Request) error {
			if r.Method != http.MethodGet {
				return negotiate.Refusal(http.StatusMethodNotAllowed, "strict needs GET", "Allow", "GET")
			}
			return nil
		}},
	})
	reg.ServerPreference = true // a deterministic 426 list
	mux := http.NewServeMux()
	mux.Handle("/ep", n.Endpoint(reg))
	srv := testkit.StartServer(t, mux)

	tests := []struct {
		name, request string
		status        int
		header        map[string]string
		reason        string
		wire          []string // lines the response head must hold
	}{
		{"plain GET at endpoint", "GET /ep HTTP/1.1\r\nHost: x\r\n\r\n", 426,
			map[string]string{"Upgrade": "echo/1, strict"}, "requires a protocol upgrade",
			[]string{"Connection: close", "Connection: Upgrade"}},
		{"unknown offer", testkit.UpgradeRequest("/ep", "other"), 426, map[string]string{"Upgrade": "echo/1, strict"}, "", nil},
		{"HTTP/1.0", "GET /ep HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", 426, nil, "", nil},
		{"malformed Upgrade", testkit.UpgradeRequest("/ep", "echo/1, bad token"), 400, nil, "malformed Upgrade", []string{"Connection: close"}},
		{"malformed Connection", "GET /ep HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, a@b\r\nUpgrade: echo/1\r\n\r\n", 400, nil, "malformed Connection", nil},
		{"protocol's own status", "POST /ep HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: strict\r\nContent-Length: 0\r\n\r\n", 405,
			map[string]string{"Allow": "GET"}, "strict needs GET", nil},
		{"body on a no-body protocol", "POST /ep HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\nContent-Length: 5\r\n\r\nhello", 413, nil, "takes no request body", nil},
		{"chunked body", "POST /ep HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413, nil, "takes no request body", nil},
		// The client waits for a 100 Continue that never comes: the server
		// must not wait for the body before it closes.
		{"body expected, not sent", testkit.UpgradeRequest("/ep", "echo/1", "Expect: 100-continue", "Content-Length: 5"), 413, nil, "takes no request body", nil},
		{"declared body never sent", "POST /ep HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\nContent-Length: 1000\r\n\r\n", 413, nil, "takes no request body", nil},
		{"chunked body expected, not sent", testkit.UpgradeRequest("/ep", "echo/1", "Expect: 100-continue", "Transfer-Encoding: chunked"), 413, nil, "takes no request body", nil},
		{"426 with a body expected", "POST /ep HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 426, nil, "requires a protocol upgrade", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, br, _, wire := rawWire(t, srv, tt.request)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d %q, want %d", resp.StatusCode, body, tt.status)
			}
			for _, line := range tt.wire {
				if !strings.Contains(wire.String(), "\r\n"+line+"\r\n") {
					t.Errorf("response head lacks %q:\n%s", line, wire)
				}
			}
			for k, v := range tt.header {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(body, tt.reason) || strings.Count(body, "\n") != 1 {
				t.Errorf("body = %q, want one line containing %q", body, tt.reason)
			}
			if !resp.Close {
				t.Errorf("refusal without Connection: close")
			}
			testkit.ExpectClosed(t, br)
		})
	}
}

// The asterisk form is only for OPTIONS (RFC 9112 §3.2.4): "PRI * HTTP/1.1"
// is refused, not switched past the router that would refuse it, while
// OPTIONS * may still upgrade (nghttp -u does, for h2c) where net/http lets
// it through to the handler.
func TestAsteriskTarget(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Middleware(echoRegistry())(testkit.Plain))
	srv.Config.DisableGeneralOptionsHandler = true
	srv.Start()
	t.Cleanup(srv.Close)
	resp, body, br, _ := raw(t, srv, "PRI * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "only for OPTIONS") {
		t.Fatalf("PRI *: %d %q, want 400 saying * is only for OPTIONS", resp.StatusCode, body)
	}
	testkit.ExpectClosed(t, br)
	resp, _, _, _ = raw(t, srv, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("OPTIONS *: status = %d, want 101", resp.StatusCode)
	}
}

func TestResponderReplaceable(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Responder: func(w http.ResponseWriter, r *http.Request, e *negotiate.Error) {
			if e.Status == http.StatusUpgradeRequired {
				seen.Add(1)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(e.Status)
			_, _ = io.WriteString(w, `{"status":`+http.StatusText(e.Status)+`}`)
		},
	})
	srv := testkit.StartServer(t, n.Endpoint(echoRegistry()))
	resp, body, _, _ := raw(t, srv, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 426 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, "Upgrade Required") {
		t.Errorf("got %d %s %q, want the custom responder's 426", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !resp.Close {
		t.Error("custom responder's refusal lacks Connection: close")
	}
	if seen.Load() != 1 || n.Stats().Refused != 1 {
		t.Errorf("responder saw %d, Refused = %d, want 1 and 1", seen.Load(), n.Stats().Refused)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, &negotiate.Options{MaxConns: 2, ProtocolMaxConns: map[string]int{"echo": 1}, RetryAfter: 1500e6})
	reg := newRegistry(map[string]negotiate.Protocol{"echo/1": serving(testkit.EchoConn), "other": serving(testkit.EchoConn)})
	// Two mounts over one negotiator share the limits.
	mux := http.NewServeMux()
	mux.Handle("/ws", n.Endpoint(reg))
	srv := testkit.StartServer(t, n.Middleware(reg)(mux))

	dial(t, srv, "/", []string{"echo/1"}, nil)
	resp, body, _, _ := raw(t, srv, testkit.UpgradeRequest("/ws", "echo/1"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(body, "protocol echo") {
		t.Errorf("over the per-protocol limit: %d Retry-After=%q %q, want 503, 2, a reason", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	c := dial(t, srv, "/ws", []string{"other"}, nil)
	resp, body, _, _ = raw(t, srv, testkit.UpgradeRequest("/", "other"))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "connection limit") {
		t.Errorf("over the total limit: %d %q, want 503 with Retry-After", resp.StatusCode, body)
	}
	// A slot frees when a connection closes.
	c.Close()
	testkit.WaitFor(t, "the slot to free", func() bool { return n.Stats().Active["other"] == 0 })
	c = dial(t, srv, "/ws", []string{"other"}, nil)
	if got := testkit.RoundTrip(t, c, "again"); got != "again" {
		t.Errorf("echo after the slot freed = %q", got)
	}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Authorize: func(s *negotiate.Switch) error {
			token, h := s.Token, s.Header
			switch s.Request.Header.Get("Authorization") {
			case "":
				return negotiate.Refusal(http.StatusUnauthorized, "credentials required", "WWW-Authenticate", `Bearer realm="x"`)
			case "Bearer bad":
				return errors.New("not this one")
			}
			if token != "ECHO/1" {
				return errors.New("token not seen as offered: " + token)
			}
			h.Add("Set-Cookie", "session=abc; HttpOnly")
			h.Add("X-Evil", "a\r\nInjected: yes")
			return nil
		},
	})
	srv := testkit.StartServer(t, n.Endpoint(echoRegistry()))

	resp, body, _, _ := raw(t, srv, testkit.UpgradeRequest("/", "ECHO/1"))
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, "credentials required") {
		t.Errorf("no credentials: %d %q, want 401 with WWW-Authenticate", resp.StatusCode, body)
	}
	resp, _, _, _ = raw(t, srv, testkit.UpgradeRequest("/", "ECHO/1", "Authorization: Bearer bad"))
	if resp.StatusCode != 403 {
		t.Errorf("bad credentials: %d, want 403", resp.StatusCode)
	}
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "ECHO/1", "Authorization: Bearer good"))
	resp = x.Resp
	if resp.StatusCode != 101 {
		t.Fatalf("good credentials: %d, want 101", resp.StatusCode)
	}
	if got := resp.Header.Get("Set-Cookie"); got != "session=abc; HttpOnly" {
		t.Errorf("101 Set-Cookie = %q", got)
	}
	if resp.Header.Get("Injected") != "" || resp.Header.Get("X-Evil") != "" {
		t.Errorf("a header with CR/LF reached the 101: %v", resp.Header)
	}
	if got := resp.Header.Get("Upgrade"); got != "ECHO/1" {
		t.Errorf("101 Upgrade = %q, want the token as offered", got)
	}
	if got := testkit.RoundTrip(t, x, "ping"); got != "ping" {
		t.Errorf("echo after authorized switch = %q", got)
	}
}

// Middleware switches before the router it wraps: its tokens switch on
// every path, also where an Endpoint of another registry is mounted, while
// the Endpoint still answers 426 for what neither has.
func TestMiddlewareSwitchesBeforeRouting(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	only := newRegistry(map[string]negotiate.Protocol{"ws-like": serving(testkit.EchoConn)})
	mux := http.NewServeMux()
	mux.Handle("/ep", n.Endpoint(only))
	srv := testkit.StartServer(t, n.Middleware(echoRegistry())(mux))
	c := dial(t, srv, "/ep", []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, c, "any path"); got != "any path" {
		t.Errorf("echo/1 at the endpoint's path = %q", got)
	}
	c = dial(t, srv, "/ep", []string{"ws-like"}, nil)
	if got := testkit.RoundTrip(t, c, "endpoint"); got != "endpoint" {
		t.Errorf("the endpoint's own protocol = %q", got)
	}
	resp, _, _, _ := raw(t, srv, testkit.UpgradeRequest("/ep", "other"))
	if resp.StatusCode != 426 || resp.Header.Get("Upgrade") != "ws-like" {
		t.Errorf("unknown offer at the endpoint: %d Upgrade=%q, want 426 ws-like", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
}

// New(nil) cannot fail, as its doc (and every Example) relies on.
func TestNewNilCannotFail(t *testing.T) {
	if n, err := negotiate.New(nil); n == nil || err != nil {
		t.Fatalf("New(nil) = %v, %v", n, err)
	}
	if _, err := negotiate.New(&negotiate.Options{Linger: -1}); err == nil {
		t.Error("New with a negative Linger: no error")
	}
}

// An *Error's text is its status, the status's text where it has one,
// and its reason: a status net/http has no text for (a backend's 499, a
// client's view of a server's own code) leaves no stray space.
func TestErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    negotiate.Error
		want string
	}{
		{negotiate.Error{Status: 403, Reason: "no"}, "negotiate: 403 Forbidden: no"},
		{negotiate.Error{Status: 426}, "negotiate: 426 Upgrade Required"},
		{negotiate.Error{Status: 499, Reason: "client closed"}, "negotiate: 499: client closed"},
		{negotiate.Error{Status: 499}, "negotiate: 499"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
