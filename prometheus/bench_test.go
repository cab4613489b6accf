package prometheus_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
	swprom "github.com/switchyard-http/switchyard/prometheus"
)

// BenchmarkHandshake is one echo/1 handshake over loopback (dial, 101,
// close) on a negotiator without metrics and on one recorded for
// Prometheus, the collector registered; the ratio of the two is what
// recording costs a switch. Run:
//
//	go test -run '^$' -bench Handshake -benchmem ./prometheus
func BenchmarkHandshake(b *testing.B) {
	for _, bc := range []struct {
		name string
		make func() (*negotiate.Negotiator, error)
	}{
		{"plain", func() (*negotiate.Negotiator, error) { return negotiate.New(nil) }},
		{"prometheus", func() (*negotiate.Negotiator, error) {
			rec := metrics.NewRecorder()
			prometheus.NewRegistry().MustRegister(swprom.NewCollector(rec, nil))
			return rec.NewNegotiator(nil)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n, err := bc.make()
			if err != nil {
				b.Fatal(err)
			}
			reg := new(negotiate.Registry)
			reg.HandleFunc("echo/1", func(*negotiate.Conn) error { return nil })
			srv := httptest.NewServer(n.Endpoint(reg))
			defer srv.Close()
			defer n.Shutdown(context.Background())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				c, _, err := negotiate.Dial(ctx, srv.URL, []string{"echo/1"}, nil)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}
