package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// The tests of this file and h2_goclient_test.go run examples/server, the README's demo, as its
// own process, as a user starts it, and switch to WebSocket and echo/1 on
// HTTP/2 streams by extended CONNECT (RFC 8441) from clients Switchyard did
// not write: Go's own HTTP/2 client, Node's built-in http2 module and
// headless Chromium. Each checks on the server's side, in /stats'
// over_h2, that the switches were made on HTTP/2 streams, not only that
// the echoes worked.

// xconnectOn is what turns on extended CONNECT in Go 1.26 and 1.27's
// HTTP/2 server (net/http reads it at init, so the test sets it on the
// child process it starts); xconnectOff keeps it off even when the test's
// own environment sets GODEBUG (the child's later entry wins).
const (
	xconnectOn  = "GODEBUG=http2xconnect=1"
	xconnectOff = "GODEBUG=http2xconnect=0"
)

// startDemo starts examples/server with args (-tls for HTTPS) and the
// environment entry godebug (xconnectOn or xconnectOff). The kit sends it
// SIGTERM when the test ends and fails the test unless it exits 0.
func startDemo(t *testing.T, godebug string, args ...string) *testkit.Program {
	t.Helper()
	return testkit.StartProgram(t, "../examples/server", []string{godebug}, args...)
}

// demoStats is the demo's /stats.
type demoStats struct {
	Active   map[string]int   `json:"active"`
	Switched map[string]int64 `json:"switched"`
	Refused  int64            `json:"refused"`
	OverH2   map[string]int64 `json:"over_h2"`
}

// readDemoStats reads /stats over HTTP/1.1 on a connection of its own,
// accepting the demo's self-signed certificate.
func readDemoStats(t *testing.T, p *testkit.Program) demoStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", p.URL+"/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: selfSigned()}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	defer resp.Body.Close()
	var s demoStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /stats: %d: %v", resp.StatusCode, err)
	}
	if s.OverH2 == nil {
		t.Fatalf("GET /stats: no over_h2 in the answer: %+v", s)
	}
	return s
}

// selfSigned accepts the certificate the demo makes for itself at start
// (for 127.0.0.1, ::1 and localhost): it is new every run, so there is
// nothing to verify it against. Only loopback addresses are dialled.
func selfSigned() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true}
}

// wantOverH2 checks the demo's counts: want WebSocket and echo switches
// made, of which overH2ws and overH2echo on HTTP/2 streams.
func wantOverH2(t *testing.T, s demoStats, ws, overH2ws, echo, overH2echo int64) {
	t.Helper()
	if s.Switched["websocket"] != ws || s.OverH2["websocket"] != overH2ws {
		t.Errorf("websocket: %d switched, %d over HTTP/2; want %d, %d (/stats %+v)",
			s.Switched["websocket"], s.OverH2["websocket"], ws, overH2ws, s)
	}
	if s.Switched["echo"] != echo || s.OverH2["echo"] != overH2echo {
		t.Errorf("echo: %d switched, %d over HTTP/2; want %d, %d (/stats %+v)",
			s.Switched["echo"], s.OverH2["echo"], echo, overH2echo, s)
	}
}

// eachXConnectDemo runs f in parallel subtests, tls and h2c, each with a
// demo of its own with extended CONNECT on, over TLS or h2c with prior
// knowledge.
func eachXConnectDemo(t *testing.T, f func(t *testing.T, p *testkit.Program)) {
	for _, mode := range []string{"tls", "h2c"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var args []string
			if mode == "tls" {
				args = []string{"-tls"}
			}
			f(t, startDemo(t, xconnectOn, args...))
		})
	}
}

