package switchyard_test

// Hostile and malformed handshakes over raw TCP against the demo's
// configuration, and WebSocket peers that turn hostile once switched
// (bombs, invalid UTF-8, frames the RFCs fail, a peer vanishing
// mid-message). Each case has its expected outcome (a status, served as
// ordinary HTTP/1.1, or the close code a WebSocket gets). The table runs
// twice:
//
//   - against the demo program itself (examples/server, one process for the
//     whole table but for a case at the connection cap, which gets one of
//     its own), so that the outcomes are those of the program a user runs;
//     once every case is done, the program must hold no switched
//     connection. A case that waits out the negotiator's HandshakeTimeout
//     is skipped there: the program's is 10 s;
//   - in process, against the same configuration built from the same public
//     packages (internal/demoserver), one server per case, because checking
//     that a case leaves nothing behind needs hooks the program does not
//     expose: after each case the connection must be closed where it should
//     be and the server must hold no connection, HTTP (http.Server.ConnState)
//     or switched (Negotiator.Stats), no protocol may have panicked, and
//     TestMain's leak check covers the goroutines.
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
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/demoserver"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
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
	n      *negotiate.Negotiator
	mu     sync.Mutex
	conns  map[net.Conn]http.ConnState
	panics atomic.Int64 // handler panics net/http recovered (see recoveredPanics)
}

// recoveredPanics counts the handler panics net/http recovers and logs
// ("http: panic serving …", "http2: panic serving …"): no status shows
// them, the client only loses its connection. Every line still goes to
// the standard logger's output.
type recoveredPanics struct{ n *atomic.Int64 }

func (r recoveredPanics) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("panic serving")) {
		r.n.Add(1)
	}
	return log.Writer().Write(p)
}

