package metrics

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// A Family is one metric and its series, as [Recorder.Gather] returns it.
type Family struct {
	Name   string    // without the namespace: "upgrade_attempts_total"
	Help   string    // one line
	Type   string    // "counter", "gauge" or "histogram"
	Labels []string  // the label names, in the order of each Series' Labels
	Bounds []float64 // a histogram's bucket upper bounds, +Inf left out
	Series []Series
}

// A Series is one set of label values and its value.
type Series struct {
	Labels []string // the label values, in the order of Family.Labels
	Value  float64  // a counter's or a gauge's

	// A histogram's: the cumulative count per bound of Family.Bounds,
	// the count of observations (the +Inf bucket) and their sum.
	Buckets []uint64
	Count   uint64
	Sum     float64
}

// Gather returns the seven families in a fixed order, each token's
// series sorted by token. A family whose series are not known yet (no
// upgrade request yet) has none. Bytes include the live connections' so
// far (read with [negotiate.Negotiator.Conns]). The families are the
// caller's: changing them changes nothing the recorder holds.
func (r *Recorder) Gather() []Family {
	attempts := Family{Name: "upgrade_attempts_total", Type: "counter", Labels: []string{"token", "outcome"},
		Help: "Upgrade requests answered, by protocol and outcome: switched, refused, or failed on the server's side."}
	refusals := Family{Name: "upgrade_refusals_total", Type: "counter", Labels: []string{"token", "status"},
		Help: "Upgrade requests refused, by protocol and the HTTP status answered."}
	handshake := Family{Name: "handshake_duration_seconds", Type: "histogram", Labels: []string{"token"}, Bounds: slices.Clone(r.handshakeBounds),
		Help: "Time from the choice of the protocol to the switch."}
	active := Family{Name: "upgraded_connections", Type: "gauge", Labels: []string{"token", "transport"},
		Help: "Switched connections open now, by protocol and transport (http/1.1 or h2)."}
	duration := Family{Name: "connection_duration_seconds", Type: "histogram", Labels: []string{"token", "close_reason"}, Bounds: slices.Clone(r.connBounds),
		Help: "Lifetime of switched connections, by protocol and how they ended: normal, error or shutdown."}
	ioBytes := Family{Name: "connection_io_bytes_total", Type: "counter", Labels: []string{"token", "direction"},
		Help: "Bytes received and transmitted on switched connections after the switch."}
	shutdown := Family{Name: "shutdown_connections_total", Type: "counter", Labels: []string{"result"},
		Help: "Connections a shutdown ended: graceful (closed their own way in time) or forced (closed at the deadline)."}

	// Closed connections' bytes first, then the live ones': a connection
	// leaves the live set before its bytes join the closed ones, so none
	// is counted twice (one closing in between is missed this once).
	r.mu.RLock()
	names := slices.Sorted(maps.Keys(r.tokens))
	tokens := make([]*tokenSeries, len(names))
	for i, name := range names {
		tokens[i] = r.tokens[name]
	}
	negs := slices.Clone(r.negs)
	r.mu.RUnlock()
	closedIO := make([][2]uint64, len(tokens))
	for i, ts := range tokens {
		closedIO[i] = [2]uint64{ts.io[0].Load(), ts.io[1].Load()}
	}
	live := map[string][2]uint64{}
	for _, n := range negs {
		for _, c := range n.Conns() {
			b := live[c.Name]
			b[0] += uint64(max(c.BytesIn, 0))
			b[1] += uint64(max(c.BytesOut, 0))
			live[c.Name] = b
		}
	}

	for i, name := range names {
		ts := tokens[i]
		for o, outcome := range outcomes {
			attempts.Series = append(attempts.Series, Series{Labels: []string{name, outcome}, Value: float64(ts.attempts[o].Load())})
		}
		ts.mu.Lock()
		statuses := slices.Clone(ts.statuses)
		ts.mu.Unlock()
		slices.SortFunc(statuses, func(a, b statusCount) int { return strings.Compare(a.status, b.status) })
		for _, s := range statuses {
			refusals.Series = append(refusals.Series, Series{Labels: []string{name, s.status}, Value: float64(s.n)})
		}
		if ts.attempts[switched].Load() == 0 {
			continue // refused only (or _other): no connection series
		}
		b, count, sum := ts.handshake.snapshot()
		handshake.Series = append(handshake.Series, Series{Labels: []string{name}, Buckets: b, Count: count, Sum: sum})
		for t, transport := range transports {
			if ts.seen[t].Load() {
				active.Series = append(active.Series, Series{Labels: []string{name, transport}, Value: float64(ts.active[t].Load())})
			}
		}
		for c, reason := range closeReasons {
			b, count, sum := ts.duration[c].snapshot()
			duration.Series = append(duration.Series, Series{Labels: []string{name, reason}, Buckets: b, Count: count, Sum: sum})
		}
		io := r.monotonic(name, [2]uint64{closedIO[i][0] + live[name][0], closedIO[i][1] + live[name][1]})
		for d, direction := range directions {
			ioBytes.Series = append(ioBytes.Series, Series{Labels: []string{name, direction}, Value: float64(io[d])})
		}
	}
	shutdown.Series = []Series{
		{Labels: []string{"graceful"}, Value: float64(r.graceful.Load())},
		{Labels: []string{"forced"}, Value: float64(r.forced.Load())},
	}
	return []Family{attempts, refusals, handshake, active, duration, ioBytes, shutdown}
}

