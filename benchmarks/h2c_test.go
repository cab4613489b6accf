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
	benchH2C(b, "req/s", func(b *testing.B, c *h2cClient) (func() error, func()) {
		hc, err := c.dial()
		if err != nil {
			b.Fatal(err)
		}
		return func() error {
			// A new deadline every 4096 requests: setting it costs, and
			// one request takes far less than ioTimeout.
			if hc.next%8192 == 1 {
				_ = hc.tc.SetDeadline(time.Now().Add(ioTimeout))
			}
			return hc.get()
		}, hc.close
	})
}

// BenchmarkH2CUpgrade measures one connection per iteration: dial, send
// the upgrade request (GET /, stream 1), read the 101, send the preface and
// SETTINGS, read stream 1's response whole, and reset the connection. The
// prior-knowledge row does the same without the upgrade: preface, SETTINGS
// and GET / on stream 1. The server's teardown of one connection may
// overlap the next iteration, alike for every server.
func BenchmarkH2CUpgrade(b *testing.B) {
	benchH2C(b, "conns/s", func(b *testing.B, c *h2cClient) (func() error, func()) {
		return func() error {
			hc, err := c.dial()
			if err == nil {
				hc.close()
			}
			return err
		}, nil
	})
}

// benchH2C runs a sub-benchmark for every h2c server: prepare sets up the
// client's side against it, returning the operation of one iteration and
// what to close after the last (nil if nothing). It reports iterations per
// second as unit.
func benchH2C(b *testing.B, unit string, prepare func(b *testing.B, c *h2cClient) (op func() error, done func())) {
	for _, s := range h2cServers {
		b.Run(s.name, func(b *testing.B) {
			srv, stop := s.start(b)
			defer stop()
			op, done := prepare(b, newH2CClient(srv, s.upgrade))
			if done != nil {
				defer done()
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
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
