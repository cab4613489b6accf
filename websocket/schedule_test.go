package websocket

import (
	"runtime"
	"testing"
	"time"
)

// idleConns returns n connections of a protocol whose keep-alive pings
// hourly, so that no run of tick comes due while a test looks.
func idleConns(n int) (*protocol, []Conn) {
	p := &protocol{opts: Options{PingInterval: time.Hour, PongTimeout: time.Hour}}
	conns := make([]Conn, n)
	for i := range conns {
		conns[i].p = p
	}
	return p, conns
}

// checkHeap reports a schedule whose heap is out of order or whose
// connections do not know their place in it.
func checkHeap(t *testing.T, s *schedule) {
	t.Helper()
	for i, c := range s.conns {
		if int(c.ka.slot) != i+1 {
			t.Fatalf("heap[%d] has slot %d", i, c.ka.slot)
		}
		if i > 0 && s.conns[(i-1)/2].ka.wake > c.ka.wake {
			t.Fatalf("heap[%d] wakes at %v, before its parent (%v)", i, c.ka.wake, s.conns[(i-1)/2].ka.wake)
		}
	}
}

// The schedule hands out connections in the order of their runs, whatever
// the order they came in and left, and arms its one timer for the
// earliest.
func TestScheduleOrder(t *testing.T) {
	p, conns := idleConns(9)
	s := &p.keepAlive
	defer func() { s.t.Stop() }()
	base := clock() + time.Hour
	for i, w := range []int{5, 3, 9, 1, 7, 2, 8, 4, 6} {
		s.add(&conns[i], base+time.Duration(w))
		checkHeap(t, s)
	}
	if s.armed != base+1 {
		t.Errorf("timer armed for %v, want the earliest run, %v", s.armed-base, 1)
	}
	s.remove(&conns[0]) // wake 5
	s.remove(&conns[0]) // again: nothing
	s.remove(&conns[7]) // wake 4
	checkHeap(t, s)
	if conns[0].ka.slot != 0 || conns[7].ka.slot != 0 {
		t.Errorf("removed connections still have slots %d, %d", conns[0].ka.slot, conns[7].ka.slot)
	}
	var got []time.Duration
	for len(s.conns) > 0 {
		got = append(got, s.conns[0].ka.wake-base)
		s.remove(s.conns[0])
		checkHeap(t, s)
	}
	want := []time.Duration{1, 2, 3, 6, 7, 8, 9}
	if len(got) != len(want) {
		t.Fatalf("runs in order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs in order %v, want %v", got, want)
		}
	}
}

// An idle connection's keep-alive costs no allocation of its own (it was
// a timer and its func, two allocations and about 130 bytes each), and a
// stopped one leaves no reference in the schedule.
func TestKeepAliveHoldsNoTimer(t *testing.T) {
	const n = 1000
	p, conns := idleConns(n)
	defer func() { p.keepAlive.t.Stop() }()
	conns[0].startKeepAlive() // the schedule's timer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 1; i < n; i++ {
		conns[i].startKeepAlive()
	}
	runtime.ReadMemStats(&after)
	// The heap's slice grows by doubling: about ten allocations for a
	// thousand connections. Leave room for the runtime's own.
	if allocs := after.Mallocs - before.Mallocs; allocs > n/20 {
		t.Errorf("%d keep-alives started with %d allocations, want at most %d", n-1, allocs, n/20)
	}
	checkHeap(t, &p.keepAlive)
	for i := range conns {
		if conns[i].stopKeepAlive() != 0 {
			t.Fatalf("connection %d: stopped, and reported as timed out", i)
		}
	}
	if k := len(p.keepAlive.conns); k != 0 {
		t.Errorf("%d connections left in the schedule after they stopped", k)
	}
	if c := cap(p.keepAlive.conns); c > 64 {
		t.Errorf("the schedule's heap keeps room for %d after everyone left", c)
	}
}
