// Package switchyard is the home of Switchyard, HTTP/1.1 Upgrade negotiation
// for Go servers that speak more than HTTP. This package holds no code; it
// documents how the pieces fit and holds the end-to-end tests.
//
// A 101 Switching Protocols is where a conversation that began as HTTP
// becomes something else. Every Go engine does that handshake its own way;
// Switchyard does it once, for all of them:
//
//   - [github.com/switchyard-http/switchyard/negotiate] is the core (standard
//     library only). A Registry maps Upgrade tokens (websocket, h2c, kv/2 …)
//     to protocols; a Negotiator, mounted as middleware (every path) or as an
//     endpoint (one route, 426 for anything that does not switch), detects an
//     upgrade, selects a protocol, and answers a bad offer with a one-line
//     reason (400, 403, 405, 413, 426, 503). Every protocol has one shape: a
//     Check of the offer, an Accept that adds the fields of the switch
//     response or refuses, and the func it returns, which serves the
//     switched connection in a goroutine of its own once the request's
//     handler has returned. The negotiator writes every 101 itself, hands
//     over every byte the client already sent, tracks the connection until
//     it closes (limits, hooks, statistics, logs), closes it without losing
//     what the protocol wrote (half-close, then a bounded drain), and shuts
//     it down through its Context. Dial is its client side.
//   - [github.com/switchyard-http/switchyard/websocket] is RFC 6455 through
//     the negotiator on gorilla/websocket: same-origin by default,
//     subprotocols, permessage-deflate, read limits, pings, close 1001 on
//     shutdown, and the first frame delivered even when it came with the
//     handshake. Its handler gets a *websocket.Conn, gorilla's API.
//   - [github.com/switchyard-http/switchyard/h2c] is cleartext HTTP/2 by
//     Upgrade: h2c, with prior knowledge on the same server.
//   - [github.com/switchyard-http/switchyard/protocols] holds raw byte
//     streams and a tunnel that forwards upgrades to a backend;
//     [github.com/switchyard-http/switchyard/echoadapter] mounts a
//     negotiator in Echo.
//   - cmd/switchyard is an inspector: it shows a server's 101 as it crossed
//     the wire and judges it by the same rule negotiate.Dial applies.
//
// The programs under examples/ are complete mains that use public imports
// only: examples/server is the demo (WebSocket echo and chat, h2c, echo/1,
// plain routes and statistics on one port, and a graceful shutdown). The
// tests of this package run it, and its Echo twin examples/echo, as real
// processes; the hostile-handshake table and the fuzzer run against the same
// configuration built in process.
//
// Start with the README and `go run ./examples/server`.
package switchyard
