package otelmetrics

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/switchyard-http/switchyard/negotiate"
)

// This package's recording allocates nothing per connection once a
// token's options exist (the SDK behind the API may; noop does not).
func TestRecordingDoesNotAllocate(t *testing.T) {
	r, err := NewRecorder(noop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	c := negotiate.ConnInfo{Name: "echo", Transport: negotiate.TransportH2, Handshake: time.Millisecond,
		Duration: time.Minute, BytesIn: 5, BytesOut: 6, CloseReason: negotiate.CloseForced}
	ref := negotiate.RefusalInfo{Name: "echo", Status: 503}
	r.refused(ref)
	if a := testing.AllocsPerRun(100, func() {
		r.switched(c)
		r.closed(c)
		r.refused(ref)
	}); a != 0 {
		t.Errorf("recording allocates %v times per connection, want 0", a)
	}
}
