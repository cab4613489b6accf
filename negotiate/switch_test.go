package negotiate_test

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestEarlyBytesInOneWrite(t *testing.T) {
	t.Parallel()
	_, srv := testkit.Endpoint(t, nil, echoRegistry())
	// The handshake and the first payload leave in one TCP write, so the
	// server's bufio.Reader holds the payload when the switch happens.
	payload := strings.Repeat("early!", 500)
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "echo/1")+payload)
	if x.Resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", x.Resp.StatusCode)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(x, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if string(got) != payload {
		t.Fatalf("early bytes came back as %d bytes, want %d unchanged", len(got), len(payload))
	}
	// Nothing is repeated: the next bytes are the next write's.
	if got := testkit.RoundTrip(t, x, "next"); got != "next" {
		t.Errorf("after the early bytes got %q, want \"next\"", got)
	}
}

func TestExpectContinueBefore101(t *testing.T) {
	t.Parallel()
	_, srv := testkit.Endpoint(t, nil, echoRegistry())
	resp, _, _, _, wire := rawWire(t, srv, testkit.UpgradeRequest("/", "echo/1", "Expect: 100-continue"))
	if !strings.HasPrefix(wire.String(), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 ") || resp.StatusCode != 101 {
		t.Fatalf("responses = %q, want 100 Continue, then the 101", wire.String())
	}
}

// wrapped is a logging-style wrapper that hides Hijack but offers Unwrap.
type wrapped struct {
	http.ResponseWriter
	status int
}

func (w *wrapped) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }
func (w *opaque) WriteHeader(code int)         { w.ResponseWriter.WriteHeader(code) }
func (w *opaque) Write(p []byte) (int, error)  { return w.ResponseWriter.Write(p) }
func (w *opaque) Header() http.Header          { return w.ResponseWriter.Header() }
func wrapWith(f func(http.ResponseWriter) http.ResponseWriter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(f(w), r) })
}

// opaque hides everything but the three ResponseWriter methods.
type opaque struct{ ResponseWriter http.ResponseWriter }

func TestWrappedResponseWriters(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &wrapped{ResponseWriter: w} }, n.Endpoint(echoRegistry())))
	c := dial(t, srv, "/", []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, c, "through a wrapper"); got != "through a wrapper" {
		t.Errorf("echo through Unwrap-able wrapper = %q", got)
	}
	// A writer that cannot hijack: 500, and the slot the attempt held is
	// free again (with a limit of one, the next switch would get 503).
	one := testkit.NewNegotiator(t, &negotiate.Options{MaxConns: 1})
	opaqueSrv := testkit.StartServer(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &opaque{w} }, one.Endpoint(echoRegistry())))
	resp, body, _, _ := raw(t, opaqueSrv, testkit.UpgradeRequest("/", "echo/1"))
	if resp.StatusCode != 500 || !strings.Contains(body, "does not support Hijack") {
		t.Errorf("opaque wrapper: %d %q, want a 500 that says the writer cannot hijack", resp.StatusCode, body)
	}
	plainSrv := testkit.StartServer(t, one.Endpoint(echoRegistry()))
	if resp, _, _, _ := raw(t, plainSrv, testkit.UpgradeRequest("/", "echo/1")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("after the failed switch: %d, want 101 (the slot must be free)", resp.StatusCode)
	}
}

func TestServerDeadlinesCleared(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Endpoint(echoRegistry()))
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	// The request is there when the server starts to read it: the 50 ms
	// bound the server's read of the upgrade, not how late the client
	// wrote after its connect.
	srv.Listener = testkit.Arrived(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	c := dial(t, srv, "/", []string{"echo/1"}, nil)
	// Outlive the server's timeouts; the switched connection keeps working.
	time.Sleep(200 * time.Millisecond)
	if got := testkit.RoundTrip(t, c, "still here"); got != "still here" {
		t.Errorf("after the server's deadlines: %q", got)
	}
}

