package main

// -h2: extended CONNECT (RFC 8441) through real loopback servers. Go's
// HTTP/2 servers advertise it only with GODEBUG=http2xconnect=1 in their
// environment at start, so the tests of switches run in a child process
// that has it (testkit.InXConnectChild); the test of a server without it
// runs in this process.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// h2Server serves, over HTTP/2 with TLS (useTLS) or over HTTP/1.1 and
// prior-knowledge h2c, through one negotiator's middleware: websocket
// (echo, subprotocol chat.v1) and echo/1 on any path; /need is an
// endpoint for echo/1 alone (426 otherwise); anything else, CONNECT
// included, gets 200 "plain".
func h2Server(t *testing.T, useTLS bool, opts *negotiate.Options) *httptest.Server {
	t.Helper()
	n := testkit.NewNegotiator(t, opts)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	ws, err := websocket.New(&websocket.Options{Subprotocols: []string{"chat.v1"}}, wstest.Echo)
	if err != nil {
		t.Fatal(err)
	}
	reg.Register("websocket", ws)
	need := new(negotiate.Registry)
	need.HandleFunc("echo/1", testkit.EchoConn)
	return testkit.StartH2Server(t, n.Middleware(reg)(plainMux(n, need)), n, useTLS)
}

// eachH2 runs f over TLS and over prior-knowledge h2c, in a child process
// with extended CONNECT on; f gets the flags that reach the server and
// the server's URL.
func eachH2(t *testing.T, f func(t *testing.T, tlsFlags []string, srv *httptest.Server)) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		t.Parallel()
		flags := []string{"-h2"}
		if useTLS {
			flags = append(flags, "-k")
		}
		f(t, flags, h2Server(t, useTLS, nil))
	})
}

func args(flags []string, more ...string) []string {
	return append(append([]string{more[0]}, flags...), more[1:]...)
}

func TestProbeH2(t *testing.T) {
	eachH2(t, func(t *testing.T, flags []string, srv *httptest.Server) {
		transport := "(h2c, prior knowledge)"
		if strings.HasPrefix(srv.URL, "https") {
			transport = "(h2 over TLS)"
		}
		host := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
		for _, tc := range []struct {
			name string
			args []string
			code int
			want []string
			lack []string
		}{
			{"websocket", []string{"probe", srv.URL + "/ws?x=1"}, 0, []string{
				"--- server SETTINGS " + transport[:len(transport)-1] + ", as received)\n",
				"SETTINGS_ENABLE_CONNECT_PROTOCOL = 1\n",
				"--- request HEADERS (extended CONNECT, RFC 8441, as sent)\n:authority: " + host + "\n:method: CONNECT\n:path: /ws?x=1\n",
				":protocol: websocket\n", "sec-websocket-version: 13\n", "user-agent: switchyard-inspector\n",
				"--- response HEADERS (as received)\n:status: 200\n",
				"verdict: valid 200: switched to websocket on an HTTP/2 stream " + transport + "\n",
				"✓ SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: the server accepts extended CONNECT",
				"✓ no Upgrade or Connection",
				"✓ bytes flow: a ping was answered by its pong in ",
				"✓ clean close: the server answered close 1000 (normal closure)",
			}, []string{"sec-websocket-key", "accept-encoding", "✗"}},
			{"subprotocol and origin", []string{"probe", "-H", "Sec-WebSocket-Protocol: chat.v1", "-H", "Origin: " + srv.URL, srv.URL}, 0, []string{
				"sec-websocket-protocol: chat.v1\n", "origin: " + srv.URL + "\n",
				"verdict: valid 200: switched to websocket",
				"✓ subprotocol chat.v1 was offered",
				"✓ clean close",
			}, nil},
			{"echo/1", []string{"probe", "-offer", "echo/1", "-H", "Host: example.com", srv.URL + "/any"}, 0, []string{
				":authority: example.com\n", ":protocol: echo/1\n",
				"verdict: valid 200: switched to echo/1 on an HTTP/2 stream " + transport,
			}, []string{"sec-websocket-version", "ping"}},
			// As over HTTP/1.1 and with curl: a user and password in the
			// URL are sent as Basic authorization.
			{"user in the URL", []string{"probe", "-offer", "echo/1", strings.Replace(srv.URL, "://", "://alice:s3cret@", 1)}, 0, []string{
				":authority: " + host + "\n", "authorization: Basic YWxpY2U6czNjcmV0\n",
				"verdict: valid 200: switched to echo/1",
			}, nil},
			{"user in the URL and -H Authorization", []string{"probe", "-offer", "echo/1", "-H", "Authorization: Bearer t", strings.Replace(srv.URL, "://", "://alice:s3cret@", 1)}, 0, []string{
				"authorization: Bearer t\n",
				"verdict: valid 200: switched to echo/1",
			}, []string{"Basic"}},
			{"cross-origin 403", []string{"probe", "-H", "Origin: http://evil.test", srv.URL + "/ws"}, 1, []string{
				":status: 403\n",
				"verdict: refused (403 Forbidden): refused by policy",
				"server supports: extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)",
				"server said: ", "evil.test",
			}, []string{"✓", "✗"}},
			// 'Name:' removes a default field.
			{"no version 400", []string{"probe", "-H", "Sec-WebSocket-Version:", srv.URL + "/ws"}, 1, []string{
				"verdict: refused (400 Bad Request): ",
				"server said: ",
			}, []string{"sec-websocket-version"}},
			{"other version 426", []string{"probe", "-H", "Sec-WebSocket-Version: 8", srv.URL + "/ws"}, 1, []string{
				"sec-websocket-version: 8\n",
				"verdict: refused (426 Upgrade Required): this resource answers only after a switch to another protocol (over HTTP/2 no Upgrade field lists them; see the reason)",
				"server supports: Sec-WebSocket-Version: 13",
			}, nil},
			{"unregistered at an endpoint", []string{"probe", "-offer", "kv/9", srv.URL + "/need"}, 1, []string{
				":protocol: kv/9\n",
				"verdict: refused (426 Upgrade Required): this resource answers only after a switch",
				"server said: this resource requires a protocol upgrade to one of: echo/1",
			}, []string{"upgrade:"}},
			// Through the middleware, an unregistered :protocol goes to the
			// next handler, whose 200 is no switch: the inspector says so.
			{"unregistered answered 200", []string{"probe", "-offer", "kv/9", srv.URL + "/"}, 1, []string{
				":status: 200\n", "content-length: 5\n",
				"verdict: invalid 200: a client must not use this stream for kv/9",
				"✗ Content-Length: 5 on a 2xx to CONNECT",
			}, nil},
			{"timings", []string{"probe", "-v", "-offer", "echo/1", srv.URL}, 0, []string{
				"timings: connect ", "ms, server SETTINGS ", "ms, 200 ",
			}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				code, out, errOut := inspect(t, "", args(flags, tc.args...)...)
				if code != tc.code {
					t.Errorf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
				}
				testkit.Contains(t, "stdout", out, tc.want...)
				testkit.Lacks(t, "stdout", out, tc.lack...)
			})
		}
	})
}

