package otelmetrics_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/switchyard-http/switchyard/negotiate"
	"github.com/switchyard-http/switchyard/otelmetrics"
)

// A negotiator made by the recorder is recorded on the provider's meter.
func ExampleNewRecorder() {
	reader := sdkmetric.NewManualReader() // an exporter's reader in production
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	rec, err := otelmetrics.NewRecorder(provider)
	if err != nil {
		log.Fatal(err)
	}
	n, err := rec.NewNegotiator(&negotiate.Options{MaxConns: 1000})
	if err != nil {
		log.Fatal(err)
	}
	_ = n // mount n.Middleware(reg) or n.Endpoint(reg) as usual

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(rm.ScopeMetrics), "scopes before any upgrade")
	// Output:
	// 0 scopes before any upgrade
}