// wantEndedOverH2 waits for the demo's WebSocket and echo connections to
// end and then checks its counts as wantOverH2 does.
func wantEndedOverH2(t *testing.T, p *testkit.Program, ws, overH2ws, echo, overH2echo int64) {
	t.Helper()
	testkit.WaitFor(t, "the switched connections to end", func() bool {
		s := readDemoStats(t, p)
		return s.Active["websocket"] == 0 && s.Active["echo"] == 0
	})
	s := readDemoStats(t, p)
	wantOverH2(t, s, ws, overH2ws, echo, overH2echo)
	t.Logf("/stats: switched %v, over_h2 %v, refused %d", s.Switched, s.OverH2, s.Refused)
}

// stopping is a demo sent SIGTERM by stopDemo.
type stopping struct {
	p    *testkit.Program
	done chan struct{} // closed when the demo has exited
	code int           // its exit status, once done
}

// stopDemo sends the demo SIGTERM; the kit's Stop fails the test if it
// has not exited within testkit.Timeout (ten seconds, the demo's promise).
func stopDemo(t *testing.T, p *testkit.Program) *stopping {
	s := &stopping{p: p, done: make(chan struct{})}
	go func() {
		s.code = p.Stop(t)
		close(s.done)
	}()
	t.Cleanup(func() { // before the kit's own cleanup, which would stop it again
		select {
		case <-s.done:
		case <-time.After(2 * testkit.Timeout):
		}
	})
	return s
}

// wantExit0 waits for the demo to exit, and checks that it exited 0.
func (s *stopping) wantExit0(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		if s.code != 0 {
			t.Errorf("demo exited with status %d, want 0; stderr:\n%s", s.code, s.p.Stderr())
		}
	case <-time.After(2 * testkit.Timeout):
		t.Fatal("the demo's Stop did not return")
	}
}

// --- Go's own HTTP/2 client: h2_goclient_test.go (h2_goclient_go127_test.go
// on Go 1.27) ---

// --- Node's http2 module ---

// nodeH2 returns the node binary and node/h2client.mjs (Node's built-in
// http2 module: no npm package needed).
func nodeH2(t *testing.T) (node, script string) {
	t.Helper()
	return nodeScript(t, "h2client.mjs")
}

// nodeRefusal is one refused request of the Node peer, and the plain GET
// it sent after it on the same session.
type nodeRefusal struct {
	nodeHead
	Name  string  `json:"name"`
	Error string  `json:"error"`
	Body  string  `json:"body"`
	After nodeGet `json:"after"`
}

type nodeHead struct {
	Status     int      `json:"status"`
	Fields     []string `json:"fields"`
	Protocol   string   `json:"protocol"`
	Extensions string   `json:"extensions"`
	RetryAfter string   `json:"retryAfter"`
}

type nodeGet struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

type nodeReport struct {
	Error                 string        `json:"error"`
	EnableConnectProtocol bool          `json:"enableConnectProtocol"`
	Refusals              []nodeRefusal `json:"refusals"`
	WebSocket             struct {
		nodeHead
		Error       string     `json:"error"`
		Echoes      []peerEcho `json:"echoes"`
		CloseCode   int        `json:"closeCode"`
		StreamEnded bool       `json:"streamEnded"`
		EndError    string     `json:"endError"`
	} `json:"websocket"`
	Chat struct {
		nodeHead
		Error     string `json:"error"`
		Message   string `json:"message"`
		CloseCode int    `json:"closeCode"`
	} `json:"chat"`
	Echo struct {
		nodeHead
		Error    string `json:"error"`
		Sent     int    `json:"sent"`
		Received int    `json:"received"`
		Same     bool   `json:"same"`
	} `json:"echo"`
	Proto nodeGet `json:"proto"`

	// limit
	First     nodeHead    `json:"first"`
	FirstEcho string      `json:"firstEcho"`
	Second    nodeRefusal `json:"second"`
	EchoRef   nodeRefusal `json:"echoRefusal"`
	CloseCode int         `json:"closeCode"`
	Again     nodeHead    `json:"again"`
	AgainCode int         `json:"againCloseCode"`
	FreedMs   int         `json:"slotFreedMs"`

	// hold
	WS        nodeHead  `json:"ws"`
	ChatHead  nodeHead  `json:"chatHead"`
	EchoText  string    `json:"echoText"`
	WSClose   nodeClose `json:"wsClose"`
	ChatClose nodeClose `json:"chatClose"`
	GoAway    *int      `json:"goaway"` // the GOAWAY's error code, if one came first
}

