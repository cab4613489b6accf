package switchyard_test

// Hostile and malformed handshakes over raw TCP against the demo's
// configuration. Each case has its expected outcome (a status, or served as
// ordinary HTTP/1.1). The table runs twice:
//
//   - against the demo program itself (examples/server, one process for the
//     whole table), so that the outcomes are those of the program a user
//     runs; once every case is done, the program must hold no switched
//     connection;
//   - in process, against the same configuration built from the same public
//     packages (internal/demoserver), one server per case, because checking
//     that a case leaves nothing behind needs hooks the program does not
//     expose: after each case the connection must be closed where it should
//     be and the server must hold no connection, HTTP (http.Server.ConnState)
//     or switched (Negotiator.Stats), and TestMain's leak check covers the
//     goroutines.
//
// Outcomes that belong to net/http (a malformed head, 431, 501 and 505) are
// what net/http does. FuzzHandshake, TestDribblingClientCutOff and
// TestNonReadingClientsAtShutdown run in process too: the fuzzer must be
// fast, and the other two set a timeout or shut down under a short bound.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// bound is the upper bound of every wait: reaching it fails the test, so
// it never decides an outcome on a loaded machine.
const bound = 2 * testkit.Timeout

// inProcess serves the demo's configuration (demoserver.Handler) on
// loopback, as examples/server serves it, with the state of every HTTP
// connection it accepted.
type inProcess struct {
	*httptest.Server
	n     *negotiate.Negotiator
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

// startInProcess serves the demo's configuration on loopback.
func startInProcess(t testing.TB, readHeaderTimeout time.Duration) *inProcess {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	h, err := demoserver.Handler(n)
	if err != nil {
		t.Fatal(err)
	}
	s := &inProcess{n: n, conns: make(map[net.Conn]http.ConnState)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ReadHeaderTimeout = readHeaderTimeout
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if st == http.StateClosed || st == http.StateHijacked {
			delete(s.conns, c) // a hijacked one is the negotiator's
		} else {
			s.conns[c] = st
		}
	}
	h2c.ConfigureServer(s.Config)
	s.Start()
	// Cleanups run last first: the server closes, no panic may have been
	// recovered, and the negotiator shuts down (testkit.NewNegotiator's
	// cleanup, registered first).
	t.Cleanup(func() {
		if p := n.Stats().Panics; p != 0 {
			t.Errorf("%d panics in protocols", p)
		}
	})
	t.Cleanup(s.Close)
	return s
}

func (s *inProcess) addr() string { return s.Listener.Addr().String() }

// held describes what the server still holds: HTTP connections by state
// and switched ones by protocol; "" when nothing.
func (s *inProcess) held() string {
	s.mu.Lock()
	var parts []string
	for _, st := range s.conns {
		parts = append(parts, "http:"+st.String())
	}
	s.mu.Unlock()
	return strings.Join(append(parts, switchedHeld(s.n.Stats().Active)...), " ")
}

// switchedHeld lists the protocols with live switched connections.
func switchedHeld(active map[string]int) []string {
	var parts []string
	for name, n := range active {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", name, n))
		}
	}
	return parts
}

// settled waits until the server holds no connection once the client has
// gone, and fails after bound.
func (s *inProcess) settled(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		h := s.held()
		if h == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still holds connections %s after the client left", h)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const (
	wsKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	wsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" // RFC 6455 §1.3
)

// outcomes besides a status
const (
	passed = 1 // served as ordinary HTTP/1.x by the app
	gone   = 2 // the client closes without reading: the server lets go
)

type hostileCase struct {
	name    string
	request string   // written whole, from a goroutine (a large one may not be read)
	want    int      // status, passed or gone
	fields  []string // "Name: value" fields the response must carry
	reason  string   // in the one-line body of a refusal
	reply   string   // for passed: the start of the body (default "HTTP/1.")
	after   []byte   // for 101: bytes in the same write as the request, which the protocol must receive
	half    bool     // the client half-closes after the request
	skip    int      // plain responses to pipelined requests before the one checked
}

func req(method, path string, lines ...string) string {
	s := method + " " + path + " HTTP/1.1\r\nHost: example.com\r\n"
	for _, l := range lines {
		s += l + "\r\n"
	}
	return s + "\r\n"
}

func up(tokens string, lines ...string) string {
	return req("GET", "/proto", append([]string{"Connection: Upgrade", "Upgrade: " + tokens}, lines...)...)
}

func ws(path string, lines ...string) string {
	base := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13"}
	return req("GET", path, append(base, lines...)...)
}

func h2cReq(lines ...string) string {
	return h2cAt("GET", "/proto", lines...)
}

func h2cAt(method, path string, lines ...string) string {
	base := []string{"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c"}
	return req(method, path, append(base, lines...)...)
}

