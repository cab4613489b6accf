package otelmetrics_test

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/switchyard-http/switchyard/internal/xconnect"
	"io"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/otelmetrics"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// collect reads every instrument through the SDK's in-memory reader.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelmetrics.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelmetrics.ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum returns the value of a sum's data point with exactly attrs.
func sum(t *testing.T, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := ms[name].Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("%s: %T, want an int64 sum", name, ms[name].Data)
	}
	dp, ok := point(t, name, s.DataPoints, func(dp metricdata.DataPoint[int64]) attribute.Set { return dp.Attributes }, attrs)
	if !ok {
		return -1
	}
	return dp.Value
}

// hist returns the histogram data point of name with exactly attrs.
func hist(t *testing.T, ms map[string]metricdata.Metrics, name string, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := ms[name].Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s: %T, want a float64 histogram", name, ms[name].Data)
	}
	dp, _ := point(t, name, h.DataPoints, func(dp metricdata.HistogramDataPoint[float64]) attribute.Set { return dp.Attributes }, attrs)
	return dp
}

// point returns the data point of name whose attributes (attrsOf) are
// exactly attrs; without one, it fails the test and returns false.
func point[P any](t *testing.T, name string, points []P, attrsOf func(P) attribute.Set, attrs []attribute.KeyValue) (P, bool) {
	t.Helper()
	want := attribute.NewSet(attrs...)
	for _, dp := range points {
		if got := attrsOf(dp); got.Equals(&want) {
			return dp, true
		}
	}
	t.Errorf("%s: no data point with %v", name, want.Encoded(attribute.DefaultEncoder()))
	var zero P
	return zero, false
}

// Real switches, refusals, a failure and a shutdown through a loopback
// server, read with the SDK's ManualReader: each instrument with its
// OpenTelemetry name, unit, attributes and value.
func TestInstruments(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	rec, err := otelmetrics.NewRecorder(provider)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan negotiate.ConnInfo, 4)
	n, err := rec.NewNegotiator(&negotiate.Options{OnClose: func(c negotiate.ConnInfo) { closed <- c }})
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.Register("broken", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		panic("bug")
	}})
	reg.Register("keyed", negotiate.Protocol{
		Check:  func(*http.Request) error { return negotiate.Refusal(http.StatusForbidden, "no") },
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return nil, nil },
	})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	addr := testkit.Addr(srv)

	a, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
	testkit.RoundTrip(t, a, "hello")
	b, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
	testkit.RoundTrip(t, b, "0123456789")
	testkit.Raw(t, addr, testkit.UpgradeRequest("/", "keyed"))
	testkit.Raw(t, addr, testkit.UpgradeRequest("/", "nope/9"))
	testkit.Raw(t, addr, testkit.UpgradeRequest("/", "broken"))

	ms := collect(t, reader)
	echo := otelmetrics.TokenKey.String("echo")
	h1 := []attribute.KeyValue{echo, otelmetrics.ProtocolKey.String("http"), otelmetrics.VersionKey.String("1.1")}
	for _, c := range []struct {
		got, want int64
		what      string
	}{
		{sum(t, ms, "switchyard.upgrade.attempts", echo, otelmetrics.OutcomeKey.String("switched")), 2, "echo switched"},
		{sum(t, ms, "switchyard.upgrade.attempts", otelmetrics.TokenKey.String("keyed"), otelmetrics.OutcomeKey.String("refused"), otelmetrics.StatusKey.Int(403)), 1, "keyed refused 403"},
		{sum(t, ms, "switchyard.upgrade.attempts", otelmetrics.TokenKey.String("_other"), otelmetrics.OutcomeKey.String("refused"), otelmetrics.StatusKey.Int(426)), 1, "_other refused 426"},
		{sum(t, ms, "switchyard.upgrade.attempts", otelmetrics.TokenKey.String("broken"), otelmetrics.OutcomeKey.String("failed"), otelmetrics.StatusKey.Int(500)), 1, "broken failed 500"},
		{sum(t, ms, "switchyard.upgraded_connections", h1...), 2, "live echo over HTTP/1.1"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	if s := ms["switchyard.upgraded_connections"].Data.(metricdata.Sum[int64]); s.IsMonotonic {
		t.Error("switchyard.upgraded_connections is monotonic, want an UpDownCounter")
	}
	if hs := hist(t, ms, "switchyard.handshake.duration", echo); hs.Count != 2 || len(hs.Bounds) != 16 || hs.Bounds[0] != 0.0001 {
		t.Errorf("handshake: count %d, bounds %v; want 2 and the 16 from 100 µs", hs.Count, hs.Bounds)
	}
	for name, unit := range map[string]string{"switchyard.upgrade.attempts": "{attempt}", "switchyard.handshake.duration": "s",
		"switchyard.upgraded_connections": "{connection}"} {
		if ms[name].Unit != unit {
			t.Errorf("%s: unit %q, want %q", name, ms[name].Unit, unit)
		}
	}

	a.Close()
	testkit.Receive(t, closed, "a's close")
	if err := testkit.Receive(t, testkit.Shutdown(n, testkit.Timeout), "the shutdown"); err != nil {
		t.Fatal(err)
	}
	testkit.Receive(t, closed, "b's close")
	_, _ = io.Copy(io.Discard, b)

	ms = collect(t, reader)
	if got := sum(t, ms, "switchyard.upgraded_connections", h1...); got != 0 {
		t.Errorf("live echo after the closes: %d", got)
	}
	if got := sum(t, ms, "switchyard.connection.io", echo, otelmetrics.DirectionKey.String("receive")); got != 15 {
		t.Errorf("bytes received: %d, want 15", got)
	}
	if got := sum(t, ms, "switchyard.shutdown.connections", otelmetrics.ResultKey.String("graceful")); got != 1 {
		t.Errorf("graceful shutdowns: %d, want 1", got)
	}
	for reason, want := range map[string]uint64{"normal": 1, "shutdown": 1} {
		dp := hist(t, ms, "switchyard.connection.duration", echo, otelmetrics.CloseReasonKey.String(reason))
		if dp.Count != want || dp.Bounds[len(dp.Bounds)-1] != (24*time.Hour).Seconds() {
			t.Errorf("duration %s: count %d, bounds %v; want %d up to 24 h", reason, dp.Count, dp.Bounds, want)
		}
	}
	if ms["switchyard.connection.duration"].Unit != "s" || ms["switchyard.connection.io"].Unit != "By" {
		t.Errorf("units: duration %q, io %q", ms["switchyard.connection.duration"].Unit, ms["switchyard.connection.io"].Unit)
	}
}

// recorded returns a provider's reader and a recorder on it.
func recorded(t *testing.T) (*sdkmetric.ManualReader, *otelmetrics.Recorder) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })
	rec, err := otelmetrics.NewRecorder(provider)
	if err != nil {
		t.Fatal(err)
	}
	return reader, rec
}

