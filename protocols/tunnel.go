package protocols

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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

	// Dial opens the connection to the backend. Default: a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// TLSConfig is used for an https backend. Default: an empty config.
	TLSConfig *tls.Config

	// HandshakeTimeout bounds the exchange with the backend, from dialing
	// to its response head; past it the client gets 504. Default 10s.
	HandshakeTimeout time.Duration

	// MaxRefusalBytes bounds the body of a backend's refusal relayed to
	// the client; a longer one is answered with 502. Default 1 MiB.
	MaxRefusalBytes int64

	// Logger receives the causes of 502 and 504 answers (Info), which the
	// client is not told. Nil means silent.
	Logger *slog.Logger
}

// Tunnel forwards upgrades to one backend. Make it with [NewTunnel]; it is
// safe for concurrent use.
type Tunnel struct {
	backend *url.URL
	addr    string // host:port to dial
	opts    TunnelOptions
	proto   negotiate.Protocol
}

// NewTunnel returns a tunnel to backend, an http or https URL whose path,
// if any, prefixes the request's path. opts nil means the defaults.
func NewTunnel(backend string, opts *TunnelOptions) (*Tunnel, error) {
	u, err := url.Parse(backend)
	if err != nil {
		return nil, fmt.Errorf("protocols: tunnel backend: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("protocols: tunnel backend %q: want http(s)://host[:port][/path]", backend)
	}
	t := &Tunnel{backend: u}
	if opts != nil {
		t.opts = *opts
	}
	if t.opts.HandshakeTimeout < 0 || t.opts.MaxRefusalBytes < 0 {
		return nil, errors.New("protocols: negative HandshakeTimeout or MaxRefusalBytes")
	}
	if t.opts.HandshakeTimeout == 0 {
		t.opts.HandshakeTimeout = 10 * time.Second
	}
	if t.opts.MaxRefusalBytes == 0 {
		t.opts.MaxRefusalBytes = 1 << 20
	}
	if t.opts.Dial == nil {
		t.opts.Dial = (&net.Dialer{}).DialContext
	}
	t.addr = u.Host
	if u.Port() == "" {
		t.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	t.proto = negotiate.Protocol{Check: t.check, Handshake: t.handshake}
	return t, nil
}

// Protocol returns the tunnel as a protocol, to register under the tokens
// it forwards: reg.Register("websocket", t.Protocol()). The backend is
// offered exactly the token the negotiator chose.
func (t *Tunnel) Protocol() negotiate.Protocol { return t.proto }

// Middleware returns middleware that tunnels an upgrade of any token
// through n; what the client offers decides. A request that is not an
// upgrade, or that is not tunnelled (it offers h2c, say), goes to the next
// handler without its Upgrade field and "upgrade" Connection option, so a
// reverse proxy behind it cannot forward the offer itself.
func (t *Tunnel) Middleware(n *negotiate.Negotiator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !negotiate.IsUpgrade(r) {
				next.ServeHTTP(w, withoutUpgrade(r))
				return
			}
			// A registry of what this request offers: the negotiator
			// still parses, selects, gates, tracks and refuses.
			reg := new(negotiate.Registry)
			if offers, err := negotiate.Offers(r); err == nil {
				for _, o := range offers {
					_ = reg.Register(o, t.proto) // a repeated offer is registered once
				}
			}
			if !n.Upgrade(w, r, reg, next) {
				next.ServeHTTP(w, withoutUpgrade(r))
			}
		})
	}
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

// check ignores every request that offers h2c, unless allowed: the token
// the negotiator would choose is not known here, and a client that offers
// h2c is served well enough by HTTP/1.1.
func (t *Tunnel) check(r *http.Request) error {
	if t.opts.AllowH2C {
		return nil
	}
	offers, _ := negotiate.Offers(r)
	for _, o := range offers {
		if name, _, _ := strings.Cut(o, "/"); strings.EqualFold(name, "h2c") {
			return negotiate.ErrIgnore
		}
	}
	return nil
}

// handshake offers the chosen token to the backend before the client is
// switched: a failure is the client's 502 or 504, a refusal is relayed, and
// only a 101 naming the token switches the client, with the backend's own
// 101 head.
func (t *Tunnel) handshake(w http.ResponseWriter, r *http.Request) error {
	token := negotiate.Chosen(w)
	if token == "" {
		return errors.New("protocols: the tunnel's Handshake runs only under a negotiator")
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.opts.HandshakeTimeout)
	defer cancel()
	bc, br, resp, err := t.exchange(ctx, r, token)
	if err != nil {
		negotiate.Refuse(w, r, t.gatewayError(ctx, r, err))
		return nil
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer bc.Close()
		t.relayRefusal(w, r, resp)
		return nil
	}
	if err := validSwitch(resp, token); err != nil {
		bc.Close()
		t.log(r, "backend switched badly", err)
		negotiate.Refuse(w, r, negotiate.Refusal(http.StatusBadGateway, "bad gateway: "+err.Error()))
		return nil
	}
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		bc.Close()
		return err
	}
	c, ok := nc.(*negotiate.Conn)
	if !ok {
		bc.Close()
		return errors.New("protocols: the negotiator's Hijack did not return a *negotiate.Conn")
	}
	// The backend's 101, written past the counts: they are the payload's.
	// Hijack set the write deadline to the negotiator's handshake timeout.
	if _, err := c.NetConn().Write(switchHead(resp, token, w.Header())); err != nil {
		bc.Close()
		return err
	}
	_ = c.NetConn().SetWriteDeadline(time.Time{})
	return join(c, bc, br)
}

