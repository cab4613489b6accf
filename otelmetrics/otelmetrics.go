// Package otelmetrics records a Switchyard negotiator's upgrades as
// OpenTelemetry instruments, through the negotiator's hooks, on the
// OpenTelemetry metric API (any SDK or exporter behind a MeterProvider).
// It is a module of its own, so that Switchyard itself does not depend on
// OpenTelemetry.
//
//	rec, err := otelmetrics.NewRecorder(provider) // nil: otel.GetMeterProvider()
//	n, err := rec.NewNegotiator(&negotiate.Options{MaxConns: 1000})
//
// There is no OpenTelemetry convention for upgraded connections yet; the
// instruments mirror the Prometheus series of package metrics (the
// README's table maps one to the other) with OpenTelemetry's naming:
//
//	switchyard.upgrade.attempts        Int64Counter {attempt}        switchyard.token, switchyard.upgrade.outcome, http.response.status_code (not switched)
//	switchyard.handshake.duration      Float64Histogram s            switchyard.token
//	switchyard.upgraded_connections    Int64UpDownCounter {connection} switchyard.token, network.protocol.name, network.protocol.version
//	switchyard.connection.duration     Float64Histogram s            switchyard.token, switchyard.connection.close_reason
//	switchyard.connection.io           Int64Counter By               switchyard.token, network.io.direction
//	switchyard.shutdown.connections    Int64Counter {connection}     switchyard.shutdown.result
//
// The values are those of package metrics: switchyard.token is the
// registered name or "_other" (never a client's value), the outcome
// switched, refused or failed, the close reason normal, error or shutdown,
// the shutdown result graceful or forced; network.protocol.name is "http"
// and network.protocol.version "1.1" or "2" (the transport the
// connection switched on). The Prometheus refusals counter is
// switchyard.upgrade.attempts with outcome refused, by status. Bytes are
// added when a connection closes. The histograms' bucket boundaries are
// metrics.HandshakeBuckets and metrics.ConnectionBuckets, as advice a
// view may override.
//
// Recording allocates nothing per connection in this package: each
// token's attribute sets are made once, at its first request.
package otelmetrics

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
)

// ScopeName is the instrumentation scope of the meter the recorder uses.
const ScopeName = "github.com/switchyard-http/switchyard/otelmetrics"

// The attribute keys.
const (
	TokenKey       = attribute.Key("switchyard.token")
	OutcomeKey     = attribute.Key("switchyard.upgrade.outcome")
	StatusKey      = attribute.Key("http.response.status_code")
	CloseReasonKey = attribute.Key("switchyard.connection.close_reason")
	DirectionKey   = attribute.Key("network.io.direction")
	ProtocolKey    = attribute.Key("network.protocol.name")
	VersionKey     = attribute.Key("network.protocol.version")
	ResultKey      = attribute.Key("switchyard.shutdown.result")
)

// Recorder records negotiators' upgrades on OpenTelemetry instruments.
// It is safe for concurrent use.
type Recorder struct {
	attempts   metric.Int64Counter
	handshake  metric.Float64Histogram
	active     metric.Int64UpDownCounter
	duration   metric.Float64Histogram
	io         metric.Int64Counter
	shutdowns  metric.Int64Counter
	graceful   []metric.AddOption
	forced     []metric.AddOption
	background context.Context

	mu     sync.RWMutex
	tokens map[string]*tokenOptions
}

// tokenOptions are the measurement options of one token, made once.
type tokenOptions struct {
	switched  []metric.AddOption
	handshake []metric.RecordOption
	active    [2][]metric.AddOption    // by transport: http/1.1, h2
	duration  [3][]metric.RecordOption // normal, error, shutdown
	in, out   []metric.AddOption

	mu      sync.Mutex
	refused map[int][]metric.AddOption // by status
	failedS map[int][]metric.AddOption
}

// NewRecorder makes the instruments on provider's meter (nil: the global
// provider, otel.GetMeterProvider()).
func NewRecorder(provider metric.MeterProvider) (*Recorder, error) {
	if provider == nil {
		provider = otel.GetMeterProvider()
	}
	m := provider.Meter(ScopeName)
	r := &Recorder{tokens: map[string]*tokenOptions{}, background: context.Background()}
	var err error
	if r.attempts, err = m.Int64Counter("switchyard.upgrade.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Upgrade requests answered, by protocol and outcome: switched, refused, or failed on the server's side.")); err != nil {
		return nil, err
	}
	if r.handshake, err = m.Float64Histogram("switchyard.handshake.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from the choice of the protocol to the switch."),
		metric.WithExplicitBucketBoundaries(metrics.HandshakeBuckets...)); err != nil {
		return nil, err
	}
	if r.active, err = m.Int64UpDownCounter("switchyard.upgraded_connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Switched connections open now.")); err != nil {
		return nil, err
	}
	if r.duration, err = m.Float64Histogram("switchyard.connection.duration", metric.WithUnit("s"),
		metric.WithDescription("Lifetime of switched connections, by how they ended: normal, error or shutdown."),
		metric.WithExplicitBucketBoundaries(metrics.ConnectionBuckets...)); err != nil {
		return nil, err
	}
	if r.io, err = m.Int64Counter("switchyard.connection.io", metric.WithUnit("By"),
		metric.WithDescription("Bytes received and transmitted on switched connections after the switch, added at their close.")); err != nil {
		return nil, err
	}
	if r.shutdowns, err = m.Int64Counter("switchyard.shutdown.connections", metric.WithUnit("{connection}"),
		metric.WithDescription("Connections a shutdown ended: graceful or forced.")); err != nil {
		return nil, err
	}
	r.graceful = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(ResultKey.String("graceful")))}
	r.forced = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(ResultKey.String("forced")))}
	return r, nil
}

