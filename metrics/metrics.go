// Package metrics records a negotiator's upgrades through its hooks and
// serves them in the Prometheus text format, with the standard library
// only. It is the one recorder behind every exposition: a [Recorder] is an
// http.Handler for GET /metrics, and [Recorder.Gather] hands the same
// values to the Prometheus adapter (module
// github.com/switchyard-http/switchyard/prometheus, a
// prometheus.Collector) so that a program with a client_golang registry
// exports them there instead.
//
//	rec := metrics.NewRecorder()
//	n, err := rec.NewNegotiator(&negotiate.Options{MaxConns: 1000})
//	mux.Handle("GET /metrics", rec)
//
// # Metrics
//
// With the default namespace "switchyard" (see [Recorder.WriteText]):
//
//	switchyard_upgrade_attempts_total{token, outcome}           counter: outcome switched, refused or failed
//	switchyard_upgrade_refusals_total{token, status}            counter: the refused ones by the status answered
//	switchyard_handshake_duration_seconds{token}                histogram: choice of the protocol to the switch
//	switchyard_upgraded_connections{token, transport}           gauge: live switched connections, transport http/1.1 or h2
//	switchyard_connection_duration_seconds{token, close_reason} histogram, 1 s to 24 h: close_reason normal, error or shutdown
//	switchyard_connection_io_bytes_total{token, direction}      counter: direction receive or transmit
//	switchyard_shutdown_connections_total{result}               counter: result graceful or forced
//
// An attempt is an upgrade request the negotiator answered: it switched,
// was refused (a 4xx, a 503 over a limit or while shutting down, any
// status a protocol refuses with), or failed on the server's side (an
// Accept that failed or panicked, a hijack that failed: see
// [negotiate.RefusalInfo]). A request an Endpoint answers 426 is an
// attempt refused even when it offered nothing (a plain GET at a
// WebSocket route), as OnRefuse reports it. upgrade_refusals_total counts
// the refused ones, so that its sum over status is the refused outcome's
// count.
//
// token is the protocol's registered name in lower case without version
// ("websocket", "h2c", "echo"). A request that concerns no registered
// protocol (an offer of a token nobody registered, refused with 426; a
// malformed Upgrade list) is counted as "_other": a client can never
// create a series. No label carries a path, an address or anything else a
// client sends.
//
// Bytes are counted as they flow, live connections included (read when
// the metrics are gathered); each counter only ever grows. A connection
// that closes because of a shutdown is counted in connection_duration
// with close_reason "shutdown" and in shutdown_connections_total:
// "graceful" when its protocol returned before the shutdown's context
// ended, "forced" when the negotiator closed it then.
//
// # Cost
//
// Recording allocates nothing per connection: each token's series are
// made once, at its first request, and updated with atomic operations. A
// plain request that passes through the negotiator costs what it did.
package metrics

import (
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Other is the token label of requests that concern no registered
// protocol.
const Other = "_other"

// HandshakeBuckets are the upper bounds, in seconds, of the handshake
// histogram: 100 µs to the default HandshakeTimeout of 10 s.
var HandshakeBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ConnectionBuckets are the upper bounds, in seconds, of the connection
// duration histogram: 1 s to 24 h.
var ConnectionBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 43200, 86400}

// The label values.
var (
	outcomes     = [...]string{"switched", "refused", "failed"}
	transports   = [...]string{negotiate.TransportHTTP1, negotiate.TransportH2}
	closeReasons = [...]string{"normal", "error", "shutdown"}
	directions   = [...]string{"receive", "transmit"}
)

const (
	switched = iota
	refused
	failed
)

// Recorder records what its negotiators' hooks report. Make it with
// [NewRecorder] and its negotiators with [Recorder.NewNegotiator]; it is
// safe for concurrent use. Serving HTTP, it answers the Prometheus text
// format (namespace "switchyard").
type Recorder struct {
	handshakeBounds, connBounds []float64

	mu     sync.RWMutex
	tokens map[string]*tokenSeries
	negs   []*negotiate.Negotiator

	graceful, forced atomic.Uint64

	ioMu   sync.Mutex
	ioLast map[string][2]uint64 // the bytes last gathered, so that they never go back
}

