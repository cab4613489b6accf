// Command switchyard is an inspector for HTTP/1.1 upgrades and HTTP/2
// extended CONNECTs (RFC 8441): it makes the 101 Switching Protocols, or
// the 200 that opens a protocol on an HTTP/2 stream, visible, the moment
// where ordinary HTTP tools go blind. It works against any server, not
// only Switchyard.
//
//	switchyard probe [-h2] [-offer TOKENS] [-H 'Name: value']... [-v] URL
//	switchyard ws    [-h2] [-H 'Name: value']... [-v] URL
//	switchyard raw   [-h2] -offer TOKEN [-H 'Name: value']... [-v] URL
//
// URL is http, https, ws or wss. A user and password in it are sent as
// Basic authorization, as with curl, unless -H gives an Authorization
// field. The inspector connects to the server itself: http_proxy,
// HTTPS_PROXY and the like are not used.
//
// probe sends an upgrade request, offering websocket by default or the
// comma-separated TOKENS given, and prints the request head and the
// response head exactly as they crossed the wire, then a verdict in words.
// For a 101: whether it is valid by the rule every client in this module
// applies (negotiate.Dial, the tunnel): Upgrade, over all its lines, names
// exactly one protocol, one that was offered, and Connection lists
// upgrade; for WebSocket also whether Sec-WebSocket-Accept matches the key
// (and any subprotocol or extension was offered). Every broken rule is
// listed. For a refusal: what the status means, what the server said it
// supports (the Upgrade list of a 426, Sec-WebSocket-Version, Allow,
// Retry-After) and the reason in its body. A server past the bounds every
// client in this module reads a response under, 64 KiB of response heads
// (interim ones included) or more than eight interim (1xx) responses, gets
// a verdict too: the heads as they crossed the wire up to the bound, and
// which bound it passed.
//
// ws switches to WebSocket and chats: each line of standard input goes out
// as a text frame, each message received is printed as a line (binary ones
// as their size); pings are answered. At the end of input, or at the
// first Ctrl-C (SIGINT), it sends a close frame (1000) and waits up to 5 s
// for the server's; a second Ctrl-C ends it at once. A message may be up
// to 64 MiB; what a frame holds is kept as its bytes arrive, so a frame
// header that claims more than the server sends costs only what it sent.
// Each frame the chat sends must be written within 10 s (over HTTP/2 the
// wait for the server's flow-control window is not bounded).
//
// raw switches to TOKEN and pipes standard input and output through the
// connection, netcat over an upgrade: at the end of input it half-closes
// its side and prints what the server sends until the server closes.
//
// With -h2 each command sends an extended CONNECT instead of an upgrade
// request: :protocol is the one token offered (websocket by default, then
// with Sec-WebSocket-Version: 13 and no key), over HTTP/2 with TLS for
// https and wss URLs (h2 by ALPN) and over cleartext HTTP/2 with prior
// knowledge (h2c) for http and ws URLs. probe prints the server's SETTINGS,
// the request's and the response's fields as they crossed the wire
// (decoded from HPACK, in order) and a verdict of the same kind. A server
// that does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 is not sent
// the request, and the verdict says so: Go's servers advertise it only
// when started with GODEBUG=http2xconnect=1 in their environment (Go 1.26
// and 1.27). A 2xx is the switch (RFC 8441 §5): the verdict flags
// connection-specific fields (Upgrade, Connection, Keep-Alive,
// Proxy-Connection, Transfer-Encoding), which make an HTTP/2 response
// malformed whether it switches or refuses (x/net's client drops them; the
// inspector reads them off the wire), a Content-Length or an ended stream
// on the 2xx (an ordinary handler's answer, not a switch), and an
// unoffered subprotocol or extension. For websocket, probe then shows
// whether bytes flow: a ping answered by its pong, the close handshake
// (1000), and whether the server ends the stream (END_STREAM, perhaps
// followed by RST_STREAM NO_ERROR, which only asks the client to stop
// sending) or resets it (RST_STREAM with an error, a warning: browsers
// report the close as not clean). Over
// HTTP/2 a refusal is an ordinary response, judged as above; the server
// not speaking HTTP/2 at all (no h2 by ALPN, no SETTINGS over h2c) is a
// verdict too. ws and raw work over the stream as over an upgraded
// connection. Every frame the inspector writes on the HTTP/2 connection,
// the acknowledgements of the server's SETTINGS and PINGs included, must
// be written within 10 s: a server that stops reading ends the
// connection with a timeout error (for ws and raw after the switch, "the
// server stopped reading", exit 2) rather than stall the command.
//
// Flags: -H adds a request field (and replaces a default one of the same
// name; 'Name:' with nothing after the colon removes it; Host replaces the
// URL's host, :authority with -h2, which is otherwise the URL's
// host[:port] as written, as Host is: no default port added, no IPv6 zone;
// Connection's options are sent after the Upgrade option, which is always
// there, and are refused with -h2; Upgrade is -offer's), -v adds timings (connect, first byte of the response, or
// with -h2 the server's SETTINGS, the 101 or 200, the first byte after the
// switch) and, for ws and raw, the heads on standard error; -k skips TLS
// certificate checks; -timeout bounds the handshake, from dialing to the
// response head (default 10s), then a refusal's body, which is judged with
// the part that arrived by then, and with -h2 the bytes-flow check too.
//
// Exit status: 0 for a valid 101 or 200 (and, for ws and raw, a session
// that ended normally), 1 for a refusal, an invalid 101 or 200, a
// response past the bounds, or a server that does not do extended CONNECT,
// 2 for usage or network errors (and, for ws and raw, standard input that
// fails: a read error, or for ws a line over 64 MiB, is not its end).
package main
