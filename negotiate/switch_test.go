package negotiate_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

func TestEarlyBytesInOneWrite(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	srv := startServer(t, n.Endpoint(echoRegistry(t)))
	// The handshake and the first payload leave in one TCP write, so the
	// server's bufio.Reader holds the payload when the switch happens.
	payload := strings.Repeat("early!", 500)
	resp, _, br, conn := raw(t, srv, upgradeReq("/", "echo/1")+payload)
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if string(got) != payload {
		t.Fatalf("early bytes came back as %d bytes, want %d unchanged", len(got), len(payload))
	}
	// Nothing is repeated: the next bytes are the next write's.
	if _, err := io.WriteString(conn, "next"); err != nil {
		t.Fatal(err)
	}
	next := make([]byte, 4)
	if _, err := io.ReadFull(br, next); err != nil || string(next) != "next" {
		t.Errorf("after the early bytes got %q, %v; want \"next\"", next, err)
	}
}

// gorillaLike is an engine that writes its own 101 and, like
// gorilla/websocket v1.5.3, refuses a hijacked reader that holds data.
func gorillaLike(w http.ResponseWriter, r *http.Request) error {
	nc, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return err
	}
	if brw.Reader.Buffered() > 0 {
		return fmt.Errorf("client sent data before handshake is complete")
	}
	if _, ok := nc.(*negotiate.Conn); !ok {
		return fmt.Errorf("hijacked %T, want *negotiate.Conn", nc)
	}
	if _, err := io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: eng\r\nConnection: Upgrade\r\n\r\n"); err != nil {
		return err
	}
	_, err = io.Copy(nc, brw.Reader)
	return err
}

func TestEarlyBytesReachHandshakeEngines(t *testing.T) {
	t.Parallel()
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{OnClose: func(i negotiate.ConnInfo) { closed <- i }})
	srv := startServer(t, n.Endpoint(newRegistry(t, map[string]negotiate.Protocol{"eng": {Handshake: gorillaLike}})))
	resp, _, br, conn := raw(t, srv, upgradeReq("/", "eng")+"frame-with-the-handshake")
	if resp.StatusCode != 101 {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	got := make([]byte, len("frame-with-the-handshake"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "frame-with-the-handshake" {
		t.Fatalf("early frame came back as %q, %v", got, err)
	}
	conn.Close()
	info := <-closed
	if info.Err != nil || info.BytesIn != int64(len(got)) || info.Protocol != "eng" {
		t.Errorf("close info = %+v, want no error, %d bytes in, protocol eng", info, len(got))
	}
}

func TestExpectContinueBefore101(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	srv := startServer(t, n.Endpoint(echoRegistry(t)))
	_, _, br, _, wire := rawWire(t, srv, upgradeReq("/", "echo/1", "Expect: 100-continue"))
	// ReadResponse returned the 100; the 101 follows.
	if !strings.HasPrefix(wire.String(), "HTTP/1.1 100 Continue\r\n\r\n") {
		t.Fatalf("first response = %q, want 100 Continue", wire.String())
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("second response = %v, %v; want 101", resp, err)
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
	n := newNegotiator(t, nil)
	for _, proto := range []negotiate.Protocol{{Serve: echoConn}, {Handshake: gorillaLike}} {
		reg := newRegistry(t, map[string]negotiate.Protocol{"eng": proto})
		srv := startServer(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &wrapped{ResponseWriter: w} }, n.Endpoint(reg)))
		c := dial(t, srv, "/", []string{"eng"}, nil)
		if got := roundTrip(t, c, "through a wrapper"); got != "through a wrapper" {
			t.Errorf("echo through Unwrap-able wrapper = %q", got)
		}
	}
	srv := startServer(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &opaque{w} }, n.Endpoint(echoRegistry(t))))
	resp, body, _, _ := raw(t, srv, upgradeReq("/", "echo/1"))
	if resp.StatusCode != 500 || !strings.Contains(body, "does not support Hijack") {
		t.Errorf("opaque wrapper: %d %q, want a 500 that says the writer cannot hijack", resp.StatusCode, body)
	}
	waitFor(t, "the failed switch to release its slot", func() bool { return n.Stats().Active["echo"] == 0 })
}

func TestServerDeadlinesCleared(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Endpoint(echoRegistry(t)))
	srv.Config.ReadTimeout = 50 * time.Millisecond
	srv.Config.WriteTimeout = 50 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	c := dial(t, srv, "/", []string{"echo/1"}, nil)
	// Outlive the server's timeouts; the switched connection keeps working.
	time.Sleep(200 * time.Millisecond)
	if got := roundTrip(t, c, "still here"); got != "still here" {
		t.Errorf("after the server's deadlines: %q", got)
	}
}

func TestHandshakeEngineRefusesThroughResponder(t *testing.T) {
	t.Parallel()
	refused := make(chan int, 2)
	n := newNegotiator(t, &negotiate.Options{OnRefuse: func(r *http.Request, e *negotiate.Error) { refused <- e.Status }})
	reg := newRegistry(t, map[string]negotiate.Protocol{"eng": {Handshake: func(w http.ResponseWriter, r *http.Request) error {
		negotiate.Refuse(w, r, negotiate.Refusal(http.StatusBadRequest, "engine says no", "Sec-WebSocket-Version", "13"))
		return nil
	}}})
	srv := startServer(t, n.Endpoint(reg))
	resp, body, br, _ := raw(t, srv, upgradeReq("/", "eng"))
	if resp.StatusCode != 400 || body != "engine says no\n" || resp.Header.Get("Sec-WebSocket-Version") != "13" || !resp.Close {
		t.Errorf("engine refusal = %d %q %v, want 400 through the responder with Connection: close", resp.StatusCode, body, resp.Header)
	}
	expectClosed(t, br)
	if got := <-refused; got != 400 || len(refused) != 0 {
		t.Errorf("OnRefuse saw %d (and %d more), want one 400", got, len(refused))
	}
}

func TestMiddlewareShareWith101Headers(t *testing.T) {
	t.Parallel()
	n := newNegotiator(t, nil)
	// Headers set by middleware in front (a request ID) travel with the
	// 101; framing fields do not.
	inner := n.Endpoint(echoRegistry(t))
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "42")
		w.Header().Set("Content-Length", "7")
		w.Header().Set("Upgrade", "evil")
		inner.ServeHTTP(w, r)
	}))
	_, _, _, _, wire := rawWire(t, srv, upgradeReq("/", "echo/1"))
	head, _, _ := bytes.Cut(wire.Bytes(), []byte("\r\n\r\n"))
	got := string(head)
	for _, want := range []string{"HTTP/1.1 101 Switching Protocols", "\r\nUpgrade: echo/1", "\r\nConnection: Upgrade", "\r\nX-Request-Id: 42"} {
		if !strings.Contains(got, want) {
			t.Errorf("101 head lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"Content-Length", "evil"} {
		if strings.Contains(got, bad) {
			t.Errorf("101 head carries %q:\n%s", bad, got)
		}
	}
}
