// Package h2c serves cleartext HTTP/2 reached by "Upgrade: h2c" (RFC 7540
// §3.2) as a [negotiate.Protocol], and sets up prior-knowledge HTTP/2 on the
// same server with [ConfigureServer].
//
// # Mounting
//
// Register the protocol and mount the negotiator as middleware around the
// application, so that an upgrade on any path becomes HTTP/2 served by the
// application itself:
//
//	n, err := negotiate.New(nil)
//	p, err := h2c.New(nil)
//	reg := new(negotiate.Registry)
//	reg.Register("h2c", p)
//	srv := &http.Server{Handler: n.Middleware(reg)(mux)}
//	h2c.ConfigureServer(srv)   // connections that open with the HTTP/2 preface too
//	n.RegisterOnShutdown(srv)  // GOAWAY to upgraded connections on srv.Shutdown
//
// Go's net/http serves cleartext HTTP/2 only with prior knowledge, and
// golang.org/x/net/http2/h2c is deprecated, reads upgrade bodies without a
// bound, answers bad settings with 500, and lets upgraded connections escape
// http.Server.Shutdown. This package fixes each of those.
//
// # Prerequisites
//
// Checked before h2c is chosen: exactly one HTTP2-Settings field, base64url
// without padding, a whole number of 6-byte settings (no more than a
// 16 KiB SETTINGS frame holds) with valid values
// as the HTTP/2 server judges them (ENABLE_PUSH and ENABLE_CONNECT_PROTOCOL
// 0 or 1, INITIAL_WINDOW_SIZE at most 2^31-1, MAX_FRAME_SIZE from 2^14 to
// 2^24-1); Connection lists both Upgrade and HTTP2-Settings;
// the connection is not TLS. When they do not hold, the offer is ignored
// ([negotiate.ErrIgnore]) and the request is served as ordinary HTTP/1.1,
// as RFC 9110 §7.8 allows — never a 5xx.
//
// # Bodies
//
// A client such as curl --http2 -d sends its body with the upgrade request;
// h2c is the one protocol that takes it ([negotiate.Protocol].TakesBody).
// A body of known length within Options.MaxBodyBytes (1 MiB by default) is
// read whole before the 101 and replayed as stream 1's body, which alone
// holds it: the connection lets it go once stream 1 is done with it, so an
// idle connection does not keep it. A known length over the bound is not
// upgraded: the request is served as HTTP/1.1 with its body intact. An
// unknown (chunked) length that passes the bound is refused with 413 and
// the connection closed, and so is one over the limit of an
// http.MaxBytesHandler in front; a body cut short is refused with 400
// and never upgrades. The body is read only after the
// negotiator's gate has let the request through (so a connection sending
// one counts against MaxConns and is refused while draining), into a
// buffer that grows as the bytes arrive, and within the negotiator's
// HandshakeTimeout (or the http.Server's ReadTimeout, where it is
// shorter): a body that does not come in time is answered 408.
//
// # Stream 1 and the handler
//
// The upgrade request becomes stream 1 as an HTTP/2 request on every
// supported Go version: Proto "HTTP/2.0", ProtoMajor 2, the hop-by-hop
// fields (Upgrade, Connection and the fields it names, HTTP2-Settings …)
// removed, the body replayed, the URL the one the client sent (as a later
// stream's is, even where a middleware in front of the negotiator, such as
// http.StripPrefix, rewrote the request's: an Options.Handler mounted
// behind such a middleware sees every stream's URL unrewritten). An
// upgrade the negotiator accepts but does not switch (the hijack fails, a
// shutdown overtakes it) is not served: stream 1 never runs, and the
// client has the refusal. Every stream of the connection, stream 1
// included, is served by Options.Handler, or by default by the Handler of
// the http.Server the upgrade came through (http.DefaultServeMux if that
// is nil) — the handler net/http serves prior-knowledge HTTP/2 with — so
// HTTP/2 requests go
// through the same routes and middleware as HTTP/1.1 ones, whichever path
// the negotiator is mounted on. (Where no http.Server can be found in the
// request's context, the default is http.NotFoundHandler.)
//
// The streams are held to that http.Server's limits as its prior-knowledge
// connections are (and as x/net's h2c.NewHandler held them): its
// MaxHeaderBytes, and its ReadTimeout and WriteTimeout for each stream; and
// their handler finds it under http.ServerContextKey. Its HTTP2 settings
// are not taken: Options.HTTP2 configures upgraded connections, the
// server's HTTP2 field its prior-knowledge ones, so set both alike.
//
// At an [negotiate.Negotiator.Endpoint] mount that default routes stream 1
// back to the endpoint, which answers a request that is not an upgrade
// with 426; mount h2c as middleware, or set Options.Handler.
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
// Each upgraded connection is shut down on its own: on its negotiator's
// [negotiate.Negotiator.Shutdown] (and on http.Server.Shutdown, through
// [negotiate.Negotiator.RegisterOnShutdown]) it gets GOAWAY, its streams in
// progress finish, and it closes; the negotiator waits for it, up to the
// shutdown's deadline. Connections switched by another negotiator are not
// touched, even when they share the protocol value returned by [New]. This
// holds on Go 1.26, where x/net serves the connection itself, and on Go
// 1.27, where x/net hands it to net/http's HTTP/2 server.
//
// # Idle connections
//
// An upgraded connection that has had no stream open for its idle timeout
// gets GOAWAY (NO_ERROR) and is closed, as net/http closes idle
// prior-knowledge connections. The timeout is Options.IdleTimeout; by
// default, the http.Server's IdleTimeout, else its ReadTimeout, as
// net/http takes them for HTTP/2, and [DefaultIdleTimeout] (2 minutes)
// where the server sets neither: every idle connection holds a file
// descriptor and memory, and a client that opens connections and never
// closes them must not be able to hold them forever. A negative
// Options.IdleTimeout turns the timeout off. The timer starts once the
// client's preface has arrived (a client that never sends it is closed by
// the HTTP/2 server after 10 seconds) and restarts whenever the
// connection's last open stream ends; a stream still open when it fires
// finishes after the GOAWAY.
//
// What an upgraded connection's HTTP/2 server logs (a client's bad
// preface, a handler's panic) goes to the ErrorLog of the http.Server the
// upgrade came through, as net/http's own HTTP/2 connections log, and to
// the standard logger when it has none.
//
// # Deprecated x/net API
//
// The engine is http2.Server.ServeConn with ServeConnOpts.UpgradeRequest
// and Settings, http2.ConfigureServer for each connection's graceful
// shutdown, and http2.Server.IdleTimeout, the one idle timeout that both
// x/net's server (Go 1.26) and net/http's (Go 1.27, to which x/net hands
// the connection) read for a ServeConn connection. x/net marks them deprecated in favour of http.Server.Protocols,
// but net/http has no way to serve a connection that switched by Upgrade,
// so they are the only way to serve one; the uses carry a lint:ignore
// directive for staticcheck's SA1019.
package h2c
