// Package echoadapter mounts a [negotiate.Negotiator] in Echo
// (github.com/labstack/echo/v4) natively: Echo middleware and handlers that
// switch connections to WebSocket, h2c or any registered protocol, in Echo's
// idiom and with Echo's own middleware in front.
//
//	n, _ := negotiate.New(nil)
//	e := echo.New()
//	n.RegisterOnShutdown(e.Server)               // e.Shutdown drains switched connections
//	e.Use(echoadapter.Middleware(n, anyPath))   // h2c, echo/1 … on every route
//	e.GET("/ws", echoadapter.Handler(n, wsReg)) // WebSocket, 426 for anything else
//
// # Mounting
//
// [Middleware] (or [MiddlewareWithConfig], or [Config.ToMiddleware], which
// returns the config error instead of panicking) switches requests that
// offer a protocol of its registry and passes every other request to the
// next handler, without allocating. Mount it with e.Use to switch on
// every path after routing (a path without a route still reaches it), or
// with e.Pre to switch before routing. [Handler] (or [Config.ToHandler]) is
// for routes that require an upgrade: what does not switch is answered
// 426 Upgrade Required with Upgrade listing the registry's tokens, as by
// [negotiate.Negotiator.Endpoint]. Refusals (400, 403, 405, 426, 503 …)
// are the negotiator's, written through c.Response().
//
// The package does not use echo.WrapMiddleware, which swaps c.Response()'s
// writer and never tells the echo.Response about the hijack.
//
// # The echo.Response after a switch
//
// The connection is hijacked through c.Response()'s writer and every
// wrapper under it that implements Unwrap or Hijack (Gzip's does). At the
// switch, c.Response() is committed with status 101 the way Echo commits a
// status (its Before hooks run, and headers they set go into the 101), and
// its writer is replaced by one that discards: so Echo's Logger and
// RequestLogger log 101, Echo's error handler (which skips a committed
// response) never writes, and no write after the switch reaches the
// hijacked connection. The middleware and the handler return nil to Echo;
// a protocol's error goes to the negotiator's OnClose hook and logger. An
// error that an outer handler returns after the switch is handled by Echo
// without touching the connection. A custom HTTPErrorHandler must check
// c.Response().Committed, as Echo's default one does.
//
// # Context and lifetime
//
// The middleware and the handler return as soon as the connection has
// switched: the protocol runs on in a goroutine of its own, and the pooled
// echo.Context goes back to Echo's pool. Protocols never receive it, so
// nothing of it outlives the request: they get the *http.Request and,
// in the middleware, c.Echo() as [negotiate.Conn.Next], so h2c streams go
// through Echo's router and middleware as new requests. The connection
// is not cancelled by the request's context: [negotiate.Conn.Context] keeps
// the request's values without its deadline or cancellation (Echo's
// ContextTimeout does not cut a WebSocket), and is cancelled when the
// negotiator shuts down or the connection closes.
//
// # Echo's middleware in front
//
// Logger and RequestLogger log status 101. Recover, Secure, CORS,
// RequestID, BodyLimit and ContextTimeout leave the switch alone; headers
// they set on the response (X-Request-Id, say) are sent with the 101 where
// the 101 may carry them. Gzip passes Hijack through. The deprecated
// Timeout middleware runs the handler behind http.TimeoutHandler, whose
// writer cannot hijack: such a request is answered 500 with a reason that
// names the Timeout middleware and says to use ContextTimeout, and nothing
// switches.
//
// # Shutdown
//
// net/http forgets hijacked connections, and so does Echo. Tie the
// negotiator to Echo's server with n.RegisterOnShutdown(e.Server): then
// e.Shutdown starts the negotiator's shutdown, which refuses new switches
// (503) and closes each switched connection its protocol's way (WebSocket
// close 1001, h2c GOAWAY, a plain close for raw streams). e.Shutdown does
// not wait for them; to wait, call n.Shutdown(ctx) after it returns.
//
// # Concurrency
//
// The middleware and handlers are safe for concurrent use; the negotiator
// and registry are shared as in package negotiate.
package echoadapter
