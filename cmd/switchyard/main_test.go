package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// plainMux answers "plain" to plain requests, and serves /need as an
// endpoint of need (426 for an offer of nothing need has).
func plainMux(n *negotiate.Negotiator, need *negotiate.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
	mux.Handle("/need", n.Endpoint(need))
	return mux
}

// switchyardServer serves echo/1 on any path, requires echo/1 on /need
// (426), and answers plain requests with "plain".
func switchyardServer(t *testing.T, tls bool) *httptest.Server {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	srv := httptest.NewUnstartedServer(n.Middleware(reg)(plainMux(n, reg)))
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// gorillaServer is not Switchyard: gorilla's Upgrader on /ws, echoing.
func gorillaServer(t *testing.T) *httptest.Server {
	t.Helper()
	up := gws.Upgrader{Subprotocols: []string{"chat.v1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeServer answers every request with response, then closes.
func fakeServer(t *testing.T, response string) string {
	t.Helper()
	return testkit.NewTCPServer(t, func(c net.Conn, _ string) { _, _ = io.WriteString(c, response) }).URL()
}

// inspect runs the command with stdin and returns its status and output.
func inspect(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	return inspectFrom(t, strings.NewReader(stdin), args...)
}

// inspectFrom is inspect with standard input read from stdin.
func inspectFrom(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, stdin, &stdout, &stderr) }()
	select {
	case code := <-done:
		return code, stdout.String(), stderr.String()
	case <-time.After(2 * testkit.Timeout):
		t.Fatalf("switchyard %v did not finish", args)
	}
	return 0, "", ""
}

func TestProbe(t *testing.T) {
	t.Parallel()
	sy := switchyardServer(t, false)
	g := gorillaServer(t)
	host := strings.TrimPrefix(g.URL, "http://")
	badAccept := fakeServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBhY2NlcHQ=\r\n\r\n")
	otherToken := fakeServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n")
	twoLines := fakeServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n")
	status999 := fakeServer(t, "HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nno")
	status042 := fakeServer(t, "HTTP/1.1 042 Odd\r\nContent-Length: 2\r\n\r\nno")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"gorilla WebSocket", []string{"probe", "ws://" + host + "/ws?x=1"}, 0, []string{
			"--- request head (",
			"GET /ws?x=1 HTTP/1.1\r\nHost: " + host + "\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
			"\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\nUser-Agent: switchyard-inspector\r\n\r\n--- response head (",
			"HTTP/1.1 101 Switching Protocols\r\n",
			"verdict: valid 101: switched to websocket\n",
			"✓ Upgrade: websocket was offered",
			"✓ Connection: Upgrade",
			"✓ Sec-WebSocket-Accept matches the key",
		}},
		{"gorilla subprotocol", []string{"probe", "-H", "Sec-WebSocket-Protocol: chat.v1", g.URL}, 0, []string{
			"Sec-Websocket-Protocol: chat.v1\r\n", "✓ subprotocol chat.v1 was offered",
		}},
		{"gorilla wrong version", []string{"probe", "-H", "Sec-WebSocket-Version: 8", g.URL}, 1, []string{
			"Sec-Websocket-Version: 8\r\n",
			"verdict: refused (400 Bad Request): ",
			"server supports: Sec-WebSocket-Version: 13",
			"server said: ",
		}},
		{"switchyard echo/1", []string{"probe", "-offer", "echo/2, echo/1", sy.URL}, 0, []string{
			"Upgrade: echo/2, echo/1\r\n", "verdict: valid 101: switched to echo/1",
		}},
		{"Connection options and Host", []string{"probe", "-offer", "echo/1", "-H", "Connection: keep-alive, upgrade", "-H", "Host: example.com", sy.URL}, 0, []string{
			"Host: example.com\r\nConnection: Upgrade, keep-alive\r\n", "verdict: valid 101: switched to echo/1",
		}},
		// As with curl: a user and password in the URL are sent as Basic
		// authorization.
		{"user in the URL", []string{"probe", "-offer", "echo/1", strings.Replace(sy.URL, "://", "://alice:s3cret@", 1)}, 0, []string{
			"\r\nAuthorization: Basic YWxpY2U6czNjcmV0\r\n", "verdict: valid 101: switched to echo/1",
		}},
		{"switchyard 426", []string{"probe", sy.URL + "/need"}, 1, []string{
			"HTTP/1.1 426 Upgrade Required\r\n",
			"verdict: refused (426 Upgrade Required): this resource answers only after an upgrade",
			"server supports: Upgrade: echo/1",
			"server said: this resource requires a protocol upgrade to one of: echo/1",
		}},
		{"offer ignored", []string{"probe", sy.URL + "/plain"}, 1, []string{
			"verdict: not switched (200 OK): the server ignored the offer",
		}},
		{"bad accept", []string{"probe", badAccept}, 1, []string{
			"verdict: invalid 101", "✗ Sec-WebSocket-Accept \"bm90IHRoZSBhY2NlcHQ=\" does not match the key",
		}},
		{"token not offered", []string{"probe", "-offer", "echo/1", otherToken}, 1, []string{
			"verdict: invalid 101", `✗ Upgrade "h2c" was not offered`, "✗ Connection does not list upgrade",
		}},
		// Both protocols were offered, but a 101 switches to one: two
		// Upgrade lines naming two are as invalid as one line listing two.
		{"two Upgrade lines", []string{"probe", "-offer", "echo/1, h2c", twoLines}, 1, []string{
			"Upgrade: echo/1\r\nUpgrade: h2c\r\n",
			"verdict: invalid 101", `✗ Upgrade must name one protocol, got "echo/1, h2c"`,
		}},
		// Outside 100-599 a status is not valid (RFC 9110 §15): not a
		// refusal, not an interim response.
		{"status 999", []string{"probe", status999}, 1, []string{
			"HTTP/1.1 999 Weird\r\n", "verdict: invalid response: status 999 is outside 100-599 (RFC 9110 §15)",
		}},
		{"status 042", []string{"probe", status042}, 1, []string{
			"HTTP/1.1 042 Odd\r\n", "verdict: invalid response: status 042 is outside 100-599 (RFC 9110 §15)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := inspect(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			testkit.Contains(t, "stdout", out, tc.want...)
		})
	}
}

