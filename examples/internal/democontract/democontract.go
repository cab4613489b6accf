// Package democontract checks the demo's contract against the real program,
// started as its own process: examples/server (net/http), examples/echo
// (Echo) and examples/echo5 (Echo v5) keep the same contract and run the
// same checks. Start and CopyBuilds serve every example's tests.
package democontract

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Program is a demo program's run: its main without its flags and
// signals (demoapp.Main's), serving as cfg says until ctx ends.
type Program func(ctx context.Context, cfg demoapp.Config) error

// Run checks the whole contract against the program whose main package is
// the test's working directory (two levels below the repository's root):
// the program started as its own process, each check with a program of
// its own so that the counts of /stats are its own; run, the program's
// main without its flags and signals, in process (Start), for its
// standard output; the program built and started by hand, for its default
// address, SIGINT and its whole standard output (runProcess); and the
// program's files copied into a new module (CopyBuilds).
func Run(t *testing.T, run Program) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, p *testkit.Program)
		args []string // the program's flags besides -addr
	}{
		{"Page", page, nil},
		{"PlainRoutes", plainRoutes, nil},
		{"EchoBody", echoBody, nil},
		{"WebSocketEcho", webSocketEcho, nil},
		{"WebSocketReadLimit", webSocketReadLimit, nil},
		{"WebSocketRefusals", webSocketRefusals, nil},
		{"Chat", chat, nil},
		{"Stats", stats, nil},
		{"Metrics", prometheusMetrics, nil},
		{"H2CUpgrade", h2cUpgrade, nil},
		{"H2COfferIgnored", h2cOfferIgnored, nil},
		{"PriorKnowledge", priorKnowledge, nil},
		{"Echo1AnyPath", echo1AnyPath, nil},
		{"UnknownToken", unknownToken, nil},
		{"ReadHeaderTimeout", readHeaderTimeout, nil},
		{"Shutdown", shutdown, nil},
		{"IdleTimeout", idleTimeout, []string{"-idle-timeout", "300ms"}},
		{"RequestTimeout", requestTimeout, []string{"-request-timeout", "300ms", "-idle-timeout", "300ms"}},
		{"MaxConns", maxConns, []string{"-max-conns", "2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, testkit.StartProgram(t, ".", nil, c.args...))
		})
	}
	runTLS(t)
	runH2(t)
	for _, c := range []struct {
		name, scheme string
		tls          demoapp.TLS
	}{
		{"ListeningLine", "http://", demoapp.TLS{}},
		{"ListeningLineTLS", "https://", demoapp.TLS{Enabled: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			quiet := slog.New(slog.DiscardHandler)
			conf, err := c.tls.Config()
			if err != nil {
				t.Fatal(err)
			}
			listeningLine(t, c.scheme, func(ctx context.Context, out io.Writer) error {
				return run(ctx, demoapp.Config{Addr: "127.0.0.1:0", Limits: demoapp.DefaultLimits(), TLS: conf, Out: out, Logger: quiet})
			})
		})
	}
	t.Run("Process", func(t *testing.T) {
		t.Parallel()
		runProcess(t)
	})
	t.Run("NilLogger", func(t *testing.T) {
		t.Parallel()
		nilLogger(t, run)
	})
	t.Run("CopiesIntoANewModule", func(t *testing.T) {
		t.Parallel()
		CopyBuilds(t, "../..")
	})
}

