//go:build go1.27 && !http2legacy

package h2c

import "net/http"

// baseConfig is nil where x/net hands connections to net/http's HTTP/2
// server (Go 1.27): ConfigureServer has tied the connection's HTTP/2
// server to its private http.Server, whose HTTP2 settings and Shutdown then
// apply. A BaseConfig here would make a one-off http.Server for the
// connection, out of reach of that Shutdown (no GOAWAY).
func baseConfig(*http.Server) *http.Server { return nil }
