package h2c

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/connhook"
	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/internal/stack"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Options configures the h2c protocol. The zero value is usable.
type Options struct {
	// Handler serves the HTTP/2 streams of upgraded connections, stream 1
	// (the upgrade request) included. Nil means the handler of the
	// http.Server the upgrade request came through (found by
	// http.ServerContextKey; http.DefaultServeMux when that Handler is
	// nil): the same handler net/http serves prior-knowledge HTTP/2 with,
	// so an HTTP/2 request goes through the same application chain as an
	// HTTP/1.1 one. Where the request carries no http.Server, nil means
	// http.NotFoundHandler.
	Handler http.Handler

	// HTTP2 configures the upgraded HTTP/2 connections (stream limits,
	// buffers, timeouts). Nil means net/http's defaults. Prior-knowledge
	// connections (see [ConfigureServer]) are configured by the
	// http.Server's own HTTP2 field instead: where it is set, set this
	// alike.
	HTTP2 *http.HTTP2Config

	// MaxBodyBytes bounds the upgrade request's body, which is read whole
	// and replayed as stream 1's body; h2c is the one protocol that takes
	// a body with its upgrade, so the bound is here rather than in the
	// negotiator. A declared length over it is not upgraded (the request is
	// served as HTTP/1.1, body intact); an unknown length that passes it is
	// refused with 413. Default 1 MiB.
	MaxBodyBytes int64

	// IdleTimeout closes an upgraded connection that has had no stream
	// open for this long: it gets GOAWAY (NO_ERROR) and is closed. Zero
	// means what net/http applies to prior-knowledge HTTP/2 on the
	// http.Server the upgrade came through, its IdleTimeout or else its
	// ReadTimeout, and [DefaultIdleTimeout] where both are zero or the
	// request carries no http.Server: an idle connection costs a file
	// descriptor and memory, and a client that never closes one would
	// hold them forever. A negative IdleTimeout turns the timeout off.
	IdleTimeout time.Duration

	// TrustedProxies lists the peer addresses allowed to forward h2c
	// upgrades. A request that shows it came through a proxy (Via,
	// Forwarded, X-Forwarded-*) from any other peer is not upgraded. See
	// the package documentation on h2c smuggling.
	TrustedProxies []netip.Prefix
}

// DefaultIdleTimeout is the idle timeout of upgraded connections when
// neither Options.IdleTimeout nor the http.Server sets one.
const DefaultIdleTimeout = 2 * time.Minute

// New returns the h2c protocol; register it with reg.Register("h2c", p).
// One value may be registered with several registries and negotiators:
// each connection is shut down on its own, by the negotiator that switched
// it. opts may be nil; a negative MaxBodyBytes or a TrustedProxies prefix
// that is not valid is an error.
func New(opts *Options) (negotiate.Protocol, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBodyBytes < 0 {
		return negotiate.Protocol{}, errors.New("h2c: negative MaxBodyBytes")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return negotiate.Protocol{}, fmt.Errorf("h2c: invalid trusted proxy prefix %v", p)
		}
	}
	// The list checked is the list used: a caller may reuse its slice.
	o.TrustedProxies = slices.Clone(o.TrustedProxies)
	e := &engine{opts: o}
	e.serveFunc = e.serve
	return negotiate.Protocol{Check: e.check, Accept: e.accept, TakesBody: true}, nil
}

type engine struct {
	opts      Options
	serveFunc func(*negotiate.Conn) error // e.serve, made once
	servers   sync.Pool                   // of *connServer not shut down, for the next connection
}

// connServer is the HTTP/2 server of one connection at a time (see serve).
type connServer struct {
	base *http.Server
	//lint:ignore SA1019 the HTTP/2 server ServeConn belongs to
	h2 *http2.Server
}

// server returns a connServer from the pool, or a new one.
func (e *engine) server() (*connServer, error) {
	if s, ok := e.servers.Get().(*connServer); ok {
		return s, nil
	}
	//lint:ignore SA1019 the HTTP/2 server ServeConn belongs to; net/http's own cannot serve a connection that switched by Upgrade
	s := &connServer{base: &http.Server{HTTP2: e.opts.HTTP2}, h2: new(http2.Server)}
	//lint:ignore SA1019 ConfigureServer is the only way to reach one connection's graceful shutdown (base.Shutdown) on Go 1.26 and 1.27
	if err := http2.ConfigureServer(s.base, s.h2); err != nil {
		return nil, err
	}
	return s, nil
}

