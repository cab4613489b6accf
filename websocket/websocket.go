package websocket

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Options configures the protocol [New] returns. The zero value (or nil) is
// usable: same-origin only, no subprotocol, no compression, a 1 MiB read
// limit, UTF-8 validation of text messages, 4 KiB read buffers lent from a
// pool only while read data waits to be taken (over TLS served by Go or on
// an HTTP/2 stream, a 1 KiB one held for the connection's life; see
// ReadBufferSize), 4 KiB write buffers lent from a pool only while a
// message is written, a ping every 30s with 30s for an answer, 1 minute
// for a message to arrive once begun, and a 5s close wait. The 101 itself is bounded by the negotiator's
// Options.HandshakeTimeout.
type Options struct {
	// Subprotocols lists the subprotocols the server speaks
	// (Sec-WebSocket-Protocol). Each must be a token; they are compared
	// case-sensitively with the client's offers.
	Subprotocols []string

	// ServerSubprotocolPreference picks the first of Subprotocols that the
	// client offered, instead of the client's first offer that the server
	// speaks (the default). gorilla's Upgrader picks in the server's order:
	// a program moving from it sets this to keep its choices.
	ServerSubprotocolPreference bool

	// RequireSubprotocol refuses (400) a request that offers none of
	// Subprotocols, which must then list one at least. By default such a
	// request switches without a Sec-WebSocket-Protocol field and
	// [gws.Conn.Subprotocol] is "".
	RequireSubprotocol bool

	// OriginPatterns lets browsers on other origins connect: each pattern
	// is matched with [path.Match], case-insensitively, against the host
	// (and port, if it has one) of the request's Origin, as
	// "*.example.com" or "localhost:*" (so a pattern has no scheme or
	// path: New refuses "https://app.example.com"). path.Match reads
	// brackets as a character class, so an IPv6 address has them escaped,
	// `\[::1\]:*` (New refuses "[::1]:*"). Requests from the same origin
	// (Origin's host equal to the request's Host) always pass. Every other
	// request that carries an Origin is refused with 403, unless
	// CheckOrigin allows it.
	OriginPatterns []string

	// CheckOrigin, if set, decides about a request that carries one Origin
	// which is neither the request's own nor matched by OriginPatterns:
	// the request passes if it returns true, and is refused with 403
	// otherwise. It sees every such Origin as the browser sent it, opaque
	// ones ("null") included, so it can also decide on the scheme
	// ("https://" only) that the patterns do not look at. It runs on the
	// request's goroutine, before the gate and Authorize, and must not
	// write to the request. It only widens the default; to narrow it (the
	// same origin refused over http, say), refuse in the negotiator's
	// Authorize hook.
	CheckOrigin func(r *http.Request) bool

	// InsecureSkipOriginCheck turns the Origin check off: any web page the
	// user visits may then open a WebSocket to this server with the user's
	// cookies (cross-site WebSocket hijacking). Prefer OriginPatterns or
	// CheckOrigin. It overrides both.
	InsecureSkipOriginCheck bool

	// EnableCompression negotiates permessage-deflate (RFC 7692) when the
	// client offers it with parameters gorilla's only mode can honour: no
	// context takeover either way, a 32 KiB window (see Compression in the
	// package documentation).
	EnableCompression bool

	// ReadLimit is the largest message the handler may read, in bytes,
	// counted as the handler gets them: inflated, for a compressed message
	// (whose bytes on the wire may not exceed it either). A bigger message
	// closes the connection with 1009 (message too big) and the read
	// returns [gws.ErrReadLimit]; at most ReadLimit bytes of it reach the
	// handler, and at most one more is ever inflated. 0 means 1 MiB; -1
	// means no limit (a peer may then make the server buffer, or inflate,
	// any amount).
	ReadLimit int64

	// SkipUTF8Validation turns off the check that each text message is
	// valid UTF-8 (RFC 6455 §8.1), which by default fails the connection
	// with 1007 and makes the read return [ErrInvalidUTF8]. Without it a
	// handler gets whatever bytes the peer sent, and one that relays them
	// to other clients (a chat room) makes every conforming client among
	// them close with 1007. The check costs one pass over each text
	// message's bytes as they arrive (see BenchmarkReadText); binary
	// messages are never checked.
	SkipUTF8Validation bool

	// PingInterval is how often the server pings the peer: the keep-alive,
	// which closes a connection whose peer sends nothing at all within
	// PongTimeout of a ping, and reports [ErrPongTimeout] for it. It is on
	// by default, every 30s, because a peer that vanished without a FIN (a
	// client that lost its network, a NAT that forgot the mapping) or one
	// that completes the handshake and then stays silent would otherwise
	// hold its connection, its buffers and a file descriptor for ever: a
	// thousand of them use up a common descriptor limit and every later
	// client is refused. The pings also keep idle connections open through
	// proxies and NATs that drop quiet ones. A negative PingInterval turns
	// the keep-alive off. Any byte from the peer answers a ping, and gorilla
	// reads frames (pongs included) only inside the handler's reads, so
	// an unanswered ping closes the connection only if the handler waits in
	// a read when the answer is due: a handler that only writes (a large
	// message to a slow reader included), or is busy between reads, is not
	// closed by it, unless the socket takes nothing, of its frame or of the
	// ping, for PongTimeout (see Keep-alive in the package documentation).
	PingInterval time.Duration

	// PongTimeout is how long a peer has to answer a ping: a silent peer
	// is closed PongTimeout after the first ping it left unanswered, also
	// when PongTimeout is longer than PingInterval and several pings are
	// out at once. Default PingInterval (so a silent peer is closed
	// between one and two intervals after it last sent anything, 30 to
	// 60s by default). It cannot be set with the keep-alive off.
	PongTimeout time.Duration

	// MessageTimeout bounds the time a message takes to arrive: once the
	// first frame of a data message has begun, the server waits at most
	// this long in all for the rest of it (each message has a bound of its
	// own, restarted when the next begins), or the connection fails with
	// 1008 (policy violation, "message not finished in time") and reports
	// [ErrMessageTimeout]. Without it a peer that starts a message and
	// never finishes it, answering pings meanwhile, holds what was read of
	// the message (up to ReadLimit) for ever. Only the time the server
	// waits in reads counts: a handler slow to read a message that has
	// arrived is not the peer's delay. The time between messages is not
	// bounded (the keep-alive watches it), and a read deadline the handler
	// sets applies as well: the earlier of the two ends the read. Default
	// 1 minute: the longest the keep-alive lets a silent peer live (two
	// intervals), and, for a message of the default ReadLimit, 17 KiB/s,
	// which a connection too slow for it cannot carry an interactive
	// protocol over anyway; raise it with ReadLimit when large messages
	// come over slow links. Neither Node's ws nor python-websockets bounds
	// this (they rely on their ping timeout, which such a peer satisfies).
	// A negative MessageTimeout turns the bound off.
	MessageTimeout time.Duration

	// CloseTimeout bounds the close: at shutdown, the wait for the handler
	// to return after the server's 1001 (going away) before the connection
	// is closed under it; when the handler returns, the write of the
	// server's close frame. Default 5s.
	CloseTimeout time.Duration

	// ReadBufferSize is the size of the buffer each read of the
	// connection fills; 0 means 4096, gorilla's default, and sizes under
	// 288 are raised to 288. On a connection that is a socket of its own
	// (an HTTP/1.1 upgrade without TLS in the Go server, the usual case
	// behind a proxy or on loopback) the buffer is lent from a pool only
	// while bytes read into it wait to be taken: the read waits for data
	// holding no buffer, so an idle connection holds none, only the
	// 288-byte reader gorilla parses frame headers with; a burst of small
	// messages is still read ReadBufferSize bytes at a time, and the rest
	// of a larger message is read straight into the handler's buffer when
	// that is at least as large. The cost is a copy of each byte from the
	// lent buffer into gorilla's reader, and a pool's get and put per read.
	// Elsewhere (TLS served by Go, an HTTP/2 stream, a wrapped connection)
	// the connection holds its read buffer for its life: of this size if
	// it is set (with 4096, the one net/http held for it, see
	// [negotiate.Conn.Buffers]), and of 1024 bytes by default, so that an
	// idle connection there holds a quarter of gorilla's 4096. It does not
	// limit message sizes (see ReadLimit).
	ReadBufferSize int

	// WriteBufferSize is the size of the buffer gorilla writes frames
	// into; 0 means gorilla's default, 4096. It bounds neither messages
	// nor frames: a message written through NextWriter in pieces smaller
	// than it goes out in frames of up to WriteBufferSize bytes, but
	// gorilla sends a piece over twice the buffer as a frame of its own,
	// and WriteMessage an uncompressed message as one frame, whatever
	// their size. The buffers come from WriteBufferPool.
	WriteBufferSize int

	// WriteBufferPool lends write buffers (of WriteBufferSize plus 14
	// bytes, for a frame header) to connections only while they write a
	// message: from NextWriter (or WriteMessage, WriteJSON) to the
	// writer's Close. An idle connection holds none, where it would
	// otherwise hold one for its whole life; that is most of what a
	// mostly idle connection costs after its read buffer and its
	// goroutine's stack. The default (nil) is a pool the package keeps for
	// each WriteBufferSize, shared by every protocol made with that size:
	// it holds about as many buffers as connections write at the same
	// moment, and lets the collector free those no longer used. The cost
	// is the pool's: a get and a put per message, and the 24-byte
	// allocation gorilla makes to put a buffer back; a message written as
	// several frames keeps its buffer until it ends. Set a pool of your own (a
	// [gws.BufferPool]) to share buffers with other code or bound them.
	WriteBufferPool gws.BufferPool
}