func TestProbeTimings(t *testing.T) {
	t.Parallel()
	sy := switchyardServer(t, false)
	code, out, _ := inspect(t, "", "probe", "-v", "-offer", "echo/1", sy.URL)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	testkit.Contains(t, "stdout", out, "timings: connect ", "ms, first byte ", "ms, 101 ")
}

func TestProbeTLS(t *testing.T) {
	t.Parallel()
	sy := switchyardServer(t, true)
	if code, out, errOut := inspect(t, "", "probe", "-k", "-offer", "echo/1", sy.URL); code != 0 {
		t.Errorf("-k: exit %d, want 0:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := inspect(t, "", "probe", "-offer", "echo/1", sy.URL); code != 2 || !strings.Contains(errOut, "certificate") {
		t.Errorf("untrusted certificate: exit %d, stderr %q; want 2 and a certificate error", code, errOut)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	closed := testkit.ClosedURL(t)
	hangup := fakeServer(t, "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"poke", closed}, `unknown command "poke"`},
		{"no URL", []string{"probe"}, "want exactly one URL"},
		{"unknown flag", []string{"probe", "-x", closed}, "switchyard probe: flag provided but not defined: -x\nusage:\n"},
		{"bad flag value", []string{"ws", "-timeout", "soon", closed}, `switchyard ws: invalid value "soon" for flag -timeout: parse error` + "\nusage:\n"},
		{"raw without offer", []string{"raw", closed}, "raw needs -offer"},
		{"bad field", []string{"probe", "-H", "no colon", closed}, "want 'Name: value'"},
		{"bad token", []string{"probe", "-offer", "a b", closed}, "not a token"},
		{"Upgrade field", []string{"probe", "-H", "Upgrade: x", closed}, "-offer"},
		{"bad scheme", []string{"probe", "ftp://x"}, `scheme "ftp"`},
		{"refused connection", []string{"probe", closed}, "connection refused"},
		{"no answer", []string{"probe", hangup}, "closed the connection without answering"},
		{"ws refused connection", []string{"ws", closed}, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := inspect(t, "", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			testkit.Contains(t, "stderr", errOut, tc.want)
			// One line of error, and for a usage error the usage, once
			// (audit: a flag's error came twice, with the flags' defaults
			// between).
			lines := 1
			if len(tc.args) == 0 {
				lines = 0 // the usage alone
			}
			if strings.Contains(errOut, "usage:") {
				lines += strings.Count(usage, "\n")
			}
			if strings.Count(errOut, "\n") != lines || strings.Count(errOut, "usage:") > 1 {
				t.Errorf("stderr:\n%s\nwant one line of error and at most one usage", errOut)
			}
		})
	}
}

// -h prints a subcommand's flags and exits 0; the usage with no command
// goes to standard output.
func TestHelp(t *testing.T) {
	t.Parallel()
	code, out, errOut := inspect(t, "", "probe", "-h")
	if code != 0 || out != "" {
		t.Errorf("probe -h: exit %d, stdout %q; want 0 and the flags on standard error", code, out)
	}
	testkit.Contains(t, "probe -h", errOut, "Usage of switchyard probe:\n", "-offer string\n", "-timeout duration\n")
	if code, out, _ := inspect(t, "", "-h"); code != 0 || out != usage {
		t.Errorf("-h: exit %d, stdout %q; want 0 and the usage", code, out)
	}
}

func TestChat(t *testing.T) {
	t.Parallel()
	g := gorillaServer(t)
	long := strings.Repeat("long ", 30000)
	code, out, errOut := inspect(t, "hello\nwörld\n"+long+"\n", "ws", g.URL+"/ws")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	if want := "hello\nwörld\n" + long + "\n"; out != want {
		t.Errorf("stdout %d bytes, want the %d echoed back line by line", len(out), len(want))
	}
	testkit.Contains(t, "stderr", errOut, "connected to ", "closed by the server: 1000 (normal closure)")
}

func TestChatVerboseAndRefused(t *testing.T) {
	t.Parallel()
	g := gorillaServer(t)
	code, _, errOut := inspect(t, "hi\n", "ws", "-v", g.URL)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut)
	}
	testkit.Contains(t, "stderr", errOut, "HTTP/1.1 101 Switching Protocols\r\n", "verdict: valid 101", "timings: connect", "first byte after the switch")

	sy := switchyardServer(t, false)
	code, out, errOut := inspect(t, "hi\n", "ws", sy.URL+"/need")
	if code != 1 || out != "" {
		t.Errorf("exit %d stdout %q, want 1 and nothing", code, out)
	}
	testkit.Contains(t, "stderr", errOut, "verdict: refused (426 Upgrade Required)")
}

