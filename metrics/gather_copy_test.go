package metrics_test

import (
	"slices"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
)

// What Gather returns is the caller's: changing a family's Bounds (to
// sort them, or to reuse the slice) changes neither the recorder's buckets
// nor what it gathers and exposes later.
func TestGatherReturnsCopies(t *testing.T) {
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	srv := testkit.StartServer(t, n.Endpoint(reg))

	for _, f := range rec.Gather() {
		for i := range f.Bounds {
			f.Bounds[i] = -1
		}
	}

	c, _ := testkit.Dial(t, srv.URL, []string{"echo"}, nil)
	if got := testkit.RoundTrip(t, c, "hi"); got != "hi" {
		t.Fatalf("echo: %q", got)
	}
	c.Close()
	testkit.WaitFor(t, "the connection's close", func() bool { return len(n.Conns()) == 0 && n.Stats().Switched["echo"] == 1 })

	wants := map[string][]float64{
		"handshake_duration_seconds":  metrics.HandshakeBuckets,
		"connection_duration_seconds": metrics.ConnectionBuckets,
	}
	for _, f := range rec.Gather() {
		want, ok := wants[f.Name]
		if !ok {
			continue
		}
		if !slices.Equal(f.Bounds, want) {
			t.Errorf("%s: bounds %v after the caller changed an earlier Gather's, want %v", f.Name, f.Bounds, want)
		}
		for _, s := range f.Series {
			// One connection of well under a second: under every bound.
			if s.Count > 0 && s.Buckets[len(s.Buckets)-1] != s.Count {
				t.Errorf("%s%v: buckets %v for %d observations, want them all under the last bound", f.Name, s.Labels, s.Buckets, s.Count)
			}
		}
	}
}