// startInProcess serves the demo's configuration on loopback, with the
// negotiator's options opts (nil: the demo's, demoserver.Options).
func startInProcess(t testing.TB, readHeaderTimeout time.Duration, opts *negotiate.Options) *inProcess {
	t.Helper()
	if opts == nil {
		opts = demoserver.Options(nil)
	}
	n := testkit.NewNegotiator(t, opts)
	h, err := demoserver.Handler(n)
	if err != nil {
		t.Fatal(err)
	}
	s := &inProcess{n: n, conns: make(map[net.Conn]http.ConnState)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ReadHeaderTimeout = readHeaderTimeout
	s.Config.ErrorLog = log.New(recoveredPanics{&s.panics}, "", log.LstdFlags)
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
		if p := s.panics.Load(); p != 0 {
			t.Errorf("%d panics in handlers, recovered by net/http", p)
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
	lacks   []string // names of fields the response must not carry
	reason  string   // in the one-line body of a refusal
	reply   string   // for passed: the start of the body (default "HTTP/1.")
	after   []byte   // for 101: bytes in the same write as the request, which the protocol must receive
	half    bool     // the client half-closes after the request
	skip    int      // plain responses to pipelined requests before the one checked
	prompt  bool     // the response must come within testkit.Timeout, not only within bound

	// For a WebSocket 101: the code of the close frame that the frames in
	// after get. No frame follows it, the server closes the connection
	// once the client has answered it, and no data frame before it ends a
	// message (what is refused or cut short is never sent as whole). With
	// half, 1011 stands for no close frame too: the peer has vanished.
	wsClose int

	// The server's limits: full, a server of the case's own allowing one
	// switched connection, which an echo/1 client holds before the request
	// (the program runs with -max-conns 1); handshakeTimeout, the
	// negotiator's HandshakeTimeout for a case that waits it out. The
	// program's is 10 s with no flag to change it, so such a case runs in
	// process only, where it is shorter.
	full             bool
	handshakeTimeout time.Duration
}

// options are the negotiator's options of tc's in-process server: the
// demo's, with tc's limits.
func (tc hostileCase) options() *negotiate.Options {
	o := demoserver.Options(nil)
	if tc.full {
		o.MaxConns = 1
	}
	o.HandshakeTimeout = tc.handshakeTimeout // 0: the default, the demo's
	return o
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

// WebSocket frame bits (RFC 6455 §5.2): a frame's first byte is FIN, RSV1
// (a compressed message's first frame, RFC 7692 §6), RSV2, RSV3 and the
// opcode.
const (
	fin, rsv1                = 0x80, 0x40
	opCont, opText, opBinary = 0x0, 0x1, 0x2
	opClose, opPing          = 0x8, 0x9
)

var (
	okKey        = "Sec-WebSocket-Key: " + wsKey
	offerDeflate = "Sec-WebSocket-Extensions: permessage-deflate"
	// Decompression bombs: a few KB on the wire that inflate past the
	// ReadLimit of /ws (16 MiB) and of /chat (demoapp.MaxChatMessage).
	wsBomb   = string(wstest.Deflate(bytes.Repeat([]byte("a"), 17<<20)))
	chatBomb = string(wstest.Deflate(bytes.Repeat([]byte("a"), 16*demoapp.MaxChatMessage)))
	// hello is a compressed message, to be split across two fragments.
	hello       = string(wstest.Deflate([]byte("hello")))
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
	{name: "websocket bad extension offer", request: ws("/ws", okKey, offerDeflate+"; bogus"), want: 101, fields: wsSwitched, lacks: []string{"Sec-WebSocket-Extensions"}},
	// An offer the engine cannot honour is declined, not answered without
	// its parameters (RFC 7692 §7): a client limited to a 256-byte window
	// could not inflate what a 32 KiB one compressed.
	{name: "websocket deflate with server_max_window_bits=8", request: ws("/ws", okKey, offerDeflate+"; server_max_window_bits=8"), want: 101, fields: wsSwitched, lacks: []string{"Sec-WebSocket-Extensions"}},
	{name: "websocket early frame", request: ws("/ws", okKey), after: wsFrame(fin|opText, "early"), want: 101, fields: wsSwitched},
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

	// Hostile WebSocket peers past the handshake: each gets the close code
	// the RFCs give it, and nobody else is harmed; on /chat another member
	// of the room checks that it is still served and was relayed nothing
	// of the attacker's. A bomb's ReadLimit holds on the inflated size.
	{name: "websocket deflate bomb", request: ws("/ws", okKey, offerDeflate), after: wsFrame(fin|rsv1|opText, wsBomb), want: 101, fields: wsSwitched, wsClose: 1009},
	{name: "chat deflate bomb", request: ws("/chat", okKey, offerDeflate), after: wsFrame(fin|rsv1|opText, chatBomb), want: 101, fields: wsSwitched, wsClose: 1009},
	{name: "websocket invalid UTF-8", request: ws("/ws", okKey), after: wsFrame(fin|opText, "ok \xff"), want: 101, fields: wsSwitched, wsClose: 1007},
	{name: "chat invalid UTF-8", request: ws("/chat", okKey), after: wsFrame(fin|opText, "ok \xff"), want: 101, fields: wsSwitched, wsClose: 1007},
	{name: "chat compressed invalid UTF-8", request: ws("/chat", okKey, offerDeflate), after: wsFrame(fin|rsv1|opText, string(wstest.Deflate([]byte("ok \xc3(")))), want: 101, fields: wsSwitched, wsClose: 1007},
	{name: "websocket RSV1 on a ping", request: ws("/ws", okKey, offerDeflate), after: wsFrame(fin|rsv1|opPing, ""), want: 101, fields: wsSwitched, wsClose: 1002},
	{name: "websocket RSV1 on a continuation", request: ws("/ws", okKey, offerDeflate), after: append(wsFrame(rsv1|opText, hello[:2]), wsFrame(fin|rsv1|opCont, hello[2:])...), want: 101, fields: wsSwitched, wsClose: 1002},
	{name: "websocket 1-byte close payload", request: ws("/ws", okKey), after: wsFrame(fin|opClose, "\x03"), want: 101, fields: wsSwitched, wsClose: 1002},
	// A peer that vanishes while its message is echoed: the part sent
	// back never looks whole, and the close never says 1000.
	{name: "websocket peer vanishes mid-message", request: ws("/ws", okKey), after: wsFrame(opText, strings.Repeat("x", 16<<10)), half: true, want: 101, fields: wsSwitched, wsClose: 1011},

	// Limits before an h2c upgrade's body is read: a body that stalls is
	// answered 408 after the HandshakeTimeout; at the connection cap the
	// gate refuses before reading any of the body, so a body cut short
	// gets 503 there, where reading it first would give 400 (as "h2c body
	// cut short" gets). That client half-closes because a refusal leaves
	// net/http reading a declared body of under 256 KiB to discard it: a
	// client that neither sends it nor ends its stream keeps the refused
	// connection until the server's ReadTimeout.
	{name: "h2c body stalls", request: h2cReq(settings(), "Content-Length: 10") + "abc", handshakeTimeout: 300 * time.Millisecond, want: 408, reason: "not received in time"},
	{name: "h2c body cut short at the connection cap", request: h2cReq(settings(), "Content-Length: 100000") + "abc", half: true, full: true, want: 503, reason: "connection limit reached", fields: []string{"Retry-After: 1"}},

	// Thousands of offers cost time linear in their number: each
	// registration's Check runs once, however many offers name it. h2c's
	// reads the whole Connection list, which here lacks HTTP2-Settings, so
	// that each offer is ignored: run once an offer, it made 32,000 offers
	// a billion list elements.
	{name: "32,000 h2c offers ignored", request: req("GET", "/proto", "Connection: Upgrade, "+strings.Repeat("x-a, ", 32000)+"x-b", "Upgrade: "+strings.Repeat("h2c, ", 32000)+"h2c", settings()), prompt: true, want: passed},
	{name: "eight thousand websocket offers on /chat", request: req("GET", "/chat", "Connection: Upgrade", "Upgrade: "+strings.Repeat("websocket, ", 8000)+"websocket",
		"Sec-WebSocket-Version: 13", okKey, "Sec-WebSocket-Protocol: "+strings.Repeat("x, ", 2000)+"chat.v1"), prompt: true, want: 101,
		fields: []string{"Upgrade: websocket", "Sec-WebSocket-Accept: " + wsAccept, "Sec-WebSocket-Protocol: chat.v1"}},

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
					addr := p.Addr()
					switch {
					case tc.handshakeTimeout != 0:
						t.Skip("waits out a HandshakeTimeout, which is 10 s in the program: run in process only")
					case tc.full:
						addr = testkit.StartProgram(t, "examples/server", nil, "-max-conns", "1").Addr()
					}
					runCase(t, addr, tc)
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
				s := startInProcess(t, 10*time.Second, tc.options())
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
	if tc.full {
		defer holdSlot(t, addr).Close()
	}
	var other *chatMember
	if tc.wsClose != 0 && inRoom(tc) {
		other = joinRoom(t, addr, tc.name)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(bound))
	if tc.prompt {
		conn.SetReadDeadline(time.Now().Add(testkit.Timeout))
	}
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
	conn.SetReadDeadline(time.Now().Add(bound))
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
	for _, name := range tc.lacks {
		if got := resp.Header.Values(name); got != nil {
			t.Errorf("%s = %q, want none", name, got)
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
		switchedAlive(t, conn, br, resp, tc)
		if other != nil {
			other.stayed(t)
		}
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
// the request and still works, then leaves; or, for a WebSocket case with
// wsClose, that the server closes as it should.
func switchedAlive(t *testing.T, conn net.Conn, br *bufio.Reader, resp *http.Response, tc hostileCase) {
	t.Helper()
	after := tc.after
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
		room := inRoom(tc)
		if tc.wsClose != 0 {
			wsClosed(t, conn, br, tc)
			return
		}
		if resp.Header.Get("Sec-WebSocket-Extensions") != "" {
			return // compressed frames: the demo's own tests read those
		}
		want := []string{"hi"}
		if len(after) > 0 {
			want = []string{"early", "hi"}
		}
		conn.Write(wsFrame(fin|opText, "hi"))
		for _, w := range want {
			awaitText(t, br, w, room)
		}
		closeNormally(t, conn, br, room)
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

// wsFrame is a masked client frame: b0 is its first byte (FIN, RSV1 and
// the opcode).
func wsFrame(b0 byte, payload string) []byte {
	b := []byte{b0}
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

// readWSFrame reads one unmasked server frame of up to 64 KiB and returns
// its first byte (FIN, RSV1 and the opcode) and payload.
func readWSFrame(br *bufio.Reader) (b0 byte, payload []byte, err error) {
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
	return h[0], payload, err
}

// inRoom reports whether tc's client joins the demo's chat room, where the
// messages of other members (other cases', against the program) may come
// between the frames it waits for.
func inRoom(tc hostileCase) bool { return strings.HasPrefix(tc.request, "GET /chat ") }

// awaitText reads whole text messages until want. In the chat room other
// members' messages may come first, and each must be valid UTF-8 (the room
// relays only what it read as text); elsewhere want must come first.
func awaitText(t testing.TB, br *bufio.Reader, want string, room bool) {
	t.Helper()
	for {
		b0, payload, err := readWSFrame(br)
		if err != nil || b0 != fin|opText {
			t.Fatalf("waiting for text %q: frame %#x %.40q, %v; want a whole text message", want, b0, payload, err)
		}
		switch {
		case string(payload) == want:
			return
		case !room:
			t.Fatalf("got text %.40q, want %q", payload, want)
		case !utf8.Valid(payload):
			t.Fatalf("the room relayed invalid UTF-8 %q", payload)
		}
	}
}

// awaitClose reads the server's frames up to its close frame and returns
// that frame's code (1005 for none in it), or -1 if the stream ends first.
// A data frame before it may not end a message, except another member's in
// the chat room, which must be valid UTF-8 if it is not compressed (the
// other member, which offers no compression, checks every message).
func awaitClose(t testing.TB, br *bufio.Reader, room bool) int {
	t.Helper()
	for {
		b0, payload, err := readWSFrame(br)
		switch {
		case errors.Is(err, io.EOF):
			return -1
		case err != nil:
			t.Fatalf("waiting for the server's close frame: %v", err)
		case b0&0xf == opClose && len(payload) < 2:
			return 1005
		case b0&0xf == opClose:
			return int(payload[0])<<8 | int(payload[1])
		case b0&0xf >= opClose || b0&fin == 0:
			// a control frame, or part of a message
		case !room:
			t.Fatalf("frame %#x %.40q: a whole message before the close", b0, payload)
		case b0 == fin|opText && !utf8.Valid(payload):
			t.Fatalf("the room relayed invalid UTF-8 %q", payload)
		}
	}
}

// wsClosed checks the server's answer to the frames tc sent behind its
// request (see hostileCase.wsClose).
func wsClosed(t *testing.T, conn net.Conn, br *bufio.Reader, tc hostileCase) {
	t.Helper()
	code := awaitClose(t, br, inRoom(tc))
	switch {
	case code == -1 && tc.half && tc.wsClose == 1011:
		return // the peer vanished: no close frame is right too
	case code != tc.wsClose:
		t.Fatalf("the server's close code: got %d, want %d (-1: none)", code, tc.wsClose)
	}
	if !tc.half {
		conn.Write(wsFrame(fin|opClose, string([]byte{byte(code >> 8), byte(code)}))) // the client's answer
	}
	expectEOF(t, br)
}

// closeNormally closes a WebSocket as a client does: close 1000, answered
// with 1000, and then the server closes the connection.
func closeNormally(t testing.TB, conn net.Conn, br *bufio.Reader, room bool) {
	t.Helper()
	conn.Write(wsFrame(fin|opClose, "\x03\xe8"))
	if code := awaitClose(t, br, room); code != 1000 {
		t.Fatalf("websocket close: the server answered %d (-1: none), want 1000", code)
	}
	expectEOF(t, br)
}

// chatMember is a raw client in the demo's chat room beside a case's
// client that the room must refuse: it must stay unharmed.
type chatMember struct {
	conn net.Conn
	br   *bufio.Reader
	name string
}

// joinRoom joins the chat room at addr as the member beside case name and
// waits until the room relays its first message back, so that it is a
// member before the case's client comes.
func joinRoom(t testing.TB, addr, name string) *chatMember {
	t.Helper()
	conn := testkit.DialTCP(t, addr)
	br := bufio.NewReader(conn)
	io.WriteString(conn, ws("/chat", okKey))
	if resp, err := readFinal(br, "GET"); err != nil || resp.StatusCode != 101 {
		t.Fatalf("the other chat member's handshake: %v, %v; want 101", resp, err)
	}
	m := &chatMember{conn: conn, br: br, name: "beside " + name}
	m.say(t, "joined")
	return m
}

// say sends a message to the room and waits until the room relays it back.
func (m *chatMember) say(t testing.TB, what string) {
	t.Helper()
	msg := m.name + ": " + what
	m.conn.Write(wsFrame(fin|opText, msg))
	awaitText(t, m.br, msg, true)
}

// stayed checks that the member is still served after the case's client
// was refused (and that the room relayed it nothing of that client's:
// awaitText takes only valid text), then leaves.
func (m *chatMember) stayed(t testing.TB) {
	t.Helper()
	m.say(t, "still here")
	closeNormally(t, m.conn, m.br, true)
}

// holdSlot switches an echo/1 connection at addr, taking a slot of the
// server's connection cap until the caller closes it.
func holdSlot(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn := testkit.DialTCP(t, addr)
	br := bufio.NewReader(conn)
	io.WriteString(conn, up("echo/1"))
	if resp, err := readFinal(br, "GET"); err != nil || resp.StatusCode != 101 {
		t.Fatalf("the echo/1 connection that holds the slot: %v, %v; want 101", resp, err)
	}
	return conn
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
	s := startInProcess(t, timeout, nil)
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
	s := startInProcess(t, 10*time.Second, nil)
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
	wsc, wsFull := stuck(ws("/ws", okKey), wsFrame(fin|opBinary, chunk))
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
	s := startInProcess(f, 10*time.Second, nil)
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
		if p := s.n.Stats().Panics + s.panics.Load(); p != 0 {
			t.Fatalf("%d panics after %q", p, raw)
		}
	})
}