// tokenSeries holds every series of one token label.
type tokenSeries struct {
	attempts  [len(outcomes)]atomic.Uint64
	handshake histogram
	active    [len(transports)]atomic.Int64
	seen      [len(transports)]atomic.Bool // a connection used this transport
	duration  [len(closeReasons)]histogram
	io        [len(directions)]atomic.Uint64 // of closed connections

	mu       sync.Mutex
	statuses []statusCount
}

type statusCount struct {
	code   int
	status string // its label
	n      uint64
}

// NewRecorder returns a recorder with no series yet.
func NewRecorder() *Recorder {
	return &Recorder{
		handshakeBounds: slices.Clone(HandshakeBuckets),
		connBounds:      slices.Clone(ConnectionBuckets),
		tokens:          make(map[string]*tokenSeries),
		ioLast:          make(map[string][2]uint64),
	}
}

// NewNegotiator returns negotiate.New(opts) with r recording its
// upgrades: r's hooks run before opts' own OnSwitch, OnClose and
// OnRefuse, which are kept. opts itself is not changed. A negotiator made
// otherwise is not recorded. A Recorder not made by [NewRecorder] cannot
// record, and gets an error.
func (r *Recorder) NewNegotiator(opts *negotiate.Options) (*negotiate.Negotiator, error) {
	if r == nil || r.tokens == nil {
		return nil, errors.New("metrics: NewNegotiator on a Recorder not made by NewRecorder")
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
	n, err := negotiate.New(&o)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.negs = append(r.negs, n)
	r.mu.Unlock()
	return n, nil
}

// series returns the series of a token label, made at its first use.
func (r *Recorder) series(name string) *tokenSeries {
	if name == "" {
		name = Other
	}
	r.mu.RLock()
	ts := r.tokens[name]
	r.mu.RUnlock()
	if ts != nil {
		return ts
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ts = r.tokens[name]; ts == nil {
		ts = &tokenSeries{handshake: newHistogram(len(r.handshakeBounds))}
		for i := range ts.duration {
			ts.duration[i] = newHistogram(len(r.connBounds))
		}
		r.tokens[name] = ts
	}
	return ts
}

func transportIndex(t string) int {
	if t == negotiate.TransportH2 {
		return 1
	}
	return 0
}

func (r *Recorder) switched(c negotiate.ConnInfo) {
	ts := r.series(c.Name)
	ts.attempts[switched].Add(1)
	ts.handshake.observe(r.handshakeBounds, c.Handshake.Seconds())
	t := transportIndex(c.Transport)
	ts.seen[t].Store(true)
	ts.active[t].Add(1)
}

func (r *Recorder) closed(c negotiate.ConnInfo) {
	ts := r.series(c.Name)
	ts.active[transportIndex(c.Transport)].Add(-1)
	reason := 0
	switch c.CloseReason {
	case negotiate.CloseError:
		reason = 1
	case negotiate.CloseShutdown:
		reason = 2
		r.graceful.Add(1)
	case negotiate.CloseForced:
		reason = 2
		r.forced.Add(1)
	}
	ts.duration[reason].observe(r.connBounds, c.Duration.Seconds())
	ts.io[0].Add(uint64(max(c.BytesIn, 0)))
	ts.io[1].Add(uint64(max(c.BytesOut, 0)))
}

func (r *Recorder) refused(ri negotiate.RefusalInfo) {
	ts := r.series(ri.Name)
	if ri.Failed {
		ts.attempts[failed].Add(1)
		return
	}
	ts.attempts[refused].Add(1)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for i := range ts.statuses {
		if s := &ts.statuses[i]; s.code == ri.Status {
			s.n++
			return
		}
	}
	ts.statuses = append(ts.statuses, statusCount{code: ri.Status, status: strconv.Itoa(ri.Status), n: 1})
}

// histogram counts observations per bucket (the last is +Inf) and sums
// them, with atomic operations only.
type histogram struct {
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits
}

func newHistogram(bounds int) histogram {
	return histogram{counts: make([]atomic.Uint64, bounds+1)}
}

func (h *histogram) observe(bounds []float64, v float64) {
	h.counts[sort.SearchFloat64s(bounds, v)].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// snapshot returns the cumulative counts per bound, the count and the sum.
func (h *histogram) snapshot() (buckets []uint64, count uint64, sum float64) {
	buckets = make([]uint64, len(h.counts)-1)
	for i := range h.counts {
		count += h.counts[i].Load()
		if i < len(buckets) {
			buckets[i] = count
		}
	}
	return buckets, count, math.Float64frombits(h.sum.Load())
}