// Standard output carries exactly one line, the listening line with the
// scheme it serves, printed once the server accepts, and run returns nil
// after its context ends.
func listeningLine(t *testing.T, scheme string, run func(ctx context.Context, out io.Writer) error) {
	url, stop := Start(t, run)
	if !strings.HasPrefix(url, scheme) {
		t.Errorf("listening on %s, want %s…", url, scheme)
	}
	if resp, _ := do(t, url, "GET", "/proto", nil); resp.StatusCode != 200 {
		t.Errorf("GET /proto once the line is out: %d, want 200", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

// A Config without a Logger is a program without logs (Config.Logger's
// doc): run serves its routes and shuts down as it does with one.
func nilLogger(t *testing.T, run Program) {
	url, stop := Start(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, demoapp.Config{Addr: "127.0.0.1:0", Limits: demoapp.DefaultLimits(), Out: out})
	})
	if resp, body := do(t, url, "GET", "/proto", nil); resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("GET /proto: %d %q, want 200 HTTP/1.1", resp.StatusCode, body)
	}
	if resp, _ := do(t, url, "GET", "/nowhere", nil); resp.StatusCode != 404 {
		t.Errorf("GET /nowhere: %d, want 404", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func page(t *testing.T, p *testkit.Program) {
	resp, body := testkit.Do(t, "GET", p.URL+"/", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The page chats over /chat with the browser's WebSocket (wss:// on an
	// https page) and shows the subprotocol, the extensions, the HTTP
	// version of its requests and the counts of /stats, over_h2 among them.
	for _, s := range []string{"new WebSocket(", "'/chat'", "'chat.v1'", "ws.protocol", "ws.extensions", "'/stats'",
		"url.protocol.replace('http', 'ws')", "'/proto'", "s.over_h2"} {
		if !strings.Contains(body, s) {
			t.Errorf("GET /: the page lacks %q", s)
		}
	}
	if resp, _ := testkit.Do(t, "HEAD", p.URL+"/", nil, nil); resp.StatusCode != 200 {
		t.Errorf("HEAD /: %d, want 200", resp.StatusCode)
	}
}

func plainRoutes(t *testing.T, p *testkit.Program) {
	if resp, body := testkit.Do(t, "GET", p.URL+"/proto", nil, nil); resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("GET /proto: %d %q, want 200 HTTP/1.1", resp.StatusCode, body)
	}
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	if resp, body := testkit.Do(t, "POST", p.URL+"/echo", nil, strings.NewReader(big)); resp.StatusCode != 200 || body != big {
		t.Errorf("POST /echo of 1 MiB: %d, %d bytes back", resp.StatusCode, len(body))
	}
	if resp, _ := testkit.Do(t, "GET", p.URL+"/nowhere", nil, nil); resp.StatusCode != 404 {
		t.Errorf("GET /nowhere: %d, want 404", resp.StatusCode)
	}
}

func webSocketEcho(t *testing.T, p *testkit.Program) {
	d := gws.Dialer{EnableCompression: true}
	c, resp := dialWS(t, d, p, "/ws")
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Errorf("Sec-WebSocket-Extensions = %q, want permessage-deflate accepted", ext)
	}
	for _, m := range []struct {
		typ int
		msg string
	}{{gws.TextMessage, "hello"}, {gws.BinaryMessage, "\x00\x01\xff"}, {gws.TextMessage, strings.Repeat("compressible ", 10000)}} {
		wstest.WantEcho(t, c, m.typ, []byte(m.msg))
	}
	wstest.CloseNormally(t, c)
}

// Messages up to 16 MiB come back; a bigger one closes the connection
// with 1009. The echo streams, so the client reads while it writes.
func webSocketReadLimit(t *testing.T, p *testkit.Program) {
	c, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	const limit = 16 << 20
	msg := bytes.Repeat([]byte{'m'}, limit+1)
	for _, size := range []int{limit, limit + 1} {
		_ = c.SetWriteDeadline(time.Now().Add(testkit.Timeout))
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		wrote := make(chan error, 1)
		go func() { wrote <- c.WriteMessage(gws.BinaryMessage, msg[:size]) }()
		typ, r, err := c.NextReader()
		var n int64
		if err == nil {
			n, err = io.Copy(io.Discard, r)
		}
		if werr := <-wrote; werr != nil && size == limit {
			t.Fatalf("writing %d bytes: %v", size, werr)
		}
		if size == limit && (err != nil || typ != gws.BinaryMessage || n != limit) {
			t.Fatalf("16 MiB message: type %d, %d bytes back, %v", typ, n, err)
		}
		if size > limit && !gws.IsCloseError(err, gws.CloseMessageTooBig) {
			t.Fatalf("message over 16 MiB: %v after %d bytes, want close 1009", err, n)
		}
	}
}

func webSocketRefusals(t *testing.T, p *testkit.Program) {
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	for _, tc := range []struct {
		name, request string
		status        int
		field, value  string
	}{
		{"cross-origin", testkit.UpgradeRequest("/ws", "websocket", key, "Sec-WebSocket-Version: 13", "Origin: http://evil.example"), 403, "", ""},
		{"bad key", testkit.UpgradeRequest("/ws", "websocket", "Sec-WebSocket-Key: short", "Sec-WebSocket-Version: 13"), 400, "", ""},
		{"repeated key", testkit.UpgradeRequest("/ws", "websocket", key, key, "Sec-WebSocket-Version: 13"), 400, "", ""},
		{"old version", testkit.UpgradeRequest("/ws", "websocket", key, "Sec-WebSocket-Version: 8"), 426, "Sec-Websocket-Version", "13"},
		{"not GET", strings.Replace(testkit.UpgradeRequest("/ws", "websocket", key, "Sec-WebSocket-Version: 13"), "GET", "PUT", 1), 405, "", ""},
		{"chat cross-origin", testkit.UpgradeRequest("/chat", "websocket", key, "Sec-WebSocket-Version: 13", "Origin: http://evil.example"), 403, "", ""},
	} {
		x := raw(t, p, tc.request)
		if x.Resp.StatusCode != tc.status || x.Body == "" {
			t.Errorf("%s: %d %q, want %d with a reason", tc.name, x.Resp.StatusCode, x.Body, tc.status)
		}
		if tc.field != "" && x.Resp.Header.Get(tc.field) != tc.value {
			t.Errorf("%s: %s = %q, want %q", tc.name, tc.field, x.Resp.Header.Get(tc.field), tc.value)
		}
	}
}

func chat(t *testing.T, p *testkit.Program) {
	d := gws.Dialer{Subprotocols: []string{"chat.v1"}, EnableCompression: true}
	a, resp := dialWS(t, d, p, "/chat")
	if got := a.Subprotocol(); got != "chat.v1" {
		t.Errorf("subprotocol %q, want chat.v1", got)
	}
	if ext := resp.Header.Get("Sec-Websocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Errorf("Sec-WebSocket-Extensions = %q, want permessage-deflate", ext)
	}
	// A member is in the room once its own message has come back to it:
	// /stats counts a connection from its switch, before its handler has
	// joined the room (with the join held 200 ms, b missed "hi all").
	joinedChat(t, a, "a is here")
	b, _ := dialWS(t, d, p, "/chat")
	joinedChat(t, b, "b is here")
	if typ, msg, err := a.ReadMessage(); err != nil || typ != gws.TextMessage || string(msg) != "b is here" {
		t.Fatalf("a got type %d %q, %v; want b's message", typ, msg, err)
	}
	if err := a.WriteMessage(gws.TextMessage, []byte("hi all")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*gws.Conn{"sender": a, "other member": b} {
		typ, msg, err := c.ReadMessage()
		if err != nil || typ != gws.TextMessage || string(msg) != "hi all" {
			t.Errorf("%s got type %d %q, %v; want the message", name, typ, msg, err)
		}
	}
	// A message over the room's 64 KiB limit closes its sender with 1009;
	// the others stay.
	if err := a.WriteMessage(gws.TextMessage, bytes.Repeat([]byte{'m'}, demoapp.MaxChatMessage+1)); err != nil {
		t.Fatal(err)
	}
	wstest.WantClose(t, a, gws.CloseMessageTooBig)
	wstest.WantEcho(t, b, gws.TextMessage, []byte("still here"))
	wstest.CloseNormally(t, b)
}

// joinedChat sends msg to the chat room from c and waits for it to come
// back, as the room sends every message to each member, its sender too:
// then c's handler has joined the room. No other member may be sending.
func joinedChat(t *testing.T, c *gws.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(gws.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if typ, got, err := c.ReadMessage(); err != nil || typ != gws.TextMessage || string(got) != msg {
		t.Fatalf("joining the room: got type %d %q, %v; want %q back", typ, got, err, msg)
	}
}

// demoStats is the JSON of /stats.
type demoStats struct {
	Active   map[string]int   `json:"active"`
	Switched map[string]int64 `json:"switched"`
	OverH2   map[string]int64 `json:"over_h2"`
	Refused  *int64           `json:"refused"`
}

func readStats(t *testing.T, p *testkit.Program) demoStats {
	t.Helper()
	resp, body := do(t, p.URL, "GET", "/stats", nil)
	var s demoStats
	if err := json.Unmarshal([]byte(body), &s); err != nil || resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /stats: %d %q %q: %v", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
	}
	return s
}

func stats(t *testing.T, p *testkit.Program) {
	s := readStats(t, p)
	for _, name := range []string{"websocket", "h2c", "echo"} {
		if v, ok := s.Active[name]; !ok || v != 0 {
			t.Errorf("fresh /stats: active[%s] = %d (present %v), want 0", name, v, ok)
		}
		if v, ok := s.Switched[name]; !ok || v != 0 {
			t.Errorf("fresh /stats: switched[%s] = %d (present %v), want 0", name, v, ok)
		}
	}
	if s.Refused == nil || *s.Refused != 0 {
		t.Errorf("fresh /stats: refused = %v, want 0", s.Refused)
	}
	wantOverH2(t, s, 0, 0)
	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	stream, _ := testkit.Dial(t, p.URL+"/", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, stream, "x")
	h2, _ := h2cDial(t, p, "/proto")
	testkit.Raw(t, p.Addr(), testkit.UpgradeRequest("/ws", "websocket")) // refused: no key
	s = readStats(t, p)
	want := map[string]int{"websocket": 1, "h2c": 1, "echo": 1}
	for name, k := range want {
		if s.Active[name] != k || s.Switched[name] != int64(k) {
			t.Errorf("/stats %s: active %d, switched %d; want %d and %d", name, s.Active[name], s.Switched[name], k, k)
		}
	}
	if *s.Refused != 1 {
		t.Errorf("/stats refused = %d, want 1", *s.Refused)
	}
	wantOverH2(t, s, 0, 0) // all of them HTTP/1.1 upgrades
	wstest.CloseNormally(t, ws)
	stream.Close()
	h2.Conn.Close()
	testkit.WaitFor(t, "/stats to show every connection closed", func() bool {
		s := readStats(t, p)
		return s.Active["websocket"] == 0 && s.Active["h2c"] == 0 && s.Active["echo"] == 0
	})
}

// h2cDial upgrades a new connection to h2c with GET path as stream 1, and
// returns the client and stream 1's response.
func h2cDial(t *testing.T, p *testkit.Program, path string) (*h2ctest.Client, *h2ctest.Response) {
	t.Helper()
	cl, first, err := h2ctest.Upgrade(testkit.DialTCP(t, p.Addr()), h2ctest.RequestHead("GET", path, p.Addr()), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade at %s: %v, switched %v", path, err, first != nil)
	}
	return cl, first
}

// Upgrade: h2c switches on any path, /ws and /chat included (the any-path
// middleware comes before routing); HTTP/2 then serves the same routes.
func h2cUpgrade(t *testing.T, p *testkit.Program) {
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/proto", 200, "HTTP/2.0"},
		{"/nowhere", 404, ""},
		{"/ws", 426, ""}, // stream 1 is an HTTP/2 GET /ws, which never switches
		{"/chat", 426, ""},
	} {
		cl, first := h2cDial(t, p, tc.path)
		if first.Status != tc.status || tc.body != "" && string(first.Body) != tc.body {
			t.Errorf("h2c at %s: stream 1 %d %q, want %d %q", tc.path, first.Status, first.Body, tc.status, tc.body)
		}
		if r, err := cl.Get("/proto"); err != nil || string(r.Body) != "HTTP/2.0" {
			t.Errorf("h2c at %s, then GET /proto: %v, %v", tc.path, r, err)
		}
		if r, err := cl.Do("POST", "/echo", []byte("over h2c")); err != nil || string(r.Body) != "over h2c" {
			t.Errorf("h2c at %s, then POST /echo: %v, %v", tc.path, r, err)
		}
		if r, err := cl.Get("/stats"); err != nil || r.Status != 200 || !bytes.Contains(r.Body, []byte(`"h2c":`)) {
			t.Errorf("h2c at %s, then GET /stats: %v, %v", tc.path, r, err)
		}
		cl.Conn.Close()
	}
}

// Bad HTTP2-Settings, or a request that came through a proxy (any of
// X-Forwarded-For, Via, Forwarded): the offer is ignored and the request
// served as HTTP/1.1.
func h2cOfferIgnored(t *testing.T, p *testkit.Program) {
	for name, extra := range map[string][]string{
		"bad settings":              {"HTTP2-Settings: !!!"},
		"proxied (X-Forwarded-For)": {"HTTP2-Settings: " + h2ctest.Settings, "X-Forwarded-For: 192.0.2.1"},
		"proxied (Via)":             {"HTTP2-Settings: " + h2ctest.Settings, "Via: 1.1 proxy.example"},
		"proxied (Forwarded)":       {"HTTP2-Settings: " + h2ctest.Settings, "Forwarded: for=192.0.2.1"},
	} {
		x := testkit.Raw(t, p.Addr(), "GET /proto HTTP/1.1\r\nHost: demo.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
			strings.Join(extra, "\r\n")+"\r\n\r\n")
		if x.Resp.StatusCode != 200 || x.Body != "HTTP/1.1" {
			t.Errorf("%s: %d %q, want 200 HTTP/1.1", name, x.Resp.StatusCode, x.Body)
		}
	}
}

func priorKnowledge(t *testing.T, p *testkit.Program) {
	protos := new(http.Protocols)
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protos}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: testkit.Timeout}
	resp, err := client.Get(p.URL + "/proto")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "HTTP/2.0" {
		t.Errorf("prior knowledge GET /proto: %s %q, want HTTP/2.0", resp.Proto, body)
	}
	resp, err = client.Post(p.URL+"/echo", "text/plain", strings.NewReader("prior knowledge"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "prior knowledge" {
		t.Errorf("prior knowledge POST /echo: %q", body)
	}
}

// Upgrade: echo/1 switches on any path, /ws and /chat included.
func echo1AnyPath(t *testing.T, p *testkit.Program) {
	for _, path := range []string{"/", "/nowhere", "/proto", "/ws", "/chat"} {
		c, resp := testkit.Dial(t, p.URL+path, []string{"echo/1"}, nil)
		if resp.Header.Get("Upgrade") != "echo/1" {
			t.Errorf("%s: Upgrade %q", path, resp.Header.Get("Upgrade"))
		}
		if got := testkit.RoundTrip(t, c, "raw bytes at "+path); got != "raw bytes at "+path {
			t.Errorf("%s: echo %q", path, got)
		}
		big := strings.Repeat("z", 1<<20)
		go func() {
			_, _ = io.WriteString(c, big)
			_ = c.(interface{ CloseWrite() error }).CloseWrite()
		}()
		if got := testkit.ReadAll(t, c); got != big {
			t.Errorf("%s: 1 MiB echoed as %d bytes", path, len(got))
		}
		c.Close()
	}
}

// An offer nobody registered is served as plain HTTP, except at /ws and
// /chat, which require WebSocket.
func unknownToken(t *testing.T, p *testkit.Program) {
	x := testkit.Raw(t, p.Addr(), testkit.UpgradeRequest("/proto", "foo/1"))
	if x.Resp.StatusCode != 200 || x.Body != "HTTP/1.1" {
		t.Errorf("GET /proto offering foo/1: %d %q, want 200 HTTP/1.1", x.Resp.StatusCode, x.Body)
	}
	for _, path := range []string{"/ws", "/chat"} {
		for _, req := range []string{testkit.UpgradeRequest(path, "foo/1"), "GET " + path + " HTTP/1.1\r\nHost: demo.test\r\n\r\n"} {
			x := testkit.Raw(t, p.Addr(), req)
			// http.ReadResponse drops a Connection field that says close:
			// read the one that was sent.
			conn := wireField(t, x, "Connection")
			if x.Resp.StatusCode != http.StatusUpgradeRequired || x.Resp.Header.Get("Upgrade") != "websocket" ||
				!negotiate.ContainsToken(conn, "upgrade") {
				t.Errorf("%q: %d Upgrade=%q Connection=%q, want 426 Upgrade: websocket", strings.SplitN(req, "\r\n", 4)[:3],
					x.Resp.StatusCode, x.Resp.Header.Get("Upgrade"), conn)
			}
		}
	}
}

// wireField returns the values of a field of the response head as it
// crossed the wire.
func wireField(t *testing.T, x *testkit.Exchange, name string) []string {
	t.Helper()
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(x.Wire.Bytes())))
	if _, err := tp.ReadLine(); err != nil {
		t.Fatal(err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	return h.Values(name)
}

// maxReadHeaderTimeout is the most the server may wait for a request's
// head: a client that dribbles it holds a connection that long.
const maxReadHeaderTimeout = 10 * time.Second

// A client that never finishes its request head is cut off within the
// server's ReadHeaderTimeout, which is at most maxReadHeaderTimeout: the
// client waits that long and a second more (over TLS, from the end of the
// handshake), so that a server that waits longer fails the check.
func readHeaderTimeout(t *testing.T, p *testkit.Program) {
	c := dialProgram(t, p)
	_ = c.SetDeadline(time.Now().Add(maxReadHeaderTimeout + time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: demo.test\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("a head never finished: %v after %q, want the server to close within %v", err, b, maxReadHeaderTimeout)
	}
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") {
		t.Errorf("a head never finished: got %q", b)
	}
}

// dialProgram opens a connection to the program for raw HTTP/1.1: TCP, or
// TLS with ALPN http/1.1 for an https program (trusting its certificate),
// handshake done. It has a deadline of testkit.Timeout and is closed when
// the test ends.
func dialProgram(t *testing.T, p *testkit.Program) net.Conn {
	t.Helper()
	c := testkit.DialTCP(t, p.Addr())
	if !strings.HasPrefix(p.URL, "https:") {
		return c
	}
	conf := insecure()
	conf.NextProtos = []string{"http/1.1"}
	tc := tls.Client(c, conf)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}

// raw sends request (raw bytes) to the program on a connection of its own
// (dialProgram) and reads one response, as testkit.Raw does.
func raw(t *testing.T, p *testkit.Program, request string) *testkit.Exchange {
	t.Helper()
	return testkit.RawOn(t, dialProgram(t, p), request)
}

// A keep-alive connection idle for -idle-timeout is closed, and so is an
// upgraded h2c connection, whose idle timeout is the server's by default
// (GOAWAY first).
func idleTimeout(t *testing.T, p *testkit.Program) {
	x := testkit.Raw(t, p.Addr(), "GET /proto HTTP/1.1\r\nHost: demo.test\r\n\r\n")
	if x.Resp.StatusCode != 200 || x.Resp.Close {
		t.Fatalf("GET /proto: %d, close %v; want 200 and the connection kept alive", x.Resp.StatusCode, x.Resp.Close)
	}
	testkit.ExpectClosed(t, x)
	h2, _ := h2cDial(t, p, "/proto")
	if ga, err := h2.WaitGoAway(); err != nil || ga.ErrCode != 0 {
		t.Errorf("idle h2c connection: %v, %v; want GOAWAY NO_ERROR", ga, err)
	}
	h2.Conn.Close()
}

// -request-timeout bounds a plain request (a body that stops coming is
// cut off), and no switched connection: the negotiator clears the
// server's read and write deadlines at the switch, so a WebSocket and an
// echo/1 stream still work once a keep-alive connection that went idle
// after they switched has been closed, when their request's deadlines are
// long past.
func requestTimeout(t *testing.T, p *testkit.Program) {
	c := testkit.DialTCP(t, p.Addr())
	if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: demo.test\r\nContent-Length: 10\r\n\r\nhello"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Errorf("a body that stops coming: %v, want the server to end the connection", err)
	}

	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	stream, _ := testkit.Dial(t, p.URL+"/", []string{"echo/1"}, nil)
	x := testkit.Raw(t, p.Addr(), "GET /proto HTTP/1.1\r\nHost: demo.test\r\n\r\n")
	testkit.ExpectClosed(t, x)
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("after the request timeout"))
	if got := testkit.RoundTrip(t, stream, "still echoing"); got != "still echoing" {
		t.Errorf("echo/1 after the request timeout: %q", got)
	}
	wstest.CloseNormally(t, ws)
}

