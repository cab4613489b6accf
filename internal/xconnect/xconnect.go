// Package xconnect is the client side of an HTTP/2 extended CONNECT
// (RFC 8441): it opens a stream that runs a protocol, over TLS (h2) or
// cleartext HTTP/2 with prior knowledge (h2c). It is a small HTTP/2 client
// of its own, on golang.org/x/net's framer and HPACK: net/http's Transport
// refuses the :protocol pseudo-header as a field name before its HTTP/2
// code sees it, and from Go 1.27 on x/net's Transport is net/http's.
//
// It also lets gorilla/websocket's Dialer run over such a stream
// ([Client.WebSocketDialer]), so that a WebSocket over HTTP/2 is driven with
// the same client API as one over HTTP/1.1. It serves the project's tests
// and the inspector.
package xconnect

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"
)

// Client opens extended CONNECT streams. Streams to one host share one
// HTTP/2 connection, as a browser's do.
type Client struct {
	// HandshakeTimeout bounds the wait for the response head (and a
	// refusal's body). Default 10s.
	HandshakeTimeout time.Duration
	// Wrap, if set before the first Dial, wraps each connection the client
	// dials (after TLS, for https) as the HTTP/2 client reads and writes
	// it: the inspector reads the frames through it.
	Wrap func(net.Conn) net.Conn

	tlsConfig *tls.Config
	mu        sync.Mutex
	conns     map[string]*clientConn
}

// New returns a Client; tlsConfig (nil for an empty one) is used for
// https URLs.
func New(tlsConfig *tls.Config) *Client {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	return &Client{tlsConfig: tlsConfig}
}

func (c *Client) wrap(nc net.Conn) net.Conn {
	if c.Wrap != nil {
		return c.Wrap(nc)
	}
	return nc
}

// CloseIdleConnections closes the client's connections that carry no
// stream.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	var idle []*clientConn
	for k, cc := range c.conns {
		if cc.idle() {
			idle = append(idle, cc)
			delete(c.conns, k)
		}
	}
	c.mu.Unlock()
	for _, cc := range idle {
		cc.nc.Close()
	}
}

// ErrNotAdvertised is wrapped by Dial's error when the server's SETTINGS
// do not include SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: it does not accept
// extended CONNECT, and nothing was sent. Go's servers advertise it only
// when started with GODEBUG=http2xconnect=1 (Go 1.26 and 1.27).
var ErrNotAdvertised = errors.New("xconnect: the server does not advertise extended CONNECT (RFC 8441)")

// target splits a URL into the scheme the client speaks (https: TLS,
// http: h2c), the host:port it dials, and the request's path.
func target(rawURL string) (scheme, host, path string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", "", err
	}
	port := "443"
	switch u.Scheme {
	case "https", "wss":
		scheme = "https"
	case "http", "ws":
		scheme, port = "http", "80"
	default:
		return "", "", "", fmt.Errorf("xconnect: unsupported scheme %q", u.Scheme)
	}
	host = u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), port)
	}
	return scheme, host, u.RequestURI(), nil
}

// timeout bounds ctx by the handshake timeout.
func (c *Client) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	d := c.HandshakeTimeout
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// Dial sends an extended CONNECT for protocol to rawURL (https: over TLS;
// http: h2c with prior knowledge), with header's fields (a Host field
// becomes :authority). On a 2xx it returns the stream; otherwise the
// response, whose body holds the refusal's reason, and an error. The
// response is returned in both cases. ctx and HandshakeTimeout bound the
// exchange up to the response head (and a refusal's body); an
// httptrace.ClientTrace in ctx sees each field written (WroteHeaderField).
// The response heads are read under the bounds of the module's HTTP/1.1
// client: 64 KiB together, interim ones included (by
// SETTINGS_MAX_HEADER_LIST_SIZE's measure, which the client advertises),
// and at most upgrade.MaxInterim interim (1xx) heads; past either, Dial
// fails at once with an error wrapping upgrade.ErrHeadTooLarge or
// upgrade.ErrTooManyInterim, in the HTTP/1.1 client's words.
func (c *Client) Dial(ctx context.Context, rawURL, protocol string, header http.Header) (*Stream, *http.Response, error) {
	scheme, host, path, err := target(rawURL)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	cc, err := c.conn(ctx, scheme, host)
	if err != nil {
		return nil, nil, err
	}
	if err := cc.waitSettings(ctx); err != nil {
		return nil, nil, err
	}
	cc.mu.Lock()
	ok := cc.xconnect
	cc.mu.Unlock()
	if !ok {
		return nil, nil, ErrNotAdvertised
	}
	h := header.Clone()
	authority := host
	if v := h.Get("Host"); v != "" {
		authority = v
		h.Del("Host")
	}
	s, err := cc.open(request{method: http.MethodConnect, scheme: scheme, authority: authority, path: path,
		protocol: protocol, header: h, trace: httptrace.ContextClientTrace(ctx)})
	if err != nil {
		return nil, nil, err
	}
	resp, err := s.response(ctx)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 == 2 {
		return s, resp, nil
	}
	body, err := readBody(ctx, s, 64<<10)
	s.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return nil, resp, fmt.Errorf("xconnect: %s refused: %s, and its body: %w", protocol, resp.Status, err)
	}
	return nil, resp, fmt.Errorf("xconnect: %s refused: %s: %s", protocol, resp.Status, body)
}

// readBody reads up to max bytes of a stream until its end or ctx's.
func readBody(ctx context.Context, s *Stream, max int64) ([]byte, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = s.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	return io.ReadAll(io.LimitReader(s, max))
}

// RoundTrip sends an ordinary request (its body, if any, whole) over the
// client's HTTP/2 connections: https over TLS, http over h2c with prior
// knowledge. The response's body is the stream; closing it early resets
// the stream.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	scheme, host, path, err := target(req.URL.String())
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.timeout(req.Context())
	defer cancel()
	cc, err := c.conn(ctx, scheme, host)
	if err != nil {
		return nil, err
	}
	if err := cc.waitSettings(ctx); err != nil {
		return nil, err
	}
	authority := host
	if req.Host != "" {
		authority = req.Host
	}
	var body []byte
	if req.Body != nil {
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
	}
	s, err := cc.open(request{method: req.Method, scheme: scheme, authority: authority, path: path,
		header: req.Header, endStream: len(body) == 0, trace: httptrace.ContextClientTrace(ctx)})
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		if _, err := s.Write(body); err != nil {
			s.Close()
			return nil, err
		}
		if err := s.CloseWrite(); err != nil {
			s.Close()
			return nil, err
		}
	}
	resp, err := s.response(ctx)
	if err != nil {
		return nil, err
	}
	resp.Request = req
	return resp, nil
}

var errNotRequest = errors.New("xconnect: gorilla's first write was not a whole request head")
