package switchyard_test

// End-to-end tests: the demo programs (examples/server on net/http,
// examples/echo on Echo) built and run as real processes, driven over real
// TCP through the public API, gorilla's client and an h2c client.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// demos are the demo programs that serve the same routes and protocols:
// on net/http, and on Echo. Every end-to-end test runs against each.
var demos = []string{"examples/server", "examples/echo"}

// eachDemo runs f against every demo program, started for the test.
func eachDemo(t *testing.T, f func(t *testing.T, d *demoProc)) {
	for _, dir := range demos {
		t.Run(strings.TrimPrefix(dir, "examples/"), func(t *testing.T) {
			t.Parallel()
			p := testkit.StartProgram(t, dir, nil)
			f(t, &demoProc{Program: p, addr: p.Addr()})
		})
	}
}

// demoProc is a running demo program.
type demoProc struct {
	*testkit.Program
	addr string // HOST:PORT
}

// client is an HTTP/1.1 client that keeps no connection between requests,
// so that nothing is left open when a program is stopped.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: testkit.Timeout}

func (d *demoProc) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := client.Get(d.URL + path)
	return resp.StatusCode, body(t, resp, err), resp.Header
}

// body is the body of resp, read whole and closed; err, the request's
// error, fails the test.
func body(t *testing.T, resp *http.Response, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return testkit.ReadAll(t, resp.Body)
}

func (d *demoProc) stats(t *testing.T) demoStats { return programStats(t, d.URL) }

func dialWS(t *testing.T, d *demoProc, path string, h http.Header) *gws.Conn {
	t.Helper()
	c, _ := wstest.Dial(t, &gws.Dialer{EnableCompression: true}, wstest.URL(d.URL, path), h)
	return c
}

func TestDemo(t *testing.T) { eachDemo(t, testDemo) }

