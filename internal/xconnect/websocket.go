package xconnect

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	gws "github.com/gorilla/websocket"
)

// WebSocketDialer returns a gorilla Dialer whose connections are extended
// CONNECT streams (RFC 8441 §5): wss URLs over TLS, ws URLs over h2c with
// prior knowledge. gorilla writes its HTTP/1.1 handshake as usual; the
// stream turns it into an extended CONNECT with :protocol websocket (the
// same Origin, Sec-WebSocket-Version, -Protocol and -Extensions, no
// Sec-WebSocket-Key) and answers gorilla with the 101 its key expects,
// carrying the server's fields, when the server answers 200, or with the
// server's refusal as it came (status, fields and body).
func (c *Client) WebSocketDialer() *gws.Dialer {
	dial := func(scheme string) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, _, addr string) (net.Conn, error) {
			return &bridge{c: c, scheme: scheme, addr: addr, ctx: context.WithoutCancel(ctx)}, nil
		}
	}
	return &gws.Dialer{NetDialContext: dial("http"), NetDialTLSContext: dial("https"), HandshakeTimeout: 10 * time.Second}
}

// bridge is the net.Conn gorilla's Dialer gets: its first writes are
// gorilla's request head, its first reads the answer made for it.
type bridge struct {
	c      *Client
	scheme string
	addr   string
	ctx    context.Context

	head []byte
	s    *Stream
	r    io.Reader
}

func (b *bridge) Write(p []byte) (int, error) {
	if b.r != nil {
		if b.s == nil {
			return 0, net.ErrClosed
		}
		return b.s.Write(p)
	}
	b.head = append(b.head, p...)
	if !bytes.Contains(b.head, []byte("\r\n\r\n")) {
		return len(p), nil
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b.head)))
	if err != nil {
		return 0, err
	}
	h := http.Header{}
	for k, vs := range req.Header {
		switch k {
		case "Connection", "Upgrade", "Sec-Websocket-Key":
			continue
		}
		h[k] = vs
	}
	s, resp, err := b.c.Dial(b.ctx, b.scheme+"://"+b.addr+req.URL.RequestURI(), "websocket", h)
	if resp == nil {
		return 0, err
	}
	var out bytes.Buffer
	if s != nil {
		b.s = s
		fmt.Fprintf(&out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept(req.Header.Get("Sec-WebSocket-Key")))
		_ = resp.Header.Write(&out)
		out.WriteString("\r\n")
		b.r = io.MultiReader(&out, s)
		return len(p), nil
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(&out, "HTTP/1.1 %s\r\n", resp.Status)
	resp.Header.Del("Content-Length")
	_ = resp.Header.Write(&out)
	fmt.Fprintf(&out, "Content-Length: %d\r\n\r\n", len(body))
	out.Write(body)
	b.r = &out
	return len(p), nil
}

func (b *bridge) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, errNotRequest
	}
	return b.r.Read(p)
}

func (b *bridge) Close() error {
	if b.s != nil {
		return b.s.Close()
	}
	return nil
}

// CloseWrite ends the stream's sending side.
func (b *bridge) CloseWrite() error {
	if b.s != nil {
		return b.s.CloseWrite()
	}
	return nil
}

func (b *bridge) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (b *bridge) RemoteAddr() net.Addr { return &net.TCPAddr{} }

func (b *bridge) SetDeadline(t time.Time) error { return b.SetReadDeadline(t) }

func (b *bridge) SetReadDeadline(t time.Time) error {
	if b.s != nil {
		return b.s.SetReadDeadline(t)
	}
	return nil
}

func (b *bridge) SetWriteDeadline(time.Time) error { return nil }

func accept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}
