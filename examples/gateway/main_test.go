package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// backend is what the gateway fronts: echo/1 on any path, a plain gorilla
// WebSocket echo on /ws, a route that requires echo/1 (426) on /need, and
// a page telling what request it got everywhere else.
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s xff=%s upgrade=%q", r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("Upgrade"))
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			fmt.Fprintf(w, " body=%q", b)
		}
	})
	mux.Handle("/ws", wstest.GorillaEcho(nil))
	mux.HandleFunc("/members", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Reason", "members only")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "<p>no entry</p>\n<p>ask at the desk</p>\n")
	})
	mux.Handle("/need", n.Endpoint(reg))
	return testkit.StartServer(t, n.Middleware(reg)(mux))
}

// startGateway runs the gateway in front of backendURL and returns its
// address and a function that stops it as a signal would, reporting how
// run returned.
func startGateway(t *testing.T, backendURL string) (string, func() error) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	url, stop := democontract.Start(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, "127.0.0.1:0", backendURL, out, logger)
	})
	return strings.TrimPrefix(url, "http://"), stop
}

// request sends raw bytes to addr and reads one response whole.
func request(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	x := testkit.Raw(t, addr, req)
	return x.Resp, x.Body
}

func TestPlainRequestsProxied(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /x?y=1 HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")
	if want := `GET /x?y=1 host=gw.test xff=127.0.0.1 upgrade=""`; resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// A plain request the backend does not answer (it is down) gets a 502
// with a one-line reason, as an upgrade the tunnel cannot take through
// does, not ReverseProxy's empty 502.
func TestBackendDownIsSaid(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, testkit.ClosedURL(t))
	resp, body := request(t, addr, "GET / HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
	if want := "bad gateway: the backend could not be reached\n"; resp.StatusCode != http.StatusBadGateway || body != want {
		t.Errorf("got %d %q, want 502 %q", resp.StatusCode, body, want)
	}
}

func TestEchoThroughGateway(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	c, resp := testkit.Dial(t, "http://"+addr+"/any/path", []string{"echo/1"}, nil)
	if got := resp.Header.Get("Upgrade"); got != "echo/1" {
		t.Errorf("Upgrade = %q, want echo/1", got)
	}
	if _, err := io.WriteString(c, "ping through the gateway"); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, c)
	if got := testkit.ReadAll(t, c); got != "ping through the gateway" {
		t.Errorf("echo %q; want the bytes back, then EOF", got)
	}
}

func TestWebSocketThroughGateway(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	d := gws.Dialer{HandshakeTimeout: testkit.Timeout}
	c, resp, err := d.Dial("ws://"+addr+"/ws", nil) // gorilla checks Sec-WebSocket-Accept
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, msg := range []string{"hello", strings.Repeat("big", 100000)} {
		if err := c.WriteMessage(gws.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		mt, p, err := c.ReadMessage()
		if err != nil || mt != gws.TextMessage || string(p) != msg {
			t.Fatalf("echo: type %d, %d bytes, %v; want text, %d bytes", mt, len(p), err, len(msg))
		}
	}
	_ = c.WriteMessage(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""))
}

// The backend's 426 keeps its Upgrade list, which ReverseProxy would drop.
func TestBackend426PassesThrough(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /need HTTP/1.1\r\nHost: gw.test\r\n\r\n")
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "echo/1" ||
		!negotiate.ContainsToken(resp.Header["Connection"], "upgrade") || !strings.Contains(body, "echo/1") {
		t.Errorf("got %d %v %q, want 426 with Upgrade: echo/1 and Connection: Upgrade", resp.StatusCode, resp.Header, body)
	}
	// An upgrade the backend refuses there comes back as it was sent.
	resp, body = request(t, addr, "GET /need HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\n")
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "echo/1" || !strings.Contains(body, "echo/1") {
		t.Errorf("tunnelled refusal: got %d %v %q, want the backend's 426", resp.StatusCode, resp.Header, body)
	}
}

// A plain request's answer passes unchanged; a refused upgrade's comes
// with its status and end-to-end fields, and its body as one line of
// plain text, as the program's doc says (audit: it said every refusal
// passed with its body unchanged).
func TestRefusalsPassThrough(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	const page = "<p>no entry</p>\n<p>ask at the desk</p>\n"
	resp, body := request(t, addr, "GET /members HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "text/html" ||
		resp.Header.Get("X-Reason") != "members only" || body != page {
		t.Errorf("plain: got %d %v %q, want the backend's 403 as it was", resp.StatusCode, resp.Header, body)
	}
	resp, body = request(t, addr, testkit.UpgradeRequest("/members", "members/1"))
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("X-Reason") != "members only" || body != "<p>no entry</p> <p>ask at the desk</p>\n" || !resp.Close {
		t.Errorf("upgrade: got %d %v %q, want the backend's 403, its field, its body on one line of plain text, and a close", resp.StatusCode, resp.Header, body)
	}
}

// An h2c offer is served as plain HTTP/1.1: the backend never sees it.
func TestH2COfferNotForwarded(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	resp, body := request(t, addr, "GET /h HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n")
	if want := `GET /h host=gw.test xff=127.0.0.1 upgrade=""`; resp.StatusCode != 200 || body != want {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, want)
	}
}

// curl --http2 offers h2c on a POST with its body: the request is
// proxied with its body, as any other h2c offer is served as plain
// HTTP/1.1 (audit: it was refused 413, the body rule of the upgrade
// answered before the offer was ignored).
func TestH2COfferWithBodyProxied(t *testing.T) {
	t.Parallel()
	addr, _ := startGateway(t, backend(t).URL)
	for _, framing := range []string{"Content-Length: 5\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"} {
		resp, body := request(t, addr, "POST /form HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
			"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Type: text/plain\r\n"+framing)
		if want := `POST /form host=gw.test xff=127.0.0.1 upgrade="" body="hello"`; resp.StatusCode != 200 || body != want {
			t.Errorf("%q: got %d %q, want 200 %q", framing, resp.StatusCode, body, want)
		}
	}
}

