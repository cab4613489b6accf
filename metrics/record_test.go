package metrics

import (
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Recording allocates nothing per connection once a token's series
// exist: a switch, a close, a refusal by a status seen before, a failure.
func TestRecordingDoesNotAllocate(t *testing.T) {
	r := NewRecorder()
	sw := negotiate.ConnInfo{Token: "echo/1", Name: "echo", Transport: negotiate.TransportHTTP1, Handshake: 300 * time.Microsecond}
	cl := sw
	cl.Duration, cl.BytesIn, cl.BytesOut, cl.CloseReason = 90*time.Second, 10, 20, negotiate.CloseShutdown
	ref := negotiate.RefusalInfo{Name: "echo", Status: 426}
	unauthorized := negotiate.RefusalInfo{Name: "echo", Status: 401} // Authorize's own status
	fail := negotiate.RefusalInfo{Name: "echo", Status: 500, Failed: true}
	r.refused(ref) // the series and the statuses are made here
	r.refused(unauthorized)
	if a := testing.AllocsPerRun(100, func() {
		r.switched(sw)
		r.closed(cl)
		r.refused(ref)
		r.refused(unauthorized)
		r.refused(fail)
	}); a != 0 {
		t.Errorf("recording allocates %v times per connection, want 0", a)
	}
	ts := r.tokens["echo"]
	if got := ts.attempts[switched].Load(); got != 101 {
		t.Errorf("switched %d, want 101", got)
	}
	for _, s := range ts.statuses {
		if want := map[string]uint64{"426": 102, "401": 102}[s.status]; s.n != want {
			t.Errorf("status %s counted %d times, want %d", s.status, s.n, want)
		}
	}
	if b, count, sum := ts.duration[2].snapshot(); count != 101 || b[len(b)-1] != 101 || b[4] != 0 || b[5] != 101 || sum != 101*90 {
		t.Errorf("shutdown durations: buckets %v, count %d, sum %v; want all 101 in le=120 and above", b, count, sum)
	}
}

// The byte counters never go back, even when a connection closing while
// they are gathered is missed once.
func TestBytesAreMonotonic(t *testing.T) {
	r := NewRecorder()
	for _, step := range []struct{ now, want [2]uint64 }{
		{[2]uint64{10, 20}, [2]uint64{10, 20}},
		{[2]uint64{4, 25}, [2]uint64{10, 25}}, // a closing connection missed
		{[2]uint64{12, 25}, [2]uint64{12, 25}},
	} {
		if got := r.monotonic("echo", step.now); got != step.want {
			t.Errorf("monotonic(%v) = %v, want %v", step.now, got, step.want)
		}
	}
}
