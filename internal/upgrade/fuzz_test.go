package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// The bounds FuzzResponse reads under: small, so that the fuzzer reaches
// them.
const (
	fuzzMaxHead    = 1024
	fuzzMaxRefusal = 64
)

// FuzzResponse has a server answer an upgrade request with raw bytes and
// close the connection. Whatever the bytes, Do returns without waiting for
// its timeout (the server has closed), ResponseHeads are the first bytes
// that came, within the bound unless Do fails for it, and:
//   - a switch is a 101 that CheckSwitch accepts, and its connection reads
//     exactly the bytes behind the head: raw is the heads and then those,
//     none lost, none twice;
//   - a refusal is a final head (not an interim 1xx), its body within
//     MaxRefusalBytes;
//   - ErrHeadTooLarge comes only for heads longer than the bound.
func FuzzResponse(f *testing.F) {
	const switch101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n\r\n"
	for _, s := range []string{
		switch101,
		switch101 + "bytes behind the head",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nTransfer-Encoding: chunked\r\nConnection: Upgrade\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + switch101 + "x",
		"HTTP/1.1 199 Last Interim\r\n\r\n" + switch101,
		"HTTP/1.1 200 OK\r\n\r\n" + switch101,
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1, websocket\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\n\r\n",
		"HTTP/1.0 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: upgrade\r\n\r\n",
		"HTTP/1.1 426 Upgrade Required\r\nUpgrade: echo/2\r\nConnection: Upgrade\r\nContent-Length: 9\r\n\r\nno echo/1",
		"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n" + strings.Repeat("body ", 20),
		"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nshort",
		"HTTP/1.1 999 Nine\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 101\r\n\r\n",
		strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 9) + switch101,
		"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + strings.Repeat("p", fuzzMaxHead) + "\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo/1\r\nConnection: Upgrade\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	offer := []string{"echo/1", "websocket"}
	// One server for every input (a worker runs them one at a time): a
	// listener per input left its port in TIME_WAIT after each, and a
	// minute of fuzzing ran out of ports ("bind: address already in use").
	var answer atomic.Pointer[[]byte]
	srv := testkit.NewTCPServer(f, func(c net.Conn, _ string) {
		_, _ = c.Write(*answer.Load()) // then the server closes
	})
	f.Fuzz(func(t *testing.T, raw []byte) {
		answer.Store(&raw)
		c := upgrade.Client{Timeout: testkit.Timeout, MaxResponseHeaderBytes: fuzzMaxHead, MaxRefusalBytes: fuzzMaxRefusal}
		res, err := c.Do(context.Background(), &upgrade.Request{URL: mustURL(t, srv.URL()), Offer: offer})
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("Do waited for its timeout on a server that had closed: %v, for %q", err, raw)
		}
		if res == nil {
			t.Fatalf("Do = nil Result, %v, for %q", err, raw)
		}
		heads := res.ResponseHeads
		if !bytes.HasPrefix(raw, heads) {
			t.Fatalf("ResponseHeads %q are not what came first, for %q", heads, raw)
		}
		if errors.Is(err, upgrade.ErrHeadTooLarge) {
			if len(raw) <= fuzzMaxHead {
				t.Fatalf("ErrHeadTooLarge for %d bytes, under the bound of %d: %q", len(raw), fuzzMaxHead, raw)
			}
			if len(heads) > fuzzMaxHead+4096 {
				t.Fatalf("kept %d bytes of heads past the bound", len(heads))
			}
			return
		}
		if len(heads) > fuzzMaxHead {
			t.Fatalf("ResponseHeads of %d bytes, over the bound of %d, and Do = %v", len(heads), fuzzMaxHead, err)
		}
		if err != nil {
			if res.Conn != nil {
				t.Fatalf("Do failed (%v) but returned a connection", err)
			}
			if errors.Is(err, upgrade.ErrBadSwitch) && (res.Response == nil || res.Response.StatusCode != http.StatusSwitchingProtocols) {
				t.Fatalf("ErrBadSwitch for %v", res.Response)
			}
			return
		}
		resp := res.Response
		if resp == nil {
			t.Fatalf("no error and no Response for %q", raw)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("an interim %d is the final response, for %q", resp.StatusCode, raw)
		}
		if res.Conn == nil {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				t.Fatalf("a 101 without error and without a connection, for %q", raw)
			}
			if len(res.Body) > fuzzMaxRefusal {
				t.Fatalf("kept %d bytes of the refusal's body, over %d", len(res.Body), fuzzMaxRefusal)
			}
			return
		}
		defer res.Conn.Close()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("switched on a %d", resp.StatusCode)
		}
		if err := upgrade.CheckSwitch(resp, offer); err != nil {
			t.Fatalf("switched on a 101 CheckSwitch rejects: %v", err)
		}
		behind, err := io.ReadAll(res.Conn)
		if err != nil {
			t.Fatalf("reading behind the 101: %v", err)
		}
		if got := append(bytes.Clone(heads), behind...); !bytes.Equal(got, raw) {
			t.Fatalf("heads %q and then %q read from the connection, want %q", heads, behind, raw)
		}
	})
}
