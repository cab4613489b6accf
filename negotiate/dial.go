package negotiate

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Dialer sends upgrade requests: the client side of the negotiator. The
// zero value is usable.
type Dialer struct {
	// NetDial, if set, opens the connection. Default: a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for https and wss URLs. Default: an empty config.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds the whole exchange, from dialing to the 101.
	// Default 10s; ctx may end it earlier.
	HandshakeTimeout time.Duration
	// MaxRefusalBytes bounds the body of a refusal kept in the error.
	// Default 64 KiB.
	MaxRefusalBytes int64
}

// ErrBadSwitch is wrapped by the error [Dialer.Dial] returns for a 101 that
// is not valid: a token that was not offered, or no Connection: upgrade.
var ErrBadSwitch = errors.New("negotiate: invalid 101 response")

// Dial sends a GET upgrade request to rawURL (http, https, ws or wss)
// offering the tokens in offer, in order of preference, with the fields of
// header added. On a valid 101 it returns the connection, whose first reads
// return any bytes that arrived behind the 101, and the response (the chosen
// token is its Upgrade field). A refusal comes back as an [*Error] carrying
// the status, the header and the body (as Reason), with the response.
func (d *Dialer) Dial(ctx context.Context, rawURL string, offer []string, header http.Header) (net.Conn, *http.Response, error) {
	if len(offer) == 0 {
		return nil, nil, errors.New("negotiate: dial: no protocol offered")
	}
	for _, tok := range offer {
		if !validElement(tok, true) {
			return nil, nil, fmt.Errorf("negotiate: dial: %q is not a token or token/version", tok)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("negotiate: dial: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		secure = true
	default:
		return nil, nil, fmt.Errorf("negotiate: dial: unsupported scheme %q", u.Scheme)
	}
	timeout := d.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{false: "80", true: "443"}[secure])
	}
	dial := d.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if secure {
		cfg := d.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tc
	}
	// Unblock the exchange when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	conn, resp, err := d.exchange(nc, u, offer, header)
	if !stop() && err != nil && ctx.Err() != nil {
		err = fmt.Errorf("negotiate: dial: %w", ctx.Err())
	}
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	_ = nc.SetDeadline(time.Time{})
	return conn, resp, nil
}

func (d *Dialer) exchange(nc net.Conn, u *url.URL, offer []string, header http.Header) (net.Conn, *http.Response, error) {
	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: "http", Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(header)+2),
		Host:       u.Host,
	}
	for k, vs := range header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", strings.Join(offer, ", "))
	if err := req.Write(nc); err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(nc)
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return nil, nil, err
		}
		// Skip interim responses (100 Continue) until the final or the 101.
		if resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		break
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		max := d.MaxRefusalBytes
		if max <= 0 {
			max = 64 << 10
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, max))
		resp.Body.Close()
		return nil, resp, &Error{Status: resp.StatusCode, Reason: strings.TrimRight(string(body), "\r\n"), Header: resp.Header}
	}
	chosen := resp.Header.Get("Upgrade")
	offered := false
	for _, tok := range offer {
		if strings.EqualFold(tok, strings.TrimSpace(chosen)) {
			offered = true
		}
	}
	if !offered {
		return nil, resp, fmt.Errorf("%w: Upgrade %q was not offered", ErrBadSwitch, chosen)
	}
	if !ContainsToken(resp.Header["Connection"], "upgrade") {
		return nil, resp, fmt.Errorf("%w: Connection does not list upgrade", ErrBadSwitch)
	}
	c := &clientConn{Conn: nc}
	if k := br.Buffered(); k > 0 {
		p, _ := br.Peek(k)
		c.early = append([]byte(nil), p...)
	}
	return c, resp, nil
}

// Dial is [Dialer.Dial] with a zero Dialer.
func Dial(ctx context.Context, rawURL string, offer []string, header http.Header) (net.Conn, *http.Response, error) {
	var d Dialer
	return d.Dial(ctx, rawURL, offer, header)
}

// clientConn returns the bytes that arrived behind the 101 first.
type clientConn struct {
	net.Conn
	mu    sync.Mutex
	early []byte
}

func (c *clientConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection when the transport supports it.
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("negotiate: connection does not support CloseWrite")
}

// NetConn returns the connection underneath.
func (c *clientConn) NetConn() net.Conn { return c.Conn }