// monotonic returns the byte counts of a token, never less than those
// gathered last: a connection closing while they are gathered would
// otherwise make them dip once, which Prometheus reads as a reset.
func (r *Recorder) monotonic(name string, now [2]uint64) [2]uint64 {
	r.ioMu.Lock()
	defer r.ioMu.Unlock()
	last := r.ioLast[name]
	now = [2]uint64{max(now[0], last[0]), max(now[1], last[1])}
	r.ioLast[name] = now
	return now
}

// WriteText writes what [Recorder.Gather] returns in the Prometheus text
// exposition format (version 0.0.4), each name prefixed with namespace
// and "_" ("" for none). A namespace that would make names the format does
// not allow (outside [a-zA-Z_:][a-zA-Z0-9_:]*) is an error, and nothing is
// written.
func (r *Recorder) WriteText(w io.Writer, namespace string) error {
	if !validNamespace(namespace) {
		return fmt.Errorf("metrics: namespace %q: want a metric name prefix, [a-zA-Z_:][a-zA-Z0-9_:]*", namespace)
	}
	bw := bufio.NewWriter(w)
	prefix := ""
	if namespace != "" {
		prefix = namespace + "_"
	}
	for _, f := range r.Gather() {
		name := prefix + f.Name
		bw.WriteString("# HELP " + name + " " + f.Help + "\n# TYPE " + name + " " + f.Type + "\n")
		for _, s := range f.Series {
			if f.Type != "histogram" {
				writeSample(bw, name, f.Labels, s.Labels, "", "", formatFloat(s.Value))
				continue
			}
			for i, bound := range f.Bounds {
				writeSample(bw, name+"_bucket", f.Labels, s.Labels, "le", formatFloat(bound), strconv.FormatUint(s.Buckets[i], 10))
			}
			writeSample(bw, name+"_bucket", f.Labels, s.Labels, "le", "+Inf", strconv.FormatUint(s.Count, 10))
			writeSample(bw, name+"_sum", f.Labels, s.Labels, "", "", formatFloat(s.Sum))
			writeSample(bw, name+"_count", f.Labels, s.Labels, "", "", strconv.FormatUint(s.Count, 10))
		}
	}
	return bw.Flush()
}

// ContentType is the media type of [Recorder.WriteText]'s output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP answers the metrics in the Prometheus text format, with the
// namespace "switchyard"; mount it at GET /metrics.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	if req.Method == http.MethodHead {
		return
	}
	_ = r.WriteText(w, "switchyard")
}

// validNamespace reports whether namespace is empty or a metric name of
// the text format.
func validNamespace(namespace string) bool {
	for i := 0; i < len(namespace); i++ {
		c := namespace[i]
		if c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

func writeSample(w *bufio.Writer, name string, names, values []string, extraName, extraValue, value string) {
	w.WriteString(name)
	if len(names) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, n := range names {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(n + `="` + escapeLabel(values[i]) + `"`)
		}
		if extraName != "" {
			if len(names) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName + `="` + extraValue + `"`)
		}
		w.WriteByte('}')
	}
	w.WriteString(" " + value + "\n")
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	if v == float64(uint64(v)) && v < 1<<53 {
		return strconv.FormatUint(uint64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