// The user's OnSwitch, OnClose and OnRefuse are kept and run after the
// recorder's, which has already counted what they are told about; two
// negotiators made from the same Options are each recorded once.
func TestUserHooksRunAfterTheRecorder(t *testing.T) {
	reader, rec := recorded(t)
	type seen struct {
		hook string
		rm   *metricdata.ResourceMetrics // what the reader had when the hook ran
	}
	hooks := make(chan seen, 16)
	read := func(hook string) {
		rm := new(metricdata.ResourceMetrics)
		_ = reader.Collect(context.Background(), rm)
		hooks <- seen{hook, rm}
	}
	opts := &negotiate.Options{
		OnSwitch: func(negotiate.ConnInfo) { read("OnSwitch") },
		OnClose:  func(negotiate.ConnInfo) { read("OnClose") },
		OnRefuse: func(negotiate.RefusalInfo) { read("OnRefuse") },
	}
	echo := otelmetrics.TokenKey.String("echo")
	for k := 1; k <= 2; k++ {
		n, err := rec.NewNegotiator(opts)
		if err != nil {
			t.Fatal(err)
		}
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo/1", testkit.EchoConn)
		srv := testkit.StartServer(t, n.Endpoint(reg))
		c, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
		testkit.RoundTrip(t, c, "hi")
		c.Close()
		testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "nope/9")) // 426
		got := map[string]int64{}
		for range 3 {
			s := testkit.Receive(t, hooks, "a user's hook")
			ms := map[string]metricdata.Metrics{}
			for _, sm := range s.rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					ms[m.Name] = m
				}
			}
			switch s.hook {
			case "OnSwitch":
				got[s.hook] = sum(t, ms, "switchyard.upgrade.attempts", echo, otelmetrics.OutcomeKey.String("switched"))
			case "OnClose":
				if _, ok := ms["switchyard.connection.duration"]; ok {
					got[s.hook] = int64(hist(t, ms, "switchyard.connection.duration", echo, otelmetrics.CloseReasonKey.String("normal")).Count)
				}
			case "OnRefuse":
				got[s.hook] = sum(t, ms, "switchyard.upgrade.attempts", otelmetrics.TokenKey.String("_other"),
					otelmetrics.OutcomeKey.String("refused"), otelmetrics.StatusKey.Int(426))
			}
		}
		for _, hook := range []string{"OnSwitch", "OnClose", "OnRefuse"} {
			if got[hook] != int64(k) {
				t.Errorf("negotiator %d: the user's %s saw %d of its events recorded, want %d (all: %v)", k, hook, got[hook], k, got)
			}
		}
	}
	select {
	case s := <-hooks:
		t.Errorf("%s ran once more", s.hook)
	default:
	}
}

