package main

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
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/upgrade"
	"github.com/switchyard-http/switchyard/internal/xconnect"
)

// h2Exchange is what an RFC 8441 extended CONNECT adds to an exchange: the
// client (internal/xconnect, on x/net's HTTP/2 client) and what the wire
// showed.
type h2Exchange struct {
	client *xconnect.Client

	mu        sync.Mutex
	tap       *wireTap
	sent      strings.Builder // the request's fields as x/net wrote them
	connected time.Time

	unsent string   // why no request went out (the verdict's title), if none did
	hints  []string // and what to do about it
	wire   wire     // what the tap saw up to the response head
	flow   []string // ✓/✗ findings after the switch (probe, websocket)
}

// handshakeH2 sends o's offer as an extended CONNECT: https and wss over
// TLS (h2 by ALPN), http and ws over h2c with prior knowledge. As with
// handshake, its error is a usage or network error; a server that does
// not do extended CONNECT, a refusal or an unusable 200 are verdicts.
func handshakeH2(ctx context.Context, o options) (*exchange, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	e := &exchange{offer: o.offer, start: time.Now(), h2: "h2"}
	switch u.Scheme {
	case "https", "wss":
	case "http", "ws":
		e.h2 = "h2c"
	default:
		return nil, fmt.Errorf("unsupported scheme %q: want http, https, ws or wss", u.Scheme)
	}
	if _, _, err := upgrade.Addr(u); err != nil {
		return nil, err // no host, or one that is not ASCII, as over HTTP/1.1
	}
	host := ""
	h, err := e.fields(o.headers, func(name, v string) error {
		if strings.EqualFold(name, "connection") {
			return errors.New("-H Connection: HTTP/2 has no connection-specific fields (RFC 9113 §8.2.2)")
		}
		host = v // :authority
		return nil
	}, func() {})
	if err != nil {
		return nil, err
	}
	if host == "" {
		// :authority as a browser sends it, and as Host goes over
		// HTTP/1.1: the URL's host[:port] as written, without an IPv6
		// zone, and without a default port added, which a same-origin
		// check compares with Origin's host ("https://[::1]" is not
		// "[::1]:443").
		host = upgrade.URLHost(u)
	}
	h = h.Clone()
	h.Set("Host", host)
	if auth, ok := upgrade.BasicAuth(u); ok && h.Get("Authorization") == "" {
		// As over HTTP/1.1: the URL's user as Basic authorization.
		h = h.Clone()
		h.Set("Authorization", auth)
	}
	x := &h2Exchange{client: xconnect.New(&tls.Config{InsecureSkipVerify: o.insecure, ServerName: upgrade.ServerName(u)})}
	e.x = x
	x.client.HandshakeTimeout = o.timeout
	x.client.Wrap = func(nc net.Conn) net.Conn {
		t := newWireTap(nc)
		x.mu.Lock()
		x.tap, x.connected = t, time.Now()
		x.mu.Unlock()
		return t
	}
	trace := &httptrace.ClientTrace{WroteHeaderField: func(k string, vs []string) {
		x.mu.Lock()
		defer x.mu.Unlock()
		for _, v := range vs {
			fmt.Fprintf(&x.sent, "%s: %s\n", k, v)
		}
	}}
	st, resp, err := x.client.Dial(httptrace.WithClientTrace(ctx, trace), o.url, o.offer[0], h)
	headDone := time.Now()
	x.wire = x.seen()
	if resp == nil {
		x.closeConn()
		if pastBound(err) {
			// Past a bound: a verdict, with the heads up to it.
			x.mu.Lock()
			t := x.tap
			x.mu.Unlock()
			if t != nil {
				t.finish()
			}
			x.wire = x.seen()
			e.bound = err
			e.res = &upgrade.Result{RequestHead: []byte(x.request()), Connected: x.connected}
			return e, nil
		}
		if !x.notSent(err, e.h2, o.timeout) {
			if errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("no answer within %v: %w", o.timeout, err)
			}
			return nil, err
		}
		e.res = &upgrade.Result{RequestHead: []byte(x.request())}
		return e, nil
	}
	e.res = &upgrade.Result{Response: resp, RequestHead: []byte(x.request()), Connected: x.connected, HeadDone: headDone}
	if head := x.wire.finalHead(); head != nil {
		for _, hd := range x.wire.heads {
			e.res.ResponseHeads = append(e.res.ResponseHeads, headText(hd)...)
		}
	} else {
		// The tap could not decode the head: what x/net made of it.
		e.res.ResponseHeads = []byte(decodedHead(resp))
	}
	if st != nil {
		e.res.Conn = st
	} else {
		e.res.Body, _ = io.ReadAll(resp.Body)
	}
	return e, nil
}