// accept reads the upgrade request's body, once the gate has let the
// request through (so that a connection sending a body counts against the
// limits and is refused while draining), and adds nothing to the 101:
// h2c's switch is the Upgrade field alone.
func (e *engine) accept(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
	if err := e.readBody(s.Request); err != nil {
		return nil, err
	}
	return e.serveFunc, nil
}

// check holds the prerequisites. Where they fail the offer is ignored and
// the request goes on as HTTP/1.1 (RFC 9110 §7.8), never refused. A
// declared body over the bound is too; the body itself is read by accept.
func (e *engine) check(r *http.Request) error {
	if r.TLS != nil {
		return fmt.Errorf("%w: h2c is for cleartext connections only", negotiate.ErrIgnore)
	}
	vals := r.Header["Http2-Settings"]
	if len(vals) != 1 {
		return fmt.Errorf("%w: want exactly one HTTP2-Settings field", negotiate.ErrIgnore)
	}
	if !negotiate.ContainsToken(r.Header["Connection"], "HTTP2-Settings") {
		return fmt.Errorf("%w: Connection does not list HTTP2-Settings", negotiate.ErrIgnore)
	}
	var buf [64]byte // settings are few: validate without allocating
	if _, err := decodeSettings(buf[:0], vals[0]); err != nil {
		return fmt.Errorf("%w: %v", negotiate.ErrIgnore, err)
	}
	if proxied(r) && !e.trusted(r.RemoteAddr) {
		return fmt.Errorf("%w: came through an untrusted proxy", negotiate.ErrIgnore)
	}
	if r.ContentLength > e.opts.MaxBodyBytes {
		return fmt.Errorf("%w: body over %d bytes is served as HTTP/1.1", negotiate.ErrIgnore, e.opts.MaxBodyBytes)
	}
	return nil
}

// readBody reads the upgrade request's body whole, under the bound and
// the negotiator's read deadline, into a buffer that grows as the bytes
// arrive (a declared length is a claim, not a reason to allocate), and
// leaves a replay of it in r.Body for stream 1.
func (e *engine) readBody(r *http.Request) error {
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return nil
	}
	max := e.opts.MaxBodyBytes
	var buf bytes.Buffer
	limit := max
	if limit < math.MaxInt64 {
		limit++ // a byte past the bound tells a body over it
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit))
	var tooLarge *http.MaxBytesError // an http.MaxBytesHandler's limit, in front
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return negotiate.Refusal(http.StatusRequestTimeout, "request body not received in time")
	case errors.As(err, &tooLarge):
		return negotiate.Refusal(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooLarge.Limit))
	case err != nil:
		return negotiate.Refusal(http.StatusBadRequest, "request body cut short: "+err.Error())
	case int64(buf.Len()) > max:
		return negotiate.Refusal(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", max))
	case r.ContentLength > 0 && int64(buf.Len()) != r.ContentLength:
		return negotiate.Refusal(http.StatusBadRequest, "request body cut short")
	}
	r.Body = &replay{bytes.NewReader(buf.Bytes())}
	return nil
}

// replay is the body read before the switch, for stream 1, which takes
// its bytes (see stream1): the upgrade request, which the Conn keeps for
// the connection's life, then no longer holds them. What stream 1 takes
// them from is the replay, not the request's Body field, which net/http
// may still read when the switch is not made (the serve func then runs
// beside it, on a dead connection).
type replay struct{ r *bytes.Reader }

func (b *replay) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (*replay) Close() error { return nil }

