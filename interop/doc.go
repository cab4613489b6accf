// Package interop tests Switchyard against programs it did not write:
//
//   - WebSocket clients: gorilla/websocket's Dialer,
//     github.com/coder/websocket, golang.org/x/net/websocket, Node's ws
//     package and headless Chromium;
//   - h2c clients: curl --http2 (GET, and a 100 KiB POST), nghttp -u
//     (with and without data: the OPTIONS * upgrade) and Go's own
//     prior-knowledge transports;
//   - Debian's nginx as a reverse proxy in front of two demo instances:
//     WebSocket and echo/1 switch through it, h2c does not (the
//     smuggling guard);
//   - extended CONNECT (RFC 8441) against examples/server, started with
//     GODEBUG=http2xconnect=1: headless Chromium loading the demo's page
//     over HTTPS and opening /chat and /ws on its HTTP/2 connection (and
//     over HTTP/1.1 without the setting), Node's built-in http2 module and
//     Go's x/net HTTP/2 client over TLS and h2c with prior knowledge
//     (WebSocket, chat, echo/1, refusals, the connection limit, SIGTERM;
//     on Go 1.27, where x/net's Transport is net/http's and refuses
//     :protocol, as the test checks, the Go client's test runs in a go
//     test of its own built with -tags http2legacy, which keeps x/net's
//     own HTTP/2 client). The demo's /stats over_h2 shows, on the
//     server's side, that the switches were made on HTTP/2 streams;
//   - Debian's Prometheus server scraping the demo's /metrics: its query
//     API shows the switches, the live connections and a refusal.
//
// It is a nested module so that these peers never enter the main module's
// dependencies. Each peer does a handshake, a text and a binary echo, a
// 1 MiB echo, permessage-deflate where it offers it, and a clean 1000 close
// against a real loopback server. gorilla's and coder's clients also see
// the negotiator's shutdown close them with 1001 (x/net's does not tell a
// close frame's code).
//
// # Running
//
// The Go peers need nothing outside the module. Node (with interop/node's
// modules installed), Chromium, curl, nghttp, nginx and Prometheus are
// outside programs; .ci/peers.sh installs them on Debian:
//
//	bash .ci/peers.sh
//	cd interop && SWITCHYARD_INTEROP=1 go test -race -count=1 ./...
//
// (-count=1: the test cache does not see the programs the tests run, the
// examples and node's scripts included.)
//
// A test whose outside program is missing skips, saying what is missing;
// with SWITCHYARD_INTEROP=1 it fails instead, so CI cannot pass by
// skipping. SWITCHYARD_CHROMIUM names the browser binary if it is not
// chromium on PATH, SWITCHYARD_NGINX the nginx binary if it is neither on
// PATH nor /usr/sbin/nginx.
package interop