type nodeClose struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// wantNoConnectionFields checks a response head Node received.
func (h nodeHead) wantNoConnectionFields(t *testing.T, what string) {
	t.Helper()
	for _, f := range h.Fields {
		switch f {
		case "upgrade", "connection", "keep-alive", "transfer-encoding":
			t.Errorf("%s: the HTTP/2 response has %s", what, f)
		}
	}
}

// runNode runs a scenario of node/h2client.mjs against the demo and
// returns its report, failing the test if Node failed.
func runNode(t *testing.T, scenario string, p *testkit.Program) nodeReport {
	t.Helper()
	node, script := nodeH2(t)
	r, err := nodeScenario(node, script, scenario, p.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.EnableConnectProtocol {
		t.Errorf("node %s: the server's SETTINGS lack SETTINGS_ENABLE_CONNECT_PROTOCOL=1", scenario)
	}
	return r
}

// nodeScenario runs a scenario of node/h2client.mjs against the server at
// url and returns its last line of JSON; lines, if not nil, gets every line
// as it comes (the hold scenario's {"open":true}). It is bounded by
// testTimeout.
func nodeScenario(node, script, scenario, url string, lines chan<- string) (nodeReport, error) {
	var r nodeReport
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, scenario, url)
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	var last string
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		last = sc.Text()
		if lines != nil {
			lines <- last
		}
	}
	runErr := cmd.Wait()
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		return r, fmt.Errorf("node %s: %v; last line %q; stderr %q", scenario, runErr, last, stderr.b)
	}
	if runErr != nil || r.Error != "" {
		return r, fmt.Errorf("node %s: %v: %s; stderr %q", scenario, runErr, r.Error, stderr.b)
	}
	return r, nil
}

