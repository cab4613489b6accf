// Package negotiate negotiates HTTP/1.1 protocol upgrades (RFC 9110 §7.8)
// for many protocols behind one [Registry], and tracks every switched
// connection until it closes. It uses the standard library only.
//
// # Mounting
//
// A [Negotiator] holds what is shared: the live connections, limits, hooks,
// statistics and the shutdown. It is mounted over a [Registry] in one of
// three ways, and several mounts may share one negotiator:
//
//   - [Negotiator.Middleware] switches requests that offer a registered
//     protocol and passes every other request to the next handler untouched
//     (without allocating).
//   - [Negotiator.Endpoint] and [Negotiator.Require] switch, and answer
//     everything else with 426 Upgrade Required, listing the registry's
//     tokens in Upgrade.
//
// # The flow of one request
//
// An upgrade request is HTTP/1.1 with "upgrade" in Connection and a
// non-empty Upgrade ([IsUpgrade]); HTTP/1.0 Upgrade is ignored and HTTP/2
// requests never switch. Upgrade and Connection are parsed by one parser:
// several field lines, commas, optional whitespace, empty elements,
// case-insensitive names, name/version. Offers are matched in the client's
// order ([Registry].ServerPreference reverses that): a registration "foo"
// matches any version of foo, "foo/2" only foo/2. Each candidate's Check
// runs, and the first that passes is chosen; a token the client did not
// offer never is.
//
// Then the gate: while shutting down, 503; over a connection limit (total
// or per protocol), 503 with Retry-After; finally Options.Authorize, which
// may refuse with any status or add headers to the 101.
//
// # Statuses
//
// Every refusal is an [*Error] written by one responder (Options.Responder,
// [DefaultResponder] by default: the reason as one line of plain text) with
// Connection: close:
//
//	400  malformed Upgrade or Connection list; a body on a protocol that takes none; a protocol's own check;
//	     the target * with a method other than OPTIONS ("PRI * HTTP/1.1")
//	403  Authorize refused (an error that is not an *Error)
//	413  a declared body over Options.MaxBodyBytes on a protocol that takes none
//	426  nothing switched at an Endpoint or Require mount (Upgrade lists the tokens)
//	503  shutting down; over a limit (with Retry-After)
//	500  only when the server's ResponseWriter cannot hijack (a wiring fault)
//
// A protocol's Check may return its own status (405, 426 with
// Sec-WebSocket-Version, 403 …), or [ErrIgnore] to have the offer ignored.
//
// # The switch and who owns the connection
//
// The connection is hijacked only through http.NewResponseController, so
// wrapped ResponseWriters work if they implement Unwrap. The server's
// deadlines are cleared. Bytes the server had already buffered (a client
// may send its first frame with the handshake) are read first from the
// [Conn]: never lost, never read twice. A due 100 Continue precedes the 101;
// the 101 is written under Options.HandshakeTimeout and always carries
// Upgrade with the chosen token and Connection: Upgrade, plus the valid
// fields of the ResponseWriter's header (no field can carry CR or LF).
//
// From then on the protocol owns the [Conn]. The negotiator hands it to a
// goroutine of its own that runs the protocol's Serve, and the request's
// handler returns: net/http's per-request state and the deep handler stack
// are released while the connection lives, and middleware around the mount
// sees the request end with its 101 (a logger logs 101 at the switch). The
// upgrade request's context ends then too; [Conn.Context] is the
// connection's. The negotiator closes the Conn when Serve returns and
// reports it to OnClose. A panic in a protocol is recovered, logged,
// counted, and closes that connection only.
//
// Engines that write their own 101 (gorilla/websocket) use
// [Protocol].Handshake: they get a ResponseWriter whose Hijack is the
// negotiator's, so they too are tracked and receive the early bytes. With
// a Serve as well, the Handshake only switches and leaves its connection
// object on the Conn ([Conn.SetEngine]) for Serve; without one, it serves
// on the request's goroutine.
//
// # Shutdown
//
// net/http forgets hijacked connections; the negotiator does not.
// [Negotiator.Shutdown] refuses new switches, asks each connection to
// close its protocol's own way ([Protocol].Shutdown, [Conn.OnShutdown]),
// waits until all are gone or its context ends, then closes the rest.
// [Negotiator.RegisterOnShutdown] starts it from http.Server.Shutdown.
//
// # Client side
//
// [Dial] offers tokens, validates the 101 (an offered token, Connection:
// upgrade) and returns the connection with any bytes that arrived behind
// the 101; a refusal is an [*Error] with the status, header and body.
//
// # Security
//
// Refusal reasons and 101 headers never carry CR or LF. A request body is
// never left in the stream to be read as protocol data. Nothing is
// registered by default; each protocol package documents its own defaults
// (WebSocket refuses cross-origin requests, h2c refuses proxied ones).
//
// # Concurrency
//
// Negotiator, Registry and Conn are safe for concurrent use. OnSwitch runs
// on the request's goroutine, OnClose on the connection's; hooks must not
// block for long.
package negotiate
