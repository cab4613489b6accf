// Package switchyard is the home of Switchyard, HTTP/1.1 Upgrade negotiation
// for Go servers that speak more than HTTP. This package holds no code; it
// documents how the pieces fit and holds the end-to-end tests.
//
// A 101 Switching Protocols is where a conversation that began as HTTP
// becomes something else. Every Go engine does that handshake its own way;
// Switchyard does it once, for all of them:
//
//   - [github.com/switchyard-http/switchyard/negotiate] is the core (standard
//     library only): a Registry maps Upgrade tokens (websocket, h2c, kv/2 …)
//     to protocols; a Negotiator, mounted as middleware or as an endpoint,
//     detects an upgrade, selects a protocol, answers 400, 403, 405, 413,
//     426 or 503 with a one-line reason when it must, writes the 101 and
//     hands the hijacked connection, with every byte the client already
//     sent, to the protocol. It tracks every switched connection until it
//     closes, so limits, hooks, logs, statistics and graceful shutdown cover
//     them; and it has a client side, Dial.
//   - [github.com/switchyard-http/switchyard/websocket] is RFC 6455 on
//     gorilla/websocket through the negotiator: same-origin by default,
//     subprotocols, permessage-deflate, read limits, pings, close 1001 on
//     shutdown, and the first frame delivered even when it came with the
//     handshake.
//
// Start with the README and `go run ./examples/server`.
package switchyard