// A switch over a limit: 503, with Retry-After, as an HTTP/2 response.
func TestProbeH2OverLimit(t *testing.T) {
	if testkit.InXConnectChild(t) {
		return
	}
	srv := h2Server(t, false, &negotiate.Options{MaxConns: 1})
	c := xconnect.New(nil)
	t.Cleanup(c.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	st, _, err := c.Dial(ctx, srv.URL, "echo/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, out, errOut := inspect(t, "", "probe", "-h2", "-offer", "echo/1", srv.URL)
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s%s", code, out, errOut)
	}
	testkit.Contains(t, "stdout", out, ":status: 503\n",
		"verdict: refused (503 Service Unavailable): the server is shutting down or over a connection limit",
		"server supports: Retry-After: ")
}

func TestChatAndRawH2(t *testing.T) {
	eachH2(t, func(t *testing.T, flags []string, srv *httptest.Server) {
		code, out, errOut := inspect(t, "hello\nwörld\n", args(flags, "ws", srv.URL+"/ws")...)
		if code != 0 || out != "hello\nwörld\n" {
			t.Errorf("ws: exit %d, stdout %q; want 0 and the lines back; stderr:\n%s", code, out, errOut)
		}
		testkit.Contains(t, "ws stderr", errOut, "connected to "+srv.URL+"/ws (websocket on an HTTP/2 stream, h2", "closed by the server: 1000 (normal closure)")

		in := "netcat over a stream\n" + strings.Repeat("x", 1<<20)
		code, out, errOut = inspect(t, in, args(flags, "raw", "-v", "-offer", "echo/1", srv.URL)...)
		if code != 0 || out != in {
			t.Errorf("raw: exit %d, %d bytes out; want 0 and the %d bytes back; stderr:\n%s", code, len(out), len(in), errOut)
		}
		testkit.Contains(t, "raw stderr", errOut, "verdict: valid 200: switched to echo/1", "first byte after the switch")

		code, out, errOut = inspect(t, "abc", args(flags, "raw", "-offer", "echo/1", srv.URL+"/need?no")...)
		if code != 0 || out != "abc" {
			t.Errorf("raw at an endpoint: exit %d, out %q; stderr:\n%s", code, out, errOut)
		}
		code, out, errOut = inspect(t, "abc", args(flags, "raw", "-offer", "kv/9", srv.URL+"/need")...)
		if code != 1 || out != "" {
			t.Errorf("raw refused: exit %d, out %q; want 1 and nothing", code, out)
		}
		testkit.Contains(t, "raw stderr", errOut, "verdict: refused (426 Upgrade Required)")
	})
}

// Without GODEBUG=http2xconnect=1 Go's servers do not advertise extended
// CONNECT: the inspector says so, and what to do, whatever the command.
func TestProbeH2NotAdvertised(t *testing.T) {
	if testkit.XConnectOn() {
		t.Skip("this process runs with " + testkit.XConnectEnv + "; the case needs a server without it")
	}
	t.Parallel()
	for _, useTLS := range []bool{true, false} {
		srv := h2Server(t, useTLS, nil)
		flags := []string{"-h2", "-k"}
		for _, cmd := range [][]string{{"probe"}, {"ws"}, {"raw", "-offer", "echo/1"}} {
			code, out, errOut := inspect(t, "abc\n", append(append(cmd[:1:1], flags...), append(cmd[1:], srv.URL+"/ws")...)...)
			if code != 1 {
				t.Errorf("%s %v: exit %d, want 1:\n%s%s", srv.URL, cmd, code, out, errOut)
			}
			report := out
			if cmd[0] != "probe" {
				report = errOut
				if out != "" {
					t.Errorf("%s %v: stdout %q, want nothing", srv.URL, cmd, out)
				}
			}
			testkit.Contains(t, srv.URL+" "+cmd[0], report,
				"--- server SETTINGS (", "SETTINGS_MAX_CONCURRENT_STREAMS = ",
				"--- request HEADERS: not sent\n",
				"verdict: not switched: the server does not advertise RFC 8441 (no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its SETTINGS)",
				"→ start Go servers with GODEBUG=http2xconnect=1 in their environment")
			testkit.Lacks(t, srv.URL+" "+cmd[0], report, "SETTINGS_ENABLE_CONNECT_PROTOCOL = 1\n")
		}
	}
}

// Servers that do not speak HTTP/2 at all.
func TestProbeH2NoHTTP2(t *testing.T) {
	t.Parallel()
	plain := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }
	h1 := httptest.NewServer(http.HandlerFunc(plain))
	t.Cleanup(h1.Close)
	h1tls := httptest.NewUnstartedServer(http.HandlerFunc(plain))
	h1tls.Config.ErrorLog = discardLog()
	h1tls.StartTLS() // EnableHTTP2 unset: ALPN offers http/1.1 only
	t.Cleanup(h1tls.Close)
	for _, tc := range []struct{ url, want string }{
		{h1tls.URL, "verdict: not switched: the server does not serve HTTP/2 over TLS (ALPN did not choose h2)"},
		{h1.URL, "verdict: not switched: the server did not answer HTTP/2 with prior knowledge (h2c): no SETTINGS came"},
	} {
		code, out, errOut := inspect(t, "", "probe", "-h2", "-k", tc.url)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1:\n%s%s", tc.url, code, out, errOut)
		}
		testkit.Contains(t, tc.url, out, tc.want, "→ without -h2 the inspector offers the protocol by an HTTP/1.1 upgrade")
	}
}