// handler is the handler of the connection's streams: Options.Handler, or
// the handler of the http.Server the request came through (as net/http
// serves it: DefaultServeMux for a nil Handler), or NotFound.
func (e *engine) handler(r *http.Request) http.Handler {
	if e.opts.Handler != nil {
		return e.opts.Handler
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv != nil {
		if srv.Handler != nil {
			return srv.Handler
		}
		return http.DefaultServeMux
	}
	return http.NotFoundHandler()
}

// serve runs HTTP/2 on the switched connection, stream 1 being the upgrade
// request.
//
// Each connection has an HTTP/2 server of its own, tied to a private
// http.Server whose Shutdown sends GOAWAY to that connection alone: x/net
// (Go 1.26) and net/http's HTTP/2 server, which x/net hands connections to
// on Go 1.27, have no other way to shut down one connection gracefully.
// The negotiator's shutdown reaches it through the connection's Context,
// so it touches only the connections of the negotiator shutting down, once
// each.
func (e *engine) serve(c *negotiate.Conn) error {
	if connhook.Unswitched(c) {
		// The switch was not made and the client has its refusal: stream
		// 1 must not run the request it refused (a POST's handler).
		return nil
	}
	stack.Grow16K()     // x/net's serve loop needs about 16 KB
	done := c.Context() // asked for first: the shutdown is ours to do
	r := c.Request()
	settings, err := decodeSettings(nil, r.Header["Http2-Settings"][0])
	if err != nil {
		return err // checked before the switch; cannot happen
	}
	srv, err := e.server()
	if err != nil {
		return err
	}
	// The idle timeout is read when the connection starts serving and
	// whenever its last stream ends; srv serves this connection alone.
	//lint:ignore SA1019 the one idle timeout both x/net's server (Go 1.26) and net/http's (Go 1.27, through x/net) read for a ServeConn connection
	srv.h2.IdleTimeout = e.idleTimeout(r)
	// The streams are held to the limits of the server the upgrade came
	// through, as its prior-knowledge connections are (and as x/net's
	// h2c.NewHandler held them): its MaxHeaderBytes, and its ReadTimeout
	// and WriteTimeout for each stream. What the connection's HTTP/2
	// server logs goes where net/http's own HTTP/2 connections log: that
	// server's ErrorLog (nil: the standard logger).
	outer, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	srv.base.ErrorLog, srv.base.MaxHeaderBytes, srv.base.ReadTimeout, srv.base.WriteTimeout = nil, 0, 0, 0
	if outer != nil {
		srv.base.ErrorLog, srv.base.MaxHeaderBytes = outer.ErrorLog, outer.MaxHeaderBytes
		srv.base.ReadTimeout, srv.base.WriteTimeout = outer.ReadTimeout, outer.WriteTimeout
	}
	h := &streams{h: e.handler(r), srv: outer}
	hc := &serverConn{Conn: c, serving: make(chan struct{})}
	ended, fired := make(chan struct{}), make(chan struct{})
	var shutDown atomic.Bool
	stop := afterFunc(done, func() {
		defer close(fired)
		// The HTTP/2 server registers the connection for shutdown before
		// it first reads or writes it; a shutdown that came earlier waits
		// for that, or it would find nothing to send GOAWAY to.
		select {
		case <-hc.serving:
			shutDown.Store(true)
			_ = srv.base.Shutdown(context.Background()) // GOAWAY; no connection of base's own to wait for
		case <-ended:
		}
	})
	// Streams outlive a shutdown's first step: they drain after GOAWAY,
	// so their context keeps the request's values but not its end.
	ctx := context.WithoutCancel(r.Context())
	// The body's replay is stream 1's now: the upgrade request, which the
	// Conn keeps for the connection's life, lets it go, or every idle
	// connection would hold up to MaxBodyBytes.
	up := stream1(r, ctx)
	//lint:ignore SA1019 ServeConn with UpgradeRequest is the only way to serve a connection that switched by Upgrade; net/http has none
	srv.h2.ServeConn(hc, &http2.ServeConnOpts{
		Context:        ctx,
		BaseConfig:     baseConfig(srv.base),
		Handler:        h,
		UpgradeRequest: up,
		Settings:       settings,
	})
	close(ended)
	if !stop() {
		<-fired // the shutdown func has run: it cannot reach the next connection
	}
	// A server that was shut down may not be reused, nor one whose
	// handlers still run: what they log (a panic) goes to its ErrorLog,
	// which the next connection would set to its own server's.
	if !shutDown.Load() && h.running.Load() == 0 {
		e.servers.Put(srv)
	}
	return nil
}

// streams serves a connection's streams with h, their context carrying,
// under http.ServerContextKey, the http.Server srv the upgrade came
// through (if any), as the streams of its prior-knowledge connections do:
// the HTTP/2 server puts there the connection's private server, which a
// handler has no use for. It counts the handlers running.
type streams struct {
	h       http.Handler
	srv     *http.Server
	running atomic.Int32
}

func (s *streams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.running.Add(1)
	if s.srv != nil && r.Context().Value(http.ServerContextKey) != s.srv { // stream 1 has it already
		r = r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, s.srv))
	}
	s.h.ServeHTTP(w, r)
	// Not deferred: a handler that panics keeps the connection's server
	// out of the pool, for the HTTP/2 server to log the panic to its own.
	s.running.Add(-1)
}

