// Package testkit is the one set of test helpers of the module: a
// goroutine-leak check for TestMain, loopback servers, a raw HTTP/1.1
// client that shows what crossed the wire, and the waits and buffers the
// end-to-end tests share. It uses the standard library and negotiate only.
//
//	func TestMain(m *testing.M) { testkit.Main(m) }
package testkit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

// Timeout bounds every wait of the kit: a test that would hang fails
// instead.
const Timeout = 10 * time.Second

// NewNegotiator returns a negotiator whose connections are shut down (and
// must all close) when the test ends.
func NewNegotiator(t testing.TB, opts *negotiate.Options) *negotiate.Negotiator {
	t.Helper()
	n, err := negotiate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("negotiator shutdown: %v", err)
		}
	})
	return n
}

// StartServer serves h on loopback and closes it when the test ends.
func StartServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// EchoConn is the echo/1 protocol: every byte comes back, until the
// client closes or the negotiator shuts down (then it stops reading and
// returns, and the negotiator closes the connection gracefully).
func EchoConn(c *negotiate.Conn) error {
	stop := context.AfterFunc(c.Context(), func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()
	_, err := io.Copy(c, c)
	if c.Context().Err() != nil {
		return nil // the shutdown's end
	}
	return err
}

// Plain answers "plain " and the request's protocol, so that a test sees a
// request passed through as ordinary HTTP.
var Plain = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "plain "+r.Proto)
})

// UpgradeRequest is a GET upgrade request head for path offering tokens,
// with extra header lines.
func UpgradeRequest(path, tokens string, extra ...string) string {
	s := "GET " + path + " HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: " + tokens + "\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return s + "\r\n"
}

// Exchange is one raw request and its response; after a 101 it reads and
// writes the switched connection.
type Exchange struct {
	Resp *http.Response
	Body string        // the response body, read whole (none after a 101)
	BR   *bufio.Reader // what follows the response on the connection
	Conn net.Conn
	Wire *bytes.Buffer // every byte read off the connection so far
}

// Read reads what follows the response on the connection.
func (x *Exchange) Read(p []byte) (int, error) { return x.BR.Read(p) }

// Write writes to the connection.
func (x *Exchange) Write(p []byte) (int, error) { return x.Conn.Write(p) }

// Raw sends request (raw bytes) to addr over a new TCP connection and reads
// one response, after any 100 Continue. The connection has a deadline of
// Timeout and is closed when the test ends.
func Raw(t testing.TB, addr, request string) *Exchange {
	t.Helper()
	return RawOn(t, DialTCP(t, addr), request)
}

// RawOn is Raw on a connection of the caller's (a TLS one, say).
func RawOn(t testing.TB, conn net.Conn, request string) *Exchange {
	t.Helper()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	wire := new(bytes.Buffer)
	br := bufio.NewReader(io.TeeReader(conn, wire))
	resp, err := http.ReadResponse(br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(br, nil)
	}
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	var body []byte
	if resp.StatusCode != http.StatusSwitchingProtocols {
		if body, err = io.ReadAll(resp.Body); err != nil {
			t.Fatalf("reading body: %v", err)
		}
	}
	return &Exchange{Resp: resp, Body: string(body), BR: br, Conn: conn, Wire: wire}
}

// DialTCP opens a TCP connection to addr with a deadline of Timeout, closed
// when the test ends.
func DialTCP(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	return conn
}

// Addr is the host:port of a test server.
func Addr(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// ExpectClosed checks that the server has closed the connection: the next
// read returns EOF (or a reset) rather than more data.
func ExpectClosed(t testing.TB, r io.Reader) {
	t.Helper()
	var b [1]byte
	n, err := r.Read(b[:])
	if n > 0 {
		t.Fatalf("connection still open: read %q", b[:n])
	}
	if err == nil || !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// Dial offers tokens at url with negotiate.Dial and returns the switched
// connection, closed when the test ends, with a deadline of Timeout.
func Dial(t testing.TB, url string, tokens []string, h http.Header) (net.Conn, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	c, resp, err := negotiate.Dial(ctx, url, tokens, h)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(Timeout))
	return c, resp
}

// RoundTrip writes msg and reads len(msg) bytes back.
func RoundTrip(t testing.TB, c io.ReadWriter, msg string) string {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf)
}

// CloseWrite half-closes c.
func CloseWrite(t testing.TB, c net.Conn) {
	t.Helper()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T cannot half-close", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// ReadAll reads r to its end and fails the test on an error.
func ReadAll(t testing.TB, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v (after %d bytes)", err, len(b))
	}
	return string(b)
}

// WaitFor polls cond until it holds, and fails the test if it does not
// within Timeout. It waits for an event without asserting how fast it
// comes.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers (a logger's
// output, say).
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ConnInfos collects what a negotiator's OnClose hook reports.
type ConnInfos struct {
	ch chan negotiate.ConnInfo
}

// NewConnInfos returns a collector; set its Hook as Options.OnClose.
func NewConnInfos() *ConnInfos { return &ConnInfos{ch: make(chan negotiate.ConnInfo, 64)} }

// Hook is the OnClose func.
func (c *ConnInfos) Hook(i negotiate.ConnInfo) { c.ch <- i }

// Next waits for the next closed connection.
func (c *ConnInfos) Next(t testing.TB) negotiate.ConnInfo {
	t.Helper()
	select {
	case i := <-c.ch:
		return i
	case <-time.After(Timeout):
		t.Fatal("timed out waiting for a connection to close")
		return negotiate.ConnInfo{}
	}
}

// Receive waits for a value on ch, and fails the test, naming what it
// waited for, if none comes within Timeout.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(Timeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// Contains fails the test for each of wants that got lacks; what names got
// in the message.
func Contains(t testing.TB, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s:\n%s\nwant it to contain %q", what, got, w)
		}
	}
}

// Lacks fails the test for each of bads that got contains.
func Lacks(t testing.TB, what, got string, bads ...string) {
	t.Helper()
	for _, b := range bads {
		if strings.Contains(got, b) {
			t.Errorf("%s:\n%s\nwant no %q in it", what, got, b)
		}
	}
}

// Endpoint mounts reg at an Endpoint of a new negotiator made with opts
// ([NewNegotiator]) on a loopback server ([StartServer]).
func Endpoint(t testing.TB, opts *negotiate.Options, reg *negotiate.Registry) (*negotiate.Negotiator, *httptest.Server) {
	t.Helper()
	n := NewNegotiator(t, opts)
	return n, StartServer(t, n.Endpoint(reg))
}

// Shutdown starts n.Shutdown, bounded by timeout, in the background, and
// returns the channel its result arrives on: the test goes on as the
// client while the negotiator shuts down.
func Shutdown(n *negotiate.Negotiator, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	return done
}

// LowerASCII lowers ASCII letters only, as field names compare (RFC 9110
// §5.1): an oracle that lowered with [strings.ToLower] would fold what a
// server must not (the Kelvin sign).
func LowerASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}