// fakeH2 is an h2c server with prior knowledge that advertises extended
// CONNECT and answers every request with the head fields (after :status).
func fakeH2(t *testing.T, fields ...string) string {
	t.Helper()
	return fakeH2Func(t, func(_ uint32, head func(end bool, fields ...string) error) {
		// A refusal ends the stream; a switch leaves it open.
		refusal := len(fields) > 1 && !strings.HasPrefix(fields[1], "2")
		_ = head(refusal, fields...)
	})
}

// fakeH2Func is an h2c server with prior knowledge that advertises
// extended CONNECT and answers every request by respond, on the reading
// goroutine: head writes a head of fields (name, value, …) on the stream,
// in HEADERS and CONTINUATION frames of at most 16 KiB.
func fakeH2Func(t *testing.T, respond func(id uint32, head func(end bool, fields ...string) error)) string {
	t.Helper()
	return h2cServer(t, func(c net.Conn) { serveFakeH2(c, respond) })
}

// h2cServer is a loopback server that gives serve each connection it
// accepts, and closes it when serve returns; everything is closed when
// the test ends.
func h2cServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// serveFakeH2 serves one connection of fakeH2Func.
func serveFakeH2(c net.Conn, respond func(id uint32, head func(end bool, fields ...string) error)) {
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
		return
	}
	fr := http2.NewFramer(c, br)
	_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			respond(f.StreamID, func(end bool, fields ...string) error {
				b.Reset()
				for i := 0; i+1 < len(fields); i += 2 {
					_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
				}
				block := b.Bytes()
				first := block[:min(len(block), 16<<10)]
				block = block[len(first):]
				err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: first, EndHeaders: len(block) == 0, EndStream: end})
				for err == nil && len(block) > 0 {
					frag := block[:min(len(block), 16<<10)]
					block = block[len(frag):]
					err = fr.WriteContinuation(f.StreamID, len(block) == 0, frag)
				}
				return err
			})
		}
	}
}

