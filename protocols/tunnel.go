package protocols

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
	"github.com/switchyard-http/switchyard/internal/regname"
	"github.com/switchyard-http/switchyard/internal/upgrade"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TunnelOptions configures a [Tunnel]. The zero value is usable.
type TunnelOptions struct {
	// AllowH2C lets the tunnel forward requests that offer h2c. By default a
	// request that offers h2c is never tunnelled: its offers are ignored
	// and it goes on as ordinary HTTP/1.1. A proxy that relays an h2c
	// upgrade hands the client a raw HTTP/2 connection to the backend on
	// which every later request bypasses the proxy (h2c smuggling).
	AllowH2C bool

	// TrustForwarded keeps the X-Forwarded-For, X-Forwarded-Host,
	// X-Forwarded-Proto and Forwarded fields the client sent, appending the
	// client's address to X-Forwarded-For. By default they are replaced by
	// the tunnel's own, as httputil.ProxyRequest.SetXForwarded does: a
	// client could forge them.
	TrustForwarded bool

	// Dialer makes the exchange with the backend: its NetDial opens the
	// connection, its TLSConfig is used for an https backend, its
	// HandshakeTimeout bounds the exchange from dialing to the backend's
	// response head (past it the client gets 504) and then the body of a
	// refusal (past it the refusal is relayed with the part of its body
	// that arrived), its MaxRefusalBytes bounds the body of a backend's
	// refusal relayed to the client, and
	// its MaxResponseHeaderBytes the backend's response heads (past it,
	// or past eight interim responses, the client gets 502 at once). Nil
	// means a zero Dialer, with the defaults its fields document. The
	// exchange is bounded by these alone, not by the request's context,
	// which net/http cancels when a client half-closes after its payload.
	Dialer *negotiate.Dialer

	// Logger receives the causes of 502 and 504 answers (Info), which the
	// client is not told. Nil means silent.
	Logger *slog.Logger
}

// Tunnel forwards upgrades to one backend. Make it with [NewTunnel]; it is
// safe for concurrent use. It runs on HTTP/1.1 connections only
// ([negotiate.Protocol].HTTP1Only): it passes a client's half-close on to
// the backend, which an HTTP/2 stream cannot carry, so an extended CONNECT
// to it is refused with 400 and a reason that says so.
type Tunnel struct {
	backend *url.URL
	client  upgrade.Client
	opts    TunnelOptions
	proto   negotiate.Protocol
}

// redactedBackend is s as given with the password of its user
// information, if any, replaced by xxxxx, as URL.Redacted does, whether
// or not s parses and also in an opaque form (http:user:pass@host), where
// URL.Redacted sees no user. A password with an unescaped '/', '?' or '#'
// ends the authority early (url.Parse then takes its start for a port):
// where the authority has no '@', everything from its first ':' to the
// last '@' after it is replaced, so that such a password is hidden too
// (more than the password, maybe, which an error can afford). wide
// reports that case.
func redactedBackend(s string) (redacted string, wide bool) {
	i := 0
	if j := strings.Index(s, "//"); j >= 0 && !strings.ContainsAny(s[:j], "/?#@") {
		i = j + len("//") // the authority, after the scheme if any
	}
	end := len(s)
	if j := strings.IndexAny(s[i:], "/?#"); j >= 0 {
		end = i + j
	}
	at := strings.LastIndexByte(s[i:end], '@')
	if at < 0 {
		// No user in the authority, or a password that ended it early.
		if at = strings.LastIndexByte(s[i:], '@'); at < 0 {
			return s, false
		}
		wide = true
	}
	colon := strings.IndexByte(s[i:i+at], ':')
	if colon < 0 {
		return s, false // a user without a password
	}
	return s[:i+colon+1] + "xxxxx" + s[i+at:], wide
}