// exchange dials the backend, sends the upgrade request for token and reads
// the backend's response head (after any 1xx other than 101). On success
// the caller owns the connection; br holds the bytes that followed the head.
func (t *Tunnel) exchange(ctx context.Context, r *http.Request, token string) (net.Conn, *bufio.Reader, *http.Response, error) {
	bc, err := t.opts.Dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, nil, nil, err
	}
	if t.backend.Scheme == "https" {
		cfg := t.opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = new(tls.Config)
		}
		if cfg.ServerName == "" {
			cfg.ServerName = t.backend.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(bc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			bc.Close()
			return nil, nil, nil, err
		}
		bc = tc
	}
	if d, ok := ctx.Deadline(); ok {
		_ = bc.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = bc.SetDeadline(time.Unix(1, 0)) })
	req := &http.Request{Method: r.Method, Header: make(http.Header)}
	resp, br, err := func() (*http.Response, *bufio.Reader, error) {
		if _, err := bc.Write(t.requestHead(r, token)); err != nil {
			return nil, nil, err
		}
		br := bufio.NewReader(bc)
		for {
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				return nil, nil, err
			}
			if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
				return resp, br, nil
			}
		}
	}()
	if !stop() || err != nil {
		bc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, nil, nil, err
	}
	_ = bc.SetDeadline(time.Time{})
	return bc, br, resp, nil
}

// hopByHop are the fields that belong to one connection, never forwarded
// as they are (RFC 9110 §7.6.1).
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// requestHead is the upgrade request the backend gets: r's method, the
// backend's path prefix joined with r's path and query, r's Host, its
// end-to-end fields, the forwarding fields and an offer of token alone.
func (t *Tunnel) requestHead(r *http.Request, token string) []byte {
	h := r.Header.Clone()
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				h.Del(f)
			}
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
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
	h.Set("Upgrade", token)
	h.Set("Connection", "Upgrade")
	if name, _, _ := strings.Cut(token, "/"); strings.EqualFold(name, "h2c") {
		if s, ok := r.Header["Http2-Settings"]; ok {
			h["Http2-Settings"] = s
			h.Set("Connection", "Upgrade, HTTP2-Settings")
		}
	}

	target := joinPath(t.backend.EscapedPath(), r.URL.EscapedPath())
	if q := joinQuery(t.backend.RawQuery, r.URL.RawQuery); q != "" {
		target += "?" + q
	}
	var b bytes.Buffer
	b.WriteString(r.Method + " " + target + " HTTP/1.1\r\nHost: " + oneLine(r.Host) + "\r\n")
	_ = h.Write(&b) // Header.Write replaces CR and LF in values
	b.WriteString("\r\n")
	return b.Bytes()
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

func joinQuery(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "&" + b
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// validSwitch checks the backend's 101: it names the offered token and
// Connection lists upgrade.
func validSwitch(resp *http.Response, token string) error {
	up := resp.Header.Values("Upgrade")
	if len(up) != 1 || !strings.EqualFold(strings.TrimSpace(up[0]), token) {
		return fmt.Errorf("the backend switched to %q, not to the offered %q", strings.Join(up, ", "), token)
	}
	if !negotiate.ContainsToken(resp.Header["Connection"], "upgrade") {
		return errors.New("the backend's 101 lacks Connection: upgrade")
	}
	return nil
}

// switchHead is the client's 101: the backend's end-to-end fields, the
// fields the negotiator's Authorize set in extra, and the switch itself.
func switchHead(resp *http.Response, token string, extra http.Header) []byte {
	h := resp.Header.Clone()
	for _, k := range hopByHop {
		h.Del(k)
	}
	h.Del("Content-Length")
	for k, vs := range extra {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Upgrade", "Content-Length", "Transfer-Encoding", "Content-Type", "X-Content-Type-Options":
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + token + "\r\nConnection: Upgrade\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// relayRefusal answers the client with the backend's refusal as it came:
// status, fields and body. It is the backend's answer, so it does not go
// through the negotiator's responder, nor count as its refusal.
func (t *Tunnel) relayRefusal(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.opts.MaxRefusalBytes+1))
	resp.Body.Close()
	if err != nil || int64(len(body)) > t.opts.MaxRefusalBytes {
		if err == nil {
			err = fmt.Errorf("refusal body over %d bytes", t.opts.MaxRefusalBytes)
		}
		t.log(r, "backend refusal not relayed", err)
		negotiate.Refuse(w, r, negotiate.Refusal(http.StatusBadGateway, "bad gateway: the backend's refusal could not be relayed"))
		return
	}
	h := w.Header()
	clear(h)
	for k, vs := range resp.Header {
		h[k] = vs
	}
	for _, k := range hopByHop {
		if k != "Upgrade" { // a 426 names what the backend would switch to
			h.Del(k)
		}
	}
	// Close after the answer, as every refusal does; a 426 also lists
	// Upgrade as its own line (net/http closes only on a first "close").
	h["Connection"] = []string{"close"}
	if _, ok := h["Upgrade"]; ok {
		h["Connection"] = append(h["Connection"], "Upgrade")
	}
	if r.Method != http.MethodHead {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// gatewayError is the client's answer when the backend could not be asked:
// 504 when it did not answer in time, 502 otherwise. The cause is logged,
// not told.
func (t *Tunnel) gatewayError(ctx context.Context, r *http.Request, err error) *negotiate.Error {
	t.log(r, "backend handshake failed", err)
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &negotiate.Error{Status: http.StatusGatewayTimeout, Reason: "gateway timeout: the backend did not answer the upgrade in time", Err: err}
	}
	reason := "bad gateway: the backend could not be reached"
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		reason = "bad gateway: the backend closed the connection without answering"
	} else if _, ok := errors.AsType[*net.OpError](err); !ok {
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