// A server past the bounds every client of the module reads a response
// under gets a verdict, as over HTTP/1.1 (audit: the inspector passed
// every 1xx head over and kept each one the tap decoded, and x/net's
// 16 MiB header list bound applied: an endless flood of 103s took its heap
// to 138 MB in 3 s). More than eight interim heads, or heads of more than
// 64 KiB, fail the stream at once; the heads are shown up to the bound.
func TestProbeH2ResponseBounds(t *testing.T) {
	t.Parallel()
	hint := strings.Repeat("h", 1000)
	flood := fakeH2Func(t, func(_ uint32, head func(end bool, fields ...string) error) {
		for i := 0; i < 100000; i++ { // until the client goes; bounded all the same
			if head(false, ":status", "103", "link", hint) != nil {
				return
			}
		}
	})
	var large []string
	for i := range 100 {
		large = append(large, fmt.Sprintf("x-large-%d", i), hint)
	}
	largeHead := fakeH2(t, append([]string{":status", "200"}, large...)...)
	for _, tc := range []struct {
		name, url string
		want      []string
		heads     int // the heads shown
	}{
		{"endless 103s", flood, []string{"--- response HEADERS (as received, up to the bound)\n:status: 103\nlink: hhh",
			"verdict: invalid response: the server sent more than 8 interim (1xx) responses: a client gives up here"}, 9},
		{"head over 64 KiB", largeHead, []string{"--- response HEADERS (as received, up to the bound)\n:status: 200\nx-large-0: hhh",
			"verdict: invalid response: the server's response heads are over 65536 bytes: a client gives up here"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := inspect(t, "", "probe", "-h2", "-offer", "echo/1", tc.url)
			if code != 1 {
				t.Errorf("exit %d, want 1; stdout:\n%.2000s\nstderr:\n%s", code, out, errOut)
			}
			testkit.Contains(t, "stdout", out, tc.want...)
			if n := strings.Count(out, ":status: "); n != tc.heads {
				t.Errorf("%d heads shown, want %d", n, tc.heads)
			}
			code, out, errOut = inspect(t, "abc", "raw", "-h2", "-offer", "echo/1", tc.url)
			if code != 1 || out != "" {
				t.Errorf("raw: exit %d, stdout %q; want 1 and nothing; stderr:\n%.2000s", code, out, errOut)
			}
		})
	}
}

