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
	n := testkit.NewNegotiator(t, &negotiate.Options{MaxConns: 1, HandshakeTimeout: 300 * time.Millisecond})
	p, err := h2c.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)
	srv := testkit.StartServer(t, n.Middleware(reg)(app))

	// The first client declares 1000 bytes and sends 10.
	stalled := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(stalled, h2ctest.RequestHead("POST", "/", "x", "Content-Length: 1000")+"\r\n"+strings.Repeat("x", 10)); err != nil {
		t.Fatal(err)
	}
	// While its body is awaited it holds the one slot: a second upgrade
	// with a body is refused before anything of its body is read.
	testkit.WaitFor(t, "the stalled body to hold the slot", func() bool {
		x := testkit.Raw(t, testkit.Addr(srv), h2ctest.RequestHead("POST", "/", "x", "Content-Length: 5")+"\r\nhello")
		return x.Resp.StatusCode == http.StatusServiceUnavailable
	})
	// The stalled one is answered 408 and closed once the timeout passes.
	resp, err := http.ReadResponse(bufio.NewReader(stalled), nil)
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
