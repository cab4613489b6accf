package prometheus_test

import (
	"fmt"
	"log"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
	swprom "github.com/switchyard-http/switchyard/prometheus"
)

// The recorder records through the negotiator's hooks; the collector
// hands its series to a client_golang registry (promhttp.Handler serves
// prometheus.DefaultRegisterer's).
func ExampleNewCollector() {
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(&negotiate.Options{MaxConns: 1000})
	if err != nil {
		log.Fatal(err)
	}
	_ = n // mount n.Middleware(reg) or n.Endpoint(reg) as usual

	registry := prometheus.NewRegistry()
	registry.MustRegister(swprom.NewCollector(rec, &swprom.Options{Namespace: "edge"}))
	families, err := registry.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}
	// Output:
	// edge_shutdown_connections_total COUNTER
}
