package prometheus_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-http/switchyard/metrics"
	swprom "github.com/switchyard-http/switchyard/prometheus"
)

// NewCollector panics on a nil recorder with the package's message, as
// client_golang's constructors do on a mistake, rather than with a nil
// dereference. A Collector not made by NewCollector fails its
// registration with an error, instead of being registered and failing
// every scrape with a nil dereference in its Collect (which client_golang
// recovers and reports as the scrape's error).
func TestCollectorNeedsNewCollector(t *testing.T) {
	t.Parallel()
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		swprom.NewCollector(nil, nil)
		return
	}()
	if !strings.HasPrefix(msg, "prometheus: ") {
		t.Errorf("NewCollector(nil, nil) panicked with %q, want the package's own message", msg)
	}
	reg := prometheus.NewRegistry()
	err := reg.Register(new(swprom.Collector))
	if err == nil || !strings.Contains(err.Error(), "NewCollector") {
		t.Fatalf("registering a zero Collector: %v, want an error that names NewCollector", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather after the refused registration: %v", err)
	}
}

// A const label "le" would sit beside the bucket's own le on every
// histogram line (le="x",token="echo",le="0.0001"), which no scraper
// takes: NewCollector panics on it, as client_golang's NewHistogram does.
func TestConstLabelLeRefused(t *testing.T) {
	t.Parallel()
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		swprom.NewCollector(metrics.NewRecorder(), &swprom.Options{ConstLabels: prometheus.Labels{"le": "x"}})
		return
	}()
	if !strings.HasPrefix(msg, "prometheus: ") || !strings.Contains(msg, `"le"`) {
		t.Errorf("NewCollector with a const label le: panic %q, want the package's message naming it", msg)
	}
}
