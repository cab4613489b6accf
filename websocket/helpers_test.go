package websocket_test

import (
	"bufio"
	"context"
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
	"github.com/switchyard-http/switchyard/websocket"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// testTimeout bounds every wait of a test; tests never assert speed.
const testTimeout = 10 * time.Second

// server is a real loopback server: the WebSocket protocol at /ws through
// an Endpoint mount, and at every other path through a Middleware mount
// in front of a plain handler that answers "plain".
type server struct {
	*httptest.Server
	n      *negotiate.Negotiator
	closes chan negotiate.ConnInfo // every OnClose, in order
}

// newServer starts a server. nopts may be nil; its OnClose is replaced.
// The cleanup shuts the negotiator down (which waits for every handler)
// and then the server.
func newServer(t *testing.T, opts *websocket.Options, nopts *negotiate.Options, h func(*gws.Conn) error) *server {
	t.Helper()
	p, err := websocket.New(opts, h)
	if err != nil {
		t.Fatalf("websocket.New: %v", err)
	}
	s := &server{closes: make(chan negotiate.ConnInfo, 16)}
	var no negotiate.Options
	if nopts != nil {
		no = *nopts
	}
	no.OnClose = func(ci negotiate.ConnInfo) { s.closes <- ci }
	s.n, err = negotiate.New(&no)
	if err != nil {
		t.Fatalf("negotiate.New: %v", err)
	}
	var reg negotiate.Registry
	if err := reg.Register("websocket", p); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", s.n.Endpoint(&reg))
	mux.Handle("/", s.n.Middleware(&reg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "plain")
	})))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.n.Shutdown(ctx); err != nil {
			t.Errorf("negotiator shutdown: %v", err)
		}
		s.Close()
	})
	return s
}

// ws returns the ws:// URL of a path.
func (s *server) ws(path string) string { return "ws" + strings.TrimPrefix(s.URL, "http") + path }

// host is the server's host:port, the Host its clients send.
func (s *server) host() string { return strings.TrimPrefix(s.URL, "http://") }

// nextClose waits for the next OnClose.
func (s *server) nextClose(t *testing.T) negotiate.ConnInfo {
	t.Helper()
	select {
	case ci := <-s.closes:
		return ci
	case <-time.After(testTimeout):
		t.Fatal("no OnClose for the WebSocket connection")
		return negotiate.ConnInfo{}
	}
}

// dial connects with gorilla's client (d nil: defaults) and closes the
// connection at the end of the test.
func dial(t *testing.T, d *gws.Dialer, url string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	if d == nil {
		d = &gws.Dialer{}
	}
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = testTimeout
	}
	c, resp, err := d.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	return c, resp
}

// echo sends every message back with its type until the connection ends.
func echo(c *gws.Conn) error {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if err := c.WriteMessage(typ, p); err != nil {
			return err
		}
	}
}

// wantEcho sends a message and checks that it comes back unchanged.
func wantEcho(t *testing.T, c *gws.Conn, typ int, msg []byte) {
	t.Helper()
	if err := c.WriteMessage(typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	gotTyp, got, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if gotTyp != typ || string(got) != string(msg) {
		t.Fatalf("echo: got type %d, %d bytes; want type %d, %d bytes", gotTyp, len(got), typ, len(msg))
	}
}

// wantCloseCode reads until the connection ends and checks the close code.
func wantCloseCode(t *testing.T, c *gws.Conn, code int) {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if !gws.IsCloseError(err, code) {
			t.Fatalf("client read ended with %v, want close code %d", err, code)
		}
		return
	}
}

// handshakeLines is a valid handshake of a client on host, one field line
// each, in the order a browser sends them (Origin omitted).
func handshakeLines(host string) []string {
	return []string{
		"Host: " + host,
		"Connection: Upgrade",
		"Upgrade: websocket",
		"Sec-WebSocket-Version: 13",
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	}
}

// rawRequest builds a request head from a method, a target and field lines.
func rawRequest(method, target string, lines []string) string {
	return method + " " + target + " HTTP/1.1\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// without returns lines minus those of the named field (case-insensitive).
func without(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		if k, _, _ := strings.Cut(l, ":"); !strings.EqualFold(k, name) {
			out = append(out, l)
		}
	}
	return out
}

// rawConn opens a TCP connection to the server, closed at the end of the
// test, with a read deadline.
func rawConn(t *testing.T, s *server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	return c
}

// exchange writes raw bytes and reads one response with its body (none for
// a 101). The reader is returned for what follows a 101.
func exchange(t *testing.T, s *server, raw string) (*http.Response, string, *bufio.Reader, net.Conn) {
	t.Helper()
	c := rawConn(t, s)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, "", br, c
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body), br, c
}

// maskedFrame is a final client frame (payload under 126 bytes).
func maskedFrame(opcode byte, payload []byte) []byte {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := []byte{0x80 | opcode, 0x80 | byte(len(payload))}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// readFrame reads an unmasked server frame with a payload under 126 bytes.
func readFrame(t *testing.T, br *bufio.Reader) (b0 byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
	}
	if h[1]&0x80 != 0 || h[1] >= 126 {
		t.Fatalf("frame header % x: want unmasked with a short payload", h)
	}
	payload = make([]byte, h[1])
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return h[0], payload
}
