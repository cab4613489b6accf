// Package upgrade is the client side of an HTTP/1.1 upgrade, written once
// for everything in the module that offers one: negotiate.Dialer, the
// tunnel in package protocols, and the switchyard inspector. It dials
// (TCP, or TLS offering only http/1.1), sends one upgrade request, reads
// the response head after any interim 1xx, and judges a 101 by one rule
// ([CheckSwitch]). It reads what the server sends under bounds, so that a
// hostile or broken server costs it little: the response heads together
// (interim 1xx heads included) up to Client.MaxResponseHeaderBytes, at
// most [MaxInterim] interim responses, a refusal's body up to
// Client.MaxRefusalBytes, all within Client.Timeout.
package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-http/switchyard/internal/httpsyntax"
)

// Defaults of a zero [Client].
const (
	DefaultTimeout         = 10 * time.Second
	DefaultMaxRefusalBytes = 64 << 10
	// DefaultMaxResponseHeaderBytes bounds the response heads: ample for
	// any 101 or refusal (net/http's server allows 1 MiB for a request's
	// head, its Transport 10 MB for a response's, both for every kind of
	// response), small enough that a server sending an endless head costs
	// little.
	DefaultMaxResponseHeaderBytes = 64 << 10
)

// MaxInterim is how many interim (1xx) responses may come before the
// final one: a 100 Continue and a few 103 Early Hints are all a server has
// reason to send.
const MaxInterim = 8

// headSlack is what the head reader may read beyond a head: its buffer.
const headSlack = 4096

// errTimeout is the cause of the end of an exchange's context when
// Client.Timeout passes, which tells it from the caller's own end.
var errTimeout = errors.New("upgrade: the exchange's timeout passed")

// Client sends upgrade requests. The zero value is usable.
type Client struct {
	// NetDial opens the TCP connection. Default: a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig is used for https and wss URLs; its NextProtos are
	// replaced by http/1.1. Default: an empty config.
	TLSConfig *tls.Config
	// Timeout bounds the exchange, from dialing to the final response
	// head, and then a refusal's body: past it before the final head, the
	// exchange fails; past it while a refusal's body is read, the body ends
	// there, and the refusal is the answer, with the part of its body that
	// arrived. Default DefaultTimeout.
	Timeout time.Duration
	// MaxRefusalBytes bounds the body of a refusal that is kept. Default
	// DefaultMaxRefusalBytes.
	MaxRefusalBytes int64
	// MaxResponseHeaderBytes bounds the response heads together, the
	// interim heads and the final one: past it the exchange fails with
	// ErrHeadTooLarge without reading further. Default
	// DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64
	// Wrap, if set, wraps the connection once it is open (and after TLS),
	// before anything is written: the inspector times reads through it.
	Wrap func(net.Conn) net.Conn
}

// Request is one upgrade request.
type Request struct {
	URL    *url.URL // http, https, ws or wss
	Method string   // default GET
	// Host is the request's Host field. Default: the Host field of
	// Header, as gorilla's Dialer takes it, else URL's host ([URLHost]:
	// an IPv6 zone is not sent). The connection goes to URL's address
	// whatever it is, and TLS checks URL's host ([ServerName]) unless the
	// TLSConfig names a server.
	Host string
	// Header is sent as given, but for Host (see Host), and Connection and
	// Upgrade, which are set from Offer. A user and password in URL are
	// sent as Basic authorization unless Header has an Authorization
	// field, as net/http's client sends them.
	Header http.Header
	Offer  []string // tokens in order of preference, at least one
	// Connection lists options besides "Upgrade" (h2c's HTTP2-Settings).
	Connection []string
}

// Result is what came back.
type Result struct {
	// Conn is the switched connection after a valid 101: its first reads
	// return the bytes that arrived behind the 101. It is nil otherwise,
	// and the connection has been closed.
	Conn net.Conn
	// Response is the final response head, nil if none was read. A
	// refusal's Body reads Result.Body.
	Response *http.Response
	// RequestHead is the request head as it was sent.
	RequestHead []byte
	// ResponseHeads are the response heads as they arrived, interim ones
	// included.
	ResponseHeads []byte
	// Body is a refusal's body, up to MaxRefusalBytes, or what of it
	// arrived within Timeout.
	Body []byte
	// Connected is when the connection (and TLS) was up; HeadDone when the
	// final head had arrived.
	Connected, HeadDone time.Time
}