// -max-conns caps the switched connections of every protocol together:
// over it an upgrade is refused with 503 and Retry-After, plain requests
// are still served, and a slot freed is taken again.
func maxConns(t *testing.T, p *testkit.Program) {
	a, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	stream, _ := testkit.Dial(t, p.URL+"/", []string{"echo/1"}, nil)
	for _, req := range []string{
		testkit.UpgradeRequest("/ws", "websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
		testkit.UpgradeRequest("/", "echo/1"),
	} {
		x := testkit.Raw(t, p.Addr(), req)
		if x.Resp.StatusCode != http.StatusServiceUnavailable || x.Resp.Header.Get("Retry-After") == "" {
			t.Errorf("%.30q… over the cap: %d, Retry-After %q; want 503 with Retry-After", req, x.Resp.StatusCode, x.Resp.Header.Get("Retry-After"))
		}
	}
	if resp, body := testkit.Do(t, "GET", p.URL+"/proto", nil, nil); resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("GET /proto at the cap: %d %q, want 200", resp.StatusCode, body)
	}
	stream.Close()
	testkit.WaitFor(t, "the freed slot", func() bool { return readStats(t, p).Active["echo"] == 0 })
	b, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	wstest.CloseNormally(t, a)
	wstest.CloseNormally(t, b)
}