// NewTunnel returns a tunnel to backend, an http or https URL whose path,
// if any, prefixes the request's path. opts nil means the defaults.
// A backend with user information, a query, a fragment or a port outside
// 1-65535 is an error, and so is a negative HandshakeTimeout,
// MaxRefusalBytes or MaxResponseHeaderBytes in opts.Dialer (where
// [negotiate.Dialer.Dial] itself takes them for the defaults).
func NewTunnel(backend string, opts *TunnelOptions) (*Tunnel, error) {
	u, err := url.Parse(backend)
	if err != nil {
		// url.Parse's error quotes the URL as given, password and all.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			var wide bool
			ue.URL, wide = redactedBackend(backend)
			if wide {
				// Its reason quotes the password's start as a port.
				ue.Err = errors.New("a password in the user information must escape '/', '?' and '#'")
			}
		}
		return nil, fmt.Errorf("protocols: tunnel backend: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		shown, _ := redactedBackend(backend)
		return nil, fmt.Errorf("protocols: tunnel backend %q: want http(s)://host[:port][/path]", shown)
	}
	if p := u.Port(); p != "" {
		// url.Parse takes any digits; no connection has port 0 or 99999.
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			shown, _ := redactedBackend(backend)
			return nil, fmt.Errorf("protocols: tunnel backend %q: port %s is not 1-65535", shown, p)
		}
	}
	t := &Tunnel{backend: u}
	if opts != nil {
		t.opts = *opts
	}
	var d negotiate.Dialer
	if t.opts.Dialer != nil {
		d = *t.opts.Dialer
	}
	if d.HandshakeTimeout < 0 || d.MaxRefusalBytes < 0 || d.MaxResponseHeaderBytes < 0 {
		return nil, errors.New("protocols: tunnel: negative Dialer.HandshakeTimeout, MaxRefusalBytes or MaxResponseHeaderBytes")
	}
	t.client = upgrade.Client{NetDial: d.NetDial, TLSConfig: d.TLSConfig, Timeout: d.HandshakeTimeout,
		MaxRefusalBytes: d.MaxRefusalBytes, MaxResponseHeaderBytes: d.MaxResponseHeaderBytes}
	// A tunnel passes the client's half-close on to the backend, which an
	// HTTP/2 stream cannot carry while the protocol runs.
	t.proto = negotiate.Protocol{Check: t.check, Accept: t.accept, HTTP1Only: true}
	return t, nil
}

// Protocol returns the tunnel as a protocol, to register under the tokens
// it forwards: reg.Register("websocket", t.Protocol()). The backend is
// offered exactly the token the negotiator chose. Its Check refuses with
// 431 an Upgrade field of more than 64 offers, 64 lines or 4096 bytes.
// It panics on a Tunnel not made by NewTunnel.
func (t *Tunnel) Protocol() negotiate.Protocol {
	t.mustBeMade("Protocol")
	return t.proto
}

// mustBeMade panics on a Tunnel NewTunnel did not make, at the mount
// rather than inside a request.
func (t *Tunnel) mustBeMade(method string) {
	if t == nil || t.proto.Accept == nil {
		panic("protocols: Tunnel." + method + " on a Tunnel not made by NewTunnel")
	}
}

// TunnelName is the protocol name the connections and refusals of a
// Tunnel's Middleware are counted, limited and reported under
// (negotiate.ConnInfo.Name and RefusalInfo.Name, the keys of
// negotiate.Stats and Options.ProtocolMaxConns, the metrics' token label),
// whatever token the client offered: the token is the client's to choose,
// and a name made from it would let clients add names, counters and metric
// series without end. ConnInfo.Token still holds the token as offered.
const TunnelName = "tunnel"

// Middleware returns middleware that tunnels an upgrade of any token
// through n; what the client offers decides: its first offer is the one
// tunnelled, reported under [TunnelName]. A request that is not an
// upgrade, or that is not tunnelled (it offers h2c, say), goes to the next
// handler without its Upgrade field and "upgrade" Connection option, so a
// reverse proxy behind it cannot forward the offer itself. It panics on a
// nil n, as the middleware does on a nil handler.
func (t *Tunnel) Middleware(n *negotiate.Negotiator) func(http.Handler) http.Handler {
	t.mustBeMade("Middleware")
	if n == nil {
		panic("protocols: Tunnel.Middleware(nil): no Negotiator")
	}
	return func(next http.Handler) http.Handler {
		if next == nil {
			panic("protocols: Tunnel.Middleware around a nil http.Handler")
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !negotiate.IsUpgrade(r) {
				next.ServeHTTP(w, withoutUpgrade(r))
				return
			}
			if hasBody(r) && errors.Is(t.check(r), negotiate.ErrIgnore) {
				// An offer the tunnel ignores (h2c) on a request with a
				// body, as curl --http2 sends a POST: the negotiator
				// would refuse the body (413) before it asked the check.
				// Ignored, it goes on as plain HTTP/1.1, as without one.
				next.ServeHTTP(w, withoutUpgrade(r))
				return
			}
			// A registry of the client's first offer: the tunnel's check
			// passes every offer or none, so in the client's order the
			// first is the one chosen, and the negotiator still parses,
			// validates, selects, gates, tracks and refuses. Registering
			// every offer cost the square of their number.
			reg := new(negotiate.Registry)
			l := httpsyntax.List{Lines: r.Header["Upgrade"]}
			if r.ProtoMajor != 1 {
				// An extended CONNECT: refused, with the reason.
				l.Lines = r.Header[":protocol"]
			}
			if first, ok := l.Next(); ok && upgrade.ValidOffer(first) {
				regname.Register(reg, first, TunnelName, t.proto)
			}
			if !n.Upgrade(w, r, reg) {
				next.ServeHTTP(w, withoutUpgrade(r))
			}
		})
	}
}

