// Package xconnect is the client side of an HTTP/2 extended CONNECT
// (RFC 8441): it opens a stream that runs a protocol, over TLS (h2) or
// cleartext HTTP/2 with prior knowledge (h2c), with golang.org/x/net's
// HTTP/2 Transport. net/http's own Transport refuses the :protocol
// pseudo-header as a field name before its HTTP/2 code sees it.
//
// It also lets gorilla/websocket's Dialer run over such a stream
// ([Client.WebSocketDialer]), so that a WebSocket over HTTP/2 is driven with
// the same client API as one over HTTP/1.1. It serves the project's tests
// and the inspector.
package xconnect

//lint:file-ignore SA1019 x/net's deprecated http2.Transport is the Go client that can send :protocol: net/http's Transport refuses the field name in Go 1.26

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// Client opens extended CONNECT streams. Streams to one host share one
// HTTP/2 connection, as a browser's do.
type Client struct {
	h2, h2c *http2.Transport
	// HandshakeTimeout bounds the wait for the response head. Default 10s.
	HandshakeTimeout time.Duration
	// Wrap, if set before the first Dial, wraps each connection the client
	// dials (after TLS, for https) as the HTTP/2 client reads and writes
	// it: the inspector reads the frames through it.
	Wrap func(net.Conn) net.Conn
}

// New returns a Client; tlsConfig (nil for an empty one) is used for
// https URLs.
func New(tlsConfig *tls.Config) *Client {
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	c := &Client{}
	// No transparent gzip: a stream's bytes are the protocol's, and an
	// Accept-Encoding the caller did not ask for is not sent.
	c.h2 = &http2.Transport{TLSClientConfig: tlsConfig, DisableCompression: true, DialTLSContext: c.dialTLS}
	c.h2c = &http2.Transport{AllowHTTP: true, DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return c.wrap(nc), nil
		}}
	return c
}

// dialTLS dials as x/net's Transport does (cfg names the host and offers
// h2 by ALPN) and wants h2 chosen.
func (c *Client) dialTLS(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
	nc, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if p := nc.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		nc.Close()
		return nil, fmt.Errorf("xconnect: the server chose %q by ALPN, not h2: no HTTP/2 over TLS", p)
	}
	return c.wrap(nc), nil
}

func (c *Client) wrap(nc net.Conn) net.Conn {
	if c.Wrap != nil {
		return c.Wrap(nc)
	}
	return nc
}

// RoundTrip sends an ordinary request over the client's HTTP/2
// connections: https over TLS, http over h2c with prior knowledge.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		return c.h2c.RoundTrip(req)
	}
	return c.h2.RoundTrip(req)
}

// CloseIdleConnections closes the client's connections that carry no
// stream.
func (c *Client) CloseIdleConnections() {
	c.h2.CloseIdleConnections()
	c.h2c.CloseIdleConnections()
}

// ErrNotAdvertised is wrapped by Dial's error when the server's SETTINGS
// do not include SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: it does not accept
// extended CONNECT, and nothing was sent. Go's servers advertise it only
// when started with GODEBUG=http2xconnect=1 (Go 1.26 and 1.27).
var ErrNotAdvertised = errors.New("xconnect: the server does not advertise extended CONNECT (RFC 8441)")

// Dial sends an extended CONNECT for protocol to rawURL (https: over TLS;
// http: h2c with prior knowledge), with header's fields (a Host field
// becomes :authority). On a 2xx it returns the stream; otherwise the
// response, whose body holds the refusal's reason, and an error. The
// response is returned in both cases. ctx and HandshakeTimeout bound the
// exchange up to the response head (and a refusal's body); ctx's values
// (an httptrace.ClientTrace) reach the request.
func (c *Client) Dial(ctx context.Context, rawURL, protocol string, header http.Header) (*Stream, *http.Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	t := c.h2
	switch u.Scheme {
	case "https", "wss":
		u.Scheme = "https"
	case "http", "ws":
		u.Scheme, t = "http", c.h2c
	default:
		return nil, nil, fmt.Errorf("xconnect: unsupported scheme %q", u.Scheme)
	}
	// The stream outlives the dial's ctx: it has a context of its own
	// (with ctx's values, not its end), ended by Close; ctx and the
	// handshake timeout bound the head (and a refusal's body) only.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(sctx, http.MethodConnect, u.String(), pr)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	}
	req.Header[":protocol"] = []string{protocol}
	timeout := c.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	stop := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(timeout, cancel)
	resp, err := t.RoundTrip(req)
	// A refusal's body is bounded by ctx and the timeout too.
	defer stop()
	defer timer.Stop()
	if err == nil && resp.StatusCode/100 == 2 && (!timer.Stop() || !stop()) {
		// The head came as the time ran out: the stream is cancelled.
		resp.Body.Close()
		err = context.Cause(sctx)
	}
	if err != nil {
		cancel()
		pw.Close()
		// x/net's text, and net/http's in Go 1.27, which x/net wraps there.
		switch msg := err.Error(); {
		case strings.Contains(msg, "extended connect not supported by peer"):
			err = fmt.Errorf("%w: %v", ErrNotAdvertised, err)
		case strings.Contains(msg, `invalid header field name ":protocol"`):
			// Go 1.27: x/net's Transport wraps net/http's, which refuses
			// the field; x/net's own HTTP/2 client sends it.
			err = fmt.Errorf("xconnect: this build's HTTP/2 client cannot send :protocol (Go 1.27 without -tags http2legacy): %w", err)
		}
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		pw.Close()
		resp.Body = io.NopCloser(bytesReader(body))
		return nil, resp, fmt.Errorf("xconnect: %s refused: %s: %s", protocol, resp.Status, body)
	}
	return &Stream{body: resp.Body, pw: pw, cancel: cancel, local: &net.TCPAddr{}, remote: &net.TCPAddr{}}, resp, nil
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Stream is an extended CONNECT stream as a net.Conn: reads come from the
// response body, writes go out as the request body. Read deadlines end the
// stream's reads for good once they pass; write deadlines are ignored.
type Stream struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	local  net.Addr
	remote net.Addr

	mu       sync.Mutex
	timer    *time.Timer
	timedOut atomic.Bool
}

func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil && s.timedOut.Load() {
		err = os.ErrDeadlineExceeded
	}
	return n, err
}

func (s *Stream) Write(p []byte) (int, error) { return s.pw.Write(p) }

// CloseWrite ends the request body: the server reads the end of the
// stream.
func (s *Stream) CloseWrite() error { return s.pw.Close() }

// Close resets the stream.
func (s *Stream) Close() error {
	s.pw.CloseWithError(net.ErrClosed)
	s.cancel()
	return s.body.Close()
}

func (s *Stream) LocalAddr() net.Addr  { return s.local }
func (s *Stream) RemoteAddr() net.Addr { return s.remote }

func (s *Stream) SetDeadline(t time.Time) error { return s.SetReadDeadline(t) }

func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), func() {
			s.timedOut.Store(true)
			s.body.Close()
		})
	}
	return nil
}

func (s *Stream) SetWriteDeadline(time.Time) error { return nil }

var errNotRequest = errors.New("xconnect: gorilla's first write was not a whole request head")
