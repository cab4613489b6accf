package interop_test

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	cws "github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	xws "golang.org/x/net/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/websocket"
)

// testTimeout bounds each peer's whole exchange. Chromium's start-up is
// the slowest part, a few seconds on a loaded machine.
const testTimeout = 60 * time.Second

// TestGorillaDialer: gorilla's own client, with and without
// permessage-deflate.
func TestGorillaDialer(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"plain", "deflate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			compress := mode == "deflate"
			s, ctx := newEchoServer(t)
			var wire countingDialer
			c, resp := wstest.Dial(t, &gws.Dialer{EnableCompression: compress, NetDialContext: wire.DialContext}, s.wsURL(), nil)
			checkHandshake(t, resp, compress)
			deadline, _ := ctx.Deadline()
			c.SetReadDeadline(deadline)
			c.SetWriteDeadline(deadline)

			echoEach(t, func(m message) (bool, []byte, error) {
				before := wire.read.Load()
				if err := c.WriteMessage(m.gorillaType(), m.data); err != nil {
					return false, nil, err
				}
				gotType, got, err := c.ReadMessage()
				// Negotiating is not enough: the server must also deflate
				// what it writes (the 1 MiB message compresses tenfold).
				if onWire := wire.read.Load() - before; compress && len(m.data) == 1<<20 && onWire > 1<<19 {
					t.Errorf("%s: %d bytes on the wire for a %d-byte echo: the server did not compress", m.name, onWire, len(m.data))
				}
				return gotType == gws.BinaryMessage, got, err
			})

			// The client starts the close; the server's handler sees 1000
			// and gorilla answers with the same code.
			wstest.CloseNormally(t, c)
			s.wantServerClose(ctx, t)
		})
	}
}

// countingDialer dials TCP and counts the bytes read from the server.
type countingDialer struct{ read atomic.Int64 }

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &d.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestCoder: github.com/coder/websocket in each of its compression modes.
func TestCoder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode cws.CompressionMode
	}{
		{"plain", cws.CompressionDisabled},
		{"no-context-takeover", cws.CompressionNoContextTakeover},
		// coder offers context takeover; gorilla answers without it, and
		// coder must accept that.
		{"context-takeover", cws.CompressionContextTakeover},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ctx := newEchoServer(t)
			c, resp, err := cws.Dial(ctx, s.wsURL(), &cws.DialOptions{CompressionMode: tc.mode})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.CloseNow()
			checkHandshake(t, resp, tc.mode != cws.CompressionDisabled)
			c.SetReadLimit(2 << 20) // coder's default is 32 KiB

			echoEach(t, func(m message) (bool, []byte, error) {
				typ := cws.MessageText
				if m.binary {
					typ = cws.MessageBinary
				}
				if err := c.Write(ctx, typ, m.data); err != nil {
					return false, nil, err
				}
				gotType, got, err := c.Read(ctx)
				return gotType == cws.MessageBinary, got, err
			})

			// Close returns nil only when the server answers with the same
			// code.
			if err := c.Close(cws.StatusNormalClosure, "done"); err != nil {
				t.Errorf("close: %v", err)
			}
			s.wantServerClose(ctx, t)
		})
	}
}

// TestXNet: golang.org/x/net/websocket, which offers no extensions.
func TestXNet(t *testing.T) {
	t.Parallel()
	s, ctx := newEchoServer(t)
	// x/net requires an Origin; the server's own is same-origin.
	cfg, err := xws.NewConfig(s.wsURL(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.DialContext(ctx)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	// x/net does not expose the 101; a completed dial means it checked
	// Upgrade, Connection and Sec-WebSocket-Accept.

	echoEach(t, func(m message) (bool, []byte, error) {
		c.PayloadType = xws.TextFrame
		if m.binary {
			c.PayloadType = xws.BinaryFrame
		}
		if _, err := c.Write(m.data); err != nil {
			return false, nil, err
		}
		// x/net's Receive returns one frame, not one message, and gorilla
		// fragments large messages at its write buffer size: take the
		// first frame with its type, then the continuations as a stream.
		var got []byte
		var gotType byte
		typed := xws.Codec{Unmarshal: func(data []byte, payloadType byte, _ any) error {
			got, gotType = data, payloadType
			return nil
		}}
		if err := typed.Receive(c, nil); err != nil {
			return false, nil, err
		}
		if n := len(got); n < len(m.data) {
			got = append(got, make([]byte, len(m.data)-n)...)
			if _, err := io.ReadFull(c, got[n:]); err != nil {
				return false, nil, fmt.Errorf("reading the continuation: %w", err)
			}
		}
		return gotType == xws.BinaryFrame, got, nil
	})

	// x/net's Close sends close 1000 and closes the socket without waiting
	// for the answer, so only the server's side can be checked.
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	s.wantServerClose(ctx, t)
}

// TestNodeWS: Node's ws package (node/client.mjs), with and without
// permessage-deflate.
func TestNodeWS(t *testing.T) {
	t.Parallel()
	node, script := nodeClient(t)
	for _, mode := range []string{"plain", "deflate"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s, ctx := newEchoServer(t)
			var stdout, stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, node, script, s.wsURL(), mode)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runErr := cmd.Run()
			var r peerReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("node: %v; stdout %q; stderr %q", runErr, stdout.String(), stderr.String())
			}
			if runErr != nil || r.Error != "" {
				t.Fatalf("node: %v: %s; stderr %q", runErr, r.Error, stderr.String())
			}

			if got, want := r.Status, 101; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if got, want := strings.ToLower(r.Upgrade), "websocket"; got != want {
				t.Errorf("Upgrade %q, want %q", got, want)
			}
			if !strings.EqualFold(r.Connection, "upgrade") {
				t.Errorf("Connection %q, want Upgrade", r.Connection)
			}
			checkExtensions(t, r.Extensions, mode == "deflate")
			checkEchoes(t, r)
			if got, want := r.CloseCode, 1000; got != want {
				t.Errorf("node saw close code %d, want %d", got, want)
			}
			s.wantServerClose(ctx, t)
		})
	}
}