// hasBody reports whether r has a body, as the negotiator judges it.
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0
}

// withoutUpgrade returns r, or a shallow copy without its upgrade offer.
func withoutUpgrade(r *http.Request) *http.Request {
	if _, ok := r.Header["Upgrade"]; !ok {
		return r
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.Header = r.Header.Clone()
	r2.Header.Del("Upgrade")
	var keep []string
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "upgrade") {
				keep = append(keep, f)
			}
		}
	}
	r2.Header.Del("Connection")
	if len(keep) > 0 {
		r2.Header.Set("Connection", strings.Join(keep, ", "))
	}
	return r2
}

// Bounds of the Upgrade field a tunnel considers: no client has reason to
// offer more than a few protocols.
const (
	maxOffers       = 64
	maxUpgradeBytes = 4096
)

var errTooManyOffers = &negotiate.Error{Status: http.StatusRequestHeaderFieldsTooLarge,
	Reason: fmt.Sprintf("request header fields too large: the tunnel considers at most %d offered protocols in at most %d bytes of Upgrade field", maxOffers, maxUpgradeBytes)}

// check refuses an Upgrade field over the tunnel's bounds (431), and
// ignores every request that offers h2c, unless allowed: the token the
// negotiator would choose is not known here, and a client that offers h2c
// is served well enough by HTTP/1.1. The negotiator calls check once for
// each offer of a token the tunnel is registered under, so its cost must
// not grow with the field: the bounds are checked first on the lines'
// lengths, then at most maxUpgradeBytes are read.
func (t *Tunnel) check(r *http.Request) error {
	lines := r.Header["Upgrade"]
	if len(lines) > maxOffers {
		return errTooManyOffers
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	if size > maxUpgradeBytes {
		return errTooManyOffers
	}
	h2c := false
	l := httpsyntax.List{Lines: lines}
	for n := 1; ; n++ {
		o, ok := l.Next()
		if !ok {
			break
		}
		if n > maxOffers {
			return errTooManyOffers
		}
		if name, _, _ := strings.Cut(o, "/"); strings.EqualFold(name, "h2c") {
			h2c = true
		}
	}
	if h2c && !t.opts.AllowH2C {
		return negotiate.ErrIgnore
	}
	return nil
}

// accept offers the chosen token to the backend, on the request's
// goroutine, before the client is switched: a failure is the client's 502
// or 504, a refusal is relayed, and only a valid 101 switches the client,
// with the backend's own 101 fields. The connection is then joined to the
// backend's on the negotiator's goroutine.
func (t *Tunnel) accept(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
	r := s.Request
	req := t.request(r, s.Token)
	// Not under the request's context: net/http cancels it when it reads
	// the client's FIN, and a client may send its payload and half-close
	// before the backend has answered. The Dialer's HandshakeTimeout
	// bounds the exchange instead.
	res, err := t.client.Do(context.WithoutCancel(r.Context()), req)
	if err != nil {
		return nil, t.gatewayError(r, res, err)
	}
	resp := res.Response
	if res.Conn == nil {
		if code := resp.StatusCode; code < 100 || code > 599 {
			// Not a status (RFC 9110 §15): nothing to relay.
			err := fmt.Errorf("invalid status %d", code)
			t.log(r, "backend handshake failed", err)
			return nil, &negotiate.Error{Status: http.StatusBadGateway, Err: err,
				Reason: fmt.Sprintf("bad gateway: the backend answered with an invalid status %d", code)}
		}
		return nil, refusal(resp, res.Body)
	}
	for k, vs := range endToEnd(resp.Header) {
		for _, v := range vs {
			s.Header.Add(k, v)
		}
	}
	backend := res.Conn // its first reads return what the backend sent behind its 101
	return func(c *negotiate.Conn) error { return Join(c, backend) }, nil
}

// hopByHop are the fields that belong to one connection, never forwarded
// as they are (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// endToEnd returns a copy of h without its hop-by-hop fields, those named
// by its Connection field included.
func endToEnd(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		return make(http.Header)
	}
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out.Del(f)
			}
		}
	}
	for _, k := range hopByHop {
		out.Del(k)
	}
	return out
}