const (
	defaultReadLimit    = 1 << 20
	defaultPingInterval = 30 * time.Second
	defaultCloseTimeout = 5 * time.Second
	defaultMessageTime  = time.Minute
	defaultReadBuffer   = 4096
	defaultHeldRead     = 1024 // where a connection holds its read buffer for life
)

// ErrPongTimeout is the error of a connection the keep-alive closed
// because the peer sent nothing within PongTimeout of a ping (or its
// socket took nothing for PongTimeout while a ping waited): it is
// reported as [negotiate.ConnInfo].Err to the negotiator's
// [negotiate.Options].OnClose.
// The connection is closed without a close frame (a peer that answers
// nothing would not read one); the handler's read fails.
var ErrPongTimeout = errors.New("websocket: peer did not answer a ping in time")

// ErrMessageTimeout is the read error of a message that was not finished
// within Options.MessageTimeout of its first frame; the peer gets close
// 1008 (policy violation), and [negotiate.Options].OnClose reports it as
// [negotiate.ConnInfo].Err when the handler returns it.
var ErrMessageTimeout = errors.New("websocket: message not finished in time")

// ErrInvalidUTF8 is the read error of a text message that is not valid
// UTF-8 (RFC 6455 §8.1); the peer gets close 1007.
var ErrInvalidUTF8 = errors.New("websocket: invalid UTF-8 in a text message")

