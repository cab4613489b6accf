//go:build !(go1.27 && !http2legacy)

package h2c

import "net/http"

// baseConfig is the http.Server that x/net's own HTTP/2 server (Go 1.26,
// or the http2legacy build) takes a connection's settings from: the
// connection's private server, whose HTTP2 field holds Options.HTTP2.
func baseConfig(base *http.Server) *http.Server { return base }