// idleTimeout is the idle timeout of a connection upgraded by r (see
// Options.IdleTimeout); 0 means none.
func (e *engine) idleTimeout(r *http.Request) time.Duration {
	switch d := e.opts.IdleTimeout; {
	case d < 0:
		return 0
	case d > 0:
		return d
	}
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv != nil {
		if srv.IdleTimeout > 0 {
			return srv.IdleTimeout
		}
		if srv.ReadTimeout > 0 {
			return srv.ReadTimeout
		}
	}
	return DefaultIdleTimeout
}

// afterFunc is context.AfterFunc, through the context's own AfterFunc
// method where it has one (a negotiate.Conn's context does, for the cost
// of one small object).
func afterFunc(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(interface{ AfterFunc(func()) func() bool }); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(ctx, f)
}

// serverConn is the switched connection as the HTTP/2 server sees it.
// Its first read or write marks that the server has registered it for
// shutdown; its Close only half-closes, leaving the close to the
// negotiator, which drains what the client still sends (a last WINDOW_UPDATE
// or GOAWAY) so that the server's last frames are not destroyed by a reset.
type serverConn struct {
	*negotiate.Conn
	started atomic.Bool
	serving chan struct{}
}

func (c *serverConn) Read(p []byte) (int, error) {
	c.start()
	return c.Conn.Read(p)
}

func (c *serverConn) Write(p []byte) (int, error) {
	c.start()
	return c.Conn.Write(p)
}

func (c *serverConn) start() {
	if !c.started.Load() && c.started.CompareAndSwap(false, true) {
		close(c.serving)
	}
}

func (c *serverConn) Close() error {
	if c.Conn.CloseWrite() == nil {
		return nil
	}
	return c.Conn.Close()
}

// stream1 turns the upgrade request into the HTTP/2 request it becomes
// (RFC 7540 §3.2): HTTP/2.0, hop-by-hop fields removed, body replayed. Go
// 1.27 does part of this itself; Go 1.26's x/net passes it on as given.
//
// The upgrade request itself ([negotiate.Conn.Request]) is left as it came.
// Stream 1 gets its own Request, URL and Header map; the header values are
// shared (net/http's reader caps each slice, so an Add reallocates) rather
// than cloned, which is what r.Clone would spend two more allocations on.
//
// Its URL is the one the server received (RequestURI), as every later
// stream's is: stream 1 goes through the server's whole handler chain
// again, and a middleware in front of the negotiator that rewrote r.URL
// (http.StripPrefix) would otherwise rewrite it twice. (A CONNECT's
// authority form is not a URL ParseRequestURI reads as net/http does: its
// URL is kept.) Stream 1 takes the body's replay from the upgrade request,
// which keeps none of it.
func stream1(r *http.Request, ctx context.Context) *http.Request {
	up := r.WithContext(ctx)
	var u *url.URL
	if r.Method != http.MethodConnect {
		u, _ = url.ParseRequestURI(r.RequestURI) // nil on an error
	}
	if u == nil && r.URL != nil {
		c := *r.URL
		u = &c
	}
	up.URL = u
	up.Header = make(http.Header, len(r.Header))
	for k, v := range r.Header {
		switch k {
		case "Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te":
			continue
		}
		up.Header[k] = v
	}
	// The fields Connection names are hop-by-hop too (RFC 9110 §7.6.1):
	// they applied to the HTTP/1.1 hop alone. The options every upgrade
	// names are gone already, so that they cost no canonical key.
	conn := httpsyntax.List{Lines: r.Header["Connection"]}
	for opt, ok := conn.Next(); ok; opt, ok = conn.Next() {
		switch {
		case strings.EqualFold(opt, "upgrade"), strings.EqualFold(opt, "http2-settings"),
			strings.EqualFold(opt, "keep-alive"), strings.EqualFold(opt, "close"), strings.EqualFold(opt, "te"):
		default:
			delete(up.Header, http.CanonicalHeaderKey(opt))
		}
	}
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	up.TransferEncoding = nil
	up.Close = false
	if b, ok := r.Body.(*replay); ok && b.r != nil {
		up.Body, up.ContentLength = &replay{b.r}, int64(b.r.Len())
		b.r = nil
	} else {
		up.Body, up.ContentLength = http.NoBody, 0
	}
	return up
}

