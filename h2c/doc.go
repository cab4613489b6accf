// Package h2c serves cleartext HTTP/2 reached by "Upgrade: h2c" (RFC 7540
// §3.2) as a [negotiate.Protocol], and sets up prior-knowledge HTTP/2 on the
// same server with [ConfigureServer].
//
// Go's net/http serves cleartext HTTP/2 only with prior knowledge, and
// golang.org/x/net/http2/h2c is deprecated, reads upgrade bodies without a
// bound, answers bad settings with 500, and lets upgraded connections escape
// http.Server.Shutdown. This package fixes each of those.
//
//	p, err := h2c.New(nil)
//	reg.Register("h2c", p)
//	srv := &http.Server{Handler: n.Middleware(reg)(mux)}
//	h2c.ConfigureServer(srv)   // PRI * connections too
//	n.RegisterOnShutdown(srv)  // GOAWAY to upgraded connections on srv.Shutdown
//
// # Prerequisites
//
// Checked before h2c is chosen: exactly one HTTP2-Settings field, base64url
// without padding, a whole number of 6-byte settings (no more than a
// 16 KiB SETTINGS frame holds) with valid values
// (ENABLE_PUSH 0 or 1, INITIAL_WINDOW_SIZE at most 2^31-1, MAX_FRAME_SIZE
// from 2^14 to 2^24-1); Connection lists both Upgrade and HTTP2-Settings;
// the connection is not TLS. When they do not hold, the offer is ignored
// ([negotiate.ErrIgnore]) and the request is served as ordinary HTTP/1.1,
// as RFC 9110 §7.8 allows — never a 5xx.
//
// # Bodies
//
// A client such as curl --http2 -d sends its body with the upgrade request.
// A body of known length within Options.MaxBodyBytes (1 MiB by default) is
// read whole before the 101 and replayed as stream 1's body. A known length
// over the bound is not upgraded: the request is served as HTTP/1.1 with
// its body intact. An unknown (chunked) length that passes the bound is
// refused with 413 and the connection closed; a body cut short is refused
// with 400 and never upgrades.
//
// # Stream 1 and the handler
//
// The upgrade request becomes stream 1 as an HTTP/2 request on every
// supported Go version: Proto "HTTP/2.0", ProtoMajor 2, the hop-by-hop
// fields (Upgrade, Connection, HTTP2-Settings …) removed, the body
// replayed. By default the streams are served by the handler the
// [negotiate.Negotiator.Middleware] wraps, so HTTP/2 requests go through the
// same application chain as HTTP/1.1 ones; Options.Handler overrides it.
//
// # Clients that upgrade with OPTIONS *
//
// Some clients upgrade with "OPTIONS *" and send their real request as a
// later stream (nghttp -u does when it has data to send). net/http answers
// "OPTIONS *" itself (200, no body) before any handler runs, so such a
// client is not upgraded unless http.Server.DisableGeneralOptionsHandler is
// set. When it is, "OPTIONS *" becomes stream 1 and reaches the handler,
// which must answer it: http.ServeMux answers 400 with "Connection: close",
// which HTTP/2 turns into GOAWAY, so the client's real request may be
// refused. Answer it as net/http does before the mux:
//
//	if r.Method == http.MethodOptions && r.RequestURI == "*" {
//		w.Header().Set("Content-Length", "0")
//		return
//	}
//
// # Security: h2c smuggling
//
// A reverse proxy that forwards "Upgrade: h2c" and then relays the
// connection's bytes hands its client a raw HTTP/2 tunnel to the backend:
// every later request on that connection bypasses the proxy's rules
// (access control, path filters, authentication). By default a request that
// shows it came through a proxy (Via, Forwarded or any X-Forwarded-* field)
// is therefore not upgraded, unless its peer address is in
// Options.TrustedProxies. Nothing upgrades to h2c unless the protocol is
// registered, and TLS connections never do.
//
// # Shutdown
//
// On the negotiator's shutdown (and on http.Server.Shutdown, through
// [negotiate.Negotiator.RegisterOnShutdown]) every upgraded connection gets
// GOAWAY and closes once its streams are done; the negotiator waits for it.
// This holds on Go 1.26, where x/net serves the connection itself, and on
// Go 1.27, where x/net hands it to net/http's HTTP/2 server.
//
// # Deprecated x/net API
//
// The engine is http2.Server.ServeConn with ServeConnOpts.UpgradeRequest
// and Settings. x/net marks ServeConn and ServeConnOpts deprecated in favour
// of http.Server.Protocols, but net/http has no way to serve a connection
// that switched by Upgrade, so ServeConn is the only way to serve one;
// linters that flag it (staticcheck SA1019) are expected here.
package h2c
