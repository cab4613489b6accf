package benchmarks

import (
	"testing"
	"time"
)

// BenchmarkH2CRequests measures requests over one HTTP/2 connection: the
// connection is opened once (upgraded, or prior knowledge), then every
// iteration is one GET on the next stream (3, 5, 7, … after an upgrade;
// 3, 5, … after prior knowledge's stream 1), sent and read whole before the
// next. The client is the same for every server; B/op and allocs/op count
// its allocations too.
func BenchmarkH2CRequests(b *testing.B) {
	for _, s := range h2cServers {
		b.Run(s.name, func(b *testing.B) {
			srv, done := s.start(b)
			defer done()
			hc, err := newH2CClient(srv, s.upgrade).dial()
			if err != nil {
				b.Fatal(err)
			}
			defer hc.close()
			b.ReportAllocs()
			for b.Loop() {
				if err := hc.get(); err != nil {
					b.Fatal(err)
				}
				// A new deadline every 4096 requests: setting it
				// costs, and one request takes far less than ioTimeout.
				if hc.next%8192 == 1 {
					_ = hc.tc.SetDeadline(time.Now().Add(ioTimeout))
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkH2CUpgrade measures one connection per iteration: dial, send
// the upgrade request (GET /, stream 1), read the 101, send the preface and
// SETTINGS, read stream 1's response whole, and reset the connection. The
// prior-knowledge row does the same without the upgrade: preface, SETTINGS
// and GET / on stream 1. The server's teardown of one connection may
// overlap the next iteration, alike for every server.
func BenchmarkH2CUpgrade(b *testing.B) {
	for _, s := range h2cServers {
		b.Run(s.name, func(b *testing.B) {
			srv, done := s.start(b)
			defer done()
			c := newH2CClient(srv, s.upgrade)
			b.ReportAllocs()
			for b.Loop() {
				hc, err := c.dial()
				if err != nil {
					b.Fatal(err)
				}
				hc.close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
		})
	}
}

// TestH2CServers checks the set-up the h2c benchmarks rely on, for every
// server: the client's connection (upgraded or prior knowledge) gets 200
// and the body on stream 1 and on later streams, and nothing is left
// running once the client and the server are closed.
func TestH2CServers(t *testing.T) {
	for _, s := range h2cServers {
		t.Run(s.name, func(t *testing.T) {
			srv, done := s.start(t)
			defer done()
			c := newH2CClient(srv, s.upgrade)
			for range 3 {
				hc, err := c.dial()
				if err != nil {
					t.Fatal(err)
				}
				for range 5 {
					if err := hc.get(); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := hc.next, uint32(13); got != want {
					t.Errorf("next stream %d, want %d", got, want)
				}
				hc.close()
			}
		})
	}
}
