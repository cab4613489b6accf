package websocket_test

import (
	"bufio"
	"io"
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

// server is a real loopback server: the WebSocket protocol at /ws through
// an Endpoint mount, and at every other path through a Middleware mount in
// front of testkit.Plain.
type server struct {
	*httptest.Server
	n      *negotiate.Negotiator
	closes *testkit.ConnInfos // every OnClose, in order
}

// newServer starts a server. nopts may be nil; its OnClose is replaced.
// When the test ends, the negotiator is shut down (and waits for every
// handler) and the server closed.
func newServer(t *testing.T, opts *websocket.Options, nopts *negotiate.Options, h func(*websocket.Conn) error) *server {
	t.Helper()
	p, err := websocket.New(opts, h)
	if err != nil {
		t.Fatalf("websocket.New: %v", err)
	}
	var no negotiate.Options
	if nopts != nil {
		no = *nopts
	}
	s := &server{closes: testkit.NewConnInfos()}
	no.OnClose = s.closes.Hook
	s.n = testkit.NewNegotiator(t, &no)
	var reg negotiate.Registry
	reg.Register("websocket", p)
	mux := http.NewServeMux()
	mux.Handle("/ws", s.n.Endpoint(&reg))
	mux.Handle("/", s.n.Middleware(&reg)(testkit.Plain))
	s.Server = testkit.StartServer(t, mux)
	return s
}

// ws returns the ws:// URL of a path.
func (s *server) ws(path string) string { return "ws" + strings.TrimPrefix(s.URL, "http") + path }

// host is the server's host:port, the Host its clients send.
func (s *server) host() string { return testkit.Addr(s.Server) }

// raw sends a raw request head (and what follows it) and reads the
// response.
func (s *server) raw(t *testing.T, request string) *testkit.Exchange {
	t.Helper()
	return testkit.Raw(t, s.host(), request)
}

// dial connects with gorilla's client (d nil: defaults) and closes the
// connection when the test ends.
func dial(t *testing.T, d *gws.Dialer, url string, h http.Header) (*gws.Conn, *http.Response) {
	t.Helper()
	if d == nil {
		d = &gws.Dialer{}
	}
	if d.HandshakeTimeout == 0 {
		d.HandshakeTimeout = testkit.Timeout
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
	_ = c.SetReadDeadline(time.Now().Add(testkit.Timeout))
	return c, resp
}

// echo sends every message back with its type until the connection ends.
func echo(c *websocket.Conn) error {
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

// wantCloseCode reads until the connection ends, checks the close code,
// and closes the connection, as a client does once the close frames have
// crossed.
func wantCloseCode(t *testing.T, c *gws.Conn, code int) {
	t.Helper()
	defer c.Close()
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

// testKey is RFC 6455 §1.3's key; its Sec-WebSocket-Accept is testAccept.
const (
	testKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	testAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// handshake is a valid WebSocket request head for /ws (Host example.com,
// no Origin), without the fields named in drop and with extra lines
// added.
func handshake(drop []string, extra ...string) string {
	lines := []string{"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " + testKey}
	var kept []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		keep := true
		for _, d := range drop {
			keep = keep && !strings.EqualFold(name, d)
		}
		if keep {
			kept = append(kept, l)
		}
	}
	return testkit.UpgradeRequest("/ws", "websocket", append(kept, extra...)...)
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
