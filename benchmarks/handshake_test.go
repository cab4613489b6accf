package benchmarks

import "testing"

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
			srv, stop := s.start(b, func(func() error) {})
			defer stop()
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