// settings is an HTTP2-Settings value: base64url without padding of the
// given 6-byte settings (id, value).
func settings(pairs ...uint32) string {
	var b []byte
	for i := 0; i+1 < len(pairs); i += 2 {
		id, v := pairs[i], pairs[i+1]
		b = append(b, byte(id>>8), byte(id), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return "HTTP2-Settings: " + base64.RawURLEncoding.EncodeToString(b)
}

var (
	okKey       = "Sec-WebSocket-Key: " + wsKey
	wsSwitched  = []string{"Upgrade: websocket", "Sec-WebSocket-Accept: " + wsAccept}
	echoUpgrade = []string{"Upgrade: echo/1"}
	h2cUpgrade  = []string{"Upgrade: h2c"}
	bigBody     = strings.Repeat("z", 1<<20+1) // over h2c's default bound
)

var hostileCases = []hostileCase{
	// Upgrade and Connection token lists (RFC 9110 §7.6.1, §7.8).
	{name: "echo/1", request: up("echo/1"), want: 101, fields: echoUpgrade},
	{name: "token case", request: up("ECHO/1"), want: 101, fields: []string{"Upgrade: ECHO/1"}},
	{name: "token with ows", request: up(" \techo/1\t "), want: 101, fields: echoUpgrade},
	{name: "empty elements", request: up(",, ,echo/1,,"), want: 101, fields: echoUpgrade},
	{name: "client order", request: up("nope/1, echo/1, h2c"), want: 101, fields: echoUpgrade},
	{name: "two Upgrade lines", request: req("GET", "/proto", "Connection: Upgrade", "Upgrade: nope", "Upgrade: echo/1"), want: 101, fields: echoUpgrade},
	{name: "Connection list with upgrade", request: req("GET", "/proto", "Connection: keep-alive, Upgrade", "Upgrade: echo/1"), want: 101, fields: echoUpgrade},
	{name: "upgrade in a second Connection line", request: req("GET", "/proto", "Connection: keep-alive", "Connection: upgrade", "Upgrade: echo/1"), want: 101, fields: echoUpgrade},
	{name: "Connection close and upgrade", request: req("GET", "/proto", "Connection: close, Upgrade", "Upgrade: echo/1"), want: 101, fields: echoUpgrade},
	{name: "expect 100-continue", request: up("echo/1", "Expect: 100-continue"), want: 101, fields: echoUpgrade},
	{name: "absolute-form target", request: "GET http://example.com/proto HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 101, fields: echoUpgrade},
	{name: "unknown token", request: up("foo/9"), want: passed},
	{name: "duplicate unknown tokens", request: up("foo, foo, FOO/1"), want: passed},
	{name: "duplicate token", request: up("echo/1, echo/1"), want: 101, fields: echoUpgrade},
	{name: "long unknown token", request: up(strings.Repeat("x", 10000)), want: passed},
	{name: "thousand tokens, echo last", request: up(strings.Repeat("a, ", 1000) + "echo/1"), want: 101, fields: echoUpgrade},
	{name: "empty Upgrade", request: req("GET", "/proto", "Connection: Upgrade", "Upgrade: "), want: passed},
	{name: "only commas", request: up(", ,"), want: passed},
	{name: "Upgrade without Connection", request: req("GET", "/proto", "Upgrade: echo/1"), want: passed},
	{name: "Upgrade with Connection keep-alive only", request: req("GET", "/proto", "Connection: keep-alive", "Upgrade: echo/1"), want: passed},
	{name: "Connection without Upgrade", request: req("GET", "/proto", "Connection: Upgrade"), want: passed},
	{name: "space in token", request: up("echo/1, bad token"), want: 400, reason: "malformed Upgrade"},
	{name: "parameter", request: up("echo/1;q=1"), want: 400, reason: "malformed Upgrade"},
	{name: "quoted token", request: up(`"echo/1"`), want: 400, reason: "malformed Upgrade"},
	{name: "empty version", request: up("echo/"), want: 400, reason: "malformed Upgrade"},
	{name: "empty name", request: up("/1"), want: 400, reason: "malformed Upgrade"},
	{name: "two slashes", request: up("echo/1/2"), want: 400, reason: "malformed Upgrade"},
	{name: "non-ascii token", request: up("éçho"), want: 400, reason: "malformed Upgrade"},
	{name: "obs-text in a second Upgrade line", request: req("GET", "/proto", "Connection: Upgrade", "Upgrade: echo/1", "Upgrade: \x80"), want: 400, reason: "malformed Upgrade"},
	{name: "malformed Connection", request: req("GET", "/proto", "Connection: Upgrade, a@b", "Upgrade: echo/1"), want: 400, reason: "malformed Connection"},

	// Control characters.
	{name: "control char in token", request: up("echo\x01"), want: 400}, // net/http: not a field value
	{name: "DEL in token", request: up("echo\x7f/1"), want: 400},
	{name: "tab inside token", request: up("echo\t/1"), want: 400, reason: "malformed Upgrade"},
	{name: "NUL in token", request: up("echo\x00/1"), want: 400}, // net/http: invalid field value
	{name: "bare CR in Upgrade", request: up("echo/1\rX"), want: 400},
	{name: "NUL in a field name", request: up("echo/1", "X-A\x00b: 1"), want: 400},
	{name: "field line without colon", request: up("echo/1", "NoColon"), want: 400},
	{name: "space before colon", request: req("GET", "/proto", "Connection : Upgrade", "Upgrade: echo/1"), want: 400},
	{name: "leading whitespace on the first field", request: "GET /proto HTTP/1.1\r\n Host: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400},
	// obs-fold: net/http replaces it with a space, as RFC 9112 §5.2 allows.
	{name: "obs-fold", request: req("GET", "/proto", "Connection: Upgrade", "Upgrade: foo,", " echo/1"), want: 101, fields: echoUpgrade},

	// Huge and many field lines: net/http's 1 MiB MaxHeaderBytes.
	{name: "huge header line", request: up("echo/1", "X-Big: "+strings.Repeat("b", 2<<20)), want: 431},
	{name: "huge Upgrade", request: up(strings.Repeat("y", 2<<20) + ", echo/1"), want: 431},
	// Go 1.27 limits a request to 500 field values (Server.MaxHeaderValueCount).
	{name: "many header lines under the limit", request: up("echo/1", strings.Repeat("X-Many: v\r\n", 400)+"X-End: 1"), want: 101, fields: echoUpgrade},
	{name: "many header lines over the limit", request: up("echo/1", strings.Repeat("X-Many: v\r\n", 100000)+"X-End: 1"), want: 431},
	{name: "huge request line", request: req("GET", "/"+strings.Repeat("p", 2<<20), "Connection: Upgrade", "Upgrade: echo/1"), want: 431},

	// Bodies on protocols that take none: 413 whatever their size, so
	// that no body byte is read as protocol data.
	{name: "body on echo/1", request: up("echo/1", "Content-Length: 5") + "hello", want: 413, reason: "takes no request body"},
	{name: "chunked body on echo/1", request: up("echo/1", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", want: 413, reason: "takes no request body"},
	{name: "large body declared on echo/1", request: up("echo/1", "Content-Length: 2000000"), want: 413, reason: "takes no request body"},
	{name: "expect 100-continue with a body", request: up("echo/1", "Expect: 100-continue", "Content-Length: 5"), want: 413, reason: "takes no request body"},
	{name: "expect 100-continue with a chunked body", request: up("echo/1", "Expect: 100-continue", "Transfer-Encoding: chunked"), want: 413, reason: "takes no request body"},
	{name: "websocket with a body", request: ws("/ws", okKey, "Content-Length: 3") + "abc", want: 413, reason: "takes no request body"},
	{name: "empty body declared on echo/1", request: up("echo/1", "Content-Length: 0"), want: 101, fields: echoUpgrade},

	// Content-Length and Transfer-Encoding (RFC 9112 §6): net/http's.
	// With both, net/http processes Transfer-Encoding alone (§6.1 allows
	// it) and hides Content-Length: echo/1 refuses the chunked body.
	{name: "Content-Length and Transfer-Encoding", request: up("echo/1", "Content-Length: 5", "Transfer-Encoding: chunked") + "0\r\n\r\n", want: 413, reason: "takes no request body"},
	{name: "conflicting Content-Length", request: up("echo/1", "Content-Length: 5", "Content-Length: 6") + "hello!", want: 400},
	{name: "Content-Length list", request: up("echo/1", "Content-Length: 5, 6") + "hello!", want: 400},
	{name: "negative Content-Length", request: up("echo/1", "Content-Length: -1"), want: 400},
	{name: "signed Content-Length", request: up("echo/1", "Content-Length: +5") + "hello", want: 400},
	{name: "Transfer-Encoding identity", request: up("echo/1", "Transfer-Encoding: identity"), want: 501},
	{name: "Transfer-Encoding gzip, chunked", request: up("echo/1", "Transfer-Encoding: gzip, chunked") + "0\r\n\r\n", want: 501},
	{name: "two Transfer-Encoding lines", request: up("echo/1", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + "0\r\n\r\n", want: 501},

	// Request lines and versions.
	{name: "no Host", request: "GET /proto HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400},
	{name: "two Hosts", request: "GET /proto HTTP/1.1\r\nHost: x\r\nHost: y\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400},
	{name: "HTTP/1.0 ignores Upgrade", request: "GET /proto HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: passed},
	{name: "HTTP/1.0 ignores h2c", request: "GET /proto HTTP/1.0\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\n", want: passed},
	{name: "HTTP/1.0 websocket on /ws", request: "GET /ws HTTP/1.0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + okKey + "\r\n\r\n", want: 426, fields: []string{"Upgrade: websocket"}},
	{name: "HTTP/0.9-looking line", request: "GET /proto\r\n\r\n", want: 400},
	{name: "HTTP/0.9 line, half-closed", request: "GET /\r\n", want: 400, half: true},
	// A higher minor version is read as HTTP/1.1 (RFC 9110 §2.5).
	{name: "HTTP/1.7", request: "GET /proto HTTP/1.7\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 101, fields: echoUpgrade},
	{name: "HTTP/2.0 request line", request: "GET /proto HTTP/2.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 505},
	{name: "lower-case version", request: "GET /proto http/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400},
	{name: "CONNECT with Upgrade", request: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 101, fields: echoUpgrade},

	// PRI * where it does not belong: the HTTP/2 preface method is never
	// a client's request (RFC 9113 §3.4), and the asterisk form is only
	// for OPTIONS (RFC 9112 §3.2.4).
	{name: "PRI * HTTP/1.1 with Upgrade", request: "PRI * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400, reason: "only for OPTIONS"},
	{name: "PRI * HTTP/1.1", request: "PRI * HTTP/1.1\r\nHost: x\r\n\r\n", want: 400},
	{name: "PRI * HTTP/2.0 with fields", request: "PRI * HTTP/2.0\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400},
	{name: "HTTP/2 preface after a request", request: req("GET", "/stats") + "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", skip: 1, want: 400},
	{name: "GET * with Upgrade", request: "GET * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 400, reason: "only for OPTIONS"},
	{name: "OPTIONS * with Upgrade", request: "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo/1\r\n\r\n", want: 200, reply: "-"}, // net/http answers it

	// WebSocket on /ws and /chat (RFC 6455 §4.2).
	{name: "websocket", request: ws("/ws", okKey), want: 101, fields: wsSwitched},
	{name: "websocket same origin", request: ws("/ws", okKey, "Origin: http://example.com"), want: 101, fields: wsSwitched},
	{name: "websocket cross-origin", request: ws("/ws", okKey, "Origin: https://evil.example"), want: 403},
	{name: "websocket null origin", request: ws("/ws", okKey, "Origin: null"), want: 403},
	{name: "websocket two origins", request: ws("/ws", okKey, "Origin: http://example.com", "Origin: http://example.com"), want: 403},
	{name: "websocket no key", request: ws("/ws"), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket empty key", request: ws("/ws", "Sec-WebSocket-Key: "), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket short key", request: ws("/ws", "Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(make([]byte, 15))), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket long key", request: ws("/ws", "Sec-WebSocket-Key: "+base64.StdEncoding.EncodeToString(make([]byte, 17))), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket key not base64", request: ws("/ws", "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!!="), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket key unpadded", request: ws("/ws", "Sec-WebSocket-Key: "+strings.TrimRight(wsKey, "=")), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket two keys", request: ws("/ws", okKey, okKey), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket a key and an empty one", request: ws("/ws", okKey, "Sec-WebSocket-Key: "), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket two keys in one line", request: ws("/ws", okKey+", "+wsKey), want: 400, reason: "Sec-WebSocket-Key"},
	{name: "websocket version 8", request: req("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 8", okKey), want: 426, fields: []string{"Sec-WebSocket-Version: 13"}},
	{name: "websocket version list", request: req("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13, 8", okKey), want: 426, fields: []string{"Sec-WebSocket-Version: 13"}},
	{name: "websocket no version", request: req("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket", okKey), want: 426, fields: []string{"Sec-WebSocket-Version: 13"}},
	{name: "websocket two versions", request: ws("/ws", okKey, "Sec-WebSocket-Version: 13"), want: 400, reason: "Sec-WebSocket-Version"},
	{name: "websocket POST", request: "POST /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + okKey + "\r\nContent-Length: 0\r\n\r\n", want: 405, fields: []string{"Allow: GET"}},
	{name: "websocket HEAD", request: req("HEAD", "/ws", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", okKey), want: 405, fields: []string{"Allow: GET"}},
	{name: "websocket/13 token", request: req("GET", "/ws", "Connection: Upgrade", "Upgrade: websocket/13", "Sec-WebSocket-Version: 13", okKey), want: 400},
	{name: "websocket bad extension offer", request: ws("/ws", okKey, "Sec-WebSocket-Extensions: permessage-deflate; bogus"), want: 101, fields: wsSwitched},
	{name: "websocket early frame", request: ws("/ws", okKey), after: wsFrame(1, "early"), want: 101, fields: wsSwitched},
	{name: "chat unknown subprotocol", request: ws("/chat", okKey, "Sec-WebSocket-Protocol: nope"), want: 101, fields: wsSwitched},
	{name: "plain GET /ws", request: req("GET", "/ws"), want: 426, fields: []string{"Upgrade: websocket"}},
	{name: "plain GET /chat", request: req("GET", "/chat"), want: 426, fields: []string{"Upgrade: websocket"}},
	{name: "unknown token on /ws", request: req("GET", "/ws", "Connection: Upgrade", "Upgrade: foo"), want: 426, fields: []string{"Upgrade: websocket"}},
	{name: "websocket offered off its routes", request: ws("/proto", okKey), want: passed},

	// h2c (RFC 7540 §3.2): a bad offer is served as HTTP/1.1, never 5xx.
	{name: "h2c", request: h2cReq(settings()), want: 101, fields: h2cUpgrade},
	{name: "h2c valid settings", request: h2cReq(settings(1, 4096, 2, 0, 3, 100, 4, 65535, 5, 1<<14, 6, 1<<20)), want: 101, fields: h2cUpgrade},
	{name: "h2c unknown setting", request: h2cReq(settings(0xff, 1)), want: 101, fields: h2cUpgrade}, // ignored, RFC 7540 §6.5.2
	{name: "h2c settings padded", request: h2cReq("HTTP2-Settings: AAMAAABk=="), want: passed},
	{name: "h2c settings std base64", request: h2cReq("HTTP2-Settings: AAMAAA+/"), want: passed},
	{name: "h2c settings not base64", request: h2cReq("HTTP2-Settings: !!!!!!!!"), want: passed},
	{name: "h2c settings with a space", request: h2cReq("HTTP2-Settings: AAMAAABk AAMAAABk"), want: passed},
	{name: "h2c settings as a list", request: h2cReq("HTTP2-Settings: AAMAAABk, AAMAAABk"), want: passed},
	{name: "h2c settings length", request: h2cReq("HTTP2-Settings: AAMAAA"), want: passed},
	{name: "h2c bad push value", request: h2cReq(settings(2, 2)), want: passed},
	{name: "h2c window over 2^31-1", request: h2cReq(settings(4, 1<<31)), want: passed},
	{name: "h2c frame size under 2^14", request: h2cReq(settings(5, 1<<14-1)), want: passed},
	{name: "h2c frame size over 2^24-1", request: h2cReq(settings(5, 1<<24)), want: passed},
	{name: "h2c huge settings", request: h2cReq("HTTP2-Settings: " + strings.Repeat("AAMAAABk", 20000)), want: passed},
	{name: "h2c two settings", request: h2cReq(settings(), settings()), want: passed},
	{name: "h2c no settings", request: h2cReq(), want: passed},
	{name: "h2c Connection lacks settings", request: req("GET", "/proto", "Connection: Upgrade", "Upgrade: h2c", settings()), want: passed},
	{name: "h2c via X-Forwarded-For", request: h2cReq(settings(), "X-Forwarded-For: 192.0.2.1"), want: passed},
	{name: "h2c via Via", request: h2cReq(settings(), "Via: 1.1 proxy"), want: passed},
	{name: "h2c via Forwarded", request: h2cReq(settings(), "Forwarded: for=192.0.2.1"), want: passed},
	{name: "h2c body within the bound", request: h2cReq(settings(), "Content-Length: 5") + "hello", want: 101, fields: h2cUpgrade},
	{name: "h2c body over the bound", request: h2cAt("POST", "/echo", settings(), "Content-Length: "+fmt.Sprint(len(bigBody))) + bigBody, want: passed, reply: "zzzz"},
	{name: "h2c chunked body over the bound", request: h2cReq(settings(), "Transfer-Encoding: chunked") + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(bigBody), bigBody), want: 413},
	{name: "h2c body cut short", request: h2cReq(settings(), "Content-Length: 10") + "abc", half: true, want: 400},
	{name: "h2c over CONNECT", request: h2cAt("CONNECT", "example.com:443", settings()), want: 101, fields: h2cUpgrade},
	{name: "h2c and websocket on /ws, client order", request: req("GET", "/ws", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c, websocket", settings(), "Sec-WebSocket-Version: 13", okKey), want: 101, fields: h2cUpgrade},

	// Pipelined bytes behind an upgrade belong to the switched protocol:
	// echo/1 sends them back, none is served as HTTP or lost.
	{name: "request behind echo/1", request: up("echo/1"), after: []byte(req("GET", "/stats")), want: 101, fields: echoUpgrade},
	{name: "upgrade behind echo/1", request: up("echo/1"), after: []byte(up("echo/1")), want: 101, fields: echoUpgrade},
	{name: "preface behind echo/1", request: up("echo/1"), after: []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), want: 101, fields: echoUpgrade},
	{name: "64 KiB behind echo/1", request: up("echo/1"), after: bytes.Repeat([]byte("0123456789abcdef"), 4096), want: 101, fields: echoUpgrade},
	{name: "upgrade behind a plain request", request: req("GET", "/proto") + up("echo/1"), skip: 1, after: []byte(req("GET", "/proto")), want: 101, fields: echoUpgrade},

	// Clients that leave mid-handshake.
	{name: "gone mid head", request: "GET /proto HTTP/1.1\r\nHost: x\r\nConnection: Upgr", want: gone},
	{name: "gone after the echo/1 request", request: up("echo/1"), want: gone},
	{name: "gone after the websocket request", request: ws("/ws", okKey), want: gone},
	{name: "gone after the h2c request", request: h2cReq(settings()), want: gone},
	{name: "gone mid body", request: up("echo/1", "Content-Length: 10") + "abc", want: gone},
	{name: "gone mid h2c body", request: h2cReq(settings(), "Content-Length: 10") + "abc", want: gone},
	{name: "half-closed mid head", request: "GET /proto HTTP/1.1\r\nHost: x\r\nConnection: Upgr", half: true, want: 400},
}

func TestHostileHandshakes(t *testing.T) {
	if len(hostileCases) < 60 {
		t.Fatalf("%d cases, the table needs at least 60", len(hostileCases))
	}
	t.Run("program", func(t *testing.T) {
		t.Parallel()
		p := testkit.StartProgram(t, "examples/server", nil)
		t.Run("cases", func(t *testing.T) {
			for _, tc := range hostileCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runCase(t, p.Addr(), tc)
				})
			}
		})
		// Every client has gone: the program lets go of every switched
		// connection.
		testkit.WaitFor(t, "the program to hold no switched connection", func() bool {
			return len(switchedHeld(programStats(t, p.URL).Active)) == 0
		})
	})
	t.Run("in process", func(t *testing.T) {
		t.Parallel()
		for _, tc := range hostileCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				s := startInProcess(t, 10*time.Second)
				runCase(t, s.addr(), tc)
				s.settled(t)
			})
		}
	})
}

// programStats reads a demo program's /stats.
func programStats(t testing.TB, url string) demoStats {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: testkit.Timeout}
	resp, err := c.Get(url + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s demoStats
	if err := json.NewDecoder(resp.Body).Decode(&s); resp.StatusCode != 200 || err != nil {
		t.Fatalf("/stats = %s: %v", resp.Status, err)
	}
	return s
}

// demoStats is the JSON of the demo's /stats.
type demoStats struct {
	Active   map[string]int   `json:"active"`
	Switched map[string]int64 `json:"switched"`
	Refused  int64            `json:"refused"`
}

func runCase(t *testing.T, addr string, tc hostileCase) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(bound))
	wrote := make(chan error, 1)
	go func() { // the server may answer a large request before reading it whole
		_, err := conn.Write(append([]byte(tc.request), tc.after...))
		if err == nil && tc.half {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	defer func() {
		conn.Close()
		<-wrote
	}()
	br := bufio.NewReader(conn)
	if tc.want == gone {
		if err := <-wrote; err != nil {
			t.Fatalf("writing: %v", err)
		}
		wrote <- nil
		if tc.half {
			// The server sees the end of the stream and closes.
			expectEOF(t, br)
		}
		return
	}
	method, _, _ := strings.Cut(tc.request, " ")
	for i := 0; i < tc.skip; i++ {
		resp, err := readFinal(br, "GET")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pipelined plain request: %v, %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	resp, err := readFinal(br, method)
	if err != nil {
		t.Fatalf("no response (%v), want %s", err, outcome(tc.want))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body of %d: %v", resp.StatusCode, err)
	}
	for _, f := range tc.fields {
		name, value, _ := strings.Cut(f, ": ")
		if got := resp.Header.Values(name); !contains(got, value) {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	switch tc.want {
	case passed, 200:
		reply := tc.reply
		if reply == "" {
			reply = "HTTP/1."
		}
		if resp.StatusCode != 200 || reply != "-" && !strings.HasPrefix(string(body), reply) {
			t.Fatalf("got %d %.40q, want %s", resp.StatusCode, body, outcome(tc.want))
		}
		if resp.Close { // HTTP/1.0
			expectEOF(t, br)
			return
		}
		// The connection is still good for another request.
		io.WriteString(conn, req("GET", "/proto"))
		if again, err := readFinal(br, "GET"); err != nil || again.StatusCode != 200 {
			t.Fatalf("connection not reusable after a passed request: %v, %v", again, err)
		}
	case 101:
		if resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
			t.Fatalf("got %d %.80q Connection=%q, want 101", resp.StatusCode, body, resp.Header.Get("Connection"))
		}
		for name := range resp.Header {
			// A 101 has no body: a field that would describe one is
			// wrong (RFC 9110 §15.2.2), and misleads a proxy.
			if strings.HasPrefix(name, "Content-") || name == "Transfer-Encoding" {
				t.Errorf("the 101 carries %s: %q", name, resp.Header[name])
			}
		}
		switchedAlive(t, conn, br, resp, tc.after)
	default:
		if resp.StatusCode != tc.want {
			t.Fatalf("got %d %.80q, want %d", resp.StatusCode, body, tc.want)
		}
		if tc.reason != "" {
			if b := string(body); !strings.Contains(b, tc.reason) || strings.Count(b, "\n") != 1 || !strings.HasSuffix(b, "\n") {
				t.Errorf("body = %q, want one line containing %q", b, tc.reason)
			}
		}
		expectEOF(t, br)
	}
}

func outcome(want int) string {
	switch want {
	case passed:
		return "served as HTTP/1.x by the app"
	case gone:
		return "nothing"
	}
	return fmt.Sprint(want)
}

func contains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// switchedAlive checks that the switched protocol has what was sent behind
// the request and still works, then leaves.
func switchedAlive(t *testing.T, conn net.Conn, br *bufio.Reader, resp *http.Response, after []byte) {
	t.Helper()
	switch token := strings.ToLower(resp.Header.Get("Upgrade")); token {
	case "echo/1":
		got := make([]byte, len(after)+4)
		io.WriteString(conn, "ping")
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, append(append([]byte(nil), after...), "ping"...)) {
			t.Fatalf("echo/1 sent back %.60q…, %v; want the bytes behind the request, then ping", got, err)
		}
		conn.(*net.TCPConn).CloseWrite()
		expectEOF(t, br) // echo/1 ends with its client
	case "websocket":
		if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
			return // compressed frames: the demo's own tests read those
		}
		want := []string{"hi"}
		if len(after) > 0 {
			want = []string{"early", "hi"}
		}
		conn.Write(wsFrame(1, "hi"))
		for _, w := range want {
			op, payload, err := readWSFrame(br)
			if err != nil || op != 1 || string(payload) != w {
				t.Fatalf("websocket echo: opcode %d %q, %v; want text %q", op, payload, err, w)
			}
		}
		conn.Write(wsFrame(8, "\x03\xe8"))
		if op, _, err := readWSFrame(br); err != nil || op != 8 {
			t.Fatalf("websocket close: opcode %d, %v; want the close echoed", op, err)
		}
		expectEOF(t, br)
	case "h2c":
		// The server's connection preface is a SETTINGS frame (RFC 7540 §3.5).
		head := make([]byte, 9)
		if _, err := io.ReadFull(br, head); err != nil || head[3] != 0x4 {
			t.Fatalf("h2c: first frame header %x, %v; want SETTINGS", head, err)
		}
	default:
		t.Fatalf("switched to %q", token)
	}
}

// wsFrame is a masked client frame with FIN set.
func wsFrame(opcode byte, payload string) []byte {
	b := []byte{0x80 | opcode}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// readWSFrame reads one unmasked server frame of up to 64 KiB.
func readWSFrame(br *bufio.Reader) (opcode byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return 0, nil, err
		}
		n = int(l[0])<<8 | int(l[1])
	} else if n == 127 {
		return 0, nil, errors.New("frame over 64 KiB")
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(br, payload)
	return h[0] & 0xf, payload, err
}

// readFinal reads the response after any 100 Continue.
func readFinal(br *bufio.Reader, method string) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil || resp.StatusCode != http.StatusContinue {
			return resp, err
		}
	}
}

// expectEOF checks that the server closed the connection: the next read
// ends the stream (or finds it reset) rather than finding more data or
// reaching the deadline.
func expectEOF(t testing.TB, br *bufio.Reader) {
	t.Helper()
	b, err := br.ReadByte()
	if err == nil {
		t.Fatalf("connection left open: read %q", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection left open: no end of stream within %v", bound)
	}
}

// A client that dribbles its request head is cut off by the server's
// ReadHeaderTimeout, which counts from the first byte, not from the last.
func TestDribblingClientCutOff(t *testing.T) {
	t.Parallel()
	const timeout = 500 * time.Millisecond
	s := startInProcess(t, timeout)
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(bound))
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes (or the deadline)
		got <- b
	}()
	head := up("echo/1", "X-Pad: "+strings.Repeat("p", 200))
	tick := time.NewTicker(timeout / 5)
	defer tick.Stop()
	for i := 0; i < len(head); i++ {
		select {
		case b := <-got:
			if bytes.Contains(b, []byte(" 101 ")) {
				t.Fatalf("switched a dribbling client: %q", b)
			}
			if i == 0 {
				t.Fatal("closed before the first byte")
			}
			s.settled(t)
			return
		case <-tick.C:
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				b := <-got // cut off
				if bytes.Contains(b, []byte(" 101 ")) {
					t.Fatalf("switched a dribbling client: %q", b)
				}
				s.settled(t)
				return
			}
		}
	}
	t.Fatalf("the server read a head dribbled over %v whole; its ReadHeaderTimeout is %v", time.Duration(len(head))*timeout/5, timeout)
}

// Clients that switched and then stop reading, while the server writes
// (echo/1's echoes, a WebSocket's echoes and its shutdown close frame), do
// not hold the server's shutdown or a goroutine: Server.Shutdown and the
// negotiator's Shutdown return, and nothing is left.
func TestNonReadingClientsAtShutdown(t *testing.T) {
	t.Parallel()
	s := startInProcess(t, 10*time.Second)
	chunk := strings.Repeat("x", 64<<10)
	stuck := func(request string, data []byte) (net.Conn, chan int64) {
		conn, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetReadDeadline(time.Now().Add(bound))
		if _, err := io.WriteString(conn, request); err != nil {
			t.Fatal(err)
		}
		resp, err := readFinal(bufio.NewReader(conn), "GET")
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("%.40q: %v, %v; want 101", request, resp, err)
		}
		// Write, never read, until the writes stall: the server, whose
		// echoes nobody reads, stops reading too.
		full := make(chan int64, 1)
		go func() {
			var n int64
			for {
				conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				m, err := conn.Write(data)
				n += int64(m)
				if err != nil || n > 256<<20 {
					full <- n
					return
				}
			}
		}()
		return conn, full
	}
	echo, echoFull := stuck(up("echo/1"), []byte(chunk))
	wsc, wsFull := stuck(ws("/ws", okKey), wsFrame(2, chunk))
	t.Logf("buffers full after %d bytes to echo/1, %d to websocket", <-echoFull, <-wsFull)
	if a := s.n.Stats().Active; a["echo"] != 1 || a["websocket"] != 1 {
		t.Fatalf("active = %v, want the two stuck clients", a)
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Config.Shutdown(ctx); err != nil {
			done <- fmt.Errorf("http.Server.Shutdown: %w", err)
			return
		}
		done <- s.n.Shutdown(ctx) // the WebSocket never answers its close: forced at ctx's end
	}()
	select {
	case err := <-done:
		t.Logf("shutdown: %v", err)
	case <-time.After(bound):
		t.Fatalf("shutdown still waiting %v on clients that do not read", bound)
	}
	// Connections still open at the context's end are closed, not waited
	// for: they end on their own, the clients still connected.
	s.settled(t)
	echo.Close()
	wsc.Close()
}

// FuzzHandshake sends raw bytes as a request to the demo's configuration
// and half-closes: whatever they are, the server never panics, never
// answers with a 5xx of its own (net/http's 501 for a transfer coding and
// 505 for a version aside), closes the connection once the client has, and
// is left holding nothing (TestMain's leak check covers the goroutines).
func FuzzHandshake(f *testing.F) {
	for _, tc := range hostileCases {
		if raw := append([]byte(tc.request), tc.after...); len(raw) < 4096 {
			f.Add(raw)
		}
	}
	s := startInProcess(f, 10*time.Second)
	f.Fuzz(func(t *testing.T, raw []byte) {
		conn, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(bound))
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			if _, err := conn.Write(raw); err == nil {
				conn.(*net.TCPConn).CloseWrite()
			}
		}()
		defer func() {
			conn.Close()
			<-wrote
		}()
		br := bufio.NewReader(conn)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			if resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented && resp.StatusCode != http.StatusHTTPVersionNotSupported {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("answered %d %q to %q", resp.StatusCode, b, raw)
			}
			if resp.StatusCode == 101 {
				break // the rest is the protocol's
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				break
			}
		}
		// Whatever came, the server ends the stream once the client has.
		if _, err := io.Copy(io.Discard, br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open %v after the client half-closed, for %q", bound, raw)
			}
		}
		conn.Close()
		<-wrote
		s.settled(t)
		if p := s.n.Stats().Panics; p != 0 {
			t.Fatalf("%d panics after %q", p, raw)
		}
	})
}