// closeConn closes the HTTP/2 connection: the inspector made it for one
// stream, which has ended.
func (x *h2Exchange) closeConn() {
	x.client.CloseIdleConnections()
	x.mu.Lock()
	t := x.tap
	x.mu.Unlock()
	if t != nil {
		t.Close()
	}
}

func (x *h2Exchange) seen() wire {
	x.mu.Lock()
	t := x.tap
	x.mu.Unlock()
	if t == nil {
		return wire{}
	}
	return t.seen()
}

func (x *h2Exchange) request() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.sent.String()
}

// notSent turns an error that came before any response into a verdict,
// when it says something about the server, and reports whether it did.
func (x *h2Exchange) notSent(err error, transport string, timeout time.Duration) bool {
	_, settings := x.wire.connectProtocol()
	switch msg := err.Error(); {
	case errors.Is(err, xconnect.ErrNotAdvertised):
		x.unsent = "not switched: the server does not advertise RFC 8441 (no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its SETTINGS); the extended CONNECT was not sent"
		x.hints = []string{
			"start Go servers with GODEBUG=http2xconnect=1 in their environment (Go 1.26, 1.27; Go 1.28: http.HTTP2Config.EnableConnectProtocol)",
			"without -h2 the inspector offers the same protocol by an HTTP/1.1 upgrade",
		}
		if settings {
			x.hints[0] = "the server sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 0"
		}
	case strings.Contains(msg, "by ALPN, not h2") || strings.Contains(msg, "no application protocol"):
		x.unsent = "not switched: the server does not serve HTTP/2 over TLS (ALPN did not choose h2); RFC 8441 needs HTTP/2"
		x.hints = []string{"without -h2 the inspector offers the protocol by an HTTP/1.1 upgrade"}
	case transport == "h2c" && len(x.wire.settings) == 0 && x.connected != (time.Time{}) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		x.unsent = "not switched: the server did not answer HTTP/2 with prior knowledge (h2c): no SETTINGS came (" + msg + ")"
		x.hints = []string{"without -h2 the inspector offers the protocol by an HTTP/1.1 upgrade (and -offer h2c tries h2c by Upgrade)"}
	default:
		return false
	}
	return true
}

// decodedHead is a response head as x/net's client decoded it, which
// drops connection-specific fields.
func decodedHead(r *http.Response) string {
	s := fmt.Sprintf(":status: %d\n", r.StatusCode)
	var keys []string
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			s += strings.ToLower(k) + ": " + v + "\n"
		}
	}
	return s
}

// connectionSpecific are the fields RFC 9113 §8.2.2 makes a message that
// carries them malformed.
var connectionSpecific = []string{"connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding"}

// h2Faults are the findings on an HTTP/2 response head that hold for a
// switch and a refusal alike.
func (x *h2Exchange) h2Faults() []string {
	var faults []string
	for _, f := range x.wire.finalHead() {
		for _, c := range connectionSpecific {
			if f.Name == c {
				faults = append(faults, fmt.Sprintf("%s: %s on an HTTP/2 response: connection-specific fields make it malformed (RFC 9113 §8.2.2); curl, nghttp2 and hyper-h2 reset the stream", f.Name, f.Value))
			}
		}
	}
	return faults
}