// Connection-specific fields on an HTTP/2 response are a fault, on a
// switch and a refusal alike; x/net's client drops them, the inspector
// reads them off the wire.
func TestProbeH2ConnectionFields(t *testing.T) {
	t.Parallel()
	sw := fakeH2(t, ":status", "200", "upgrade", "websocket", "connection", "Upgrade")
	code, out, errOut := inspect(t, "", "probe", "-h2", "-offer", "echo/1", sw)
	if code != 1 {
		t.Errorf("switch: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	testkit.Contains(t, "switch", out, ":status: 200\nupgrade: websocket\nconnection: Upgrade\n",
		"verdict: invalid 200",
		"✗ upgrade: websocket on an HTTP/2 response: connection-specific fields make it malformed (RFC 9113 §8.2.2)",
		"✗ connection: Upgrade on an HTTP/2 response")

	refusal := fakeH2(t, ":status", "426", "upgrade", "echo/1", "connection", "close", "content-length", "0")
	code, out, errOut = inspect(t, "", "probe", "-h2", "-offer", "kv/9", refusal)
	if code != 1 {
		t.Errorf("refusal: exit %d, want 1:\n%s%s", code, out, errOut)
	}
	testkit.Contains(t, "refusal", out, "verdict: refused (426 Upgrade Required)",
		"✗ upgrade: echo/1 on an HTTP/2 response", "✗ connection: close on an HTTP/2 response")
}

func TestH2Usage(t *testing.T) {
	t.Parallel()
	closed := testkit.ClosedURL(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", "-h2", "-offer", "echo/1,echo/2", closed}, "-h2 offers exactly one token"},
		{[]string{"probe", "-h2", "-H", "Connection: keep-alive", closed}, "HTTP/2 has no connection-specific fields"},
		{[]string{"probe", "-h2", "ftp://x"}, `unsupported scheme "ftp"`},
		{[]string{"probe", "-h2", closed}, "connection refused"},
	} {
		code, _, errOut := inspect(t, "", tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2", tc.args, code)
		}
		testkit.Contains(t, strings.Join(tc.args, " "), errOut, tc.want)
	}
}

// A server that says nothing is bounded by -timeout, and said so, with or
// without -h2, over TLS or not (audit: with -h2 the message was only
// "context deadline exceeded").
func TestSilentServer(t *testing.T) {
	t.Parallel()
	silent := testkit.Holding(t, "").URL()
	secure := strings.Replace(silent, "http://", "https://", 1)
	for _, args := range [][]string{
		{"probe", silent}, {"probe", secure}, {"probe", "-h2", silent}, {"probe", "-h2", secure}, {"ws", "-h2", secure},
	} {
		code, out, errOut := inspect(t, "", append([]string{args[0], "-timeout", "200ms"}, args[1:]...)...)
		if code != 2 || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want 2 and nothing", args, code, out)
		}
		testkit.Contains(t, strings.Join(args, " "), errOut, "switchyard "+args[0]+": no answer within 200ms: ")
	}
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// A server that stops reading cannot stall the inspector's HTTP/2
// connection (audit: the acknowledgements of the server's SETTINGS and
// PINGs were written with no deadline, so a server that switched, then
// sent PINGs and read nothing had ws and raw -h2 wait for ever). The
// server answers the extended CONNECT with a 200, stops reading, and sends
// SETTINGS and PINGs until the acknowledgements fill the socket buffers;
// each write has writeTimeout, and the command ends with an error that
// says the server stopped reading. Filling the buffers with 17-byte
// acknowledgements takes seconds under -race: the wait is generous.
func TestH2ServerStopsReading(t *testing.T) {
	t.Parallel()
	const stallWait = 60 * time.Second
	url := h2cServer(t, func(c net.Conn) {
		// The connection outlives the test's wait; the command closes it.
		_ = c.SetDeadline(time.Now().Add(stallWait + writeTimeout))
		if _, err := io.ReadFull(c, make([]byte, len(http2.ClientPreface))); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if h, ok := f.(*http2.HeadersFrame); ok {
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: []byte{0x88}, EndHeaders: true}) // :status 200, static index 8
				break
			}
		}
		// Read no more: the client's acknowledgements fill this side's
		// receive buffer, then the client's send buffer. (The receive
		// buffer is left as it is: made small after the connection opened,
		// Linux dropped segments and the bytes to the client stalled too.)
		var batch bytes.Buffer
		bf := http2.NewFramer(&batch, nil)
		for i := range 1000 {
			if i%10 == 0 {
				_ = bf.WriteSettings()
			} else {
				_ = bf.WritePing(false, [8]byte{byte(i)})
			}
		}
		for range 16 << 10 { // about 250 MiB at most: until the client goes
			if _, err := c.Write(batch.Bytes()); err != nil {
				return
			}
		}
	})
	for _, cmd := range [][]string{{"raw", "-offer", "echo/1"}, {"ws"}} {
		t.Run(cmd[0], func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(append(append([]string{cmd[0], "-h2"}, cmd[1:]...), url), open(t), &stdout, &stderr)
			}()
			select {
			case code := <-done:
				if code != 2 || stdout.Len() != 0 {
					t.Errorf("exit %d, stdout %q; want 2 and nothing; stderr:\n%s", code, stdout.String(), stderr.String())
				}
			case <-time.After(stallWait):
				t.Fatalf("switchyard %s -h2 was still running after %v: a server that stops reading stalls it", cmd[0], stallWait)
			}
			testkit.Contains(t, "stderr", stderr.String(), "switchyard "+cmd[0]+": ",
				fmt.Sprintf("the server stopped reading: a write did not complete within %v (write tcp ", writeTimeout), ": i/o timeout)\n")
		})
	}
}