// TestNodeExtendedConnect: Node's built-in http2 module (nghttp2) does
// extended CONNECT over TLS and over h2c with prior knowledge, on one
// session: refusals (bad origin 403, no Sec-WebSocket-Version 400, an
// unsupported version, an unregistered :protocol on a WebSocket route and
// elsewhere, h2c which cannot run on a stream) come back as HTTP/2
// responses without Upgrade or Connection and the session serves a plain
// GET after each; then a WebSocket echo at /ws (text, binary, 1 MiB, close
// 1000), the chat room at /chat with its subprotocol, and echo/1 with
// 256 KiB, all counted by /stats as switched over HTTP/2.
func TestNodeExtendedConnect(t *testing.T) {
	t.Parallel()
	nodeH2(t)
	eachXConnectDemo(t, func(t *testing.T, p *testkit.Program) {
		r := runNode(t, "exchange", p)

		wantStatus := map[string]func(int) bool{
			"bad origin":             func(s int) bool { return s == http.StatusForbidden },
			"no version":             func(s int) bool { return s == http.StatusBadRequest },
			"bad version":            is4xx,
			"unregistered on /ws":    is4xx,
			"unregistered elsewhere": is4xx,
			"h2c":                    is4xx,
		}
		if len(r.Refusals) != len(wantStatus) {
			t.Errorf("node reported %d refusals, want %d: %+v", len(r.Refusals), len(wantStatus), r.Refusals)
		}
		for _, ref := range r.Refusals {
			if ref.Error != "" {
				t.Errorf("%s: %s, want an HTTP/2 response", ref.Name, ref.Error)
				continue
			}
			if ok := wantStatus[ref.Name]; ok == nil || !ok(ref.Status) {
				t.Errorf("%s: %d %q, not the refusal wanted", ref.Name, ref.Status, ref.Body)
			}
			ref.wantNoConnectionFields(t, ref.Name)
			if ref.After.Status != 200 || ref.After.Body != "HTTP/2.0" {
				t.Errorf("GET /proto on the session after %s: %+v, want 200 HTTP/2.0", ref.Name, ref.After)
			}
			t.Logf("%s: %d %q", ref.Name, ref.Status, ref.Body)
		}

		ws := r.WebSocket
		if ws.Error != "" || ws.Status != 200 {
			t.Fatalf("/ws: %d %s, want 200", ws.Status, ws.Error)
		}
		ws.wantNoConnectionFields(t, "/ws")
		checkEchoes(t, peerReport{Echoes: ws.Echoes})
		if ws.CloseCode != 1000 || !ws.StreamEnded {
			t.Errorf("/ws: close answered with %d, stream ended %v (%s); want 1000, then the stream's end", ws.CloseCode, ws.StreamEnded, ws.EndError)
		}
		if r.Chat.Error != "" || r.Chat.Status != 200 || r.Chat.Protocol != "chat.v1" {
			t.Errorf("/chat: %d %s, subprotocol %q; want 200 chat.v1", r.Chat.Status, r.Chat.Error, r.Chat.Protocol)
		}
		if want := "hello room, from node over h2"; r.Chat.Message != want || r.Chat.CloseCode != 1000 {
			t.Errorf("/chat: got %q, close %d; want %q, 1000", r.Chat.Message, r.Chat.CloseCode, want)
		}
		if r.Echo.Error != "" || r.Echo.Status != 200 || !r.Echo.Same || r.Echo.Received != r.Echo.Sent {
			t.Errorf("echo/1: %d %s, %d of %d bytes back, same %v", r.Echo.Status, r.Echo.Error, r.Echo.Received, r.Echo.Sent, r.Echo.Same)
		}
		if r.Proto.Status != 200 || r.Proto.Body != "HTTP/2.0" {
			t.Errorf("GET /proto at the end: %+v", r.Proto)
		}

		wantEndedOverH2(t, p, 2, 2, 1, 1)
	})

	// At the demo's -max-conns, an extended CONNECT is refused with 503
	// and Retry-After on its stream, and the session goes on; once the
	// WebSocket holding the slot has closed, a new one switches.
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		p := startDemo(t, xconnectOn, "-tls", "-max-conns", "1")
		r := runNode(t, "limit", p)
		if r.First.Status != 200 || r.FirstEcho != "holding the only slot" {
			t.Fatalf("the first WebSocket: %d, echo %q", r.First.Status, r.FirstEcho)
		}
		for _, ref := range []nodeRefusal{r.Second, r.EchoRef} {
			if ref.Error != "" || ref.Status != http.StatusServiceUnavailable || ref.RetryAfter == "" {
				t.Errorf("%s at the limit: %+v, want 503 with Retry-After", ref.Name, ref)
			}
			ref.wantNoConnectionFields(t, ref.Name)
		}
		if r.Proto.Status != 200 || r.Proto.Body != "HTTP/2.0" {
			t.Errorf("GET /proto at the limit: %+v, want 200 HTTP/2.0", r.Proto)
		}
		if r.CloseCode != 1000 {
			t.Errorf("the held WebSocket's close answered with %d, want 1000", r.CloseCode)
		}
		t.Logf("the slot was free %d ms after the held WebSocket's stream ended", r.FreedMs)
		if r.Again.Status != 200 || r.AgainCode != 1000 {
			t.Errorf("a WebSocket in the freed slot: %d, close %d; want 200, 1000", r.Again.Status, r.AgainCode)
		}
		s := readDemoStats(t, p)
		if s.Refused != 2 {
			t.Errorf("/stats refused %d, want 2", s.Refused)
		}
		wantOverH2(t, s, 2, 2, 0, 0)
	})
}

func is4xx(s int) bool { return s >= 400 && s < 500 }