// judgeH2 judges an extended CONNECT's outcome.
func judgeH2(e *exchange) verdict {
	x := e.x
	if x.unsent != "" {
		v := verdict{title: x.unsent}
		for _, h := range x.hints {
			v.notes = append(v.notes, "→ "+h)
		}
		return v
	}
	if !e.switched() {
		v := judgeRefusal(e)
		if on, _ := x.wire.connectProtocol(); on == 1 {
			v.notes = append([]string{"server supports: extended CONNECT (SETTINGS_ENABLE_CONNECT_PROTOCOL = 1)"}, v.notes...)
		}
		for _, f := range x.h2Faults() {
			v.notes = append(v.notes, "✗ "+f)
		}
		return v
	}
	return judgeStream(e)
}

// judgeStream judges a 2xx to an extended CONNECT (RFC 8441 §5): the
// stream is the protocol's from then on.
func judgeStream(e *exchange) verdict {
	x, r := e.x, e.res.Response
	v := verdict{valid: true}
	bad := func(s string) { v.valid = false; v.notes = append(v.notes, "✗ "+s) }
	good := func(s string) { v.notes = append(v.notes, "✓ "+s) }

	good("SETTINGS_ENABLE_CONNECT_PROTOCOL = 1: the server accepts extended CONNECT")
	faults := x.h2Faults()
	for _, f := range faults {
		bad(f)
	}
	if len(faults) == 0 {
		good("no Upgrade or Connection: HTTP/2 has no connection-specific fields")
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		bad("Content-Length: " + cl + " on a 2xx to CONNECT (RFC 9110 §9.3.6 forbids it): an ordinary answer, not a switch (is the route mounted through an upgrade handler?)")
	} else if x.wire.endHead {
		bad("the 2xx came with END_STREAM: the server ended the stream at once")
	}
	token := e.offer[0]
	if n, _, _ := strings.Cut(token, "/"); strings.EqualFold(n, "websocket") {
		wsFields(e, r.Header, good, bad)
	}
	for _, f := range x.flow {
		if strings.HasPrefix(f, "✗") {
			v.valid = false
		}
		v.notes = append(v.notes, f)
	}
	how := "h2 over TLS"
	if e.h2 == "h2c" {
		how = "h2c, prior knowledge"
	}
	if v.valid {
		v.title = fmt.Sprintf("valid %d: switched to %s on an HTTP/2 stream (%s)", r.StatusCode, token, how)
	} else {
		v.title = fmt.Sprintf("invalid %d: a client must not use this stream for %s (%s)", r.StatusCode, token, how)
	}
	return v
}