func testDemo(t *testing.T, d *demoProc) {

	t.Run("plain routes", func(t *testing.T) {
		if code, body, _ := d.get(t, "/proto"); code != 200 || body != "HTTP/1.1" {
			t.Errorf("/proto = %d %q", code, body)
		}
		resp, err := client.Post(d.URL+"/echo", "text/plain", strings.NewReader("body unchanged"))
		if b := body(t, resp, err); b != "body unchanged" {
			t.Errorf("/echo = %q", b)
		}
		if code, body, h := d.get(t, "/"); code != 200 || !strings.Contains(body, "new WebSocket") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("/ = %d, %s, want the chat page", code, h.Get("Content-Type"))
		}
	})

	t.Run("echo/1 on any path", func(t *testing.T) {
		for _, path := range []string{"/", "/some/where", "/ws"} {
			c, resp := testkit.Dial(t, d.URL+path, []string{"echo/1"}, nil)
			if resp.Header.Get("Upgrade") != "echo/1" {
				t.Errorf("%s: Upgrade %q", path, resp.Header.Get("Upgrade"))
			}
			msg := "bytes through " + path
			if got := testkit.RoundTrip(t, c, msg); got != msg {
				t.Errorf("%s: echo %q", path, got)
			}
			c.Close()
		}
	})

	t.Run("echo/1 loses nothing at the close", func(t *testing.T) {
		// 4 MiB written, then the client's end of the stream: the echo
		// returns, and the negotiator's close delivers every byte it
		// wrote before the end of the stream.
		c, _ := testkit.Dial(t, d.URL+"/", []string{"echo/1"}, nil)
		msg := strings.Repeat("0123456789abcdef", 1<<18)
		go func() {
			if _, err := io.WriteString(c, msg); err == nil {
				c.(interface{ CloseWrite() error }).CloseWrite()
			}
		}()
		if got := testkit.ReadAll(t, c); got != msg {
			t.Errorf("read %d bytes back, want the %d written", len(got), len(msg))
		}
	})

	t.Run("unknown token served as HTTP/1.1", func(t *testing.T) {
		req, _ := http.NewRequest("GET", d.URL+"/proto", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "foo/9")
		resp, err := client.Do(req)
		if b := body(t, resp, err); resp.StatusCode != 200 || b != "HTTP/1.1" {
			t.Errorf("got %d %q, want the plain route", resp.StatusCode, b)
		}
	})

	t.Run("/ws and /chat require websocket", func(t *testing.T) {
		for _, path := range []string{"/ws", "/chat"} {
			code, body, h := d.get(t, path)
			if code != 426 || h.Get("Upgrade") != "websocket" || body == "" {
				t.Errorf("GET %s = %d Upgrade=%q %q, want 426 with Upgrade: websocket and a reason", path, code, h.Get("Upgrade"), body)
			}
		}
	})

	t.Run("websocket echo", func(t *testing.T) {
		c := dialWS(t, d, "/ws", nil)
		big := strings.Repeat("0123456789abcdef", 1<<17) // 2 MiB
		for _, m := range []struct {
			typ  int
			data string
		}{{gws.TextMessage, "hello"}, {gws.BinaryMessage, "\x00\x01\xff"}, {gws.TextMessage, big}} {
			wstest.WantEcho(t, c, m.typ, []byte(m.data))
		}
	})

	t.Run("websocket refusals", func(t *testing.T) {
		base := func() http.Header {
			return http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
				"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
		}
		tests := []struct {
			name   string
			method string
			edit   func(http.Header)
			status int
			header [2]string
		}{
			{"cross-origin", "GET", func(h http.Header) { h.Set("Origin", "https://evil.example") }, 403, [2]string{}},
			{"bad key", "GET", func(h http.Header) { h.Set("Sec-Websocket-Key", "short") }, 400, [2]string{}},
			{"repeated key", "GET", func(h http.Header) { h.Add("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }, 400, [2]string{}},
			{"wrong version", "GET", func(h http.Header) { h.Set("Sec-Websocket-Version", "8") }, 426, [2]string{"Sec-Websocket-Version", "13"}},
			{"not GET", "PUT", func(h http.Header) {}, 405, [2]string{"Allow", "GET"}},
		}
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, d.URL+"/ws", nil)
			req.Header = base()
			tt.edit(req.Header)
			resp, err := client.Do(req)
			if b := body(t, resp, err); resp.StatusCode != tt.status || len(b) == 0 {
				t.Errorf("%s: %d %q, want %d with a reason", tt.name, resp.StatusCode, b, tt.status)
			}
			if tt.header[0] != "" && resp.Header.Get(tt.header[0]) != tt.header[1] {
				t.Errorf("%s: %s = %q, want %q", tt.name, tt.header[0], resp.Header.Get(tt.header[0]), tt.header[1])
			}
		}
	})

	t.Run("chat broadcasts to everyone", func(t *testing.T) {
		// until reads c's messages until want, the ones of members who
		// joined before it included.
		until := func(name string, c *gws.Conn, want string) {
			t.Helper()
			c.SetReadDeadline(time.Now().Add(testkit.Timeout))
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("%s waiting for %q: %v", name, want, err)
				}
				if string(m) == want {
					return
				}
			}
		}
		// A member is in the room once its own message comes back: the
		// handler joins it after the switch, on a goroutine of its own.
		a := dialWS(t, d, "/chat", nil)
		a.WriteMessage(gws.TextMessage, []byte("a joined"))
		until("a", a, "a joined")
		b := dialWS(t, d, "/chat", nil)
		b.WriteMessage(gws.TextMessage, []byte("b joined"))
		until("b", b, "b joined")
		if err := a.WriteMessage(gws.TextMessage, []byte("hello room")); err != nil {
			t.Fatal(err)
		}
		until("sender", a, "hello room")
		until("other", b, "hello room")
	})

	t.Run("h2c by upgrade, any path", func(t *testing.T) {
		c, first, err := h2ctest.Upgrade(testkit.DialTCP(t, d.addr), h2ctest.RequestHead("GET", "/proto", d.addr), nil)
		if err != nil || first == nil {
			t.Fatalf("h2c upgrade: %v", err)
		}
		if string(first.Body) != "HTTP/2.0" {
			t.Errorf("stream 1 /proto = %q, want HTTP/2.0", first.Body)
		}
		r, err := c.Do("POST", "/echo", []byte("over h2"))
		if err != nil || string(r.Body) != "over h2" {
			t.Errorf("POST /echo over the upgraded connection: %v %v", r, err)
		}
	})

	t.Run("h2c with prior knowledge", func(t *testing.T) {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &protos}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: testkit.Timeout}).Get(d.URL + "/proto")
		if b := body(t, resp, err); b != "HTTP/2.0" {
			t.Errorf("prior knowledge /proto = %q", b)
		}
	})

	t.Run("h2c offers that must stay HTTP/1.1", func(t *testing.T) {
		for _, extra := range []string{"X-Forwarded-For: 192.0.2.7", "Via: 1.1 proxy", "Forwarded: for=192.0.2.7"} {
			conn := testkit.DialTCP(t, d.addr)
			c, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/proto", d.addr, extra), nil)
			if err != nil || first != nil {
				t.Errorf("%s: upgraded (%v)", extra, err)
			} else if b, _ := io.ReadAll(c.Upgrade.Body); string(b) != "HTTP/1.1" {
				t.Errorf("%s: /proto = %q, want HTTP/1.1", extra, b)
			}
			conn.Close()
		}
		bad := "GET /proto HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: !!\r\n"
		c, first, err := h2ctest.Upgrade(testkit.DialTCP(t, d.addr), bad, nil)
		if err != nil || first != nil || c.Upgrade.StatusCode != 200 {
			t.Errorf("bad HTTP2-Settings: %v %v, want a plain 200", first, err)
		}
	})

	t.Run("stats", func(t *testing.T) {
		s := d.stats(t)
		for _, k := range []string{"websocket", "h2c", "echo"} {
			if _, ok := s.Active[k]; !ok {
				t.Errorf("stats lack active[%q]: %+v", k, s)
			}
		}
		if s.Switched["websocket"] < 3 || s.Switched["echo"] < 3 || s.Switched["h2c"] < 1 || s.Refused < 5 {
			t.Errorf("stats = %+v, want the switches and refusals above counted", s)
		}
	})
}

