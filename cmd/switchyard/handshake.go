package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard-http/switchyard/internal/upgrade"
)

// exchange is one upgrade request and its response, as they crossed the
// wire. The exchange itself (dialing, TLS, the heads, the rule for a valid
// 101) is internal/upgrade's, the same code negotiate.Dialer and the tunnel
// use, so that the inspector judges a server exactly as they do.
type exchange struct {
	offer  []string
	header http.Header // the fields sent besides Host, Upgrade and Connection
	wsKey  string      // Sec-WebSocket-Key sent, if any
	res    *upgrade.Result
	// badSwitch is set when the response is a 101 that upgrade.CheckSwitch
	// rejects; upgrade has then closed the connection.
	badSwitch bool
	// bound is set when the server went past a bound every client of the
	// module reads a response under (upgrade.ErrHeadTooLarge,
	// ErrTooManyInterim): a verdict, with the heads up to the bound.
	bound error

	// With -h2: "h2" or "h2c", how the extended CONNECT went, and the
	// outcome beyond the response (see h2.go).
	h2 string
	x  *h2Exchange

	start time.Time
	timed *timedConn
}

// handshake dials o.url, sends the upgrade request and reads the response
// head (and a refusal's body). Its error is a usage or network error; a
// refusal or an invalid 101 is not an error. After a valid 101 the caller
// owns e.res.Conn.
func handshake(ctx context.Context, o options) (*exchange, error) {
	if o.h2 {
		return handshakeH2(ctx, o)
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	e := &exchange{offer: o.offer, start: time.Now()}
	req, err := e.request(u, o.headers)
	if err != nil {
		return nil, err
	}
	c := upgrade.Client{
		TLSConfig: &tls.Config{InsecureSkipVerify: o.insecure},
		Timeout:   o.timeout,
		Wrap: func(nc net.Conn) net.Conn {
			e.timed = &timedConn{Conn: nc}
			return e.timed
		},
	}
	res, err := c.Do(ctx, req)
	if errors.Is(err, upgrade.ErrBadSwitch) {
		e.res, e.badSwitch = res, true
		return e, nil
	}
	if res != nil && pastBound(err) {
		e.res, e.bound = res, err
		return e, nil
	}
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("no answer within %v: %w", o.timeout, err)
		case res != nil && len(res.ResponseHeads) == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
			return nil, errors.New("the server closed the connection without answering")
		case res != nil && res.Response == nil && len(res.ResponseHeads) > 0:
			return nil, fmt.Errorf("not an HTTP/1.x response: %w", err)
		}
		return nil, err
	}
	e.res = res
	return e, nil
}

// request builds the upgrade request: the defaults for the offered
// protocols, then the user's fields, which replace defaults of their name.
// Upgrade is always the offer; a user's Connection field replaces the
// default options, and upgrade adds Upgrade to it.
func (e *exchange) request(u *url.URL, extra []string) (*upgrade.Request, error) {
	req := &upgrade.Request{URL: u, Offer: e.offer}
	if offered(e.offer, "h2c") {
		req.Connection = []string{"HTTP2-Settings"}
	}
	h, err := e.fields(extra, func(name, v string) error {
		switch strings.ToLower(name) {
		case "host":
			req.Host = v
		case "connection":
			for _, opt := range strings.Split(v, ",") {
				if opt = strings.TrimSpace(opt); opt != "" && !strings.EqualFold(opt, "upgrade") {
					req.Connection = append(req.Connection, opt)
				}
			}
		}
		return nil
	}, func() { req.Connection = nil })
	req.Header = h
	return req, err
}