// TestChromium: headless Chromium's own WebSocket, from a page served by the
// same server (so Origin is same-origin). Chromium always offers
// permessage-deflate.
func TestChromium(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	s, ctx := newEchoServer(t)
	bctx := startBrowser(ctx, t, browser)

	if err := chromedp.Do(bctx, chromedp.Navigate(s.URL+"/")); err != nil {
		t.Fatalf("chromium (%s): navigate: %v", browser, err)
	}
	r := pageReport(bctx, t, "chromium ("+browser+")", 30*time.Second)
	if got, want := r.CloseCode, 1000; got != want || !r.WasClean {
		t.Errorf("browser saw close code %d (clean %v), want %d, clean", got, r.WasClean, want)
	}
	s.wantServerClose(ctx, t)

}

// startBrowser starts headless Chromium (the binary browser) for ctx, with
// the extra options, and returns its chromedp context. The browser is
// closed, and waited for, when the test ends, so that its process and
// chromedp's goroutines are gone before the leak check.
func startBrowser(ctx context.Context, t *testing.T, browser string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil {
			t.Logf("closing chromium: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// TestShutdownGoingAway: the negotiator's Shutdown closes a live WebSocket
// with 1001 (going away), and a real client's answering close lets Shutdown
// return before its deadline.
func TestShutdownGoingAway(t *testing.T) {
	t.Parallel()
	t.Run("gorilla", func(t *testing.T) {
		t.Parallel()
		s, ctx := newEchoServer(t)
		c, _ := wstest.Dial(t, nil, s.wsURL(), nil)
		wstest.WantEcho(t, c, gws.TextMessage, []byte("before shutdown"))
		done := shutdown(ctx, s)
		wstest.WantClose(t, c, gws.CloseGoingAway)
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Run("coder", func(t *testing.T) {
		t.Parallel()
		s, ctx := newEchoServer(t)
		c, _, err := cws.Dial(ctx, s.wsURL(), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		if err := c.Write(ctx, cws.MessageText, []byte("before shutdown")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}

		done := shutdown(ctx, s)
		_, _, err = c.Read(ctx)
		if got, want := cws.CloseStatus(err), cws.StatusGoingAway; got != want {
			t.Errorf("read during shutdown: %v (status %d), want status %d", err, got, want)
		}
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
}

// shutdown starts the negotiator's Shutdown, bounded well inside ctx so
// that a connection it cannot close gracefully fails the test rather than
// timing it out.
func shutdown(ctx context.Context, s *echoServer) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- s.n.Shutdown(ctx)
	}()
	return done
}

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

// newEchoServer starts an echo server, and returns it with a context for
// the peer's whole exchange: it ends after testTimeout, or with the test.
func newEchoServer(t *testing.T) (*echoServer, context.Context) {
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
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return s, ctx
}

// echo sends every message back with its type until the connection ends.
func (s *echoServer) echo(c *websocket.Conn) error {
	err := wstest.Echo(c)
	select {
	case s.ends <- err:
	default:
	}
	return err
}

// wsURL is the ws:// address of the echo.
func (s *echoServer) wsURL() string { return wstest.URL(s.URL, "/ws") }

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

// gorillaType is m's message type in gorilla's terms.
func (m message) gorillaType() int {
	if m.binary {
		return gws.BinaryMessage
	}
	return gws.TextMessage
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

// echoEach does the echoes of messages() through a Go peer: roundTrip
// sends m as a text or binary message and returns the message that came
// back, which must be the same, of the same kind.
func echoEach(t *testing.T, roundTrip func(m message) (binary bool, got []byte, err error)) {
	t.Helper()
	for _, m := range messages() {
		binary, got, err := roundTrip(m)
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if binary != m.binary {
			t.Errorf("%s: echoed as binary=%v, want %v", m.name, binary, m.binary)
		}
		if !bytes.Equal(got, m.data) {
			t.Errorf("%s: echo differs: got %d bytes, want %d", m.name, len(got), len(m.data))
		}
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

// pageReport waits up to wait for the page's exchange to leave its
// report in window.interop (what names the exchange in a failure), fails
// the test if it reports an error, and checks its compression (a browser
// always offers permessage-deflate) and its echoes.
func pageReport(bctx context.Context, t *testing.T, what string, wait time.Duration) peerReport {
	t.Helper()
	raw, err := chromedp.Run(bctx, chromedp.Poll[string](`window.interop`, chromedp.WithPollingTimeout(wait)))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var r peerReport
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("page report %q: %v", raw, err)
	}
	if r.Error != "" {
		t.Fatalf("page: %s", r.Error)
	}
	checkExtensions(t, r.Extensions, true)
	checkEchoes(t, r)
	return r
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
