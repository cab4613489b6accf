package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	gws "github.com/gorilla/websocket"
	"golang.org/x/net/http2"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/negotiate"
)

// proto is one of the protocols a soak connection speaks.
type proto int

const (
	pWS proto = iota
	pEcho
	pH2C
	nProtos
)

// key is the protocol's name in the negotiator's counts and in the JSON;
// label is the one printed.
func (p proto) key() string   { return [...]string{"websocket", "echo", "h2c"}[p] }
func (p proto) label() string { return [...]string{"websocket", "echo/1", "h2c"}[p] }

// session is one switched connection on the client side.
type session interface {
	// roundTrip sends p and reads it back, checking it, within timeout.
	roundTrip(p []byte, timeout time.Duration) error
	// close ends the connection the protocol's own way, within timeout.
	close(timeout time.Duration) error
	// awaitClose waits, within timeout, for the server to close the
	// connection its protocol's way at shutdown (WebSocket close 1001, h2c
	// GOAWAY, echo/1 end of stream), answers as a client should, and closes.
	awaitClose(timeout time.Duration) error
	// abort closes the connection at once; safe at any time.
	abort()
}

// How long a handshake, a round trip and a close may take before they are
// errors (timeouts): generous, a loaded 2-core machine is slow, but bounded.
const (
	handshakeTimeout = 15 * time.Second
	echoTimeout      = 10 * time.Second
	closeTimeout     = 5 * time.Second
	// serverCloseTimeout: the demo closes everything within its 8 s grace.
	serverCloseTimeout = 15 * time.Second
)

// errMismatch is a round trip whose answer differs from what was sent.
var errMismatch = errors.New("echo mismatch")

// statusError is an upgrade answered with something else than 101.
type statusError struct{ status int }

func (e statusError) Error() string { return fmt.Sprintf("answered %d instead of 101", e.status) }

func dial(ctx context.Context, p proto, addr string) (session, error) {
	switch p {
	case pWS:
		return dialWS(ctx, addr)
	case pEcho:
		return dialEcho(ctx, addr)
	default:
		return dialH2C(ctx, addr)
	}
}

// WebSocket: gorilla's Dialer to /ws; one binary message per round trip.

type wsSession struct{ c *gws.Conn }

func dialWS(ctx context.Context, addr string) (session, error) {
	d := gws.Dialer{HandshakeTimeout: handshakeTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024}
	c, resp, err := d.DialContext(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("%w: %v", statusError{resp.StatusCode}, err)
		}
		return nil, err
	}
	return &wsSession{c: c}, nil
}

func (s *wsSession) roundTrip(p []byte, timeout time.Duration) error {
	dl := time.Now().Add(timeout)
	_ = s.c.SetWriteDeadline(dl)
	if err := s.c.WriteMessage(gws.BinaryMessage, p); err != nil {
		return err
	}
	_ = s.c.SetReadDeadline(dl)
	typ, msg, err := s.c.ReadMessage()
	if err != nil {
		return err
	}
	if typ != gws.BinaryMessage || !bytes.Equal(msg, p) {
		return errMismatch
	}
	return nil
}

// close sends close 1000 and waits for the server's close frame (the
// closing handshake, RFC 6455 §5.5.1), then closes the TCP connection.
func (s *wsSession) close(timeout time.Duration) error {
	defer s.c.Close()
	dl := time.Now().Add(timeout)
	if err := s.c.WriteControl(gws.CloseMessage, gws.FormatCloseMessage(gws.CloseNormalClosure, ""), dl); err != nil {
		return err
	}
	_ = s.c.SetReadDeadline(dl)
	for {
		if _, _, err := s.c.ReadMessage(); err != nil {
			if gws.IsCloseError(err, gws.CloseNormalClosure) {
				return nil
			}
			return err
		}
	}
}

// awaitClose reads until the server's close frame, which must say 1001
// (going away); gorilla's default close handler answers it.
func (s *wsSession) awaitClose(timeout time.Duration) error {
	defer s.c.Close()
	_ = s.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		if _, _, err := s.c.ReadMessage(); err != nil {
			if gws.IsCloseError(err, gws.CloseGoingAway) {
				return nil
			}
			return err
		}
	}
}

func (s *wsSession) abort() { _ = s.c.NetConn().Close() }

// echo/1: negotiate.Dial, then raw bytes back and forth.

type echoSession struct {
	c   net.Conn
	buf []byte
}