// ErrInvalidCompressedData is the read error of a compressed message
// (permessage-deflate, RFC 7692) that does not inflate: data that is not
// DEFLATE, a stream cut short, or a back-reference to an earlier message
// from a client that keeps its context although the 101 said
// client_no_context_takeover. The peer gets close 1007, as for invalid
// UTF-8: the fault is the data's, not the server's.
var ErrInvalidCompressedData = errors.New("websocket: invalid compressed data")

// protocol is one configured WebSocket endpoint. Everything a handshake
// needs that does not depend on the request is computed here, once.
type protocol struct {
	opts     Options // defaults applied
	patterns []string
	upgrader gws.Upgrader
	handler  func(*Conn) error

	// subHeaders[i] is the responseHeader that makes gorilla's Conn report
	// Subprotocols[i]; its one value is also what the 101 carries.
	subHeaders []http.Header

	readPool     *sync.Pool // the read-ahead buffers, of ReadBufferSize (see readAhead)
	heldRead     int        // the read buffer's size where there is no socket to read ahead: ReadBufferSize if set, else 1024
	smallBuffers sync.Pool  // of *bufio.ReadWriter: a writer for gorilla's 101 (see Conn.upgrade)
	keepAlive    schedule   // every connection's keep-alive runs
}

// writePools are the default Options.WriteBufferPool, one for each
// WriteBufferSize in use (gorilla takes whatever buffer the pool holds, so
// one pool must not mix sizes).
var writePools sync.Map // int -> *sync.Pool

func writePool(size int) gws.BufferPool { return sizedPool(&writePools, size, nil) }

// sizedPool returns the pool in pools for size, made with newBuf (which
// may be nil) the first time.
func sizedPool(pools *sync.Map, size int, newBuf func() any) *sync.Pool {
	if p, ok := pools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := pools.LoadOrStore(size, &sync.Pool{New: newBuf})
	return p.(*sync.Pool)
}

// ipv6Class returns the IPv6 address that a character class of pat
// holds, if one does: "[::1]:*" was meant to match the Origin host
// "[::1]:8080", but path.Match reads "[::1]" as one character, ':' or '1'.
func ipv6Class(pat string) (string, bool) {
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '\\':
			i++
		case '[':
			end := strings.IndexByte(pat[i:], ']')
			if end < 0 {
				return "", false
			}
			lit := pat[i+1 : i+end]
			if strings.Contains(lit, ":") && net.ParseIP(lit) != nil {
				return lit, true
			}
			i += end
		}
	}
	return "", false
}