// SIGTERM: WebSockets get close 1001 (even one that never answers it), h2c
// GOAWAY, echo/1 is closed, a plain request in flight finishes, and the
// program exits 0 within testkit.Timeout (10 s, or the kit fails the
// test), also when peers do not answer: a plain request whose body never
// comes, and an echo/1 client that stopped reading while it sends.
func shutdown(t *testing.T, p *testkit.Program) {
	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("hi"))
	dialWS(t, gws.Dialer{}, p, "/ws") // never reads: does not answer the close
	stuck := testkit.DialTCP(t, p.Addr())
	if _, err := io.WriteString(stuck, "POST /echo HTTP/1.1\r\nHost: demo.test\r\nContent-Length: 100\r\n\r\nnot all of it"); err != nil {
		t.Fatal(err)
	}
	deaf, _ := testkit.Dial(t, p.URL+"/deaf", []string{"echo/1"}, nil)
	fillUntilBlocked(t, deaf)
	chatter, _ := dialWS(t, gws.Dialer{Subprotocols: []string{"chat.v1"}}, p, "/chat")
	stream, _ := testkit.Dial(t, p.URL+"/any", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, stream, "hi")
	h2, _ := h2cDial(t, p, "/proto")

	// A plain request in flight: its handler is reading the body (the 100
	// Continue says so) when the signal comes.
	plain := testkit.DialTCP(t, p.Addr())
	if _, err := io.WriteString(plain, "POST /echo HTTP/1.1\r\nHost: demo.test\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(plain)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue: %v %v", resp, err)
	}

	exited := stopInBackground(t, p)
	wstest.WantClose(t, ws, gws.CloseGoingAway)
	wstest.WantClose(t, chatter, gws.CloseGoingAway)
	if ga, err := h2.WaitGoAway(); err != nil || ga == nil {
		t.Errorf("h2c at shutdown: %v, %v; want GOAWAY", ga, err)
	}
	if got := testkit.ReadAll(t, stream); got != "" {
		t.Errorf("echo/1 at shutdown: read %q, want the end of the stream", got)
	}
	if _, err := io.WriteString(plain, "finished"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "finished" {
		t.Errorf("the request in flight: %d %q, want 200 %q", resp.StatusCode, body, "finished")
	}
	wantExit0(t, p, exited)
}

