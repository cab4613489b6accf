package interop_test

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
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

// testTimeout bounds each peer's whole exchange. Chromium's start-up is
// the slowest part, a few seconds on a loaded machine.
const testTimeout = 60 * time.Second

// browserPage is served at / so that the browser's WebSocket to /ws is
// same-origin and passes the default Origin check.
//
//go:embed testdata/browser.html
var browserPage []byte

// echoServer is a real loopback server: Switchyard's WebSocket echo at /ws
// (compression accepted, messages up to 16 MiB, as in examples/server) and
// the browser page at /.
type echoServer struct {
	*httptest.Server
	n *negotiate.Negotiator
	// ends receives the error the echo handler returned, once per
	// connection: a *gws.CloseError after a clean close.
	ends chan error
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	s := &echoServer{n: n, ends: make(chan error, 8)}
	p, err := websocket.New(&websocket.Options{EnableCompression: true, ReadLimit: 16 << 20}, s.echo)
	if err != nil {
		t.Fatal(err)
	}
	var reg negotiate.Registry
	reg.Register("websocket", p)
	mux := http.NewServeMux()
	mux.Handle("/ws", n.Endpoint(&reg))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(browserPage)
	})
	s.Server = testkit.StartServer(t, mux)
	return s
}

// echo sends every message back with its type until the connection ends.
func (s *echoServer) echo(c *websocket.Conn) error {
	err := echoLoop(c)
	select {
	case s.ends <- err:
	default:
	}
	return err
}

func echoLoop(c *websocket.Conn) error {
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

// wsURL is the ws:// address of the echo.
func (s *echoServer) wsURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws" }

// wantServerClose waits for the echo handler to end and checks that it saw
// the client's close frame with code 1000.
func (s *echoServer) wantServerClose(ctx context.Context, t *testing.T) {
	t.Helper()
	select {
	case err := <-s.ends:
		var ce *gws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("server handler ended with %v, want a *websocket.CloseError", err)
		}
		if got, want := ce.Code, gws.CloseNormalClosure; got != want {
			t.Fatalf("server saw close code %d, want %d", got, want)
		}
	case <-ctx.Done():
		t.Fatalf("server handler did not end: %v", ctx.Err())
	}
}

// A message is one echo of the exchange every peer does.
type message struct {
	name   string
	binary bool
	data   []byte
}

// messages are the echoes every Go peer does, in order: text (with
// non-ASCII UTF-8), binary (with bytes that are not UTF-8), and 1 MiB, more
// than gorilla's buffers and coder's default read limit, fragmented by the
// server.
func messages() []message {
	return []message{
		{"text", false, []byte("hello, switchyard ✓ — ünïcødé")},
		{"binary", true, []byte{0x00, 0x01, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff}},
		{"1 MiB", true, bigMessage()},
	}
}

// bigMessage is 1 MiB of lines that differ (a counter) but compress well,
// so that permessage-deflate is exercised over many deflate blocks.
func bigMessage() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "switchyard interop line %08d\n", i)
	}
	return b.Bytes()[:1<<20]
}

// checkHandshake checks the 101 a Go peer received.
func checkHandshake(t *testing.T, resp *http.Response, wantDeflate bool) {
	t.Helper()
	if resp == nil {
		t.Fatal("no handshake response")
	}
	if got, want := resp.StatusCode, http.StatusSwitchingProtocols; got != want {
		t.Fatalf("status %d, want %d", got, want)
	}
	if got, want := strings.ToLower(resp.Header.Get("Upgrade")), "websocket"; got != want {
		t.Errorf("Upgrade %q, want %q", got, want)
	}
	if got := resp.Header.Get("Connection"); !strings.EqualFold(got, "upgrade") {
		t.Errorf("Connection %q, want Upgrade", got)
	}
	checkExtensions(t, strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "), wantDeflate)
}

// checkExtensions checks the negotiated Sec-WebSocket-Extensions: gorilla
// on the server side answers permessage-deflate without context takeover.
func checkExtensions(t *testing.T, ext string, wantDeflate bool) {
	t.Helper()
	got := strings.Contains(ext, "permessage-deflate")
	switch {
	case wantDeflate && !got:
		t.Errorf("Sec-WebSocket-Extensions %q, want permessage-deflate", ext)
	case !wantDeflate && ext != "":
		t.Errorf("Sec-WebSocket-Extensions %q, want none (the client offered none)", ext)
	}
}

// peerReport is what the Node and browser peers, which run outside Go,
// print or leave behind as JSON.
type peerReport struct {
	Error      string     `json:"error"`
	Status     int        `json:"status"`     // Node only: the browser hides it
	Upgrade    string     `json:"upgrade"`    // Node only
	Connection string     `json:"connection"` // Node only
	Extensions string     `json:"extensions"`
	Echoes     []peerEcho `json:"echoes"`
	CloseCode  int        `json:"closeCode"`
	WasClean   bool       `json:"wasClean"` // browser only
}

type peerEcho struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// checkEchoes checks that the peer did the three echoes and all came back
// equal.
func checkEchoes(t *testing.T, r peerReport) {
	t.Helper()
	want := []string{"text", "binary", "1 MiB"}
	if len(r.Echoes) != len(want) {
		t.Fatalf("peer reported %d echoes %+v, want %d (%v)", len(r.Echoes), r.Echoes, len(want), want)
	}
	for i, e := range r.Echoes {
		if e.Name != want[i] {
			t.Errorf("echo %d is %q, want %q", i, e.Name, want[i])
		}
		if !e.OK {
			t.Errorf("echo %q: %s", e.Name, e.Detail)
		}
	}
}
