package h2c

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/stack"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Options configures the h2c protocol. The zero value is usable.
type Options struct {
	// Handler serves the HTTP/2 streams of upgraded connections. Nil means
	// the handler the [negotiate.Negotiator.Middleware] mount wraps, so
	// every HTTP/2 request goes through the same application chain; at an
	// Endpoint mount, nil means http.NotFoundHandler.
	Handler http.Handler

	// HTTP2 configures the HTTP/2 connections (stream limits, buffers,
	// timeouts). Nil means net/http's defaults.
	HTTP2 *http.HTTP2Config

	// MaxBodyBytes bounds the upgrade request's body, which is read whole
	// and replayed as stream 1's body. A declared length over it is not
	// upgraded (the request is served as HTTP/1.1, body intact); an
	// unknown length that passes it is refused with 413. Default 1 MiB.
	MaxBodyBytes int64

	// TrustedProxies lists the peer addresses allowed to forward h2c
	// upgrades. A request that shows it came through a proxy (Via,
	// Forwarded, X-Forwarded-*) from any other peer is not upgraded. See
	// the package documentation on h2c smuggling.
	TrustedProxies []netip.Prefix
}

// New returns the h2c protocol; register it with reg.Register("h2c", p).
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
	e := &engine{opts: o, base: &http.Server{HTTP2: o.HTTP2}, h2: new(http2.Server)}
	// ConfigureServer ties the HTTP/2 server to a private http.Server
	// whose Shutdown sends GOAWAY to every connection it serves, with
	// x/net's own implementation (Go 1.26) and with the one net/http
	// provides to x/net (Go 1.27).
	if err := http2.ConfigureServer(e.base, e.h2); err != nil {
		return negotiate.Protocol{}, fmt.Errorf("h2c: %w", err)
	}
	return negotiate.Protocol{Check: e.check, Serve: e.serve, Shutdown: e.shutdown, TakesBody: true}, nil
}

type engine struct {
	opts Options
	base *http.Server
	h2   *http2.Server
}

// check holds the prerequisites. Where they fail the offer is ignored and
// the request goes on as HTTP/1.1 (RFC 9110 §7.8), never refused; only a
// body that cannot be read whole is.
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
	return e.readBody(r)
}

// readBody reads the upgrade request's body whole, under the bound, and
// leaves a replay of it in r.Body for stream 1.
func (e *engine) readBody(r *http.Request) error {
	max := e.opts.MaxBodyBytes
	var buf []byte
	switch {
	case r.ContentLength == 0 && len(r.TransferEncoding) == 0:
		return nil
	case r.ContentLength > max:
		return fmt.Errorf("%w: body over %d bytes is served as HTTP/1.1", negotiate.ErrIgnore, max)
	case r.ContentLength > 0:
		buf = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return negotiate.Refusal(http.StatusBadRequest, "request body cut short: "+err.Error())
		}
	default: // unknown length
		var err error
		buf, err = io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			return negotiate.Refusal(http.StatusBadRequest, "request body cut short: "+err.Error())
		}
		if int64(len(buf)) > max {
			return negotiate.Refusal(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", max))
		}
	}
	r.Body = replay{bytes.NewReader(buf)}
	return nil
}

// replay is the body read before the switch, for stream 1.
type replay struct{ *bytes.Reader }

func (replay) Close() error { return nil }

// serve runs HTTP/2 on the switched connection, stream 1 being the upgrade
// request.
func (e *engine) serve(c *negotiate.Conn) error {
	stack.Grow16K() // x/net's serve loop needs about 16 KB
	r := c.Request()
	settings, err := decodeSettings(nil, r.Header["Http2-Settings"][0])
	if err != nil {
		return err // checked before the switch; cannot happen
	}
	h := e.opts.Handler
	if h == nil {
		h = c.Next()
	}
	if h == nil {
		h = http.NotFoundHandler()
	}
	// Streams outlive a shutdown's first step: they drain after GOAWAY,
	// so their context keeps the request's values but not its end.
	ctx := context.WithoutCancel(r.Context())
	e.h2.ServeConn(c, &http2.ServeConnOpts{
		Context:        ctx,
		BaseConfig:     e.baseConfig(),
		Handler:        h,
		UpgradeRequest: stream1(r, ctx),
		Settings:       settings,
	})
	return nil
}

// shutdown is the protocol's close at the negotiator's shutdown: it starts
// the graceful shutdown of every upgraded connection (GOAWAY, then each
// closes when its streams are done); x/net has no way to reach just one.
func (e *engine) shutdown(*negotiate.Conn) {
	_ = e.base.Shutdown(context.Background())
}

// stream1 turns the upgrade request into the HTTP/2 request it becomes
// (RFC 7540 §3.2): HTTP/2.0, hop-by-hop fields removed, body replayed. Go
// 1.27 does part of this itself; Go 1.26's x/net passes it on as given.
//
// The upgrade request itself ([negotiate.Conn.Request]) is left as it came.
// Stream 1 gets its own Request, URL and Header map; the header values are
// shared (net/http's reader caps each slice, so an Add reallocates) rather
// than cloned, which is what r.Clone would spend two more allocations on.
func stream1(r *http.Request, ctx context.Context) *http.Request {
	up := r.WithContext(ctx)
	if r.URL != nil {
		u := *r.URL
		up.URL = &u
	}
	up.Header = make(http.Header, len(r.Header))
	for k, v := range r.Header {
		switch k {
		case "Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te":
			continue
		}
		up.Header[k] = v
	}
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	up.TransferEncoding = nil
	up.Close = false
	if b, ok := r.Body.(replay); ok {
		up.Body, up.ContentLength = b, int64(b.Len())
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
		id, val := binary.BigEndian.Uint16(b[i:]), binary.BigEndian.Uint32(b[i+2:])
		switch http2.SettingID(id) {
		case http2.SettingEnablePush:
			if val > 1 {
				return nil, errors.New("HTTP2-Settings: ENABLE_PUSH must be 0 or 1")
			}
		case http2.SettingInitialWindowSize:
			if val > 1<<31-1 {
				return nil, errors.New("HTTP2-Settings: INITIAL_WINDOW_SIZE over 2^31-1")
			}
		case http2.SettingMaxFrameSize:
			if val < 1<<14 || val > 1<<24-1 {
				return nil, errors.New("HTTP2-Settings: MAX_FRAME_SIZE out of range")
			}
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
// GOAWAY.
func ConfigureServer(srv *http.Server) {
	p := srv.Protocols
	if p == nil {
		p = new(http.Protocols)
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = p
}
