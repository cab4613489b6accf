package h2c_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// The upgrade request's body is read after the gate: a connection that
// sends one counts against the limits while it does (before, it was read
// in Check, invisible to MaxConns, and a second upgrade read its body too),
// and its wait is bounded by the negotiator's HandshakeTimeout (before, a
// client that stopped sending held the connection and its buffer forever).
func TestBodyReadAfterTheGateAndBounded(t *testing.T) {
	t.Parallel()
	// The timeout must outlast the second upgrade's refusal below, which
	// waits on the scheduler (a new connection, its gate, the 503): a
	// loaded machine took more than 300 ms, and the slot was free by then.
	// The test waits it out once, for the 408.
	n := testkit.NewNegotiator(t, &negotiate.Options{MaxConns: 1, HandshakeTimeout: 2 * time.Second})
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)
	srv := testkit.StartServer(t, n.Middleware(reg)(app))

	// The first client declares 1000 bytes and, once the 100 Continue says
	// that the gate has let it through and its body is awaited, sends 10.
	stalled := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(stalled, h2ctest.RequestHead("POST", "/", "x", "Content-Length: 1000", "Expect: 100-continue")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(stalled)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("stalled upgrade: %v %v, want 100 Continue", resp, err)
	}
	if _, err := io.WriteString(stalled, strings.Repeat("x", 10)); err != nil {
		t.Fatal(err)
	}
	// While its body is awaited it holds the one slot: a second upgrade
	// with a body is refused before anything of its body is read.
	if x := testkit.Raw(t, testkit.Addr(srv), h2ctest.RequestHead("POST", "/", "x", "Content-Length: 5")+"\r\nhello"); x.Resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade while the stalled body holds the slot: %d, want 503", x.Resp.StatusCode)
	}
	// The stalled one is answered 408 and closed once the timeout passes.
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("stalled upgrade: %v, want a 408", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled upgrade: %d, want 408", resp.StatusCode)
	}
	// The slot is free again: an upgrade with its whole body switches.
	c, first, err := h2ctest.Upgrade(testkit.DialTCP(t, testkit.Addr(srv)), h2ctest.RequestHead("POST", "/", "x", "Content-Length: 5"), []byte("hello"))
	if err != nil || first == nil {
		t.Fatalf("upgrade after the slot freed: %v", err)
	}
	if !strings.Contains(string(first.Body), "HTTP/2.0 2 5 ") {
		t.Errorf("stream 1 = %q, want the 5-byte body replayed", first.Body)
	}
	c.Conn.Close()
}
