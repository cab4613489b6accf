package protocols_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/upgrade"
	"github.com/switchyard-http/switchyard/protocols"
)

// FuzzTunnelBackend has a backend answer the tunnel's upgrade request with
// raw bytes and close. Whatever they are, the client gets an HTTP/1.1
// answer that follows what the module's client makes of them (the same
// bytes read by upgrade.Client, as the tunnel reads them): after a switch,
// a 101 naming the token and then exactly the bytes behind the backend's
// head, and the end; a refusal with a status of 100 to 599 relayed with
// it; anything else 502, never a 5xx of the gateway's own making besides.
func FuzzTunnelBackend(f *testing.F) {
	const switch101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n"
	for _, s := range []string{
		switch101 + "\r\n",
		switch101 + "X-Backend: yes\r\nContent-Length: 3\r\n\r\nbytes behind",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + switch101 + "\r\nx",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 403 Forbidden\r\nSet-Cookie: a=1\r\nContent-Type: text/html\r\nContent-Length: 7\r\n\r\nno\r\nway",
		"HTTP/1.1 426 Upgrade Required\r\nUpgrade: echo/2\r\nConnection: Upgrade, X-Hop\r\nX-Hop: 1\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nTrailer: X\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
		"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n4\r\noops\r\n0\r\n\r\n",
		"HTTP/1.1 999 Nine\r\n\r\n",
		"HTTP/1.1 600 Six\r\n\r\n",
		"HTTP/1.1 599 Five\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: hi\n\n",
		"HTTP/1.0 200 OK\r\n\r\nrest",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	// One backend for the tunnel and one for the reference, each answering
	// with the input of the moment (a worker runs one at a time).
	var answer atomic.Pointer[[]byte]
	serve := func(c net.Conn, _ string) { _, _ = c.Write(*answer.Load()) }
	ref := testkit.NewTCPServer(f, serve)
	u, err := url.Parse(ref.URL())
	if err != nil {
		f.Fatal(err)
	}
	tun, err := protocols.NewTunnel(testkit.NewTCPServer(f, serve).URL(), nil)
	if err != nil {
		f.Fatal(err)
	}
	gw := testkit.StartServer(f, tun.Middleware(testkit.NewNegotiator(f, nil))(plain))
	f.Fuzz(func(t *testing.T, raw []byte) {
		answer.Store(&raw)
		// What the module's client makes of raw.
		want, werr := (&upgrade.Client{}).Do(context.Background(), &upgrade.Request{URL: u, Offer: []string{"echo/1"}})
		var behind []byte
		if werr == nil && want.Conn != nil {
			var err error
			if behind, err = io.ReadAll(want.Conn); err != nil {
				t.Fatalf("the reference read behind the 101: %v", err)
			}
			want.Conn.Close()
		}

		e := testkit.Raw(t, testkit.Addr(gw), testkit.UpgradeRequest("/", "echo/1"))
		got := e.Resp.StatusCode
		switch {
		case werr == nil && want.Conn != nil:
			if got != http.StatusSwitchingProtocols || e.Resp.Header.Get("Upgrade") != "echo/1" {
				t.Fatalf("the backend switched with %q; the client got %d, Upgrade %q", raw, got, e.Resp.Header.Get("Upgrade"))
			}
			testkit.CloseWrite(t, e.Conn)
			if rest := testkit.ReadAll(t, e.BR); rest != string(behind) {
				t.Fatalf("read %q behind the 101, want the backend's %q", rest, behind)
			}
		case werr == nil && want.Response.StatusCode >= 100 && want.Response.StatusCode <= 599:
			if got != want.Response.StatusCode {
				t.Fatalf("the backend refused with %d; the client got %d (%q), for %q", want.Response.StatusCode, got, e.Body, raw)
			}
		default:
			if got != http.StatusBadGateway {
				t.Fatalf("the backend's answer %q is not valid (%v); the client got %d (%q), want 502", raw, werr, got, e.Body)
			}
		}
	})
}