// A protocol that fails is an error close; one that ignores a shutdown is
// closed at its deadline: close reason shutdown, result forced.
func TestErrorAndForcedCloses(t *testing.T) {
	reader, rec := recorded(t)
	infos := testkit.NewConnInfos()
	n, err := rec.NewNegotiator(&negotiate.Options{OnClose: infos.Hook})
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("failing", func(c *negotiate.Conn) error {
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return err
		}
		return errors.New("bad frame")
	})
	reg.HandleFunc("deaf", func(c *negotiate.Conn) error {
		_, err := io.Copy(io.Discard, c)
		return err
	})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	f, _ := testkit.Dial(t, srv.URL, []string{"failing"}, nil)
	if _, err := f.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, f)
	if info := infos.Next(t); info.CloseReason != negotiate.CloseError {
		t.Fatalf("failing closed with %q (%v), want %q", info.CloseReason, info.Err, negotiate.CloseError)
	}
	d, _ := testkit.Dial(t, srv.URL, []string{"deaf"}, nil)
	testkit.WaitFor(t, "the switch", func() bool { return len(n.Conns()) == 1 })
	if err := testkit.Receive(t, testkit.Shutdown(n, 100*time.Millisecond), "the shutdown"); err == nil {
		t.Fatal("Shutdown returned nil, want its deadline")
	}
	testkit.ExpectClosed(t, d)
	if info := infos.Next(t); info.CloseReason != negotiate.CloseForced {
		t.Fatalf("deaf closed with %q, want %q", info.CloseReason, negotiate.CloseForced)
	}

	ms := collect(t, reader)
	failing, deaf := otelmetrics.TokenKey.String("failing"), otelmetrics.TokenKey.String("deaf")
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"failing's error closes", hist(t, ms, "switchyard.connection.duration", failing, otelmetrics.CloseReasonKey.String("error")).Count, 1},
		{"deaf's shutdown closes", hist(t, ms, "switchyard.connection.duration", deaf, otelmetrics.CloseReasonKey.String("shutdown")).Count, 1},
		{"forced shutdowns", uint64(sum(t, ms, "switchyard.shutdown.connections", otelmetrics.ResultKey.String("forced"))), 1},
		{"failing's bytes received", uint64(sum(t, ms, "switchyard.connection.io", failing, otelmetrics.DirectionKey.String("receive"))), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	for name, monotonic := range map[string]bool{"switchyard.upgrade.attempts": true, "switchyard.connection.io": true,
		"switchyard.shutdown.connections": true} {
		if s := ms[name].Data.(metricdata.Sum[int64]); s.IsMonotonic != monotonic {
			t.Errorf("%s: monotonic %v, want %v", name, s.IsMonotonic, monotonic)
		}
	}
	if u := ms["switchyard.shutdown.connections"].Unit; u != "{connection}" {
		t.Errorf("switchyard.shutdown.connections: unit %q, want {connection}", u)
	}
}

// A switch on an HTTP/2 stream (RFC 8441 extended CONNECT, over TLS and
// over h2c) is a live connection of network.protocol.version "2".
func TestOverHTTP2(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		reader, rec := recorded(t)
		n, err := rec.NewNegotiator(nil)
		if err != nil {
			t.Fatal(err)
		}
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo/1", testkit.EchoConn)
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		var cfg *tls.Config
		if useTLS {
			cfg = srv.Client().Transport.(*http.Transport).TLSClientConfig
		}
		client := xconnect.New(cfg)
		t.Cleanup(client.CloseIdleConnections)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		st, _, err := client.Dial(ctx, srv.URL+"/", "echo/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		testkit.RoundTrip(t, st, "over h2")

		echo := otelmetrics.TokenKey.String("echo")
		h2 := []attribute.KeyValue{echo, otelmetrics.ProtocolKey.String("http"), otelmetrics.VersionKey.String("2")}
		if got := sum(t, collect(t, reader), "switchyard.upgraded_connections", h2...); got != 1 {
			t.Errorf("live echo over HTTP/2: %d, want 1", got)
		}
		if st := n.Stats(); st.OverH2["echo"] != 1 {
			t.Errorf("stats %+v, want one echo switch over h2", st)
		}
		st.Close()
		testkit.WaitFor(t, "the stream's close", func() bool {
			return sum(t, collect(t, reader), "switchyard.upgraded_connections", h2...) == 0
		})
	})
}
