package metrics_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
)

// A negotiator made by a Recorder is recorded; the Recorder serves
// /metrics in the Prometheus text format.
func ExampleRecorder() {
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(&negotiate.Options{MaxConns: 1000})
	if err != nil {
		log.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", rec)
	srv := httptest.NewServer(n.Middleware(reg)(mux))
	defer srv.Close()
	defer n.Shutdown(context.Background())

	conn, _, err := negotiate.Dial(context.Background(), srv.URL, []string{"echo/1"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "switchyard_upgrade_attempts_total") || strings.HasPrefix(line, "switchyard_upgraded_connections") {
			fmt.Println(line)
		}
	}
	// Output:
	// switchyard_upgrade_attempts_total{token="echo",outcome="switched"} 1
	// switchyard_upgrade_attempts_total{token="echo",outcome="refused"} 0
	// switchyard_upgrade_attempts_total{token="echo",outcome="failed"} 0
	// switchyard_upgraded_connections{token="echo",transport="http/1.1"} 1
}
