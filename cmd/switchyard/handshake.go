package main

import (
	"bufio"
	"bytes"
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
)

// exchange is one upgrade request and its response, as they crossed the
// wire.
type exchange struct {
	offer    []string
	wsKey    string // Sec-WebSocket-Key sent, if any
	reqHead  []byte
	respHead []byte // every head received, interim (1xx) ones included
	resp     *http.Response
	body     []byte // a refusal's body, bounded

	conn net.Conn
	br   *bufio.Reader // what follows the response head

	start, connected, firstByte, headDone time.Time
	timed                                 *timedConn
}

const maxHead = 64 << 10

// handshake dials o.url, sends the upgrade request and reads the response
// head (and a refusal's body). Its error is a usage or network error; a
// refusal is not an error. On success after a 101 the caller owns e.conn.
func handshake(ctx context.Context, o options) (*exchange, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	secure := false
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		secure = true
	default:
		return nil, fmt.Errorf("URL scheme %q: want http, https, ws or wss", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", o.url)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[bool]string{false: "80", true: "443"}[secure])
	}
	e := &exchange{offer: o.offer, start: time.Now()}
	e.reqHead = e.buildRequest(u, o.headers)

	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if secure {
		tc := tls.Client(nc, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: o.insecure, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	e.connected = time.Now()
	e.timed = &timedConn{Conn: nc}
	e.conn = e.timed
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err = e.roundTrip()
	if !stop() && err != nil && ctx.Err() != nil {
		err = fmt.Errorf("no response within %v: %w", o.timeout, err)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	if e.resp.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
	}
	return e, nil
}

// buildRequest writes the request head: the defaults for the offered
// protocols, then the user's fields, which replace defaults of their name.
func (e *exchange) buildRequest(u *url.URL, extra []string) []byte {
	user := make(map[string]bool)
	for _, h := range extra {
		name, _, _ := strings.Cut(h, ":")
		user[strings.ToLower(name)] = true
	}
	var b bytes.Buffer
	line := func(name, value string) {
		if !user[strings.ToLower(name)] {
			b.WriteString(name + ": " + value + "\r\n")
		}
	}
	b.WriteString("GET " + u.RequestURI() + " HTTP/1.1\r\n")
	line("Host", u.Host)
	line("User-Agent", "switchyard-inspector")
	conn := "Upgrade"
	if offered(e.offer, "h2c") {
		conn = "Upgrade, HTTP2-Settings"
	}
	line("Connection", conn)
	line("Upgrade", strings.Join(e.offer, ", "))
	if offered(e.offer, "websocket") {
		k := make([]byte, 16)
		_, _ = rand.Read(k)
		e.wsKey = base64.StdEncoding.EncodeToString(k)
		line("Sec-WebSocket-Key", e.wsKey)
		line("Sec-WebSocket-Version", "13")
	}
	if offered(e.offer, "h2c") {
		line("HTTP2-Settings", "AAMAAABk") // SETTINGS_MAX_CONCURRENT_STREAMS = 100
	}
	for _, h := range extra {
		if name, v, _ := strings.Cut(h, ": "); strings.EqualFold(name, "Sec-WebSocket-Key") {
			e.wsKey = v
		}
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
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

func (e *exchange) roundTrip() error {
	if _, err := e.conn.Write(e.reqHead); err != nil {
		return err
	}
	e.br = bufio.NewReader(e.conn)
	req := &http.Request{Method: http.MethodGet}
	for {
		head, err := readHead(e.br)
		e.respHead = append(e.respHead, head...)
		if t := e.timed.first.Load(); t != nil {
			e.firstByte = *t
		}
		if err != nil {
			if len(e.respHead) == 0 && errors.Is(err, io.EOF) {
				return errors.New("the server closed the connection without answering")
			}
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), req)
		if err != nil {
			return fmt.Errorf("not an HTTP/1.x response: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			e.headDone = time.Now()
			e.resp = resp
			if resp.StatusCode != http.StatusSwitchingProtocols {
				// Read the body through the head again, for its framing.
				full, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(head), e.br)), req)
				if err == nil {
					e.body, _ = io.ReadAll(io.LimitReader(full.Body, 64<<10))
					full.Body.Close()
				}
			}
			return nil
		}
	}
}

// readHead reads one response head, up to and including its empty line.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) && len(head) < maxHead {
				continue
			}
			if len(head) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return head, err
		}
		if len(head) > maxHead {
			return head, errors.New("response head over 64 KiB")
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			return head, nil
		}
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
	last := "response head"
	if e.resp != nil && e.resp.StatusCode == http.StatusSwitchingProtocols {
		last = "101"
	}
	return fmt.Sprintf("timings: connect %s, first byte %s, %s %s", ms(e.connected), ms(e.firstByte), last, ms(e.headDone))
}

// afterSwitch returns a reader of what follows the 101 that reports, with
// -v, when the first byte after the switch arrives.
func (e *exchange) afterSwitch(verbose bool, stderr io.Writer) io.Reader {
	if !verbose {
		return e.br
	}
	return &firstByteReader{r: e.br, report: func() {
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
