package prometheus_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
	swprom "github.com/switchyard-http/switchyard/prometheus"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// server serves a recorded negotiator with echo/1, a protocol whose
// Check refuses and one whose Accept takes 30 ms at least, at /up, the recorder's own text at /text and a
// client_golang registry holding the collector (opts) at /metrics.
func server(t *testing.T, opts *swprom.Options) (*negotiate.Negotiator, string) {
	t.Helper()
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { <-testkit.Shutdown(n, testkit.Timeout) })
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.Register("slow", negotiate.Protocol{
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
			time.Sleep(30 * time.Millisecond) // a handshake past the 25 ms bucket, whatever the machine's speed
			return testkit.EchoConn, nil
		},
	})
	reg.Register("keyed", negotiate.Protocol{
		Check:  func(*http.Request) error { return negotiate.Refusal(http.StatusForbidden, "no") },
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return testkit.EchoConn, nil },
	})
	pr := prometheus.NewPedanticRegistry()
	pr.MustRegister(swprom.NewCollector(rec, opts))
	mux := http.NewServeMux()
	mux.Handle("/up", n.Endpoint(reg))
	mux.Handle("GET /text", rec)
	mux.Handle("GET /metrics", promhttp.HandlerFor(pr, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	return n, testkit.StartServer(t, mux).URL
}

// traffic makes two echo/1 switches (one closed), a slow switch (live),
// and three refusals.
func traffic(t *testing.T, url string) {
	t.Helper()
	a, _ := testkit.Dial(t, url+"/up", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, a, "hello")
	b, _ := testkit.Dial(t, url+"/up", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, b, "hi")
	a.Close()
	slow, _ := testkit.Dial(t, url+"/up", []string{"slow"}, nil)
	testkit.RoundTrip(t, slow, "s")
	addr := strings.TrimPrefix(url, "http://")
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "keyed"))
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "nope/9"))
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "nope/9"))
}

// parse reads a text exposition with Prometheus's own parser and returns
// its samples, canonical series name to value.
func parse(t *testing.T, what, body string) (map[string]*dto.MetricFamily, map[string]float64) {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", what, err, body)
	}
	list := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		list = append(list, f)
	}
	vec, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: 1}, list...)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	for _, s := range vec {
		samples[s.Metric.String()] = float64(s.Value)
	}
	return fams, samples
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, body := testkit.Do(t, "GET", url, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body
}

// The recorder's own text and the collector's, after real traffic, parse
// with Prometheus's parser into the same samples, with the names,
// types and labels.
func TestCollectorMatchesRecorder(t *testing.T) {
	_, url := server(t, nil)
	traffic(t, url)
	testkit.WaitFor(t, "the closed connection", func() bool {
		return strings.Contains(get(t, url+"/text"), `switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"} 1`)
	})
	own, ownSamples := parse(t, "the recorder's text", get(t, url+"/text"))
	coll, collSamples := parse(t, "the collector's text", get(t, url+"/metrics"))
	for name, typ := range map[string]dto.MetricType{
		"switchyard_upgrade_attempts_total":      dto.MetricType_COUNTER,
		"switchyard_upgrade_refusals_total":      dto.MetricType_COUNTER,
		"switchyard_handshake_duration_seconds":  dto.MetricType_HISTOGRAM,
		"switchyard_upgraded_connections":        dto.MetricType_GAUGE,
		"switchyard_connection_duration_seconds": dto.MetricType_HISTOGRAM,
		"switchyard_connection_io_bytes_total":   dto.MetricType_COUNTER,
		"switchyard_shutdown_connections_total":  dto.MetricType_COUNTER,
	} {
		for what, fams := range map[string]map[string]*dto.MetricFamily{"recorder": own, "collector": coll} {
			if f := fams[name]; f == nil || f.GetType() != typ {
				t.Errorf("%s: %s is %v, want a %v", what, name, f.GetType(), typ)
			}
		}
	}
	if len(own) != 7 || len(coll) != 7 {
		t.Errorf("families: recorder %d, collector %d; want 7 each", len(own), len(coll))
	}
	for k, v := range ownSamples {
		if cv, ok := collSamples[k]; !ok || cv != v {
			t.Errorf("%s: recorder %v, collector %v (present %v)", k, v, cv, ok)
		}
	}
	if len(collSamples) != len(ownSamples) {
		t.Errorf("collector has %d samples, recorder %d", len(collSamples), len(ownSamples))
	}
	for k, v := range map[string]float64{
		`switchyard_upgrade_attempts_total{outcome="switched", token="echo"}`:                            2,
		`switchyard_handshake_duration_seconds_bucket{le="0.025", token="slow"}`:                         0,
		`switchyard_handshake_duration_seconds_bucket{le="10", token="slow"}`:                            1,
		`switchyard_upgrade_attempts_total{outcome="refused", token="keyed"}`:                            1,
		`switchyard_upgrade_refusals_total{status="403", token="keyed"}`:                                 1,
		`switchyard_upgrade_refusals_total{status="426", token="_other"}`:                                2,
		`switchyard_upgraded_connections{token="echo", transport="http/1.1"}`:                            1,
		`switchyard_handshake_duration_seconds_count{token="echo"}`:                                      2,
		`switchyard_connection_duration_seconds_bucket{close_reason="normal", le="1", token="echo"}`:     1,
		`switchyard_connection_duration_seconds_bucket{close_reason="normal", le="86400", token="echo"}`: 1,
		`switchyard_connection_io_bytes_total{direction="receive", token="echo"}`:                        7,
		`switchyard_shutdown_connections_total{result="forced"}`:                                         0,
	} {
		if got, ok := collSamples[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	promtoolCheck(t, "the recorder's text", get(t, url+"/text"))
	promtoolCheck(t, "the collector's text", get(t, url+"/metrics"))
}

// Options.Namespace and ConstLabels reach every series.
func TestNamespace(t *testing.T) {
	_, url := server(t, &swprom.Options{Namespace: "edge", ConstLabels: prometheus.Labels{"role": "gateway"}})
	traffic(t, url)
	fams, samples := parse(t, "the collector's text", get(t, url+"/metrics"))
	for name := range fams {
		if !strings.HasPrefix(name, "edge_") {
			t.Errorf("family %s, want the edge_ prefix", name)
		}
	}
	if v := samples[`edge_upgrade_attempts_total{outcome="switched", role="gateway", token="echo"}`]; v != 2 {
		t.Errorf("edge_upgrade_attempts_total switched echo = %v, want 2; samples %v", v, samples)
	}
}

// promtoolCheck runs Prometheus's own linter on an exposition when
// promtool is installed (Debian's prometheus package; .ci/peers.sh
// installs it): it skips the check otherwise, and fails under
// SWITCHYARD_INTEROP=1.
func promtoolCheck(t *testing.T, what, body string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("SWITCHYARD_INTEROP") == "1" {
			t.Fatalf("promtool not installed (SWITCHYARD_INTEROP=1): %v", err)
		}
		t.Logf("promtool not installed, %s not linted: %v", what, err)
		return
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics on %s: %v\n%s\n%s", what, err, out.String(), body)
	}
	_, _ = io.Copy(io.Discard, &out)
}