// decodeSettings decodes an HTTP2-Settings value (RFC 7540 §3.2.1):
// base64url without padding, whole 6-byte settings, valid values. It
// appends to dst, through a small copy of each piece of v so that neither
// allocates when dst has room.
func decodeSettings(dst []byte, v string) ([]byte, error) {
	v = strings.TrimSpace(v)
	if strings.ContainsAny(v, "\r\n") {
		// Not base64url; the decoder would skip them, and a piece that
		// they shorten would be decoded out of step with the next.
		return nil, errors.New("HTTP2-Settings is not base64url without padding")
	}
	// The value is a SETTINGS frame's payload, which cannot exceed the
	// initial SETTINGS_MAX_FRAME_SIZE, 2^14 (RFC 7540 §3.2.1, §4.2).
	if base64.RawURLEncoding.DecodedLen(len(v)) > 1<<14 {
		return nil, errors.New("HTTP2-Settings longer than a SETTINGS frame")
	}
	var chunk [64]byte // 16 whole base64 quanta
	b := dst
	for len(v) > 0 {
		k := copy(chunk[:], v)
		var err error
		if b, err = base64.RawURLEncoding.AppendDecode(b, chunk[:k]); err != nil {
			return nil, errors.New("HTTP2-Settings is not base64url without padding")
		}
		v = v[k:]
	}
	b = b[len(dst):]
	if len(b)%6 != 0 {
		return nil, errors.New("HTTP2-Settings length is not a multiple of 6")
	}
	for i := 0; i < len(b); i += 6 {
		s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(b[i:])), Val: binary.BigEndian.Uint32(b[i+2:])}
		// The server's own rule (ENABLE_PUSH and ENABLE_CONNECT_PROTOCOL
		// 0 or 1, the window and frame size in range): a value it would
		// answer with GOAWAY after the 101 is one to ignore before it.
		if err := s.Valid(); err != nil {
			return nil, fmt.Errorf("HTTP2-Settings: %v %d: %v", s.ID, s.Val, err)
		}
	}
	return b, nil
}

// proxied reports whether the request shows it came through a proxy.
func proxied(r *http.Request) bool {
	if len(r.Header["Via"]) > 0 || len(r.Header["Forwarded"]) > 0 {
		return true
	}
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Forwarded-") {
			return true
		}
	}
	return false
}

func (e *engine) trusted(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	for _, p := range e.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ConfigureServer sets srv up to serve HTTP/2 with prior knowledge (a
// connection that opens with the "PRI *" preface) besides HTTP/1.1 and,
// over TLS, HTTP/2: net/http serves those with srv.Handler, the same
// handler whose negotiator serves h2c upgrades, and srv.Shutdown sends them
// GOAWAY. Protocols srv already has are kept, in a copy of its own, so
// that a value shared with another server is not changed. It panics on a
// nil srv.
func ConfigureServer(srv *http.Server) {
	if srv == nil {
		panic("h2c: ConfigureServer(nil)")
	}
	p := new(http.Protocols)
	if srv.Protocols != nil {
		*p = *srv.Protocols
	} else {
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
}