func TestRaw(t *testing.T) {
	t.Parallel()
	sy := switchyardServer(t, false)
	in := "netcat over an upgrade\n" + strings.Repeat("x", 1<<20)
	code, out, errOut := inspect(t, in, "raw", "-offer", "echo/1", sy.URL)
	if code != 0 || out != in {
		t.Errorf("exit %d, %d bytes out; want 0 and the %d bytes back; stderr:\n%s", code, len(out), len(in), errOut)
	}
	code, out, errOut = inspect(t, "abc", "raw", "-v", "-offer", "echo/1", sy.URL)
	if code != 0 || out != "abc" {
		t.Errorf("-v: exit %d, out %q", code, out)
	}
	testkit.Contains(t, "stderr", errOut, "verdict: valid 101: switched to echo/1", "first byte after the switch")

	code, out, _ = inspect(t, "abc", "raw", "-offer", "kv/9", sy.URL)
	if code != 1 || out != "" {
		t.Errorf("not switched: exit %d, out %q; want 1 and nothing", code, out)
	}

	// An invalid 101 is not used: nothing is piped.
	twoLines := fakeServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n\r\nbytes behind")
	code, out, errOut = inspect(t, "abc", "raw", "-offer", "echo/1", twoLines)
	if code != 1 || out != "" {
		t.Errorf("two Upgrade lines: exit %d, out %q; want 1 and nothing", code, out)
	}
	testkit.Contains(t, "stderr", errOut, "verdict: invalid 101", "✗ Upgrade must name one protocol")
}

// A refusal whose body is slow or never ends is a refusal, judged with the
// part of its body that arrived within -timeout (audit: "no answer within
// 500ms", exit 2, for a 403 whose head came at once).
func TestProbeRefusalUnfinishedBody(t *testing.T) {
	t.Parallel()
	srv := testkit.Holding(t, "HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nshort")
	code, out, errOut := inspect(t, "", "probe", "-timeout", "500ms", srv.URL())
	if code != 1 {
		t.Errorf("exit %d, want 1; stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	testkit.Contains(t, "stdout", out, "HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\n", "verdict: refused (403 Forbidden): ", "server said: short")
}

// A server past the bounds every client of the module reads a response
// under (64 KiB of heads, eight interim responses) gets a verdict, not a
// network error: the heads as they crossed the wire, up to the bound, and
// exit 1 (audit: "not an HTTP/1.x response: …", exit 2, nothing on
// stdout). ws and raw report it on stderr and use nothing.
func TestProbeResponseBounds(t *testing.T) {
	t.Parallel()
	holding := func(response string) string { return testkit.Holding(t, response).URL() }
	switching := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n"
	large := holding(switching + "X-Pad: " + strings.Repeat("p", 70<<10) + "\r\n\r\n")
	continues := holding(strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 20))
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"101 head over 64 KiB", large, []string{
			"--- response head (65536 bytes as received, up to the bound)\n" + switching + "X-Pad: ppp",
			"verdict: invalid response: the server's response heads are over 65536 bytes",
		}},
		{"20 interim responses", continues, []string{
			"--- response head (225 bytes as received, up to the bound)\n" + strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 9) + "verdict: ",
			"verdict: invalid response: the server sent more than 8 interim (1xx) responses",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := inspect(t, "", "probe", "-offer", "echo/1", tc.url)
			if code != 1 {
				t.Errorf("probe: exit %d, want 1; stderr:\n%s", code, errOut)
			}
			testkit.Contains(t, "stdout", out, append(tc.want, "--- request head (", "a client gives up here")...)
			code, out, errOut = inspect(t, "abc", "raw", "-offer", "echo/1", tc.url)
			if code != 1 || out != "" {
				t.Errorf("raw: exit %d, stdout %d bytes; want 1 and nothing", code, len(out))
			}
			testkit.Contains(t, "raw stderr", errOut, tc.want[1])
		})
	}
}