// fillUntilBlocked writes to an echo/1 connection, never reading the echo,
// until a write makes no progress for a second: the server has stopped
// reading, which it does only when its own writes are blocked, the
// client's buffers full of what it echoed.
func fillUntilBlocked(t *testing.T, c net.Conn) {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for written := 0; written < 1<<30; written += len(chunk) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(chunk); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
				return
			}
			t.Fatalf("echo/1 after %d bytes: %v", written, err)
		}
	}
	t.Fatal("echo/1: 1 GiB written and never read, and the server still reads")
}

// dialWS opens a WebSocket at path with d (over TLS, HTTP/1.1, for an
// https program, trusting its certificate), closed when the test ends; its
// reads and writes are bounded by testkit.Timeout.
func dialWS(t *testing.T, d gws.Dialer, p *testkit.Program, path string) (*gws.Conn, *http.Response) {
	t.Helper()
	if strings.HasPrefix(p.URL, "https:") && d.TLSClientConfig == nil {
		d.TLSClientConfig = insecure()
	}
	return wstest.Dial(t, &d, wstest.URL(p.URL, path), nil)
}

// CopyBuilds copies the program's files (the non-test .go files of the
// test's working directory) into a new module that requires Switchyard
// (replaced by the repository at root), and builds it there, as a user who
// copies the example does: the program must use public packages only. A
// program that is a module of its own (examples/echo5, which requires
// Echo v5 where the repository does not) brings its own requirements. It
// skips the test when there is no go command.
func CopyBuilds(t *testing.T, root string) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build with: %v", err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	copied := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
		copied++
	}
	if copied == 0 {
		t.Fatal("no program files to copy")
	}
	sum, gomod := copiedModule(t, root)
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	// Offline: what the copy needs is what the repository needs, which is
	// in the module cache already.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in a new module: %v\n%s", err, out)
	}
}

