// Package echoadapter mounts a [negotiate.Negotiator] in Echo
// (github.com/labstack/echo/v4): middleware and a handler that switch
// connections to WebSocket, h2c or any registered protocol, in Echo's idiom
// and with Echo's own middleware in front.
//
//	n, err := negotiate.New(nil)
//	...
//	e := echo.New()
//	n.RegisterOnShutdown(e.Server)                 // e.Shutdown closes switched connections too
//	e.Use(echoadapter.Middleware(n, anyPath))     // h2c, echo/1 … on every path
//	e.Any("/ws", echoadapter.Handler(n, wsReg))   // WebSocket; 426 for anything else
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
// The package does not use echo.WrapMiddleware, which swaps c.Response()'s
// writer and never tells the echo.Response about the switch.
//
// # The 101 and the echo.Response
//
// The negotiator writes the 101 itself, for every protocol, from
// c.Response()'s header: fields that middleware in front set before the
// switch (RequestID's X-Request-Id, Secure's X-Frame-Options, CORS's
// Access-Control-Allow-Origin …) and fields that Response.Before hooks set
// are sent with the 101, alongside the protocol's own
// (Sec-WebSocket-Accept). Fields a 101 must not carry (Content-*,
// Transfer-Encoding, X-Content-Type-Options, invalid names or values) are
// left out.
//
// At the switch the connection is hijacked through c.Response()'s writer
// and every wrapper under it that implements Unwrap or Hijack (Gzip's
// does), and c.Response() is committed with status 101 the way Echo
// commits any status: its Before hooks run then, before the 101 is
// written. Its writer is then replaced by one that discards: Echo's
// Logger and RequestLogger log 101, Echo's error handler (which skips a
// committed response) never writes, and no write after the switch reaches
// the switched connection. The middleware and the handler return nil to
// Echo; a protocol's error goes to the negotiator's OnClose hook and
// logger. An error that an outer handler returns after the switch is
// handled by Echo without touching the connection. A custom
// HTTPErrorHandler must check c.Response().Committed, as Echo's default
// one does.
//
// # HTTP/2 streams (RFC 8441)
//
// On a server that advertises extended CONNECT (see the negotiate
// package; GODEBUG=http2xconnect=1 on Go 1.26 and 1.27), a WebSocket or
// any registered protocol may also arrive as an HTTP/2 CONNECT with a
// :protocol, which the middleware and Handler switch like an HTTP/1.1
// upgrade (mount Handler with e.Any, since the method is CONNECT). The
// switch is then a 200 on the stream, not a 101: c.Response() is committed
// with 200 and the protocol's writes go through it, straight to the writer
// under the wrappers that middleware put on it (Gzip's, BodyDump's), which
// a switched stream passes by as a hijacked connection does: it is not a
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
// pooled echo.Context goes back to Echo's pool. Protocols never receive
// it; they get the *http.Request. h2c streams are served by the Handler
// of the http.Server that accepted the upgrade: served by e.Start or
// e.StartServer, that is e.Server, whose Handler is the *echo.Echo, so
// every HTTP/2 request goes through Echo's Pre middleware, router and
// middleware again, whichever mount switched. A switched connection is
// not cancelled by the request's context: [negotiate.Conn.Context] keeps
// the request's values without its deadline or cancellation (Echo's
// ContextTimeout does not cut a WebSocket), and is cancelled when the
// negotiator shuts down or the connection closes.
//
// # Echo's middleware in front
//
// Logger and RequestLogger log status 101 (200 for an HTTP/2 stream).
// Recover, Secure, CORS, RequestID, Decompress and ContextTimeout leave
// the switch alone, and the fields they set reach the 101 as above. Gzip
// passes Hijack through and leaves an HTTP/2 stream unencoded. BodyLimit
// and BodyDump leave an HTTP/1.1 switch alone, but over HTTP/2 the body is
// the stream: BodyLimit ends a stream once more than its limit has come
// in, and BodyDump copies the body before the handler runs. Mount them
// behind Middleware, not in front of it with a Skipper for upgrades, and
// give them a Skipper for the routes served by Handler alone: then every
// request that reaches the routes meets them, an upgrade that offers
// nothing registered included (any client can send one, over HTTP/1.1 or
// as an extended CONNECT, and it goes on as an ordinary request), and no
// switch does:
//
//	e.Use(echoadapter.Middleware(n, reg)) // switches before the limit
//	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "1M",
//		Skipper: func(c echo.Context) bool { return c.Path() == "/ws" }, // Handler's route
//	}))
//	e.Any("/ws", echoadapter.Handler(n, ws))
//
// The deprecated Timeout middleware runs the handler behind
// http.TimeoutHandler, whose writer can neither hijack nor set a stream's
// deadlines: such a request is answered 500 and nothing switches. Over
// HTTP/1.1 the reason names the Timeout middleware and says to use
// ContextTimeout.
//
// # Shutdown
//
// net/http forgets hijacked connections, and so does Echo. Tie the
// negotiator to Echo's server with n.RegisterOnShutdown(e.Server): then
// e.Shutdown starts the negotiator's shutdown, which refuses new switches
// (503) and cancels each switched connection's [negotiate.Conn.Context]:
// the protocol closes its own way (WebSocket close 1001, h2c GOAWAY, a
// custom protocol stops and returns). A protocol that ignores its Context
// holds the shutdown until the shutdown's context ends, as a handler holds
// http.Server.Shutdown. e.Shutdown does not wait for the switched
// connections; to wait, call n.Shutdown(ctx) after it returns.
//
// # Concurrency
//
// The middleware and handlers are safe for concurrent use; the negotiator
// and registry are shared as in package negotiate.
package echoadapter