func TestDemoHeaderTimeout(t *testing.T) { eachDemo(t, testDemoHeaderTimeout) }

func testDemoHeaderTimeout(t *testing.T, d *demoProc) {
	c := testkit.DialTCP(t, d.addr)
	// A head that never ends: the server's ReadHeaderTimeout cuts it off.
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * testkit.Timeout))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a dribbling client for %v", 3*testkit.Timeout)
	}
}

func TestDemoGracefulShutdown(t *testing.T) { eachDemo(t, testDemoGracefulShutdown) }

func testDemoGracefulShutdown(t *testing.T, d *demoProc) {
	ws := dialWS(t, d, "/ws", nil)
	echo, _ := testkit.Dial(t, d.URL+"/", []string{"echo/1"}, nil)
	h2conn := testkit.DialTCP(t, d.addr)
	h2, first, err := h2ctest.Upgrade(h2conn, h2ctest.RequestHead("GET", "/proto", d.addr), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade: %v", err)
	}
	// All three are live before the signal.
	if s := d.stats(t); s.Active["websocket"] != 1 || s.Active["echo"] != 1 || s.Active["h2c"] != 1 {
		t.Fatalf("active before shutdown = %v", s.Active)
	}
	exited := make(chan int, 1)
	go func() { exited <- d.Stop(t) }() // SIGTERM, then the exit status
	ws.SetReadDeadline(time.Now().Add(bound))
	_, _, err = ws.ReadMessage()
	if !gws.IsCloseError(err, gws.CloseGoingAway) {
		t.Errorf("websocket at shutdown: %v, want close 1001", err)
	}
	ws.Close() // answer, as a browser would
	if b, err := io.ReadAll(echo); err != nil || len(b) != 0 {
		t.Errorf("echo/1 at shutdown: %q, %v; want closed", b, err)
	}
	if _, err := h2.WaitGoAway(); err != nil {
		t.Errorf("h2c at shutdown: %v, want GOAWAY", err)
	}
	if code := <-exited; code != 0 {
		t.Errorf("demo exited with status %d, want 0; stderr:\n%s", code, d.Stderr())
	}
}