// fields are the request's fields besides Upgrade: the defaults for the
// offered protocols, then the user's fields, which replace defaults of
// their name. Host and Connection go to special (with resetConnection
// called before the user's first Connection) instead of the fields.
func (e *exchange) fields(extra []string, special func(name, v string) error, resetConnection func()) (http.Header, error) {
	h := http.Header{"User-Agent": {"switchyard-inspector"}}
	if offered(e.offer, "h2c") && e.h2 == "" {
		h["HTTP2-Settings"] = []string{"AAMAAABk"} // SETTINGS_MAX_CONCURRENT_STREAMS = 100
	}
	if offered(e.offer, "websocket") {
		if e.h2 == "" { // RFC 8441 §5: no key over HTTP/2
			k := make([]byte, 16)
			_, _ = rand.Read(k)
			e.wsKey = base64.StdEncoding.EncodeToString(k)
			h["Sec-WebSocket-Key"] = []string{e.wsKey}
		}
		h["Sec-WebSocket-Version"] = []string{"13"}
	}
	userSet := make(map[string]bool)
	for _, line := range extra {
		name, v, _ := strings.Cut(line, ": ")
		switch lower := strings.ToLower(name); lower {
		case "upgrade":
			return nil, errors.New("-H Upgrade: the offer is set with -offer")
		case "host", "connection":
			if lower == "connection" && !userSet[lower] {
				resetConnection()
			}
			userSet[lower] = true
			if err := special(name, v); err != nil {
				return nil, err
			}
			continue
		case "sec-websocket-key":
			e.wsKey = v
		}
		if v == "" {
			// 'Name:' removes the field, as with curl.
			for k := range h {
				if strings.EqualFold(k, name) {
					delete(h, k)
				}
			}
			userSet[strings.ToLower(name)] = true
			continue
		}
		if !userSet[strings.ToLower(name)] {
			for k := range h {
				if strings.EqualFold(k, name) {
					delete(h, k)
				}
			}
			userSet[strings.ToLower(name)] = true
		}
		h[name] = append(h[name], v)
	}
	e.header = h
	return h, nil
}

// offered reports whether a protocol named name (any version) is offered.
func offered(offer []string, name string) bool {
	for _, o := range offer {
		if n, _, _ := strings.Cut(o, "/"); strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// pastBound reports whether err says the server went past a bound every
// client of the module reads a response under: a verdict, not a failure.
func pastBound(err error) bool {
	return errors.Is(err, upgrade.ErrHeadTooLarge) || errors.Is(err, upgrade.ErrTooManyInterim)
}

// switched reports whether the response is a 101, valid or not; with
// -h2, whether it is a 2xx to the extended CONNECT (RFC 8441 §5).
func (e *exchange) switched() bool {
	if e.res.Response == nil {
		return false
	}
	if e.h2 != "" {
		return e.res.Response.StatusCode/100 == 2
	}
	return e.res.Response.StatusCode == http.StatusSwitchingProtocols
}

// chosen names the protocol switched to, and with -h2 the transport.
func (e *exchange) chosen() string {
	if e.x != nil {
		return e.offer[0] + " on an HTTP/2 stream, " + e.h2
	}
	return e.res.Response.Header.Get("Upgrade")
}

// conn is the switched connection after a valid 101, nil otherwise.
func (e *exchange) conn() net.Conn { return e.res.Conn }

// close closes the switched connection, if there is one (with -h2, the
// stream, then the HTTP/2 connection).
func (e *exchange) close() {
	if c := e.res.Conn; c != nil {
		c.Close()
	}
	if e.x != nil {
		e.x.closeConn()
	}
}

// timedConn notes when its first byte arrived.
type timedConn struct {
	net.Conn
	first atomic.Pointer[time.Time]
}

func (c *timedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.first.Load() == nil {
		now := time.Now()
		c.first.CompareAndSwap(nil, &now)
	}
	return n, err
}

// CloseWrite half-closes when the transport can.
func (c *timedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("the connection cannot half-close")
}

// timings is the -v line.
func (e *exchange) timings() string {
	ms := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return fmt.Sprintf("%.2fms", float64(t.Sub(e.start).Microseconds())/1000)
	}
	var first time.Time
	if e.timed != nil {
		if t := e.timed.first.Load(); t != nil {
			first = *t
		}
	}
	firstName, last := "first byte", "response head"
	switch {
	case e.x != nil:
		// The server's first bytes are its SETTINGS.
		firstName, first = "server SETTINGS", e.x.wire.gotSet
		if e.switched() {
			last = fmt.Sprint(e.res.Response.StatusCode)
		}
	case e.switched():
		last = "101"
	}
	return fmt.Sprintf("timings: connect %s, %s %s, %s %s", ms(e.res.Connected), firstName, ms(first), last, ms(e.res.HeadDone))
}

// afterSwitch returns a reader of what follows the 101 that reports, with
// -v, when the first byte after the switch arrives.
func (e *exchange) afterSwitch(verbose bool, stderr io.Writer) io.Reader {
	if !verbose {
		return e.conn()
	}
	return &firstByteReader{r: e.conn(), report: func() {
		fmt.Fprintf(stderr, "timings: first byte after the switch %.2fms\n", float64(time.Since(e.start).Microseconds())/1000)
	}}
}

type firstByteReader struct {
	r      io.Reader
	report func()
	done   bool
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		f.done = true
		f.report()
	}
	return n, err
}