// checkWebSocket shows whether bytes flow on a WebSocket stream: a ping
// answered by its pong, then the close handshake, then the end of the
// stream (END_STREAM, not a reset), each bounded by timeout.
func (e *exchange) checkWebSocket(timeout time.Duration) {
	x, c := e.x, e.conn()
	good := func(s string) { x.flow = append(x.flow, "✓ "+s) }
	bad := func(s string) { x.flow = append(x.flow, "✗ "+s) }
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	ws := &wsConn{e: e}
	ping := []byte("switchyard-inspector")
	start := time.Now()
	if err := ws.write(opPing, ping); err != nil {
		bad("the ping could not be sent: " + err.Error())
		return
	}
	if _, err := e.frameUntil(ws, func(op byte, p []byte) bool { return op == opPong && bytes.Equal(p, ping) }); err != nil {
		bad("no pong to a ping: " + err.Error())
		return
	}
	good(fmt.Sprintf("bytes flow: a ping was answered by its pong in %.2fms", float64(time.Since(start).Microseconds())/1000))
	if err := ws.sendClose([]byte{0x03, 0xe8}); err != nil { // 1000
		bad("the close frame could not be sent: " + err.Error())
		return
	}
	p, err := e.frameUntil(ws, func(op byte, _ []byte) bool { return op == opClose })
	if err != nil {
		bad("no close frame in answer to close 1000: " + err.Error())
		return
	}
	code, reason := closeInfo(p)
	good("clean close: the server answered close " + describeClose(code, reason))
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	n, err := io.Copy(io.Discard, c)
	switch w := x.seen(); {
	case len(w.resets) > 0 && w.resets[0] == http2.ErrCodeNo && err == nil && n == 0:
		// END_STREAM, then "stop sending" (RFC 9113 §8.1): what Go's
		// server does when the handler returns before the request's end.
		good("the server ended the stream (END_STREAM), then asked the client to stop sending (RST_STREAM NO_ERROR, RFC 9113 §8.1)")
	case len(w.resets) > 0:
		// The WebSocket closed cleanly; the stream did not.
		x.flow = append(x.flow, fmt.Sprintf("⚠ the server reset the stream (RST_STREAM %v) after the close frames instead of ending it (END_STREAM): browsers report the close as not clean", w.resets[0]))
	case err != nil:
		bad("the stream did not end after the close frames: " + err.Error())
	case n > 0:
		bad(fmt.Sprintf("%d bytes came after the server's close frame", n))
	default:
		good("the server ended the stream (END_STREAM)")
	}
}

// frameUntil reads frames until want accepts one, whose payload it
// returns: pings are answered, anything else is passed over; a close
// frame that is not wanted ends the wait.
func (e *exchange) frameUntil(ws *wsConn, want func(op byte, p []byte) bool) ([]byte, error) {
	for {
		_, op, p, err := readFrame(e.conn())
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the stream ended")
			}
			return nil, err
		case want(op, p):
			return p, nil
		case op == opClose:
			code, reason := closeInfo(p)
			return nil, errors.New("the server closed first: " + describeClose(code, reason))
		case op == opPing:
			_ = ws.write(opPong, p)
		}
	}
}

// reportH2 prints the server's SETTINGS, the request's and the response's
// fields as they crossed the wire (decoded from HPACK), and the verdict.
func reportH2(e *exchange, verbose bool, w io.Writer) {
	x := e.x
	how := "h2 over TLS"
	if e.h2 == "h2c" {
		how = "h2c, prior knowledge"
	}
	if len(x.wire.settings) > 0 || x.connected != (time.Time{}) {
		fmt.Fprintf(w, "--- server SETTINGS (%s, as received)\n%s", how, x.wire.settingsText())
	}
	if len(e.res.RequestHead) == 0 {
		fmt.Fprintln(w, "--- request HEADERS: not sent")
	} else {
		fmt.Fprintf(w, "--- request HEADERS (extended CONNECT, RFC 8441, as sent)\n%s", e.res.RequestHead)
	}
	if e.res.Response != nil {
		fmt.Fprintf(w, "--- response HEADERS (as received)\n%s", e.res.ResponseHeads)
	}
	if e.bound != nil {
		fmt.Fprintln(w, "--- response HEADERS (as received, up to the bound)")
		for i, hd := range x.wire.heads {
			if i > upgrade.MaxInterim {
				break // the bound on interim heads
			}
			fmt.Fprint(w, headText(hd))
		}
		if x.wire.cut {
			fmt.Fprintf(w, "--- (cut at %d bytes)\n", upgrade.DefaultMaxResponseHeaderBytes)
		}
	}
	if err := x.wire.decErr; err != nil {
		fmt.Fprintf(w, "(the inspector could not decode the server's HPACK: %v; the response fields shown are x/net's)\n", err)
	}
	if g := x.wire.goaway; g != "" {
		fmt.Fprintf(w, "--- GOAWAY %s\n", g)
	}
	fmt.Fprint(w, judge(e))
	if verbose && e.res.Response != nil {
		fmt.Fprintln(w, e.timings())
	}
}
