// Package websocket is RFC 6455 WebSocket as a [negotiate.Protocol], with
// [github.com/gorilla/websocket] as the engine: the negotiator decides
// whether a request switches, refuses it with the right status when it
// must, writes the 101, tracks the connection and shuts it down; the
// handler gets a [*Conn], which keeps gorilla's whole [*gws.Conn] API.
//
// Register the protocol under the token websocket and mount the registry:
//
//	p, err := websocket.New(nil, func(c *websocket.Conn) error {
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
//	if err != nil {
//		log.Fatal(err)
//	}
//	reg := new(negotiate.Registry)
//	reg.Register("websocket", p)
//	mux.Handle("/ws", n.Endpoint(reg))
//
// # Handshake and statuses
//
// The prerequisites of RFC 6455 §4.2.1 are checked before the protocol is
// chosen, so a request that fails them never reaches the gate or the
// Authorize hook. Each refusal is a [*negotiate.Error] written by the
// negotiator's responder, with a one-line reason:
//
//	405  not GET (with Allow: GET)
//	400  no Host; Sec-WebSocket-Key missing, repeated, or not the base64 of 16 bytes;
//	     Sec-WebSocket-Version repeated; Upgrade offers websocket only with a
//	     version ("websocket/13"); RequireSubprotocol and no match
//	426  Sec-WebSocket-Version missing or not exactly 13 (with Sec-WebSocket-Version: 13)
//	403  a cross-origin request (see Origin)
//	413  a request body (the negotiator's rule for protocols that take none)
//
// Then the negotiator's gate runs (503 while draining or over a limit,
// Authorize) and the negotiator writes the 101: Upgrade: websocket,
// Connection: Upgrade, Sec-WebSocket-Accept, the chosen
// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions if any, and the
// fields a middleware or Authorize set (cookies), except those that
// describe a body (Content-*) and invalid ones. Sec-WebSocket-* fields set
// by anyone but this package are dropped, so the 101 carries each of the
// handshake's fields once. gorilla writes nothing before the first frame:
// it is built over the switched connection after the 101 went out.
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
// negotiated exactly when gorilla would: when the client's
// Sec-WebSocket-Extensions offers it, whatever its parameters. The 101
// then announces gorilla's only mode, "permessage-deflate;
// server_no_context_takeover; client_no_context_takeover", and gorilla's
// connection compresses and decompresses accordingly. Messages are written
// compressed unless the handler calls
// [gws.Conn.EnableWriteCompression](false).
//
// # Limits and costs
//
// A message over Options.ReadLimit (1 MiB unless set; -1 for none) makes
// the read fail with [gws.ErrReadLimit], and gorilla closes the WebSocket
// with 1009 (message too big). The write of the 101 is bounded by the
// negotiator's Options.HandshakeTimeout. Each connection holds a read and
// a write buffer (Options.ReadBufferSize and WriteBufferSize, 4 KiB each by
// default) for its life; with Options.WriteBufferPool an idle connection
// holds no write buffer. With Options.PingInterval, the server pings and
// closes a peer from which nothing at all arrives within PongTimeout of a
// ping; the connection then reports [ErrPongTimeout]. gorilla handles
// control frames only inside the handler's reads, so a handler that uses
// pings must keep reading.
//
// # Handler and close
//
// The handler owns the connection while it runs; [Conn.Request] is the
// upgrade request (for its URL, cookies and context values) and
// [Conn.Context] is the connection's context. When the handler returns,
// the server sends a close frame, unless one was sent already (the peer's,
// echoed by gorilla; the read limit's 1009; the shutdown's 1001): 1000
// (normal) if the handler returned nil or a [*gws.CloseError], 1011
// (internal error) if it returned another error or panicked, and 1001
// (going away) if its context had ended. If the peer's close had arrived,
// the close handshake is complete and the connection is closed at once;
// otherwise the negotiator closes it without losing what was written.
// The handler's error is reported as [negotiate.ConnInfo].Err to the
// negotiator's Options.OnClose, except the peer's normal closes (1000,
// 1001, 1005) and the context's own error after it ended, which report
// nil. A panic in the handler is recovered by the negotiator and closes
// that connection only.
//
// # Shutdown
//
// [negotiate.Negotiator.Shutdown] cancels each connection's
// [Conn.Context]: the server sends a close frame 1001 (going away) and
// waits up to Options.CloseTimeout (5s) for the handler to return (a
// handler that reads gets the peer's answering close as a
// [*gws.CloseError]; one that does not can watch the context). After
// CloseTimeout the connection is closed, so the handler's reads and writes
// fail. Shutdown returns when every connection is gone, or when its own
// context ends.
//
// # Early data
//
// A client may send its first frame in the same TCP write as the
// handshake. gorilla alone closes such a connection ("client sent data
// before handshake is complete"); here gorilla reads through the
// negotiator's connection, which returns the bytes the HTTP server had
// buffered first, so the handler receives that frame like any other.
//
// # Concurrency
//
// The protocol New returns may serve any number of connections at once.
// Each connection follows gorilla's rules: one concurrent reader and one
// concurrent writer; only Close and WriteControl may be called concurrently
// with the other methods. Everything this package writes (pings, close
// frames) is written with WriteControl, so a writer of the application's
// own (a broadcaster) may go on writing while the keep-alive runs, during
// a shutdown, and after the handler has returned: once the close frame is
// sent, its writes fail with [gws.ErrCloseSent]. Each connection's
// keep-alive goroutine has ended when the negotiator reports it closed.
package websocket
