// Package websocket is RFC 6455 WebSocket as a [negotiate.Protocol], with
// [github.com/gorilla/websocket] as the engine: the negotiator decides
// whether a request switches, refuses it with the right status when it
// must, tracks the connection and shuts it down; the handler keeps
// gorilla's [*gws.Conn] API.
//
//	p, err := websocket.New(nil, func(c *gws.Conn) error {
//		for {
//			typ, msg, err := c.ReadMessage()
//			if err != nil {
//				return err
//			}
//			if err := c.WriteMessage(typ, msg); err != nil {
//				return err
//			}
//		}
//	})
//	reg.Register("websocket", p)
//	mux.Handle("/ws", n.Endpoint(reg))
//
// # Handshake and statuses
//
// The prerequisites of RFC 6455 §4.2.1 are checked before the protocol is
// chosen, so a request that fails them never reaches the gate, the
// Authorize hook or gorilla. Each refusal is a [*negotiate.Error] written by
// the negotiator's responder, with a one-line reason:
//
//	405  not GET (with Allow: GET)
//	400  no Host; Sec-WebSocket-Key missing, repeated, or not the base64 of 16 bytes;
//	     Sec-WebSocket-Version repeated; RequireSubprotocol and no match
//	426  Sec-WebSocket-Version missing or not exactly 13 (with Sec-WebSocket-Version: 13)
//	403  a cross-origin request (see Origin)
//
// Then the negotiator's gate runs (503 while draining or over a limit,
// Authorize), and gorilla writes the 101 through the negotiator's
// ResponseWriter: the 101 carries the headers Authorize set (cookies),
// except those the handshake owns (Upgrade, Connection, Sec-WebSocket-*),
// those that describe a body (Content-*, Transfer-Encoding) and invalid
// names or values. Any check of gorilla's own that still fails (an offer
// of "websocket/13": gorilla requires the bare token) is refused through
// the same responder, never written by gorilla itself.
//
// # Origin (Security)
//
// A browser lets any page open a WebSocket to any server, and sends the
// user's cookies with it; only the Origin header tells the server which
// site asked. So by default a request whose Origin host differs from its
// Host (compared case-insensitively; the scheme is not compared) is
// refused with 403, and so are opaque ("null") and repeated origins.
// Options.OriginPatterns allows other origins by pattern. Requests without
// Origin (or with an empty one) come from programs, not browsers, and pass.
// Options.InsecureSkipOriginCheck turns the check off, letting any site
// act for your users: use it only on servers that authenticate by other
// means than cookies.
//
// # Subprotocols
//
// Options.Subprotocols is what the server speaks. The chosen subprotocol
// is the client's first offer (all Sec-WebSocket-Protocol field lines, in
// order) that the server speaks, or with ServerSubprotocolPreference the
// server's first that the client offered. It is sent in the 101 and
// returned by [gws.Conn.Subprotocol]. When nothing matches, the 101 carries
// no Sec-WebSocket-Protocol and Subprotocol returns "", unless
// RequireSubprotocol, which refuses with 400.
//
// # Compression
//
// With Options.EnableCompression, permessage-deflate (RFC 7692) is
// negotiated when the client offers it, in gorilla's only mode: no context
// takeover either way. Messages are then written compressed unless the
// handler calls [gws.Conn.EnableWriteCompression](false).
//
// # Limits
//
// A message over Options.ReadLimit (1 MiB unless set; -1 for none) makes
// the read fail with [gws.ErrReadLimit], and gorilla closes the WebSocket
// with 1009 (message too big). Options.HandshakeTimeout (10s) bounds the
// write of the 101. With Options.PingInterval, the server pings and closes
// a peer from which nothing at all arrives within PongTimeout of a ping;
// the connection then reports [ErrPongTimeout]. gorilla handles control
// frames only inside the handler's reads, so a handler that uses pings must
// keep reading.
//
// # Handler and close
//
// The handler owns the connection while it runs. When it returns, the
// server sends a close frame, unless one was sent already (the peer's,
// echoed by gorilla; the read limit's 1009; the shutdown's 1001): 1000
// (normal) if the handler returned nil or a [*gws.CloseError], 1011
// (internal error) otherwise. Then the negotiator closes the connection and
// reports the handler's error to Options.OnClose, except for the peer's
// normal closes (1000, 1001, 1005), which report nil. A panic in the
// handler is recovered by the negotiator and closes this connection only.
//
// [gws.Conn.NetConn] returns the [*negotiate.Conn]: its Request is the
// upgrade request (for its URL, cookies and context values), and its
// Context is cancelled when the negotiator shuts down.
//
// # Shutdown
//
// [negotiate.Negotiator.Shutdown] sends each WebSocket a close frame 1001
// (going away) and waits up to Options.CloseTimeout (5s) for the handler
// to return: a handler that reads gets the peer's close as a
// [*gws.CloseError] and returns. After CloseTimeout the connection is
// closed, so the handler's reads and writes fail. Shutdown returns when
// every connection is gone, or when its context ends.
//
// # Early data
//
// A client may send its first frame in the same TCP write as the
// handshake. gorilla alone closes such a connection ("client sent data
// before handshake is complete"); through the negotiator, the bytes the
// HTTP server had buffered are read first from the [*negotiate.Conn], so
// the handler receives that frame like any other.
//
// # Concurrency
//
// The protocol New returns may serve any number of connections at once.
// Each connection follows gorilla's rules: one concurrent reader and one
// concurrent writer; only Close and WriteControl may be called concurrently
// with the other methods. The keep-alive and the shutdown write only with
// WriteControl, so they never break those rules, and each connection's
// keep-alive goroutine has ended when the negotiator reports it closed.
package websocket