// A backend that switches protocols on a plain request (the gateway takes
// every offer off the requests it proxies) gets the client a 502 that says
// so, and its connection is closed. ReverseProxy answers such a 101 with
// 502 but leaves the switched connection open (audit: the backend waited
// for as long as it cared to, until a garbage collection closed the
// connection; the reason said the backend could not be reached).
func TestBackendSwitchOnPlainRequest(t *testing.T) {
	// Not parallel: with collections off, only the gateway can close the
	// connection (a collection would close it through its finalizer).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ended := make(chan error, 1)
	be := testkit.NewTCPServer(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(2 * testkit.Timeout))
		_, err := c.Read(make([]byte, 1))
		ended <- err
	})
	addr, _ := startGateway(t, be.URL())
	resp, body := request(t, addr, "GET /plain HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n")
	if want := "bad gateway: the backend switched protocols on a request that offered none\n"; resp.StatusCode != http.StatusBadGateway || body != want {
		t.Errorf("got %d %q, want 502 %q", resp.StatusCode, body, want)
	}
	if err := testkit.Receive(t, ended, "the gateway to close the backend's connection"); err != io.EOF {
		t.Errorf("the backend's read ended with %v, want io.EOF (the gateway closed the connection)", err)
	}
}

// A signal closes open tunnels and run returns nil.
func TestShutdownClosesTunnels(t *testing.T) {
	t.Parallel()
	addr, stop := startGateway(t, backend(t).URL)
	c, _ := testkit.Dial(t, "http://"+addr, []string{"echo/1"}, nil)
	testkit.RoundTrip(t, c, "hi")
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := testkit.ReadAll(t, c); got != "" {
		t.Errorf("after shutdown read %q; want EOF", got)
	}
}

// A backend that never answers an upgrade: the client gets 504 with a
// reason within the tunnel's handshake timeout, which the gateway keeps
// under its shutdown grace, so that a shutdown meanwhile still answers
// the client rather than closing its connection without a word.
func TestSilentBackendAtShutdown(t *testing.T) {
	t.Parallel()
	be := testkit.Holding(t, "")
	addr, stop := startGateway(t, be.URL())
	c := testkit.DialTCP(t, addr)
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "echo/1")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the backend to get the upgrade", func() bool { return len(be.Heads()) == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the client got no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "did not answer") {
		t.Errorf("got %d %q, want 504 and its reason", resp.StatusCode, body)
	}
	if err := testkit.Receive(t, stopped, "the gateway's exit"); err != nil {
		t.Errorf("run: %v", err)
	}
}

// In front of the real demo, as a user runs both: WebSocket echo and chat,
// echo/1 and plain routes reach it through the gateway; an h2c offer does
// not; the demo's 426 keeps its Upgrade list. SIGTERM closes the tunnels
// and the gateway exits 0.
func TestInFrontOfTheDemo(t *testing.T) {
	t.Parallel()
	demo := testkit.StartProgram(t, "../server", nil)
	gw := testkit.StartProgram(t, ".", nil, "-backend", demo.URL)

	d := gws.Dialer{HandshakeTimeout: testkit.Timeout, EnableCompression: true}
	ws, _, err := d.Dial("ws://"+gw.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(testkit.Timeout))
	if err := ws.WriteMessage(gws.BinaryMessage, []byte("\x00through")); err != nil {
		t.Fatal(err)
	}
	if typ, msg, err := ws.ReadMessage(); err != nil || typ != gws.BinaryMessage || string(msg) != "\x00through" {
		t.Errorf("/ws through the gateway: type %d %q, %v", typ, msg, err)
	}
	d.Subprotocols = []string{"chat.v1"}
	chat, _, err := d.Dial("ws://"+gw.Addr()+"/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer chat.Close()
	if chat.Subprotocol() != "chat.v1" {
		t.Errorf("/chat through the gateway: subprotocol %q", chat.Subprotocol())
	}

	stream, _ := testkit.Dial(t, gw.URL+"/any", []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, stream, "raw through"); got != "raw through" {
		t.Errorf("echo/1 through the gateway: %q", got)
	}
	if resp, body := request(t, gw.Addr(), "GET /proto HTTP/1.1\r\nHost: gw.test\r\n\r\n"); resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("GET /proto: %d %q", resp.StatusCode, body)
	}
	resp, body := request(t, gw.Addr(), "GET /proto HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n")
	if resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("h2c offer through the gateway: %d %q, want the demo's HTTP/1.1 answer", resp.StatusCode, body)
	}
	if resp, _ := request(t, gw.Addr(), testkit.UpgradeRequest("/ws", "foo/1")); resp.StatusCode != 426 || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("unknown token at /ws: %d Upgrade=%q, want the demo's 426 with Upgrade: websocket", resp.StatusCode, resp.Header.Get("Upgrade"))
	}

	if code := gw.Stop(t); code != 0 {
		t.Errorf("gateway exit status %d, want 0; stderr:\n%s", code, gw.Stderr())
	}
	if got := testkit.ReadAll(t, stream); got != "" {
		t.Errorf("echo/1 tunnel after the gateway's shutdown: read %q, want the end of the stream", got)
	}
}

// A user copies the program's files into a new module that requires
// Switchyard, and they build: they use public packages only.
func TestCopiesIntoANewModule(t *testing.T) {
	t.Parallel()
	democontract.CopyBuilds(t, "../..")
}