// ErrBadSwitch is wrapped by the error for a 101 that is not valid.
var ErrBadSwitch = errors.New("invalid 101 response")

// ErrHeadTooLarge is wrapped by the error for response heads over
// Client.MaxResponseHeaderBytes, and ErrTooManyInterim by the error for
// more than [MaxInterim] interim responses. Their texts name the server as
// the subject: "the server's response heads are over 65536 bytes".
var (
	ErrHeadTooLarge   = errors.New("response heads are over the limit")
	ErrTooManyInterim = errors.New("too many interim responses")
)

// boundError says which bound a server passed, with its value, and wraps
// the sentinel of that bound.
type boundError struct {
	msg string
	err error
}

func (e *boundError) Error() string { return e.msg }
func (e *boundError) Unwrap() error { return e.err }

// HeadTooLarge returns the error for response heads over max bytes, which
// wraps [ErrHeadTooLarge]: the HTTP/2 client of the module (over
// SETTINGS_MAX_HEADER_LIST_SIZE's measure) says it in the same words.
func HeadTooLarge(max int64) error {
	return &boundError{fmt.Sprintf("the server's response heads are over %d bytes", max), ErrHeadTooLarge}
}

// TooManyInterim returns the error for more than [MaxInterim] interim
// responses, which wraps [ErrTooManyInterim].
func TooManyInterim() error {
	return &boundError{fmt.Sprintf("the server sent more than %d interim (1xx) responses", MaxInterim), ErrTooManyInterim}
}

// Addr returns the host:port to dial for u and whether it is secure
// (https, wss). A missing port is the scheme's default. A host name that
// is not ASCII is an error: an internationalized name goes in its A-label
// form (xn--…), which the Host field, TLS's server name (RFC 6066 §3) and
// the resolver take; net/http's client makes it with IDNA, which the
// standard library alone does not offer.
func Addr(u *url.URL) (addr string, secure bool, err error) {
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		secure = true
	default:
		return "", false, fmt.Errorf("unsupported scheme %q: want http, https, ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return "", false, fmt.Errorf("URL %q has no host", u.Redacted())
	}
	for _, b := range []byte(ServerName(u)) {
		if b >= 0x80 {
			return "", false, fmt.Errorf("host %q is not ASCII: give an internationalized name in its A-label form (xn--…), as IDNA makes it", ServerName(u))
		}
	}
	addr = u.Host
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	return addr, secure, nil
}

// Head returns the request head of req: its Host line first, on one line.
func Head(req *Request) []byte {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	host := req.Host
	if host == "" {
		host = req.Header.Get("Host")
	}
	if host == "" {
		host = URLHost(req.URL)
	}
	target := req.URL.RequestURI()
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + oneLine(host) + "\r\n")
	h := req.Header.Clone()
	if h == nil {
		h = make(http.Header)
	}
	h.Del("Host")
	if auth, ok := BasicAuth(req.URL); ok && h.Get("Authorization") == "" {
		h.Set("Authorization", auth)
	}
	h.Set("Upgrade", strings.Join(req.Offer, ", "))
	h.Set("Connection", strings.Join(append([]string{"Upgrade"}, req.Connection...), ", "))
	_ = h.Write(&b) // Header.Write replaces CR and LF in values
	b.WriteString("\r\n")
	return b.Bytes()
}

// URLHost returns u's host[:port] as a request carries it (Host,
// :authority): an IPv6 literal keeps its brackets and loses its zone, which
// means something on this host alone (RFC 6874 §4: a client removes it from
// what it sends; the Host field's syntax has no room for it), as net/http's
// client drops it.
func URLHost(u *url.URL) string {
	h := u.Host
	if !strings.HasPrefix(h, "[") {
		return h
	}
	end := strings.LastIndex(h, "]")
	if zone := strings.LastIndex(h[:max(end, 0)], "%"); zone >= 0 {
		return h[:zone] + h[end:]
	}
	return h
}

// ServerName returns the name TLS checks the certificate against for u:
// its host, an IPv6 literal without its zone (x509 matches an address
// without one; crypto/tls sends no server name for an address, RFC 6066
// §3).
func ServerName(u *url.URL) string {
	h := u.Hostname()
	if i := strings.LastIndex(h, "%"); i >= 0 && strings.Contains(h, ":") {
		return h[:i]
	}
	return h
}

