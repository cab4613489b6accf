package benchmarks

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// wsSizes are the message sizes of the WebSocket benchmarks.
var wsSizes = []int{64, 16 << 10}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkWSMessages measures WebSocket messages over one open WebSocket
// per transport: an HTTP/1.1 upgrade on TCP (h1) or TLS (h1-tls), and an
// extended CONNECT stream (RFC 8441) on prior-knowledge h2c or TLS h2.
// Every iteration is a ping-pong: one binary message sent and its echo
// read whole. SetBytes is the message's size (each way). Same server
// handler and same client framing for every transport; the client is
// raw (no goroutine of its own) for HTTP/1.1 and HTTP/2 alike.
func BenchmarkWSMessages(b *testing.B) {
	s := startWSServers(b)
	defer s.stop(b)
	eachWSTransport(b, s, func(b *testing.B, m wsMessage, open func() (wsSession, error)) {
		ws, err := open()
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(m.payload)))
		b.ReportAllocs()
		for b.Loop() {
			if err := ws.echo(m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		if err := ws.close(); err != nil {
			b.Fatal(err)
		}
	})
}

// eachWSTransport runs bench as a sub-benchmark for every message size
// and, within it, every transport of wsTransports, with a message of that
// size and the transport's opener.
func eachWSTransport(b *testing.B, s *wsServers, bench func(b *testing.B, m wsMessage, open func() (wsSession, error))) {
	for _, size := range wsSizes {
		m := newWSMessage(size)
		b.Run(sizeName(size), func(b *testing.B) {
			for _, t := range wsTransports {
				b.Run(t.name, func(b *testing.B) {
					open, done, err := t.conn(s)
					if err != nil {
						b.Fatal(err)
					}
					defer done()
					bench(b, m, open)
				})
			}
		})
	}
}

// BenchmarkWSMessagesConcurrent is BenchmarkWSMessages with 4×GOMAXPROCS
// WebSockets at once, each driven by a goroutine of its own
// (b.RunParallel): over HTTP/1.1 each is a connection of its own, over
// HTTP/2 they are streams of one connection.
func BenchmarkWSMessagesConcurrent(b *testing.B) {
	s := startWSServers(b)
	defer s.stop(b)
	const parallelism = 4
	eachWSTransport(b, s, func(b *testing.B, m wsMessage, open func() (wsSession, error)) {
		sessions := make([]wsSession, parallelism*runtime.GOMAXPROCS(0))
		for i := range sessions {
			var err error
			if sessions[i], err = open(); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		b.SetBytes(int64(len(m.payload)))
		b.SetParallelism(parallelism)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ws := sessions[next.Add(1)-1]
			for pb.Next() {
				if err := ws.echo(m); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		for _, ws := range sessions {
			if err := ws.close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// wsEstablish lists what BenchmarkWSEstablish compares: a new connection
// and an HTTP/1.1 upgrade per WebSocket (TCP; TLS with a full handshake;
// TLS resuming the session, as a browser would), against a new stream on
// an HTTP/2 connection opened once (h2c, TLS h2).
var wsEstablish = []wsTransport{
	{"h1-tcp", false, h1Transport(false, false)},
	{"h1-tls", false, h1Transport(true, false)},
	{"h1-tls-resumed", false, h1Transport(true, true)},
	{"h2c-stream", true, h2Transport(false)},
	{"h2-stream", true, h2Transport(true)},
}

// wsOnce opens a WebSocket, echoes one message and closes it
// cleanly (close frames both ways, then the end of the connection or of the
// stream).
func wsOnce(open func() (wsSession, error), m wsMessage) error {
	ws, err := open()
	if err != nil {
		return err
	}
	if err := ws.echo(m); err != nil {
		_ = ws.close()
		return err
	}
	return ws.close()
}

// BenchmarkWSEstablish measures the life of a short WebSocket per
// iteration: open, one 64-byte echo, clean close. Over HTTP/1.1 that is a
// new connection (and TLS session) with an upgrade; over HTTP/2 a new
// extended CONNECT stream on a connection opened before timing.
func BenchmarkWSEstablish(b *testing.B) {
	s := startWSServers(b)
	defer s.stop(b)
	m := newWSMessage(64)
	for _, t := range wsEstablish {
		b.Run(t.name, func(b *testing.B) {
			open, done, err := t.conn(s)
			if err != nil {
				b.Fatal(err)
			}
			defer done()
			if err := wsOnce(open, m); err != nil { // warms the TLS session cache
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := wsOnce(open, m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ws/s")
		})
	}
}

// TestWSTransports checks the set-up of the WebSocket benchmarks over
// every transport: sessions echo both sizes (and 100 KiB), close cleanly
// (close frames both ways, then EOF or END_STREAM, not a reset), and run
// concurrently (several streams on one HTTP/2 connection), the HTTP/2
// ones really are switched on HTTP/2 streams (the negotiator's OverH2),
// the resumed TLS sessions resume, and nothing is left running.
func TestWSTransports(t *testing.T) {
	s := startWSServers(t)
	defer s.stop(t)
	msgs := []wsMessage{newWSMessage(64), newWSMessage(16 << 10), newWSMessage(100 << 10)}
	for _, tr := range append(wsTransports, wsEstablish[2]) {
		t.Run(tr.name, func(t *testing.T) {
			before := s.n.Stats()
			open, done, err := tr.conn(s)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			for _, m := range msgs {
				if err := wsOnce(open, m); err != nil {
					t.Fatal(err)
				}
			}
			if tr.name == "h1-tls-resumed" {
				ws, err := open()
				if err != nil {
					t.Fatal(err)
				}
				if !ws.(*h1WS).resumed {
					t.Error("the TLS session was not resumed")
				}
				if err := ws.close(); err != nil {
					t.Fatal(err)
				}
			}
			const concurrent = 4
			var wg sync.WaitGroup
			errs := make(chan error, concurrent)
			for range concurrent {
				wg.Go(func() {
					ws, err := open()
					if err != nil {
						errs <- err
						return
					}
					for i := range 30 {
						if err := ws.echo(msgs[i%len(msgs)]); err != nil {
							_ = ws.close()
							errs <- err
							return
						}
					}
					errs <- ws.close()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			after := s.n.Stats()
			switches := int64(len(msgs) + concurrent)
			if tr.name == "h1-tls-resumed" {
				switches++
			}
			if got, want := after.Switched["websocket"]-before.Switched["websocket"], switches; got != want {
				t.Errorf("%d switches, want %d", got, want)
			}
			wantH2 := int64(0)
			if tr.h2 {
				wantH2 = int64(len(msgs) + concurrent)
			}
			if got := after.OverH2["websocket"] - before.OverH2["websocket"]; got != wantH2 {
				t.Errorf("%d switches over HTTP/2, want %d", got, wantH2)
			}
			testkit.WaitFor(t, "every WebSocket to end on the server", func() bool { return s.n.Stats().Active["websocket"] == 0 })
		})
	}
}