// New returns the WebSocket protocol; register it under the token
// "websocket" with reg.Register("websocket", p). handler runs on each
// switched connection, and only on those (not for an upgrade accepted but
// then refused: a writer that cannot hijack, a shutdown that overtook the
// switch), with gorilla's API through [Conn]; when it returns
// (or panics), the server sends its close frame and the connection is
// closed, and its error is reported as [negotiate.ConnInfo].Err to the
// negotiator's Options.OnClose (see "Handler and close" in the package
// documentation for the codes and the errors reported as nil). opts may be
// nil. Invalid options (a
// negative PongTimeout, CloseTimeout or buffer size, a ReadLimit under -1,
// a subprotocol that is not a token, a malformed origin pattern or one
// with a scheme, path, user information or space, or with an IPv6 address
// in unescaped brackets (a character class), a PongTimeout with the
// keep-alive off, RequireSubprotocol without Subprotocols) and a nil
// handler are errors.
func New(opts *Options, handler func(c *Conn) error) (negotiate.Protocol, error) {
	if handler == nil {
		return negotiate.Protocol{}, errors.New("websocket: nil handler")
	}
	o, err := resolve(opts)
	if err != nil {
		return negotiate.Protocol{}, err
	}
	patterns := make([]string, 0, len(o.OriginPatterns))
	for _, pat := range o.OriginPatterns {
		pat = strings.ToLower(pat)
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return negotiate.Protocol{}, fmt.Errorf("websocket: origin pattern %q: malformed", pat)
		}
		if strings.ContainsAny(pat, "/@ \t") {
			// A pattern matches an Origin's host[:port], which has none
			// of these: "https://app.example.com" would never match.
			return negotiate.Protocol{}, fmt.Errorf("websocket: origin pattern %q: a pattern matches the host[:port] of an Origin, without scheme, path, user information or spaces", pat)
		}
		if lit, ok := ipv6Class(pat); ok {
			return negotiate.Protocol{}, fmt.Errorf(`websocket: origin pattern %q: path.Match reads [%s] as a character class, which matches one character; for the IPv6 address, escape the brackets: \[%s\]`, pat, lit, lit)
		}
		patterns = append(patterns, pat)
	}
	p := &protocol{
		opts:     o,
		patterns: patterns,
		handler:  handler,
		upgrader: gws.Upgrader{
			// ReadBufferSize 0: gorilla takes the reader it is handed (see
			// Conn.upgrade).
			WriteBufferSize:   o.WriteBufferSize,
			WriteBufferPool:   o.WriteBufferPool, // never nil: see resolve
			EnableCompression: o.EnableCompression,
			// gorilla sees only gorillaRequest, which passes its checks;
			// Check has checked the client's request, with the options.
			CheckOrigin: func(*http.Request) bool { return true },
			Error:       func(http.ResponseWriter, *http.Request, int, error) {},
		},
		readPool: readPool(o.ReadBufferSize),
		heldRead: o.ReadBufferSize,
	}
	if opts == nil || opts.ReadBufferSize == 0 {
		p.heldRead = defaultHeldRead
	}
	p.smallBuffers.New = newSmallBuffers
	p.subHeaders = make([]http.Header, len(o.Subprotocols))
	for i, s := range o.Subprotocols {
		p.subHeaders[i] = http.Header{"Sec-Websocket-Protocol": {s}}
	}
	return negotiate.Protocol{Check: p.check, Accept: p.accept}, nil
}

// resolve checks opts (nil for none) and returns them with their defaults
// applied: what a protocol made by New runs with.
func resolve(opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.ReadLimit < -1:
		return o, fmt.Errorf("websocket: ReadLimit %d: want -1 (no limit), 0 (default) or a size", o.ReadLimit)
	case o.PongTimeout < 0 || o.CloseTimeout < 0:
		return o, errors.New("websocket: negative timeout in Options")
	case o.ReadBufferSize < 0 || o.WriteBufferSize < 0:
		return o, errors.New("websocket: negative buffer size in Options")
	case o.PongTimeout > 0 && o.PingInterval < 0:
		return o, errors.New("websocket: PongTimeout is set but the keep-alive is off (negative PingInterval)")
	case o.RequireSubprotocol && len(o.Subprotocols) == 0:
		return o, errors.New("websocket: RequireSubprotocol without Subprotocols would refuse every request")
	}
	for _, s := range o.Subprotocols {
		if !httpsyntax.IsToken(s) {
			return o, fmt.Errorf("websocket: subprotocol %q is not a token", s)
		}
	}
	o.Subprotocols = append([]string(nil), o.Subprotocols...)
	if o.ReadLimit == 0 {
		o.ReadLimit = defaultReadLimit
	}
	if o.PingInterval == 0 {
		o.PingInterval = defaultPingInterval
	}
	if o.PingInterval > 0 && o.PongTimeout == 0 {
		o.PongTimeout = o.PingInterval
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = defaultCloseTimeout
	}
	if o.MessageTimeout == 0 {
		o.MessageTimeout = defaultMessageTime
	}
	if o.ReadBufferSize == 0 {
		o.ReadBufferSize = defaultReadBuffer
	}
	o.ReadBufferSize = max(o.ReadBufferSize, headerBuffer)
	if o.WriteBufferPool == nil {
		o.WriteBufferPool = writePool(o.WriteBufferSize)
	}
	return o, nil
}