// request is the upgrade request the backend gets: r's method, the
// backend's path prefix joined with r's path and query, r's Host, its
// end-to-end fields, the forwarding fields and an offer of token alone.
func (t *Tunnel) request(r *http.Request, token string) *upgrade.Request {
	h := endToEnd(r.Header)
	h.Del("Expect") // the request has no body; the negotiator answered any 100-continue
	h.Del("Content-Length")
	h.Del("Host")
	clientIP, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		clientIP = r.RemoteAddr
	}
	if !t.opts.TrustForwarded {
		h.Del("Forwarded")
		h.Del("X-Forwarded-For")
		h.Del("X-Forwarded-Host")
		h.Del("X-Forwarded-Proto")
	}
	if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
		clientIP = strings.Join(prior, ", ") + ", " + clientIP
	}
	h.Set("X-Forwarded-For", clientIP)
	if h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", r.Host)
	}
	if h.Get("X-Forwarded-Proto") == "" {
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		h.Set("X-Forwarded-Proto", proto)
	}
	req := &upgrade.Request{Method: r.Method, Host: r.Host, Header: h, Offer: []string{token}}
	if name, _, _ := strings.Cut(token, "/"); strings.EqualFold(name, "h2c") {
		if s, ok := r.Header["Http2-Settings"]; ok {
			h["Http2-Settings"] = s
			req.Connection = []string{"HTTP2-Settings"}
		}
	}
	u := *t.backend
	u.RawPath = joinPath(t.backend.EscapedPath(), r.URL.EscapedPath())
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	}
	u.RawQuery = r.URL.RawQuery
	req.URL = &u
	return req
}

func joinPath(base, p string) string {
	if p == "" {
		p = "/"
	}
	switch a, b := strings.HasSuffix(base, "/"), strings.HasPrefix(p, "/"); {
	case a && b:
		return base + p[1:]
	case !a && !b:
		return base + "/" + p
	}
	return base + p
}

// refusal is the client's answer to a backend that did not switch: the
// backend's status, its end-to-end fields (a 426 keeps Upgrade, naming what
// the backend would switch to) and its body as the reason, which the
// negotiator's responder writes as one line of text. The fields that
// describe the backend's body (Content-*) are left out: the body is now the
// responder's.
func refusal(resp *http.Response, body []byte) *negotiate.Error {
	h := endToEnd(resp.Header)
	for k := range h {
		if len(k) >= len("Content-") && strings.EqualFold(k[:len("Content-")], "Content-") {
			delete(h, k)
		}
	}
	if resp.StatusCode == http.StatusUpgradeRequired {
		if up := resp.Header["Upgrade"]; len(up) > 0 {
			h["Upgrade"] = up
			h["Connection"] = []string{"Upgrade"}
		}
	}
	return &negotiate.Error{Status: resp.StatusCode, Reason: strings.TrimRight(string(body), "\r\n"), Header: h}
}

// gatewayError is the client's answer when the backend could not be asked
// or switched badly: 504 when it did not answer in time, 502 otherwise.
// The reason says which; the cause is logged, not told.
func (t *Tunnel) gatewayError(r *http.Request, res *upgrade.Result, err error) *negotiate.Error {
	t.log(r, "backend handshake failed", err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &negotiate.Error{Status: http.StatusGatewayTimeout, Reason: "gateway timeout: the backend did not answer the upgrade in time", Err: err}
	}
	var reason string
	switch {
	case errors.Is(err, upgrade.ErrBadSwitch):
		reason = "bad gateway: the backend sent an " + err.Error()
	case errors.Is(err, upgrade.ErrHeadTooLarge):
		max := t.client.MaxResponseHeaderBytes
		if max == 0 {
			max = upgrade.DefaultMaxResponseHeaderBytes
		}
		reason = fmt.Sprintf("bad gateway: the backend's response heads are over %d bytes", max)
	case errors.Is(err, upgrade.ErrTooManyInterim):
		reason = fmt.Sprintf("bad gateway: the backend sent more than %d interim (1xx) responses", upgrade.MaxInterim)
	case res == nil:
		reason = "bad gateway: the backend could not be reached"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		reason = "bad gateway: the backend closed the connection without answering"
	default:
		reason = "bad gateway: the backend's answer was not valid HTTP/1.1"
	}
	return &negotiate.Error{Status: http.StatusBadGateway, Reason: reason, Err: err}
}

func (t *Tunnel) log(r *http.Request, msg string, err error) {
	if l := t.opts.Logger; l != nil {
		l.Info("protocols: tunnel: "+msg, "backend", t.backend.Redacted(), "remote", r.RemoteAddr,
			"path", r.URL.Path, "upgrade", r.Header.Get("Upgrade"), "err", err)
	}
}