// BasicAuth returns the Authorization value for the user and password in
// u, as net/http's client makes it, and whether u names a user.
func BasicAuth(u *url.URL) (string, bool) {
	if u.User == nil {
		return "", false
	}
	pass, _ := u.User.Password()
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)), true
}

func oneLine(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }

// Do dials req.URL and makes the exchange. A refusal (a final status other
// than 101) is not an error: Result.Response and Body say what it was, its
// status as the server sent it, which may be outside 100-599 (only 100 to
// 199 are interim): the caller judges it. A
// 101 that [CheckSwitch] rejects is an error wrapping [ErrBadSwitch], with
// the Response in the Result. If ctx ends before the exchange is over, Do
// fails with ctx's error and closes the connection, even when the response
// had arrived; once Do has returned, the end of ctx does not touch the
// connection. Client.Timeout is not ctx's end: once a refusal's head has
// arrived, its passing ends only the body (see Client.Timeout).
func (c *Client) Do(ctx context.Context, req *Request) (*Result, error) {
	if len(req.Offer) == 0 {
		return nil, errors.New("no protocol offered")
	}
	for _, tok := range req.Offer {
		if !ValidOffer(tok) {
			return nil, fmt.Errorf("%q is not a token or token/version", tok)
		}
	}
	addr, secure, err := Addr(req.URL)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	dial := c.NetDial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if secure {
		cfg := c.TLSConfig.Clone()
		if cfg == nil {
			cfg = new(tls.Config)
		}
		if cfg.ServerName == "" {
			cfg.ServerName = ServerName(req.URL)
		}
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	if c.Wrap != nil {
		nc = c.Wrap(nc)
	}
	res := &Result{RequestHead: Head(req), Connected: time.Now()}
	// Unblock the exchange when ctx ends. If ctx ended before stop, the
	// deadline in the past is set or about to be, even when the exchange
	// went through: wait for it and fail, rather than return a connection
	// whose reads all fail. Once stop has won, the end of ctx no longer
	// touches the connection.
	unblocked := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = nc.SetDeadline(time.Unix(1, 0))
		close(unblocked)
	})
	br, err := c.exchange(nc, req, res)
	if !stop() {
		<-unblocked
		if err == nil && context.Cause(ctx) == errTimeout && res.Response.StatusCode != http.StatusSwitchingProtocols {
			// The timeout, not the caller, ended a refusal's body: the
			// refusal is the answer, with what of its body arrived.
			nc.Close()
			return res, nil
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		} else {
			// The deadline set above ended the exchange: its "i/o
			// timeout" is not the cause, and would make a caller's
			// cancellation a timeout (a net.Error whose Timeout is true).
			err = ctx.Err()
		}
	}
	if err != nil || res.Response.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return res, err
	}
	_ = nc.SetDeadline(time.Time{})
	conn := &Conn{Conn: nc}
	if k := br.Buffered(); k > 0 {
		p, _ := br.Peek(k)
		conn.early = bytes.Clone(p)
	}
	res.Conn = conn
	return res, nil
}

func (c *Client) exchange(nc net.Conn, req *Request, res *Result) (*bufio.Reader, error) {
	if _, err := nc.Write(res.RequestHead); err != nil {
		return nil, err
	}
	maxHead := c.MaxResponseHeaderBytes
	if maxHead <= 0 {
		maxHead = DefaultMaxResponseHeaderBytes
	}
	var heads bytes.Buffer
	// The tee stops reading a little past the bound (the reader's buffer
	// may hold what follows a head), so that an endless head is not read
	// into memory; the exact bound is checked on what the heads used.
	// (A bound within a buffer of the largest int64 is taken as that.)
	tee := &headTee{r: nc, w: &heads, on: true, limit: min(maxHead, math.MaxInt64-headSlack) + headSlack}
	br := bufio.NewReaderSize(tee, headSlack)
	hreq := &http.Request{Method: req.Method}
	if hreq.Method == "" {
		hreq.Method = http.MethodGet
	}
	for interim := 0; ; interim++ {
		if interim > MaxInterim {
			return nil, TooManyInterim()
		}
		resp, err := http.ReadResponse(br, hreq)
		// What the tee saw, less what the reader holds beyond the head.
		res.ResponseHeads = heads.Bytes()[:heads.Len()-br.Buffered()]
		if int64(len(res.ResponseHeads)) > maxHead || tee.over {
			return nil, HeadTooLarge(maxHead)
		}
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // interim: 100 Continue, 103 Early Hints
		}
		tee.on = false
		res.Response, res.HeadDone = resp, time.Now()
		if resp.StatusCode != http.StatusSwitchingProtocols {
			max := c.MaxRefusalBytes
			if max <= 0 {
				max = DefaultMaxRefusalBytes
			}
			res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, max))
			resp.Body.Close()
			// The response's body reads what was kept, as with
			// gorilla's Dialer.
			resp.Body = io.NopCloser(bytes.NewReader(res.Body))
			return br, nil
		}
		return br, CheckSwitch(resp, req.Offer)
	}
}

