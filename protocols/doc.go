// Package protocols holds ready protocols and building blocks for a
// [negotiate.Registry]: raw byte streams and a tunnel that forwards upgrades
// to a backend. It uses the standard library and negotiate only.
//
// # Raw streams
//
//	reg.Register("tcp", protocols.Stream(func(c *negotiate.Conn) error { … }))
//
// [Stream] hands the switched connection to a function as a plain
// bidirectional byte stream, the "Upgrade: tcp" style of Docker's attach and
// exec; [Join] connects it to another connection (a local service) both
// ways. Both pass half-close through: when one side stops sending
// (CloseWrite), the other reads io.EOF and can still answer (on an HTTP/2
// stream only the client can: the server's side ends with the function).
// When the function returns, the negotiator closes the connection without
// losing what it wrote: a half-close, a bounded drain of what the client
// still sends, then the close.
//
// # Tunnel
//
//	tun, err := protocols.NewTunnel("http://backend:8080", nil)
//	handler := tun.Middleware(n)(proxy)             // any token the client offers
//	reg.Register("websocket", tun.Protocol())        // or only the tokens registered
//
// A [Tunnel] forwards upgrades to a backend, as a protocol registered under
// the tokens it forwards ([Tunnel.Protocol]) or as middleware that forwards
// whatever the client offers first ([Tunnel.Middleware]). The negotiator
// still selects, gates (limits, Authorize, shutdown) and tracks each
// connection; the tunnel then, on the request's goroutine and before the
// client is switched:
//
//   - dials the backend and sends it the upgrade request: the method, the
//     backend URL's path prefix joined with the request's path and query,
//     the client's Host, its end-to-end fields (Sec-WebSocket-*, Origin,
//     cookies …), X-Forwarded-For, -Host and -Proto, and an Upgrade naming
//     exactly the token the negotiator chose;
//   - relays a refusal through the negotiator's responder: the backend's
//     status, its end-to-end fields (a 426's Upgrade too, not the fields
//     that described its body) and its body, up to
//     TunnelOptions.Dialer.MaxRefusalBytes, as the reason, which the
//     default responder writes as one line of plain text, with
//     Connection: close. A body still unfinished when the Dialer's
//     HandshakeTimeout passes ends there: the refusal is relayed with the
//     part that arrived. Any final status but 101 is a refusal, a 2xx from
//     a route that ignores the offer included;
//   - answers 502 when the backend cannot be reached, closes without
//     answering, does not speak HTTP/1.1, answers with a status outside
//     100-599 (not valid, RFC 9110 §15), sends response heads over the
//     Dialer's MaxResponseHeaderBytes (64 KiB by default, interim heads
//     included) or more than eight interim (1xx) responses, or answers
//     with a 101 that is not valid (its Upgrade does not name exactly the
//     offered token, or its Connection does not list upgrade), and 504
//     when its response head does not arrive within the Dialer's
//     HandshakeTimeout. The
//     reason says which; the cause goes to TunnelOptions.Logger, not to
//     the client;
//   - on a valid 101, adds the backend's end-to-end 101 fields to the
//     switch response, which the negotiator writes (with the fields
//     Authorize set), and the request's handler returns.
//
// End-to-end fields are all but the hop-by-hop ones (RFC 9110 §7.6.1):
// Connection, Keep-Alive, Proxy-Connection, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade (but a
// 426's), and every field the Connection field names, in the request the
// backend gets as in the 101 and the refusals the client gets.
//
// Before the negotiator chooses it, the tunnel refuses with 431 a request
// whose Upgrade field holds more than 64 offers, or spans more than 64
// lines or 4096 bytes: no client has reason to offer more than a few
// protocols, and so the tunnel's work on a request stays small whatever
// the request holds. [Tunnel.Middleware]'s work on an Upgrade field of
// any size grows with the size, not with its square.
//
// The exchange with the backend is bounded by the Dialer alone, not by the
// request's context: net/http cancels that context when it reads the
// client's FIN, and a client may send its payload behind its head and
// half-close before the backend has answered. Its payload reaches the
// backend once the tunnel is joined, and the backend's answer the client.
//
// The switched connection is then joined to the backend's as [Join] does,
// on the negotiator's goroutine: bytes the client sent early and bytes the
// backend sent behind its 101 included. The bytes are counted by the
// negotiator's [negotiate.Conn], so the OnClose hook reports the payload
// each way (the 101 heads excluded). On the negotiator's shutdown the
// backend's connection is closed and the client's ends as every switched
// connection does (what the tunnel passed on reaches the client, then the
// end of the stream): a tunnel does not know its protocol's own goodbye.
//
// # Security
//
// A request that offers h2c is never tunnelled unless TunnelOptions.AllowH2C
// is set: a relayed h2c upgrade gives the client a raw HTTP/2 connection to
// the backend that bypasses every rule in front of it (h2c smuggling).
// [Tunnel.Middleware] passes such a request on without its Upgrade field,
// so a reverse proxy behind it cannot forward the offer either. Forwarding
// fields the client sent are replaced, not trusted, unless
// TunnelOptions.TrustForwarded. A backend's refusal says what the backend
// says, bounded, on one line, so it cannot split the response.
//
// # Concurrency
//
// Stream, Join and Tunnel are safe for concurrent use; each joined or
// tunnelled connection uses two goroutines besides its own
// (streamCopier.copyToPeer and copyToClient in stack dumps), which end when
// the connection does.
package protocols