// copiedModule returns the go.sum and go.mod of the copy CopyBuilds makes:
// the program's own module's, when its folder holds a go.mod, under a new
// module path with its relative replacements made absolute; otherwise the
// repository's requirements plus Switchyard itself replaced by root, what
// "go mod tidy" would write (which would also want the test dependencies
// of every dependency, not in the module cache offline).
func copiedModule(t *testing.T, root string) (sum []byte, gomod string) {
	t.Helper()
	if mod, err := os.ReadFile("go.mod"); err == nil {
		sum, err := os.ReadFile("go.sum")
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(mod), "\n")
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		rel, err := filepath.Rel(wd, root)
		if err != nil || !strings.Contains(rest, "=> "+rel) {
			t.Fatalf("go.mod %q: want a module line and Switchyard replaced by %s", mod, rel)
		}
		// Replacements by the repository and its folders.
		return sum, "module example.com/copied\n" + strings.ReplaceAll(rest, "=> "+rel, "=> "+root)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	// The repository's go.sum vouches for the same dependencies.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	_, requires, ok := strings.Cut(string(mod), "\nrequire")
	if !ok {
		t.Fatal("the repository's go.mod requires nothing")
	}
	return sum, "module example.com/copied\n\ngo 1.26\n\nrequire github.com/switchyard-http/switchyard v0.0.0\n\n" +
		"replace github.com/switchyard-http/switchyard => " + root + "\n\nrequire" + requires
}
