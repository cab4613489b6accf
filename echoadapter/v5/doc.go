// Package echoadapter mounts a [negotiate.Negotiator] in Echo v5
// (github.com/labstack/echo/v5): middleware and a handler that switch
// connections to WebSocket, h2c or any registered protocol, in Echo's idiom
// and with Echo's own middleware in front. It is its own module, one per
// Echo major version: an Echo v4 application imports
// github.com/switchyard-http/switchyard/echoadapter, which has the same
// contract.
//
//	n, err := negotiate.New(nil)
//	...
//	e := echo.New()
//	e.Use(echoadapter.Middleware(n, anyPath))     // h2c, echo/1 … on every path
//	e.Any("/ws", echoadapter.Handler(n, wsReg))   // WebSocket; 426 for anything else
//	srv := &http.Server{Handler: e}
//	n.RegisterOnShutdown(srv)                     // srv.Shutdown closes switched connections too
//
// With echo.StartConfig, tie the negotiator to the server Echo makes in
// BeforeServeFunc: func(s *http.Server) error { n.RegisterOnShutdown(s); return nil }.
//
// # Mounting
//
// [Middleware], [MiddlewareWithConfig] (which panics on a bad config, as
// Echo's WithConfig functions do) and [Config.ToMiddleware] (which returns
// the error instead) build the same middleware: it switches requests that
// offer a protocol of its registry and passes every other request to the
// next handler, without allocating. Mounted with e.Use it runs after
// routing, on every route and where no route matches; with e.Pre, before
// routing. Either way it comes before the route's handler, so it takes
// precedence: an offer of one of its tokens switches even at a route
// mounted with [Handler]. Where that must not happen, use a Skipper, or
// give the route its own registry and mount the middleware on the routes
// that want it.
//
// [Handler] is for routes that must switch: what does not switch there is
// answered 426 Upgrade Required with Upgrade listing the registry's
// tokens, as by [negotiate.Negotiator.Endpoint]. Refusals (400, 403, 405,
// 426, 503 …) are the negotiator's, written through c.Response(), so
// Echo's loggers see their status.
//
// The package does not use echo.WrapMiddleware, which hides the
// *echo.Context and never tells Echo's response about the switch.
//
// # The 101 and Echo's response
//
// The negotiator writes the 101 itself, for every protocol, from
// c.Response()'s header: fields that middleware in front set before the
// switch (RequestID's X-Request-Id, Secure's X-Frame-Options, CORS's
// Access-Control-Allow-Origin …) and fields that the *echo.Response's
// Before hooks set are sent with the 101, alongside the protocol's own
// (Sec-WebSocket-Accept). Fields a 101 must not carry (Content-*,
// Transfer-Encoding, X-Content-Type-Options, invalid names or values) are
// left out.
//
// At the switch the connection is hijacked with http.NewResponseController
// on c.Response(), through every wrapper that implements Unwrap or Hijack
// (Gzip's does), and Echo's own *echo.Response (found with
// echo.UnwrapResponse) is committed with status 101 the way Echo commits
// any status: its Before hooks run then, before the 101 is written. Its
// writer is then replaced by one that discards: RequestLogger logs 101,
// Echo's error handler (which skips a committed response) never writes,
// and no write after the switch reaches the switched connection. The
// middleware and the handler return nil to Echo; a protocol's error goes
// to the negotiator's OnClose hook and logger. An error that an outer
// handler returns after the switch is handled by Echo without touching the
// connection. A custom HTTPErrorHandler must check that the response is
// committed (echo.UnwrapResponse(c.Response())), as Echo's default one
// does.
//
// A middleware that replaces c.Response() with a writer that neither
// hijacks nor unwraps makes every switch fail: such a request is answered
// 500 with a reason that says so, and nothing switches.
// One that hijacks but does not unwrap hides Echo's *echo.Response from
// the adapter: the switch works, but the response is not committed, so a
// RequestLogger in front logs 200 rather than 101, and Echo's error
// handler does not know the response was sent. Give such a writer an
// Unwrap method.
//
// # HTTP/2 streams (RFC 8441)
//
// On a server that advertises extended CONNECT (see the negotiate
// package; GODEBUG=http2xconnect=1 on Go 1.26 and 1.27), a WebSocket or
// any registered protocol may also arrive as an HTTP/2 CONNECT with a
// :protocol, which the middleware and Handler switch like an HTTP/1.1
// upgrade (mount Handler with e.Any, since the method is CONNECT). The
// switch is then a 200 on the stream, not a 101: Echo's *echo.Response is
// committed with 200 and the protocol's writes go through it, past the
// wrappers that middleware put around it (Gzip's, BodyDump's), which a
// switched stream passes by as a hijacked connection does: it is not a
// body to encode or copy. The middleware or handler returns only when the
// protocol has, since an HTTP/2 stream lives as long as its handler;
// Echo's loggers then log 200 with the connection's duration. The
// protocol reads the stream from the request's body, so a middleware in
// front that bounds or reads the body acts on the stream: see BodyLimit
// and BodyDump below.
//
// # Context and lifetime
//
// The middleware and the handler return as soon as the connection has
// switched: the protocol runs on in a goroutine of its own, and the
// pooled *echo.Context goes back to Echo's pool. Protocols never receive
// it; they get the *http.Request. h2c streams are served by the Handler
// of the http.Server that accepted the upgrade: when that is the
// *echo.Echo, every HTTP/2 request goes through Echo's Pre middleware,
// router and middleware again, whichever mount switched. A switched
// connection is not cancelled by the request's context:
// [negotiate.Conn.Context] keeps the request's values without its
// deadline or cancellation (Echo's ContextTimeout does not cut a
// WebSocket), and is cancelled when the negotiator shuts down or the
// connection closes.
//
// # Echo's middleware in front
//
// RequestLogger logs status 101 (200 for an HTTP/2 stream). Recover,
// Secure, CORS, RequestID, Decompress and ContextTimeout leave the switch
// alone, and the fields they set reach the 101 as above. Gzip passes
// Hijack through and leaves an HTTP/2 stream unencoded. BodyLimit and
// BodyDump leave an HTTP/1.1 switch alone, but over HTTP/2 the body is the
// stream: BodyLimit ends a stream once more than its limit has come in,
// and BodyDump copies the body before the handler runs. Mount them behind
// Middleware, not in front of it with a Skipper for upgrades, and give
// them a Skipper for the routes served by Handler alone: then every
// request that reaches the routes meets them, an upgrade that offers
// nothing registered included (any client can send one, over HTTP/1.1 or
// as an extended CONNECT, and it goes on as an ordinary request), and no
// switch does:
//
//	e.Use(echoadapter.Middleware(n, reg)) // switches before the limit
//	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{LimitBytes: 1 << 20,
//		Skipper: func(c *echo.Context) bool { return c.Path() == "/ws" }, // Handler's route
//	}))
//	e.Any("/ws", echoadapter.Handler(n, ws))
//
// # Shutdown
//
// net/http forgets hijacked connections, and so does Echo. Tie the
// negotiator to the server with n.RegisterOnShutdown(srv): then
// srv.Shutdown (or the end of echo.StartConfig's context) starts the
// negotiator's shutdown, which refuses new switches (503) and cancels each
// switched connection's [negotiate.Conn.Context]: the protocol closes its
// own way (WebSocket close 1001, h2c GOAWAY, a custom protocol stops and
// returns). A protocol that ignores its Context holds the shutdown until
// the shutdown's context ends, as a handler holds http.Server.Shutdown.
// srv.Shutdown does not wait for the switched connections; to wait, call
// n.Shutdown(ctx) after it returns.
//
// # Moving from Echo v4
//
// Import github.com/switchyard-http/switchyard/echoadapter/v5 instead of
// .../echoadapter, keeping the name echoadapter; the functions and Config
// are the same. Skippers take a *echo.Context. Echo v5 has no e.Server:
// call n.RegisterOnShutdown on the http.Server that serves e (yours, or
// the one StartConfig's BeforeServeFunc receives). Echo v5 has no Logger
// or Timeout middleware: RequestLogger logs the 101, and ContextTimeout
// does not cut a switched connection.
//
// # Concurrency
//
// The middleware and handlers are safe for concurrent use; the negotiator
// and registry are shared as in package negotiate.
package echoadapter