// TestNodeShutdownOverH2: SIGTERM with WebSockets open on HTTP/2 streams
// (/ws and /chat from Node, over TLS): each gets close 1001, and the demo
// exits 0 within ten seconds once Node has answered.
func TestNodeShutdownOverH2(t *testing.T) {
	t.Parallel()
	node, script := nodeH2(t)
	p := startDemo(t, xconnectOn, "-tls")
	lines := make(chan string, 4)
	type result struct {
		r   nodeReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := nodeScenario(node, script, "hold", p.URL, lines)
		done <- result{r, err}
	}()
	select {
	case l := <-lines:
		if l != `{"open":true}` {
			select {
			case res := <-done:
				t.Fatalf("node: %q: %v", l, res.err)
			case <-time.After(testTimeout):
				t.Fatalf("node: %q, and it did not finish", l)
			}
		}
	case <-time.After(testTimeout):
		t.Fatal("node did not open its WebSockets")
	}
	s := readDemoStats(t, p)
	if s.Active["websocket"] != 2 || s.OverH2["websocket"] != 2 {
		t.Errorf("before SIGTERM: %d WebSockets open, %d switched over HTTP/2; want 2, 2", s.Active["websocket"], s.OverH2["websocket"])
	}
	exited := stopDemo(t, p)
	var res result
	select {
	case res = <-done:
	case <-time.After(testTimeout):
		t.Fatal("node did not finish")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	r := res.r
	if r.WS.Status != 200 || r.ChatHead.Status != 200 || r.ChatHead.Protocol != "chat.v1" || r.EchoText != "before shutdown" {
		t.Errorf("the held WebSockets: /ws %+v, /chat %+v, echo %q", r.WS, r.ChatHead, r.EchoText)
	}
	if r.WSClose.Code != 1001 || r.ChatClose.Code != 1001 || r.WSClose.Error != "" || r.ChatClose.Error != "" {
		t.Errorf("at SIGTERM: /ws closed with %+v, /chat with %+v; want 1001 (going away), then the stream's end", r.WSClose, r.ChatClose)
	}
	if r.GoAway != nil {
		t.Logf("GOAWAY (code %d) came before the streams ended", *r.GoAway)
	}
	exited.wantExit0(t)
}

// --- Chromium ---

// TestChromiumOverH2: headless Chromium loads the demo's page over HTTPS
// (HTTP/2 by ALPN). The page opens its chat WebSocket at /chat itself; the
// test has it send a line and see it back, then runs the browser peer's
// exchange (testdata/browser.html's script: text, binary, 1 MiB and a
// clean close) at /ws. With the GODEBUG setting, Chromium sends both
// WebSockets on the HTTP/2 connection it holds (extended CONNECT, 200 in
// DevTools) and /stats counts them over_h2; without it, the same page opens
// them over HTTP/1.1 (101) and over_h2 stays 0. Then SIGTERM: the page's
// chat sees close 1001 and the demo exits 0.
func TestChromiumOverH2(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	for _, tc := range []struct {
		name    string
		godebug string
		overH2  int64 // WebSockets switched over HTTP/2
		status  int64 // the WebSocket handshake's status in DevTools
	}{
		{"h2", xconnectOn, 2, http.StatusOK},
		{"http1", xconnectOff, 0, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startDemo(t, tc.godebug, "-tls")
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			t.Cleanup(cancel) // after the browser's close
			bctx := startBrowser(ctx, t, browser, chromedp.IgnoreCertErrors)
			var devtools netLog
			if err := chromedp.Listen(bctx, devtools.record); err != nil {
				t.Fatalf("chromium (%s): %v", browser, err)
			}
			if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
				t.Fatalf("Network.enable: %v", err)
			}
			if err := chromedp.Do(bctx, chromedp.Navigate(p.URL+"/")); err != nil {
				t.Fatalf("navigate: %v", err)
			}

			// The page's own chat WebSocket.
			state, err := chromedp.Run(bctx, chromedp.Poll[string](
				`(() => { const s = document.getElementById('state').textContent; return s.startsWith('connecting') ? false : s; })()`,
				chromedp.WithPollingTimeout(testkit.Timeout)))
			if err != nil || state != "open" {
				t.Fatalf("the page's chat: %q, %v; want open", state, err)
			}
			const line = "hello room, from chromium"
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`ws.send(`+jsString(line)+`), true`)); err != nil {
				t.Fatalf("sending a chat line: %v", err)
			}
			if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
				`[...document.querySelectorAll('#log div')].some(d => d.textContent === `+jsString(line)+`)`,
				chromedp.WithPollingTimeout(testkit.Timeout))); err != nil {
				t.Errorf("the chat line did not come back to the page: %v", err)
			}

			// The browser peer's exchange at /ws, on the demo's page.
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void](browserScript(t))); err != nil {
				t.Fatalf("starting the exchange: %v", err)
			}
			r := pageReport(bctx, t, "the exchange at /ws", testTimeout/2)
			if r.CloseCode != 1000 || !r.WasClean {
				t.Errorf("/ws closed with %d (clean %v), want 1000, clean", r.CloseCode, r.WasClean)
			}

			// The server's side: which transport the switches came over.
			testkit.WaitFor(t, "/ws to end", func() bool { return readDemoStats(t, p).Active["websocket"] == 1 })
			s := readDemoStats(t, p)
			wantOverH2(t, s, 2, tc.overH2, 0, 0)
			t.Logf("/stats: switched %v, over_h2 %v", s.Switched, s.OverH2)

			// The browser's side, as DevTools saw it.
			page, sockets := devtools.snapshot()
			if page != "h2" {
				t.Errorf("the page came over %q, want h2", page)
			}
			for _, path := range []string{"/chat", "/ws"} {
				u := "wss://" + p.Addr() + path
				if got := sockets[u]; got != tc.status {
					t.Errorf("DevTools: %s handshake status %d, want %d", u, got, tc.status)
				}
			}
			t.Logf("DevTools: page over %s, WebSocket handshakes %v", page, sockets)

			// SIGTERM: the page's chat gets 1001, the demo exits 0.
			exited := stopDemo(t, p)
			closed, err := chromedp.Run(bctx, chromedp.Poll[string](
				`(() => { const s = document.getElementById('state').textContent; return s.startsWith('closed') ? s : false; })()`,
				chromedp.WithPollingTimeout(testkit.Timeout)))
			if err != nil || !strings.HasPrefix(closed, "closed (1001") {
				t.Errorf("the page's chat at SIGTERM: %q, %v; want closed (1001 …)", closed, err)
			}
			exited.wantExit0(t)
		})
	}
}

