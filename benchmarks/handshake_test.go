package benchmarks

import (
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// BenchmarkHandshake measures one WebSocket opening handshake per
// iteration, over a new loopback TCP connection to a net/http server
// (httptest.NewServer): dial, write the upgrade request, read the 101 up to
// its blank line, then read until the server closes (every server's handler
// closes the connection as soon as it has switched) and close. The client
// is the same raw client for every server, and iterations do not overlap,
// so ns/op is the whole exchange, client and server. B/op and allocs/op
// count the client's allocations too (both ends run in this process); they
// are the same for every server, so the differences are the servers'.
func BenchmarkHandshake(b *testing.B) {
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			before := runtime.NumGoroutine()
			h, release, err := s.handler(func(func() error) {})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer func() {
				srv.Close()
				if release != nil {
					release()
				}
				// Leave nothing running into the next sub-benchmark.
				testkit.WaitFor(b, "the server's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
			}()
			c := newRawClient(srv)
			b.ReportAllocs()
			for b.Loop() {
				tc, err := c.handshake()
				if err != nil {
					b.Fatal(err)
				}
				if err := c.drainAndClose(tc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
