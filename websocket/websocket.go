package websocket

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Options configures the protocol [New] returns. The zero value (or nil) is
// usable: same-origin only, no subprotocol, no compression, a 1 MiB read
// limit, a 10s handshake timeout, no pings and a 5s close wait at shutdown.
type Options struct {
	// Subprotocols lists the subprotocols the server speaks
	// (Sec-WebSocket-Protocol). Each must be a token; they are compared
	// case-sensitively with the client's offers.
	Subprotocols []string

	// ServerSubprotocolPreference picks the first of Subprotocols that the
	// client offered, instead of the client's first offer that the server
	// speaks (the default).
	ServerSubprotocolPreference bool

	// RequireSubprotocol refuses (400) a request that offers none of
	// Subprotocols. By default such a request switches without a
	// Sec-WebSocket-Protocol header and [gws.Conn.Subprotocol] is "".
	RequireSubprotocol bool

	// OriginPatterns lets browsers on other origins connect: each pattern
	// is matched with [path.Match], case-insensitively, against the host
	// (and port, if it has one) of the request's Origin, as
	// "*.example.com" or "localhost:*". Requests from the same origin
	// (Origin's host equal to the request's Host) always pass. Every other
	// request that carries an Origin is refused with 403.
	OriginPatterns []string

	// InsecureSkipOriginCheck turns the Origin check off: any web page the
	// user visits may then open a WebSocket to this server with the user's
	// cookies (cross-site WebSocket hijacking). Prefer OriginPatterns.
	InsecureSkipOriginCheck bool

	// EnableCompression negotiates permessage-deflate (RFC 7692) when the
	// client offers it, in gorilla's no-context-takeover mode.
	EnableCompression bool

	// ReadLimit is the largest message the handler may read, in bytes.
	// A bigger message closes the connection with 1009 (message too big)
	// and the read returns [gws.ErrReadLimit]. 0 means 1 MiB; -1 means no
	// limit (a peer may then make the server buffer any amount).
	ReadLimit int64

	// HandshakeTimeout bounds the write of the 101. Default 10s.
	HandshakeTimeout time.Duration

	// PingInterval, if not 0, sends a ping every interval and closes the
	// connection (reporting [ErrPongTimeout]) when nothing at all arrives
	// from the peer within PongTimeout of a ping. Control frames are read
	// only while the handler reads, so the handler must keep reading.
	PingInterval time.Duration

	// PongTimeout is how long a peer has to answer a ping. Default
	// PingInterval. It requires PingInterval.
	PongTimeout time.Duration

	// CloseTimeout bounds the close at shutdown: the wait for the peer's
	// close frame after the server's 1001 (going away), and the write of
	// the close frame when the handler returns. Default 5s.
	CloseTimeout time.Duration

	// ReadBufferSize and WriteBufferSize are gorilla's I/O buffer sizes;
	// 0 reuses the buffers of the HTTP server. They do not limit message
	// sizes.
	ReadBufferSize, WriteBufferSize int

	// WriteBufferPool, if set, lends write buffers to connections only
	// while they write (see [gws.Upgrader]).
	WriteBufferPool gws.BufferPool
}

const (
	defaultReadLimit        = 1 << 20
	defaultHandshakeTimeout = 10 * time.Second
	defaultCloseTimeout     = 5 * time.Second
)

// ErrPongTimeout is the error a connection closed by the keep-alive
// reports to the negotiator (Options.OnClose): the peer sent nothing
// within PongTimeout of a ping.
var ErrPongTimeout = errors.New("websocket: peer did not answer a ping in time")

// protocol is one configured WebSocket endpoint.
type protocol struct {
	opts     Options // defaults applied
	patterns []string
	upgrader gws.Upgrader
	handler  func(*gws.Conn) error
}

// New returns the protocol; register it with reg.Register("websocket", p).
// handler runs on the switched connection, with gorilla's API; when it
// returns, the connection is closed, after a close frame unless one was
// already sent: 1000 if it returned nil or a [*gws.CloseError], 1011
// otherwise. Its error is
// reported to the negotiator's OnClose, except the peer's normal closes
// (1000, 1001, 1005), which report nil. opts may be nil. Invalid options (a
// negative timeout, buffer size or limit other than ReadLimit -1, a
// subprotocol that is not a token, a malformed origin pattern, PongTimeout
// without PingInterval) and a nil handler are errors.
func New(opts *Options, handler func(c *gws.Conn) error) (negotiate.Protocol, error) {
	if handler == nil {
		return negotiate.Protocol{}, errors.New("websocket: nil handler")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case o.ReadLimit < -1:
		return negotiate.Protocol{}, fmt.Errorf("websocket: ReadLimit %d: want -1 (no limit), 0 (default) or a size", o.ReadLimit)
	case o.HandshakeTimeout < 0 || o.PingInterval < 0 || o.PongTimeout < 0 || o.CloseTimeout < 0:
		return negotiate.Protocol{}, errors.New("websocket: negative timeout in Options")
	case o.ReadBufferSize < 0 || o.WriteBufferSize < 0:
		return negotiate.Protocol{}, errors.New("websocket: negative buffer size in Options")
	case o.PongTimeout > 0 && o.PingInterval == 0:
		return negotiate.Protocol{}, errors.New("websocket: PongTimeout is set but PingInterval is not")
	}
	for _, s := range o.Subprotocols {
		if !httpsyntax.IsToken(s) {
			return negotiate.Protocol{}, fmt.Errorf("websocket: subprotocol %q is not a token", s)
		}
	}
	o.Subprotocols = append([]string(nil), o.Subprotocols...)
	patterns := make([]string, 0, len(o.OriginPatterns))
	for _, pat := range o.OriginPatterns {
		pat = strings.ToLower(pat)
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return negotiate.Protocol{}, fmt.Errorf("websocket: origin pattern %q: malformed", pat)
		}
		patterns = append(patterns, pat)
	}
	if o.ReadLimit == 0 {
		o.ReadLimit = defaultReadLimit
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = defaultHandshakeTimeout
	}
	if o.PingInterval > 0 && o.PongTimeout == 0 {
		o.PongTimeout = o.PingInterval
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = defaultCloseTimeout
	}
	p := &protocol{
		opts:     o,
		patterns: patterns,
		handler:  handler,
		upgrader: gws.Upgrader{
			HandshakeTimeout:  o.HandshakeTimeout,
			ReadBufferSize:    o.ReadBufferSize,
			WriteBufferSize:   o.WriteBufferSize,
			WriteBufferPool:   o.WriteBufferPool,
			EnableCompression: o.EnableCompression,
			// Check has done the Origin check, with the options.
			CheckOrigin: func(*http.Request) bool { return true },
			Error:       refuse,
		},
	}
	return negotiate.Protocol{Check: p.check, Handshake: p.handshake, Serve: p.serve, Shutdown: p.shutdown}, nil
}
