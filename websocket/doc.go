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
//	426  Sec-WebSocket-Version missing or not exactly 13 (with Sec-WebSocket-Version: 13,
//	     and Upgrade: websocket, as every 426 names what it requires)
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
// # WebSocket over HTTP/2 (RFC 8441)
//
// The same protocol, with the same handler, serves a WebSocket opened by
// an HTTP/2 extended CONNECT with :protocol websocket, when the server
// advertises it (see the negotiate package: on Go 1.26 and 1.27, the
// program starts with GODEBUG=http2xconnect=1). RFC 8441 §5 drops the key
// and the Accept, and the success is a 200 on the stream, so the checks
// are:
//
//	400  :protocol other than websocket itself ("websocket/13"); no :authority
//	     (it carries the Host); Sec-WebSocket-Version missing or repeated;
//	     RequireSubprotocol and no match
//	426  Sec-WebSocket-Version not exactly 13 (with Sec-WebSocket-Version: 13)
//	403  a cross-origin request (see Origin: Host is the request's :authority)
//
// and the 200 carries the chosen Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions. Everything after it is the same as over
// HTTP/1.1: the frames, compression, limits, keep-alive and the close
// (1001 at shutdown). The connection's [negotiate.ConnInfo].Transport says
// which it was.
//
// # Origin (Security)
//
// A browser lets any page open a WebSocket to any server, and sends the
// user's cookies with it; only the Origin header tells the server which
// site asked. So by default a request whose Origin host differs from its
// Host (compared case-insensitively; the scheme is not compared) is
// refused with 403, and so are opaque ("null") and repeated origins.
// Options.OriginPatterns allows other origins by host pattern, and
// Options.CheckOrigin, a func like gorilla's Upgrader.CheckOrigin, decides
// about every origin that neither the same-origin rule nor a pattern let
// pass: a policy such as "https on any subdomain, plus http://localhost at
// any port" is a few lines of it (see the example). CheckOrigin only
// widens: it runs after the built-in rules, never instead of them, so a
// mistake in it cannot lock out the server's own pages, and it never sees
// a request without Origin or with a repeated one. Requests without Origin
// (or with an empty one) come from programs, not browsers, and pass.
// Options.InsecureSkipOriginCheck turns the check off, letting any site
// act for your users: use it only on servers that authenticate by other
// means than cookies.
//
// # Subprotocols
//
// Options.Subprotocols is what the server speaks. The chosen subprotocol
// is the client's first offer (all Sec-WebSocket-Protocol field lines, in
// order) that the server speaks, or with ServerSubprotocolPreference the
// server's first that the client offered (gorilla's Upgrader's order). It
// is sent in the 101 and returned by [gws.Conn.Subprotocol]. When nothing
// matches, the 101 carries no Sec-WebSocket-Protocol and Subprotocol
// returns "", unless RequireSubprotocol, which refuses with 400. The
// choice is the list's alone: a Sec-WebSocket-Protocol set on the response
// (gorilla's responseHeader, with its Subprotocols nil) is dropped.
//
// # Compression
//
// With Options.EnableCompression, permessage-deflate (RFC 7692) is
// negotiated in gorilla's only mode, which the 101 announces as
// "permessage-deflate; server_no_context_takeover;
// client_no_context_takeover": each message compressed on its own, with a
// 32 KiB window. The first permessage-deflate offer in
// Sec-WebSocket-Extensions that this mode can honour is accepted; an offer
// it cannot honour is declined rather than answered without its
// parameters (RFC 7692 §7), which would leave a constrained client with
// data it cannot inflate. An offer can be honoured when each of its
// parameters is one of server_no_context_takeover and
// client_no_context_takeover (without a value), server_max_window_bits=15,
// and client_max_window_bits (bare or 8 to 15: the client's own window,
// which the server inflates whatever it is), none of them twice. So
// server_max_window_bits under 15, unknown parameters and malformed
// values decline that offer; a browser's fallback list ("permessage-deflate;
// server_max_window_bits=10, permessage-deflate") gets its second offer.
// When the offer accepted has server_max_window_bits=15, the 101 adds
// "; server_max_window_bits=15", since RFC 7692 §7.1.2.1 has a server
// accept that parameter by naming it (gorilla's Upgrader leaves it out,
// and a client that holds the server to the RFC, as python-websockets
// does, fails such a handshake).
// Messages are written compressed unless the handler calls
// [gws.Conn.EnableWriteCompression](false).
//
// # Limits and costs
//
// A message over Options.ReadLimit (1 MiB unless set; -1 for none) makes
// the read fail with [gws.ErrReadLimit] and closes the WebSocket with 1009
// (message too big). The limit counts what the handler reads: for a
// compressed message, the inflated bytes (and its bytes on the wire may
// not exceed it either, so a message that does not compress may fail a few
// bytes under the limit). A message of a few kilobytes that would inflate
// to gigabytes is stopped after ReadLimit bytes, at most one more is ever
// inflated, and the handler gets no more than ReadLimit of them, however
// it reads: ReadMessage, NextReader, ReadJSON, or gorilla's own functions
// given c.Conn ([gws.JoinMessages]). A limit the handler sets for its
// connection with [Conn.SetReadLimit] applies the same way.
//
// gorilla has no hook for this: its limit sees only the wire. Guarding our
// Conn's read methods would leave c.Conn unguarded, and a fork of gorilla
// would change the type handlers get. So the package wraps the reader
// gorilla inflates each message with: at the switch it replaces the func
// in gorilla's unexported field that makes that reader (found by name and
// type with reflect when the package starts; written with unsafe) with one
// that wraps it in a counter. Should a gorilla release rename the field,
// compression is not negotiated at all, rather than inflated unguarded,
// and the package's tests fail. The same guard fails data that does not
// inflate with 1007 (see Frames the RFCs fail), so it wraps every
// compressed message, whatever the limit. It costs an object of about
// 100 bytes per compressed message and no measurable time
// (BenchmarkInflateGuard). The write of the 101 is bounded by the
// negotiator's Options.HandshakeTimeout. Read and write buffers are
// lent from pools while they are in use: an idle connection holds neither,
// only a 288-byte reader for frame headers. Reads of the socket fill a
// buffer of Options.ReadBufferSize (4 KiB) taken once data is there and
// given back when its bytes have been taken (over TLS served by Go or on an
// HTTP/2 stream, the connection holds a read buffer for its life, 1 KiB by
// default); a write buffer
// (Options.WriteBufferSize, 4 KiB) is held from NextWriter to the writer's
// Close (Options.WriteBufferPool).
//
// # Keep-alive
//
// The server pings every connection every 30s (Options.PingInterval) and
// closes one whose peer sent nothing at all within 30s of a ping
// (Options.PongTimeout, by default the interval), without a close frame;
// the connection reports [ErrPongTimeout]. It is on by default because a
// peer that vanished without closing (lost network, a NAT that forgot it)
// or that opens a WebSocket and then stays silent would otherwise hold the
// connection, its buffers and a file descriptor for ever, and enough of
// them refuse every later client. Any byte from the peer answers a ping
// (a pong or a message), so a handler may set its own pong handler; the
// peer's pongs to these pings reach it too, with an empty payload (gorilla
// alone sends no pings, so a pong handler written for it may expect only
// its own payloads).
// gorilla reads frames only inside the handler's reads, so an unanswered
// ping closes the connection only if the handler is waiting in a read when
// the answer is due; a handler that only writes is not closed by it (its
// writes fail when the peer is gone). Nor is one whose frame holds the
// connection longer than PongTimeout (a large message to a peer that
// reads it at its pace): the ping waits behind the frame, and one that
// could not go out is not held against the peer, as long as the socket
// took some of the frame meanwhile. A socket that takes nothing for
// PongTimeout, of the frame a ping waits behind or of the ping itself,
// closes the connection as well: the peer reads nothing, or too slowly
// for what is queued (the system takes more only once about a third of
// the send buffer has drained), and gorilla fails every write after a
// ping's own write timed out. It fails them after a write of the
// handler's that failed, too (its write deadline passed): no ping can go
// out, so the keep-alive closes the connection, which reports that
// write's error rather than ErrPongTimeout. A negative PingInterval turns
// the keep-alive off. It costs no goroutine and no timer of its own: the
// connections of one protocol share one runtime timer, armed for the
// earliest ping or check due among them, and each run, in a goroutine of
// its own while it lasts, writes the ping with WriteControl (so next to an
// application's writer) and checks the answer; the handler's return takes
// the connection out of the schedule and waits for a run under way.
//
// # Unfinished messages
//
// A peer that sends the first frame of a message and then nothing more of
// it, while it answers every ping, satisfies the keep-alive for ever and
// holds what was read of the message (up to ReadLimit, in a handler that
// reads with ReadMessage) for as long. So once a data message has begun,
// the server waits at most Options.MessageTimeout (1 minute) in all for
// the rest; then the read fails with [ErrMessageTimeout] and the peer gets
// 1008 (policy violation, "message not finished in time"), after which
// the connection ends and the partial message is released. Only time
// spent waiting in reads counts: the time the handler spends between its
// reads of the message (its own work, while the rest sat in the socket's
// buffer) moves the bound later, so a slow handler does not fail a peer
// that sent in time, on an HTTP/2 stream as on a connection of its own.
// Each message has a bound of its
// own, which starts when its first frame begins, even in the read that
// ended the message before: a peer that streams messages back to back,
// each in time, is not failed however long the stream lasts. The time
// between messages is the keep-alive's to watch. A negative
// MessageTimeout turns it off.
//
// The bound is the connection's read deadline while a message is under
// way, not a check at the keep-alive's ticks: it fires at the moment
// itself, even with the keep-alive off or its interval longer than the
// bound; it wakes the reading goroutine, which sends the close and fails
// the read in order with what came before, as the other violations do,
// instead of a timer's goroutine reaching across; and it costs nothing for
// a message that arrives within one read of the connection (most do) and
// two deadline changes for one that spans reads, with no goroutine, timer
// or byte added to an idle connection (BenchmarkIdleConn). A read
// deadline the handler sets (gorilla's SetReadDeadline, or NetConn's
// SetReadDeadline or SetDeadline, from any goroutine) keeps its meaning:
// the earlier of it and the message's bound applies, the handler's
// expiring is reported as the plain timeout it is, and once the message
// has ended the handler's deadline alone applies.
//
// # Frames the RFCs fail
//
// gorilla accepts some frames that RFC 6455 and RFC 7692 say must fail the
// connection. The package follows the frames gorilla reads through the
// connection it gives gorilla, and fails these, with the close code the
// RFC calls for, exactly where they are in the stream (the handler first
// reads what came before them; then its read fails, as do all after it):
//
//	1007  a text message that is not valid UTF-8 (RFC 6455 §8.1), whether
//	      sent whole, in fragments (a sequence may span them), or compressed;
//	      the read returns [ErrInvalidUTF8]
//	1002  RSV1 set on a control frame or a continuation frame (RFC 7692 §6.1)
//	1002  a close frame with a 1-byte payload (RFC 6455 §5.5.1)
//	1002  a 64-bit payload length with its most significant bit set
//	      (RFC 6455 §5.2), whatever the read limit
//	1007  a compressed message that does not inflate (RFC 7692 §7.2.2): data
//	      that is not DEFLATE or is cut short, an empty payload, or a
//	      reference back into an earlier message from a client that keeps
//	      its context although the 101 said client_no_context_takeover;
//	      the read returns [ErrInvalidCompressedData]. RFC 7692 names no
//	      code; 1007 (data inconsistent with its message) says the fault is
//	      the peer's, and is what Node's ws sends. gorilla alone hands the
//	      handler flate's error, whose return would make the close 1011, a
//	      server error.
//
// gorilla itself fails other protocol errors with 1002 (reserved bits or
// opcodes, unmasked frames, oversized control frames, invalid close codes
// or close reasons). Checking UTF-8 is one pass over each text message's
// bytes as they arrive, in a buffer on the stack: about 0.2 ns a byte for
// ASCII and 0.8 ns for text with many accented letters, which adds about
// a fifth to the time of reading such text over loopback
// (BenchmarkScanText, BenchmarkReadText).
// Options.SkipUTF8Validation saves it, for a server whose handlers check
// text themselves or never pass it on; binary messages are never checked.
//
// # Handler and close
//
// The handler owns the connection while it runs; [Conn.Request] is the
// upgrade request (for its URL, cookies and context values) and
// [Conn.Context] is the connection's context. When the handler returns,
// the server sends a close frame, unless one was sent already (the peer's,
// echoed by gorilla; the read limit's 1009; a broken rule's 1002 or 1007;
// the shutdown's 1001): 1000 (normal) if the handler returned nil or the
// peer's close ([*gws.CloseError]), 1009 (message too big) if it returned
// [gws.ErrReadLimit] (or an error wrapping it: a limit of its own, or
// gorilla's on a message whose frame lengths add up past 2^63, for which
// gorilla sends nothing), 1011 (internal error) if it returned another
// error or panicked, and 1001 (going away) if its context had ended. A peer that vanished without a close frame is not a close:
// gorilla reports it as a [*gws.CloseError] with 1006 (abnormal closure),
// a code never sent, and the server answers 1011. If the peer's close had
// arrived, the close handshake is complete and the connection is closed at
// once; otherwise the negotiator closes it without losing what was
// written. So a handler does not close the connection itself: gorilla's
// Close (the "defer c.Close()" of a handler written for gorilla's
// Upgrader) closes it without a close frame, as in gorilla, and the peer,
// which gets what was written and then the end of the stream, reports
// 1006 (abnormal closure).
//
// A message cut short never looks whole. While a message the handler
// writes with NextWriter is half sent (a frame of it is on the wire
// without FIN), any close frame that would say 1000, the engine's or the
// echo of a peer's, says 1011 ("message unfinished") instead. Once the
// peer's stream has ended without a close frame, no data frame is written
// at all: a handler that finishes its writer after its read failed, or
// starts another message (which makes gorilla finish the open one), gets
// an error, and nothing puts FIN on a message whose input was cut. 1001,
// 1002, 1007 and 1009 are sent as they are: they already say the end was
// not normal.
// The handler's error is reported as [negotiate.ConnInfo].Err to the
// negotiator's Options.OnClose, except the peer's normal closes (1000,
// 1001, 1005, returned as they are or wrapped, "reading: %w") and the
// context's own error after it ended, which report nil. A panic in the handler is recovered by the negotiator and closes
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
// keep-alive has stopped, and no callback of it runs, when the negotiator
// reports it closed.
package websocket