// browserScript is testdata/browser.html's script: the browser peer's
// exchange at /ws of the page's origin, its outcome left in window.interop.
func browserScript(t *testing.T) string {
	t.Helper()
	_, rest, ok1 := bytes.Cut(browserPage, []byte("<script>"))
	script, _, ok2 := bytes.Cut(rest, []byte("</script>"))
	if !ok1 || !ok2 {
		t.Fatal("testdata/browser.html has no <script>")
	}
	return string(script)
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// netLog keeps what DevTools' Network domain reports: the page's protocol
// and each WebSocket's handshake status by URL. record runs on chromedp's
// reading goroutine, so it only stores.
type netLog struct {
	mu      sync.Mutex
	page    string
	urls    map[network.RequestID]string
	sockets map[string]int64
}

func (l *netLog) record(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.urls == nil {
		l.urls, l.sockets = map[network.RequestID]string{}, map[string]int64{}
	}
	switch e := ev.(type) {
	case *network.EventResponseReceived:
		if e.Type == network.ResourceTypeDocument {
			l.page = e.Response.Protocol
		}
	case *network.EventWebSocketCreated:
		l.urls[e.RequestID] = e.URL
	case *network.EventWebSocketHandshakeResponseReceived:
		l.sockets[l.urls[e.RequestID]] = e.Response.Status
	}
}

func (l *netLog) snapshot() (page string, sockets map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.page, maps.Clone(l.sockets)
}
