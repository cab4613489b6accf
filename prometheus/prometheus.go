// Package prometheus exports a Switchyard negotiator's metrics to a
// client_golang registry: a [Collector] reads a [metrics.Recorder] (the
// recorder of the main module, which records through the negotiator's
// hooks) at each scrape and hands its series over as constant metrics,
// with the same names, labels and buckets as the recorder's own
// /metrics. It is a module of its own, so that Switchyard itself does not
// depend on client_golang.
//
//	rec := metrics.NewRecorder()
//	n, err := rec.NewNegotiator(&negotiate.Options{})
//	prometheus.MustRegister(swprom.NewCollector(rec, nil))
//	mux.Handle("GET /metrics", promhttp.Handler())
//
// The series are those of package metrics: upgrade_attempts_total,
// upgrade_refusals_total, handshake_duration_seconds, upgraded_connections,
// connection_duration_seconds, connection_io_bytes_total and
// shutdown_connections_total, under the namespace "switchyard" unless
// Options.Namespace says otherwise.
package prometheus

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-http/switchyard/metrics"
)

// Options configures a [Collector]. The zero value is usable.
type Options struct {
	// Namespace prefixes every name, with "_". Default "switchyard".
	Namespace string
	// ConstLabels are added to every series (an instance's role, say);
	// none by default. "le", the histograms' own, is not allowed.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector of a recorder's series.
type Collector struct {
	rec   *metrics.Recorder
	descs map[string]*prometheus.Desc
	order []*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

var errNotMade = errors.New("prometheus: a Collector not made by NewCollector")

// NewCollector returns a collector of rec's series (opts nil: the
// defaults). It panics on a nil rec and on a const label "le", as
// client_golang's NewHistogram does. A Collector not made by NewCollector
// fails its registration with an error.
func NewCollector(rec *metrics.Recorder, opts *Options) *Collector {
	if rec == nil {
		panic("prometheus: NewCollector with a nil *metrics.Recorder")
	}
	if opts != nil {
		if _, ok := opts.ConstLabels["le"]; ok {
			// Every histogram line has a le of its own.
			panic(`prometheus: NewCollector: const label "le" is not allowed on histograms`)
		}
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = "switchyard"
	}
	c := &Collector{rec: rec, descs: map[string]*prometheus.Desc{}}
	for _, f := range rec.Gather() { // the families are fixed; their series are not
		d := prometheus.NewDesc(prometheus.BuildFQName(o.Namespace, "", f.Name), f.Help, f.Labels, o.ConstLabels)
		c.descs[f.Name] = d
		c.order = append(c.order, d)
	}
	return c
}

// Describe sends the descriptions of the seven families.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.rec == nil {
		ch <- prometheus.NewInvalidDesc(errNotMade) // fails the registration
		return
	}
	for _, d := range c.order {
		ch <- d
	}
}

// Collect sends the recorder's series as they are now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.rec == nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(errNotMade), errNotMade)
		return
	}
	for _, f := range c.rec.Gather() {
		d := c.descs[f.Name]
		if d == nil {
			continue
		}
		for _, s := range f.Series {
			switch f.Type {
			case "counter":
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, s.Value, s.Labels...)
			case "gauge":
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, s.Value, s.Labels...)
			case "histogram":
				buckets := make(map[float64]uint64, len(f.Bounds))
				for i, b := range f.Bounds {
					buckets[b] = s.Buckets[i]
				}
				ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum, buckets, s.Labels...)
			}
		}
	}
}
