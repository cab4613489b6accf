// Package benchmarks compares Switchyard's WebSocket protocol with the
// peers a user of gorilla/websocket would otherwise choose: gorilla's
// Upgrader used directly, coder/websocket's Accept and gobwas/ws's
// UpgradeHTTP. It lives in its own module so that the peers never enter the
// main module's go.mod.
//
// Everything is in the _test.go files: BenchmarkHandshake measures one
// WebSocket handshake over a new loopback TCP connection, and
// BenchmarkIdleConn the memory and goroutines one idle switched connection
// holds. See README.md for the command and the figures.
package benchmarks