// headTee copies what it reads to w while on, and then reads no more than
// limit bytes in all.
type headTee struct {
	r     io.Reader
	w     *bytes.Buffer
	on    bool
	limit int64
	over  bool // the limit was reached
}

func (t *headTee) Read(p []byte) (int, error) {
	if !t.on {
		return t.r.Read(p)
	}
	room := t.limit - int64(t.w.Len())
	if room <= 0 {
		t.over = true
		return 0, ErrHeadTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

// CheckSwitch is the one rule for a valid 101: its Upgrade field (over all
// its lines) names exactly one protocol, one the client offered (compared
// case-insensitively), and its Connection field lists "upgrade". It returns
// the first of [SwitchProblems].
func CheckSwitch(resp *http.Response, offer []string) error {
	if p := SwitchProblems(resp, offer); len(p) > 0 {
		return p[0]
	}
	return nil
}

// SwitchProblems returns every way resp breaks [CheckSwitch]'s rule, each
// wrapping [ErrBadSwitch], and none for a valid 101: the inspector reports
// them all, where a client needs only the first.
func SwitchProblems(resp *http.Response, offer []string) []error {
	var problems []error
	var chosen []string
	l := httpsyntax.List{Lines: resp.Header["Upgrade"]}
	for t, ok := l.Next(); ok; t, ok = l.Next() {
		chosen = append(chosen, t)
	}
	if len(chosen) != 1 {
		problems = append(problems, fmt.Errorf("%w: Upgrade must name one protocol, got %q", ErrBadSwitch, strings.Join(resp.Header["Upgrade"], ", ")))
	} else if !offered(offer, chosen[0]) {
		problems = append(problems, fmt.Errorf("%w: Upgrade %q was not offered", ErrBadSwitch, chosen[0]))
	}
	if !HasToken(resp.Header["Connection"], "upgrade") {
		problems = append(problems, fmt.Errorf("%w: Connection does not list upgrade", ErrBadSwitch))
	}
	return problems
}

func offered(offer []string, tok string) bool {
	for _, o := range offer {
		if strings.EqualFold(o, tok) {
			return true
		}
	}
	return false
}

// HasToken reports whether the comma-separated lists in lines (a field's
// lines) hold tok, compared case-insensitively.
func HasToken(lines []string, tok string) bool {
	l := httpsyntax.List{Lines: lines}
	for t, ok := l.Next(); ok; t, ok = l.Next() {
		if strings.EqualFold(t, tok) {
			return true
		}
	}
	return false
}

// ValidOffer reports whether s is token or token/token: an element of an
// Upgrade list.
func ValidOffer(s string) bool {
	name, version, slash := strings.Cut(s, "/")
	return httpsyntax.IsToken(name) && (!slash || httpsyntax.IsToken(version))
}

// Conn is a switched client connection whose first reads return the bytes
// that arrived behind the 101.
type Conn struct {
	net.Conn
	mu     sync.Mutex
	early  []byte
	closed bool
}

func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		// The early bytes are not read after a Close either: the read
		// fails as the closed connection's does.
		c.early = nil
	}
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// Close closes the connection; reads fail from then on, the early bytes
// too.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the transport supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("connection does not support CloseWrite")
}

// NetConn returns the connection underneath.
func (c *Conn) NetConn() net.Conn { return c.Conn }
