//go:build go1.27 && !http2legacy

package h2c

import "net/http"

// baseConfig is nil where x/net hands connections to net/http's HTTP/2
// server (Go 1.27): ConfigureServer in New has tied e.h2 to e.base, whose
// HTTP2 settings and Shutdown then apply. A BaseConfig here would make a
// one-off http.Server for every connection, out of reach of e.base's
// Shutdown (no GOAWAY).
func (e *engine) baseConfig() *http.Server { return nil }