func dialEcho(ctx context.Context, addr string) (session, error) {
	d := negotiate.Dialer{HandshakeTimeout: handshakeTimeout}
	c, _, err := d.Dial(ctx, "http://"+addr+"/", []string{"echo/1"}, nil)
	if err != nil {
		var ne *negotiate.Error
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("%w: %v", statusError{ne.Status}, err)
		}
		return nil, err
	}
	return &echoSession{c: c}, nil
}

func (s *echoSession) roundTrip(p []byte, timeout time.Duration) error {
	_ = s.c.SetDeadline(time.Now().Add(timeout))
	if _, err := s.c.Write(p); err != nil {
		return err
	}
	if cap(s.buf) < len(p) {
		s.buf = make([]byte, len(p))
	}
	got := s.buf[:len(p)]
	if _, err := io.ReadFull(s.c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, p) {
		return errMismatch
	}
	return nil
}

// close half-closes and waits for the server's end of stream: echo/1's
// io.Copy returns at EOF and the negotiator closes the connection.
func (s *echoSession) close(timeout time.Duration) error {
	defer s.c.Close()
	_ = s.c.SetDeadline(time.Now().Add(timeout))
	cw, ok := s.c.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	if err := cw.CloseWrite(); err != nil {
		return err
	}
	return s.readToEnd()
}

// awaitClose reads until the server closes: echo/1 has no close message.
func (s *echoSession) awaitClose(timeout time.Duration) error {
	defer s.c.Close()
	_ = s.c.SetDeadline(time.Now().Add(timeout))
	return s.readToEnd()
}

// readToEnd reads until the server ends the stream, which must carry
// nothing after the last round trip's echo.
func (s *echoSession) readToEnd() error {
	n, err := io.Copy(io.Discard, s.c)
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%w: %d bytes after the last round trip", errMismatch, n)
	}
	return nil
}

func (s *echoSession) abort() { _ = s.c.Close() }

// h2c: an Upgrade: h2c GET /proto (stream 1 must answer HTTP/2.0), then a
// POST /echo per round trip on streams 3, 5, …

type h2cSession struct{ c *h2ctest.Client }

func dialH2C(ctx context.Context, addr string) (session, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, resp, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/proto", addr), nil)
	switch {
	case err != nil:
	case resp == nil:
		err = statusError{c.Upgrade.StatusCode}
	case resp.Status != http.StatusOK || string(resp.Body) != "HTTP/2.0":
		err = fmt.Errorf("%w: stream 1 answered %d %q", errMismatch, resp.Status, resp.Body)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &h2cSession{c: c}, nil
}

func (s *h2cSession) roundTrip(p []byte, timeout time.Duration) error {
	_ = s.c.Conn.SetDeadline(time.Now().Add(timeout))
	resp, err := s.c.Do("POST", "/echo", p)
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, p) {
		return fmt.Errorf("%w: status %d, %d bytes", errMismatch, resp.Status, len(resp.Body))
	}
	return nil
}

// close sends GOAWAY (no error, last stream 0: the client accepts no
// pushed streams) and closes, as an HTTP/2 client closing an idle
// connection does.
func (s *h2cSession) close(timeout time.Duration) error {
	defer s.c.Conn.Close()
	_ = s.c.Conn.SetDeadline(time.Now().Add(timeout))
	var f [17]byte
	f[2] = 8   // length
	f[3] = 0x7 // GOAWAY; flags 0, stream 0, last stream 0, NO_ERROR
	binary.BigEndian.PutUint32(f[13:], 0)
	_, err := s.c.Conn.Write(f[:])
	return err
}

// awaitClose waits for the server's GOAWAY (NO_ERROR, RFC 9113 §6.8), then
// closes, as a client does once it has no stream left.
func (s *h2cSession) awaitClose(timeout time.Duration) error {
	defer s.c.Conn.Close()
	_ = s.c.Conn.SetDeadline(time.Now().Add(timeout))
	f, err := s.c.WaitGoAway()
	if err != nil {
		return err
	}
	if f.ErrCode != http2.ErrCodeNo {
		return fmt.Errorf("%w: GOAWAY %v", errMismatch, f.ErrCode)
	}
	return nil
}

func (s *h2cSession) abort() { _ = s.c.Conn.Close() }

// kind names an error's class for the report.
func kind(err error) string {
	var se statusError
	var ce *gws.CloseError
	switch {
	case errors.Is(err, errMismatch):
		return "mismatch"
	case errors.As(err, &se):
		return fmt.Sprintf("status %d", se.status)
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d", ce.Code)
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "aborted"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local port"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, h2ctest.ErrGoAway):
		return "goaway"
	}
	return "other"
}