// NewNegotiator returns negotiate.New(opts) with r recording its
// upgrades: r's hooks run before opts' own OnSwitch, OnClose and
// OnRefuse, which are kept. opts itself is not changed. A Recorder not
// made by [NewRecorder] has no instruments, and gets an error.
func (r *Recorder) NewNegotiator(opts *negotiate.Options) (*negotiate.Negotiator, error) {
	if r == nil || r.attempts == nil {
		return nil, errors.New("otelmetrics: NewNegotiator on a Recorder not made by NewRecorder")
	}
	var o negotiate.Options
	if opts != nil {
		o = *opts
	}
	onSwitch, onClose, onRefuse := o.OnSwitch, o.OnClose, o.OnRefuse
	o.OnSwitch = func(c negotiate.ConnInfo) {
		r.switched(c)
		if onSwitch != nil {
			onSwitch(c)
		}
	}
	o.OnClose = func(c negotiate.ConnInfo) {
		r.closed(c)
		if onClose != nil {
			onClose(c)
		}
	}
	o.OnRefuse = func(ri negotiate.RefusalInfo) {
		r.refused(ri)
		if onRefuse != nil {
			onRefuse(ri)
		}
	}
	return negotiate.New(&o)
}

func add(kvs ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func record(kvs ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

func (r *Recorder) options(name string) *tokenOptions {
	if name == "" {
		name = metrics.Other
	}
	r.mu.RLock()
	t := r.tokens[name]
	r.mu.RUnlock()
	if t != nil {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t = r.tokens[name]; t != nil {
		return t
	}
	tok := TokenKey.String(name)
	t = &tokenOptions{
		switched:  add(tok, OutcomeKey.String("switched")),
		handshake: record(tok),
		active: [2][]metric.AddOption{
			add(tok, ProtocolKey.String("http"), VersionKey.String("1.1")),
			add(tok, ProtocolKey.String("http"), VersionKey.String("2")),
		},
		in:      add(tok, DirectionKey.String("receive")),
		out:     add(tok, DirectionKey.String("transmit")),
		refused: map[int][]metric.AddOption{},
		failedS: map[int][]metric.AddOption{},
	}
	for i, reason := range []string{"normal", "error", "shutdown"} {
		t.duration[i] = record(tok, CloseReasonKey.String(reason))
	}
	r.tokens[name] = t
	return t
}

func transport(c negotiate.ConnInfo) int {
	if c.Transport == negotiate.TransportH2 {
		return 1
	}
	return 0
}

func (r *Recorder) switched(c negotiate.ConnInfo) {
	t := r.options(c.Name)
	r.attempts.Add(r.background, 1, t.switched...)
	r.handshake.Record(r.background, c.Handshake.Seconds(), t.handshake...)
	r.active.Add(r.background, 1, t.active[transport(c)]...)
}

func (r *Recorder) closed(c negotiate.ConnInfo) {
	t := r.options(c.Name)
	r.active.Add(r.background, -1, t.active[transport(c)]...)
	reason := 0
	switch c.CloseReason {
	case negotiate.CloseError:
		reason = 1
	case negotiate.CloseShutdown:
		reason = 2
		r.shutdowns.Add(r.background, 1, r.graceful...)
	case negotiate.CloseForced:
		reason = 2
		r.shutdowns.Add(r.background, 1, r.forced...)
	}
	r.duration.Record(r.background, c.Duration.Seconds(), t.duration[reason]...)
	r.io.Add(r.background, max(c.BytesIn, 0), t.in...)
	r.io.Add(r.background, max(c.BytesOut, 0), t.out...)
}

func (r *Recorder) refused(ri negotiate.RefusalInfo) {
	t := r.options(ri.Name)
	outcome, byStatus := "refused", &t.refused
	if ri.Failed {
		outcome, byStatus = "failed", &t.failedS
	}
	t.mu.Lock()
	o := (*byStatus)[ri.Status]
	if o == nil {
		name := ri.Name
		if name == "" {
			name = metrics.Other
		}
		kvs := []attribute.KeyValue{TokenKey.String(name), OutcomeKey.String(outcome)}
		if ri.Status != 0 {
			kvs = append(kvs, StatusKey.Int(ri.Status))
		}
		o = add(kvs...)
		(*byStatus)[ri.Status] = o
	}
	t.mu.Unlock()
	r.attempts.Add(r.background, 1, o...)
}
