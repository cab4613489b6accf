package benchmarks

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// idleConns is how many connections each round of BenchmarkIdleConn holds.
const idleConns = 1000

// BenchmarkIdleConn measures what an idle switched WebSocket connection
// holds on the server. Each iteration is one round: against a fresh
// httptest server it opens idleConns connections with the raw client (the
// same for every server), waits until every server handler is blocked
// reading its first message, and compares runtime.MemStats after a GC with
// a baseline taken before the first dial (HeapAlloc: live heap objects;
// StackInuse: goroutine stacks) and the goroutine count. Then it closes
// every connection and waits for every handler to return and every
// goroutine to end before the next round.
//
// Both ends of each connection live in this process, so the figures include
// the client's end: a *net.TCPConn, no goroutine, no buffer (the client
// reads each 101 through one reused bufio.Reader and keeps only the conn).
// The "tcp" sub-benchmark measures that floor: the same client ends
// connected to a listener that accepts and keeps bare *net.TCPConns with no
// goroutine per connection. A server's own cost per connection is its
// figure minus tcp's. All figures are per connection (divided by
// idleConns) and averaged over the rounds; ns/op is the time of a round and
// means nothing here.
func BenchmarkIdleConn(b *testing.B) {
	raiseFileLimit(b, 2*idleConns+256)
	b.Run("tcp", func(b *testing.B) {
		var sum idleFigures
		for range b.N {
			sum.add(measureTCP(b))
		}
		sum.report(b)
	})
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			var sum idleFigures
			for range b.N {
				sum.add(measureIdle(b, s))
			}
			sum.report(b)
		})
	}
}

type idleFigures struct {
	heap, stack, goroutines float64 // per connection
	rounds                  int
}

func (f *idleFigures) add(g idleFigures) {
	f.heap += g.heap
	f.stack += g.stack
	f.goroutines += g.goroutines
	f.rounds++
}

func (f *idleFigures) report(b *testing.B) {
	n := float64(f.rounds)
	b.ReportMetric(f.heap/n, "heapB/conn")
	b.ReportMetric(f.stack/n, "stackB/conn")
	b.ReportMetric((f.heap+f.stack)/n, "totalB/conn")
	b.ReportMetric(f.goroutines/n, "goroutines/conn")
}

type snapshot struct {
	heap, stack uint64
	goroutines  int
}

func takeSnapshot() snapshot {
	// Two cycles: the first may leave objects freed by finalizers.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

func perConn(before, after snapshot) idleFigures {
	return idleFigures{
		heap:       (float64(after.heap) - float64(before.heap)) / idleConns,
		stack:      (float64(after.stack) - float64(before.stack)) / idleConns,
		goroutines: float64(after.goroutines-before.goroutines) / idleConns,
	}
}

func measureIdle(b *testing.B, s server) idleFigures {
	b.StopTimer()
	defer b.StartTimer()
	var ic idleCounter
	srv, stop := s.start(b, ic.after)
	c := newRawClient(srv)
	conns := make([]*net.TCPConn, 0, idleConns)
	defer func() {
		for _, tc := range conns {
			abort(tc)
		}
		testkit.WaitFor(b, "every handler to return after its connection closed", func() bool { return ic.running.Load() == 0 })
		stop()
	}()

	b.StartTimer()
	before := takeSnapshot()
	for range idleConns {
		tc, err := c.handshake()
		if err != nil {
			b.Fatalf("connection %d: %v", len(conns), err)
		}
		if c.br.Buffered() > 0 {
			abort(tc)
			b.Fatalf("connection %d: %d unexpected bytes behind the 101", len(conns), c.br.Buffered())
		}
		_ = tc.SetDeadline(time.Time{})
		conns = append(conns, tc)
	}
	testkit.WaitFor(b, "every handler to block reading", func() bool { return ic.reading.Load() == idleConns })
	after := takeSnapshot()
	return perConn(before, after)
}

// measureTCP is the floor: both bare ends of idleConns loopback TCP
// connections, with no goroutine and no buffer per connection.
func measureTCP(b *testing.B) idleFigures {
	b.StopTimer()
	defer b.StartTimer()
	start := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make([]net.Conn, 0, idleConns)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, nc)
			mu.Unlock()
		}
	}()
	conns := make([]net.Conn, 0, idleConns)
	defer func() {
		for _, nc := range conns {
			abort(nc.(*net.TCPConn))
		}
		ln.Close()
		<-done
		for _, nc := range accepted {
			nc.Close()
		}
		testkit.WaitFor(b, "the listener's goroutines to end", func() bool { return runtime.NumGoroutine() <= start })
	}()

	b.StartTimer()
	before := takeSnapshot()
	for range idleConns {
		nc, err := net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
		if err != nil {
			b.Fatalf("connection %d: %v", len(conns), err)
		}
		conns = append(conns, nc)
	}
	testkit.WaitFor(b, "every connection to be accepted", func() bool { mu.Lock(); defer mu.Unlock(); return len(accepted) == idleConns })
	after := takeSnapshot()
	return perConn(before, after)
}
