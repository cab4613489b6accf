// Package protocols holds ready protocols and building blocks for a
// [negotiate.Registry]: raw byte streams and a tunnel that forwards upgrades
// to a backend. It uses the standard library and negotiate only.
//
// # Raw streams
//
// [Stream] hands the switched connection to a function as a plain
// bidirectional byte stream, the "Upgrade: tcp" style of Docker's attach and
// exec; [Join] connects it to another connection (a local service) both
// ways. Both pass half-close through: when one side stops sending
// (CloseWrite), the other reads io.EOF and can still answer.
//
// # Tunnel
//
// A [Tunnel] forwards upgrades to a backend, as a protocol registered under
// the tokens it forwards ([Tunnel.Protocol]) or as middleware that forwards
// whatever the client offers ([Tunnel.Middleware]). The negotiator still
// selects, gates (limits, Authorize, shutdown) and tracks each connection;
// the tunnel then, before the client is switched:
//
//   - dials the backend and sends it the upgrade request: the method, the
//     backend URL's path prefix joined with the request's path and query,
//     the client's Host, its end-to-end fields (Sec-WebSocket-*, Origin,
//     cookies …), X-Forwarded-For, -Host and -Proto, and an Upgrade naming
//     exactly the token the negotiator chose;
//   - relays a refusal as the backend sent it: status, fields (a 426's
//     Upgrade too) and body, with Connection: close;
//   - answers 502 when the backend cannot be reached, closes without
//     answering, or switches to another token than the one offered (or
//     without Connection: upgrade), and 504 when it does not answer within
//     TunnelOptions.HandshakeTimeout. The reason says which; the cause goes
//     to TunnelOptions.Logger, not to the client;
//   - on a valid 101, switches the client with the backend's own 101 head
//     (plus the fields Authorize set) and copies bytes both ways as [Join]
//     does, bytes the client sent early and bytes the backend sent behind
//     its 101 included.
//
// The bytes are counted by the negotiator's [negotiate.Conn], so the
// OnClose hook reports the payload each way (the 101 heads excluded). On the
// negotiator's shutdown both connections are closed: a tunnel does not know
// its protocol's own goodbye.
//
// # Security
//
// A request that offers h2c is never tunnelled unless TunnelOptions.AllowH2C
// is set: a relayed h2c upgrade gives the client a raw HTTP/2 connection to
// the backend that bypasses every rule in front of it (h2c smuggling).
// [Tunnel.Middleware] passes such a request on without its Upgrade field,
// so a reverse proxy behind it cannot forward the offer either. Forwarding
// fields the client sent are replaced, not trusted, unless
// TunnelOptions.TrustForwarded. A backend's refusal is relayed unchanged,
// so it says what the backend says; its body is bounded.
//
// # Concurrency
//
// Stream, Join and Tunnel are safe for concurrent use; each tunnelled
// connection uses two goroutines (streamCopier.copyToPeer and
// copyToClient in stack dumps), which end when the connection does.
package protocols
