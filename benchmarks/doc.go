// Package benchmarks compares Switchyard with the peers a user would
// otherwise choose, in one run, over real loopback connections. It lives in
// its own module so that the peers never enter the main module's go.mod.
//
//   - BenchmarkHandshake: one WebSocket handshake per iteration, against
//     gorilla's Upgrader used directly (and gorilla+close, which ends the
//     connection with the close frame Switchyard sends), coder/websocket's
//     Accept and gobwas/ws's UpgradeHTTP.
//   - BenchmarkIdleConn: the heap, stack and goroutines one idle switched
//     WebSocket holds (1,000 connections, divided).
//   - BenchmarkH2CRequests and BenchmarkH2CUpgrade: requests per second
//     over one upgraded h2c connection and upgrades per second, against
//     x/net's h2c.NewHandler and net/http's prior-knowledge server.
//   - BenchmarkWSMessages, BenchmarkWSMessagesConcurrent and
//     BenchmarkWSEstablish: a WebSocket over an HTTP/2 stream (RFC 8441
//     extended CONNECT, over TLS and over h2c) against the same handler
//     over an HTTP/1.1 upgrade: messages per second on one WebSocket and
//     on eight at once, and the cost of opening one on an HTTP/2
//     connection already open against a new TCP (or TLS) connection and
//     an upgrade. The test binary re-runs itself with
//     GODEBUG=http2xconnect=1, which Go's HTTP/2 servers need in their
//     environment to accept extended CONNECT.
//   - cmd/wsload: the server's RSS per idle WebSocket (2,000 held open on
//     the demo's /ws) and new connections per second, each server in a
//     process of its own, against gorilla's Upgrader used directly.
//   - cmd/soak: a load program for thousands of concurrent WebSocket,
//     echo/1 and h2c connections against the demo's configuration in a
//     child process.
//
// See README.md for the commands and the figures.
package benchmarks
