// Command switchyard is an inspector for HTTP/1.1 upgrades: it makes the
// 101 Switching Protocols visible, the moment where ordinary HTTP tools go
// blind. It works against any server, not only Switchyard.
//
//	switchyard probe [-offer TOKENS] [-H 'Name: value']... [-v] URL
//	switchyard ws    [-H 'Name: value']... [-v] URL
//	switchyard raw   -offer TOKEN [-H 'Name: value']... [-v] URL
//
// URL is http, https, ws or wss.
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
// Retry-After) and the reason in its body.
//
// ws switches to WebSocket and chats: each line of standard input goes out
// as a text frame, each message received is printed as a line (binary ones
// as their size); pings are answered. At the end of input it sends a close
// frame and waits for the server's.
//
// raw switches to TOKEN and pipes standard input and output through the
// connection, netcat over an upgrade: at the end of input it half-closes
// its side and prints what the server sends until the server closes.
//
// Flags: -H adds a request field (and replaces a default one of the same
// name; Host replaces the URL's host; Connection's options are sent after
// the Upgrade option, which is always there; Upgrade is -offer's), -v adds
// timings (connect, first byte of the response, the 101, the first byte
// after the switch) and, for ws and raw, the heads on standard error; -k
// skips TLS certificate checks; -timeout bounds the handshake, from
// dialing to the response head (default 10s).
//
// Exit status: 0 for a valid 101 (and, for ws and raw, a session that
// ended normally), 1 for a refusal or an invalid 101, 2 for usage or
// network errors.
package main
