// Package negotiate switches HTTP/1.1 connections to other protocols
// (RFC 9110 §7.8 Upgrade), and HTTP/2 streams by extended CONNECT
// (RFC 8441), for many protocols behind one [Registry], and tracks every
// switched connection until it closes. It uses the standard library only.
//
//	n, err := negotiate.New(nil) // limits, hooks, shutdown: see Options
//	reg := new(negotiate.Registry)
//	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
//		_, err := io.Copy(c, c)
//		return err
//	})
//	handler := n.Middleware(reg)(mux) // or mux.Handle("/x", n.Endpoint(reg))
//	n.RegisterOnShutdown(srv)         // srv.Shutdown closes switched connections too
//
// # Mounting
//
// A [Negotiator] holds what is shared: the live connections, limits,
// hooks, statistics and the shutdown. It is mounted over a [Registry] in
// one of two ways, and several mounts may share one negotiator:
//
//   - [Negotiator.Middleware] switches requests that offer one of its
//     registry's tokens, on every path, before the handler it wraps routes
//     them: its tokens switch even on a path where an Endpoint is mounted.
//     Every other request goes to that handler untouched (without
//     allocating), except an upgrade whose Upgrade or Connection list is
//     malformed: no server can tell what it offers, and every mount
//     answers it 400.
//   - [Negotiator.Endpoint] is the handler of a route that must switch: it
//     answers what does not with 426 Upgrade Required, listing its
//     registry's tokens in Upgrade.
//
// Adapters to other routers call [Negotiator.Upgrade].
//
// # The flow of one request
//
// An upgrade request is HTTP/1.1 with "upgrade" in Connection and a
// non-empty Upgrade, or an HTTP/2 extended CONNECT naming a :protocol
// ([IsUpgrade]; see "HTTP/2" below); HTTP/1.0 Upgrade is ignored, and so is
// Upgrade on HTTP/2. Upgrade and Connection are parsed by one parser:
// several field lines, commas, optional whitespace, empty elements,
// case-insensitive names, name/version. Offers are matched in the client's
// order (Registry.ServerPreference uses the registry's): a registration
// "foo" matches any version of foo, "foo/2" only foo/2. Each candidate's
// [Protocol] Check runs, and the first that passes is chosen; a token the
// client did not offer never is.
//
// Then the gate: while shutting down, 503; over a connection limit (total
// or per protocol), 503 with Retry-After; then Options.Authorize; then the
// protocol's Accept. Both see the same [Switch]: the request, the chosen
// token, and the header of the switch response, to which they may add
// fields (a cookie, Sec-WebSocket-Accept), or they refuse.
//
// # Statuses
//
// Every refusal is an [*Error] written by one responder (Options.Responder,
// [DefaultResponder] by default: the reason as one line of plain text) with
// Connection: close, after which the connection is closed:
//
//	400  malformed Upgrade or Connection list or :protocol; a protocol's Check; the target * with a method
//	     other than OPTIONS; an extended CONNECT for a protocol that runs on HTTP/1.1 only
//	403  Authorize refused (with an error that is not an *Error)
//	413  a request body, on a protocol that takes none; over 1 MiB of one left unread by a protocol that takes it
//	426  nothing switched at an Endpoint (Upgrade lists the tokens)
//	503  shutting down; over a limit (with Retry-After)
//	500  Accept failed or panicked; Check or Authorize panicked; the server's ResponseWriter cannot hijack (or its
//	     hijack failed), or on HTTP/2 cannot set deadlines (a wiring fault); a refusal (*Error) whose status
//	     is not a final one, under 200 or over 599
//
// Over HTTP/2 a refusal is an ordinary response on its stream, without
// Upgrade or Connection (connection-specific fields, for which clients
// reset the stream), and the connection goes on serving its other
// streams.
//
// A protocol's Check or Accept may return its own status (405, 426 with
// Sec-WebSocket-Version, 502 from a gateway …), and a Check may return
// [ErrIgnore] to have the offer ignored, so that the request goes on as
// ordinary HTTP.
//
// # The switch and who owns the connection
//
// The connection is hijacked only through http.NewResponseController, so
// wrapped ResponseWriters work if they implement Unwrap, and the server's
// deadlines are cleared. The negotiator writes the 101 itself, for every
// protocol, under Options.HandshakeTimeout: Upgrade with the chosen token,
// Connection: Upgrade, and the valid fields of the Switch's Header (never
// Content-*, Transfer-Encoding or a value with CR or LF), after a 100
// Continue that is still due. Bytes the server had already read past the
// request head (a client may send its first frame with the handshake) are
// returned first by the [Conn]'s reads: never lost, never read twice.
//
// An engine that buffers its I/O (gorilla/websocket) may adopt the
// buffers the HTTP server held for the connection ([Conn.Buffers]) instead
// of allocating its own, as it would behind net/http's Hijack.
//
// From then on the protocol owns the Conn: the serve func its Accept
// returned runs in a goroutine of its own, and the request's handler
// returns, so net/http's per-request state is released and middleware
// around the mount sees the request end with its 101. When the serve func
// returns (nil, an error, or a panic, which is recovered, logged and
// counted), the negotiator closes the connection without losing what the
// protocol wrote: it half-closes it, discards what the client still sends
// for up to Options.Linger, then closes it and reports it to
// Options.OnClose.
//
// # HTTP/2: extended CONNECT
//
// RFC 8441 carries the same tokens over HTTP/2: a CONNECT request with a
// :protocol pseudo-header (Go's HTTP/2 servers put it in
// r.Header[":protocol"]) asks to run that protocol on the request's
// stream. The negotiator treats it as an HTTP/1.1 offer of that one
// token: the same registry match, Checks, gate, Authorize, Accept, hooks,
// statistics and shutdown. A protocol's Check can tell the two apart by
// r.ProtoMajor (WebSocket does: RFC 8441 §5 has no key and no Accept).
// On success the negotiator answers 200 with the Switch's Header (no
// Upgrade or Connection), and the protocol gets a [Conn] on the stream:
// reads come from the request body, each write is flushed to the client
// at once, and [ConnInfo].Transport is [TransportH2] ([Stats].OverH2
// counts these switches). The 200 goes through the ResponseWriter the
// negotiator was given, so that middleware's wrappers see the status, and
// is sent at once; the stream's bytes go to the writer under every
// wrapper that implements Unwrap, as a hijack passes them by on HTTP/1.1:
// a compressing or buffering middleware neither encodes nor holds them.
// The engine needs to know nothing more; the differences are these:
//
//   - The serve func runs on the request's goroutine, since a stream lives
//     as long as its handler: [Negotiator.Upgrade], an Endpoint or the
//     Middleware returns only when the protocol has returned. When it
//     returns, the handler waits until no other goroutine of the protocol
//     still uses the stream (a write under way gets Options.Linger), and
//     its return ends the stream after everything written.
//   - The Conn cannot half-close ([Conn.CloseWrite] is an error) and has
//     no HTTP server buffers ([Conn.Buffers] is nil). [Conn.Close] makes
//     its reads and writes fail at once (a write still waiting resets the
//     stream); the stream itself ends, after everything written, when the
//     serve func returns. A shutdown whose context ends resets the stream
//     of a protocol that has not returned.
//   - Deadlines mean what they mean on a net.Conn: one that passes with
//     no read or write waiting harms nothing. One that passes while a read
//     waits ends the stream's reads for good, and one that passes while a
//     write waits resets the stream, as the HTTP/2 server's own deadlines
//     do.
//   - A protocol that needs a connection of its own sets
//     [Protocol].HTTP1Only (so does any that takes a request body): an
//     extended CONNECT for it is refused with 400 and the reason.
//   - Through the Middleware, an extended CONNECT for a token the registry
//     does not have, or whose Check ignores it (ErrIgnore), goes to the next
//     handler, as an HTTP/1.1 offer does;
//     it should answer with a 4xx, since any 2xx to a CONNECT tells the
//     client its protocol runs.
//
// Go 1.26 and 1.27 advertise extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL)
// only when the program starts with GODEBUG=http2xconnect=1 in its
// environment, for net/http's HTTP/2 and golang.org/x/net/http2 alike; a
// //go:debug directive cannot set it, since net/http reads the
// environment variable itself. Without it, clients never send :protocol
// and nothing changes. Once it is on, browsers send every WebSocket to the
// origin over HTTP/2 when they hold an HTTP/2 connection to it, so every
// WebSocket route must be served through a negotiator. Go 1.28 is to turn
// it on per server with http.HTTP2Config.EnableConnectProtocol.
//
// # Shutdown
//
// net/http forgets hijacked connections; the negotiator does not.
// [Negotiator.Shutdown] refuses new switches and cancels each connection's
// [Conn.Context]; a protocol that watches it closes its own way (WebSocket
// close 1001, h2c GOAWAY, a goodbye) and returns. Shutdown waits for them
// until its context ends, then closes the rest (resetting HTTP/2 streams),
// and makes no switch once it has returned.
// [Negotiator.RegisterOnShutdown] starts it from http.Server.Shutdown.
//
// # Observing
//
// Three hooks describe every upgrade request that picks a registered
// protocol or is refused, which is what metrics need
// (package metrics records them): OnSwitch ([ConnInfo] with the
// Transport and the Handshake's duration), OnClose (the duration, bytes
// and CloseReason: normal, error, shutdown or forced) and OnRefuse
// ([RefusalInfo]: the protocol's registered name, the status, and whether
// the server failed rather than refused). No hook carries what a client
// may choose freely: a token nobody registered is reported without a
// name. [Negotiator.Conns] lists the live connections for an admin page,
// without stopping them.
//
// # Client side
//
// [Dial] offers tokens, validates the 101 (its Upgrade names one protocol,
// one that was offered, and Connection lists upgrade) and returns the
// connection with any bytes that arrived behind the 101; a refusal is an
// [*Error] with the status, header and body.
//
// # Security
//
// Refusal reasons and 101 fields never carry CR or LF. A request body is
// never left in the stream to be read as protocol data. Nothing is
// registered by default; each protocol package documents its own defaults
// (WebSocket refuses cross-origin requests, h2c refuses proxied ones).
//
// # Concurrency
//
// Negotiator and Registry are safe for concurrent use; a Conn follows
// net.Conn's rules. Authorize, Accept, OnSwitch and OnRefuse run on the
// request's goroutine, OnClose on the connection's; hooks must not block
// for long.
package negotiate
