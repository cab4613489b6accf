//go:build !(go1.27 && !http2legacy)

package h2c

import "net/http"

// baseConfig is the http.Server that x/net's own HTTP/2 server (Go 1.26,
// or the http2legacy build) takes its settings from. Without one it makes
// an empty http.Server for every connection, and Options.HTTP2 is lost.
func (e *engine) baseConfig() *http.Server { return e.base }