func TestAcceptRefusesThroughResponder(t *testing.T) {
	t.Parallel()
	refused := make(chan int, 2)
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Responder: func(w http.ResponseWriter, r *http.Request, e *negotiate.Error) {
			refused <- e.Status
			negotiate.DefaultResponder(w, r, e)
		},
	})
	reg := newRegistry(map[string]negotiate.Protocol{
		"eng": {Accept: func(s *negotiate.Switch) (func(*negotiate.Conn) error, error) {
			return nil, negotiate.Refusal(http.StatusBadRequest, "engine says no", "Sec-WebSocket-Version", "13")
		}},
		"oops": {Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
			return nil, errors.New("backend down")
		}},
	})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	resp, body, br, _ := raw(t, srv, testkit.UpgradeRequest("/", "eng"))
	if resp.StatusCode != 400 || body != "engine says no\n" || resp.Header.Get("Sec-WebSocket-Version") != "13" || !resp.Close {
		t.Errorf("engine refusal = %d %q %v, want 400 through the responder with Connection: close", resp.StatusCode, body, resp.Header)
	}
	testkit.ExpectClosed(t, br)
	resp, body, _, _ = raw(t, srv, testkit.UpgradeRequest("/", "oops"))
	if resp.StatusCode != 500 {
		t.Errorf("Accept's plain error = %d %q, want 500", resp.StatusCode, body)
	}
	if a, b := testkit.Receive(t, refused, "the responder"), testkit.Receive(t, refused, "the responder"); a != 400 || b != 500 {
		t.Errorf("responder saw %d, %d; want 400, 500", a, b)
	}
	if s := n.Stats(); s.Refused != 2 || s.Active["eng"]+s.Active["oops"] != 0 {
		t.Errorf("stats = %+v, want 2 refused, none active", s)
	}
}

func TestMiddlewareShareWith101Headers(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	// Headers set by middleware in front (a request ID) travel with the
	// 101; framing fields do not.
	inner := n.Endpoint(echoRegistry())
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "42")
		w.Header().Set("Content-Length", "7")
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Upgrade", "evil")
		inner.ServeHTTP(w, r)
	}))
	_, _, _, _, wire := rawWire(t, srv, testkit.UpgradeRequest("/", "echo/1"))
	head, _, _ := bytes.Cut(wire.Bytes(), []byte("\r\n\r\n"))
	got := string(head)
	testkit.Contains(t, "101 head", got, "HTTP/1.1 101 Switching Protocols", "\r\nUpgrade: echo/1", "\r\nConnection: Upgrade", "\r\nX-Request-Id: 42")
	testkit.Lacks(t, "101 head", got, "Content-", "Transfer-Encoding", "Trailer", "evil")
}

// The serve func runs once for every Accept that returned one, even when
// the switch then fails, so that it can release what Accept acquired (a
// tunnel's backend connection); its reads and writes fail.
func TestServeRunsWhenTheSwitchFails(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	h, released := unhijackableResource(n)
	srv := testkit.StartServer(t, h)
	resp, _, _, _ := raw(t, srv, testkit.UpgradeRequest("/", "res"))
	if resp.StatusCode != 500 {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	wantReleased(t, n, released)
}

// unhijackableResource is an Endpoint of n for the protocol "res", behind a
// writer that cannot hijack, so that the switch fails after Accept.
// Accept acquires a resource the serve func releases: it reports on
// released what its write on the failed connection returned.
func unhijackableResource(n *negotiate.Negotiator) (h http.Handler, released <-chan error) {
	ch := make(chan error, 1)
	reg := newRegistry(map[string]negotiate.Protocol{"res": {Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		return func(c *negotiate.Conn) error {
			_, err := c.Write([]byte("x"))
			ch <- err
			return err
		}, nil
	}}})
	return wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &opaque{w} }, n.Endpoint(reg)), ch
}

// wantReleased wants the serve func of the failed switch to have run on a
// connection it could not write to, and nothing counted as switched.
func wantReleased(t *testing.T, n *negotiate.Negotiator, released <-chan error) {
	t.Helper()
	if err := testkit.Receive(t, released, "the serve func of the failed switch"); err == nil {
		t.Error("the serve func of a failed switch could write")
	}
	if s := n.Stats(); s.Active["res"] != 0 || s.Switched["res"] != 0 {
		t.Errorf("stats = %+v, want nothing switched", s)
	}
}

// The serve func runs even when the Responder panics on the refusal of a
// switch that failed after Accept: what Accept acquired is released.
func TestServeRunsWhenTheResponderPanics(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, &negotiate.Options{Responder: func(http.ResponseWriter, *http.Request, *negotiate.Error) {
		panic("responder")
	}})
	h, released := unhijackableResource(n)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // net/http's "panic serving"
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", testkit.Addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "res")); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, c) // net/http closes the connection after the panic
	wantReleased(t, n, released)
}

// Over HTTP/2 a refusal carries no connection-specific field (RFC 9113
// §8.2.2): a 426 from an Endpoint has no Upgrade or Connection, which
// clients would reject.
func TestRefusalOverHTTP2HasNoConnectionFields(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Endpoint(echoRegistry()))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("got %s %d, want HTTP/2 426", resp.Proto, resp.StatusCode)
	}
	for _, f := range []string{"Upgrade", "Connection"} {
		if v, ok := resp.Header[f]; ok {
			t.Errorf("HTTP/2 refusal carries %s: %q", f, v)
		}
	}
	if !strings.Contains(string(body), "requires a protocol upgrade") {
		t.Errorf("body = %q", body)
	}
}
