package negotiate_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

func TestHooksSeeSwitchAndClose(t *testing.T) {
	t.Parallel()
	switched := make(chan negotiate.ConnInfo, 1)
	closed := make(chan negotiate.ConnInfo, 1)
	n := newNegotiator(t, &negotiate.Options{
		OnSwitch: func(i negotiate.ConnInfo) { switched <- i },
		OnClose:  func(i negotiate.ConnInfo) { closed <- i },
	})
	boom := errors.New("protocol failed")
	reg := newRegistry(t, map[string]negotiate.Protocol{"count": {Serve: func(c *negotiate.Conn) error {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if _, err := c.Write([]byte("0123456789")); err != nil {
			return err
		}
		return boom
	}}})
	srv := startServer(t, n.Endpoint(reg))
	c := dial(t, srv, "/", []string{"count"}, nil)
	in := <-switched
	if in.Protocol != "count" || in.RemoteAddr != c.LocalAddr().String() {
		t.Errorf("OnSwitch = %+v, want protocol count from %s", in, c.LocalAddr())
	}
	if active := n.Stats().Active["count"]; active != 1 {
		t.Errorf("Active while open = %d, want 1", active)
	}
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(c); err != nil || string(b) != "0123456789" {
		t.Fatalf("read %q, %v", b, err)
	}
	out := <-closed
	if out.BytesIn != 5 || out.BytesOut != 10 || !errors.Is(out.Err, boom) || out.Duration <= 0 || out.Protocol != "count" {
		t.Errorf("OnClose = %+v, want 5 in, 10 out, the protocol's error, a duration", out)
	}
	s := n.Stats()
	if s.Active["count"] != 0 || s.Switched["count"] != 1 {
		t.Errorf("stats after close = %+v, want 0 active, 1 switched", s)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	closed := make(chan negotiate.ConnInfo, 2)
	n := newNegotiator(t, &negotiate.Options{
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		OnClose: func(i negotiate.ConnInfo) { closed <- i },
	})
	reg := newRegistry(t, map[string]negotiate.Protocol{
		"echo/1": {Serve: echoConn},
		"boom": {Serve: func(c *negotiate.Conn) error {
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
			panic("protocol bug")
		}},
		"boom-engine": {Handshake: func(w http.ResponseWriter, r *http.Request) error { panic("engine bug before the switch") }},
	})
	srv := startServer(t, n.Endpoint(reg))
	good := dial(t, srv, "/", []string{"echo/1"}, nil)
	bad := dial(t, srv, "/", []string{"boom"}, nil)
	if _, err := bad.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(bad); err != nil {
		t.Errorf("panicking connection: %v, want a clean close", err)
	}
	info := <-closed
	if info.Protocol != "boom" || info.Err == nil || !strings.Contains(info.Err.Error(), "protocol bug") {
		t.Errorf("OnClose after panic = %+v", info)
	}
	// A panic before the switch closes that connection without a response.
	resp, err := http.DefaultClient.Do(mustReq(t, srv.URL, "boom-engine"))
	if err == nil {
		resp.Body.Close()
		t.Errorf("engine panic before the switch answered %d, want the connection closed", resp.StatusCode)
	}
	if got := roundTrip(t, good, "unharmed"); got != "unharmed" {
		t.Errorf("other connection after the panic: %q", got)
	}
	if s := n.Stats(); s.Panics != 2 {
		t.Errorf("Panics = %d, want 2", s.Panics)
	}
	if !strings.Contains(logs.String(), "protocol bug") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	http.DefaultClient.CloseIdleConnections()
}

func mustReq(t testing.TB, url, token string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", token)
	return r
}

func TestShutdownWithLiveConnections(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	asked, ready := make(chan struct{}), make(chan struct{})
	reg := newRegistry(t, map[string]negotiate.Protocol{
		"echo/1": {Serve: echoConn},
		// polite says goodbye its own way when asked, then closes. It sets
		// its goodbye from Serve, which runs in its own goroutine: the
		// test waits until it is set (Protocol.Shutdown has no such gap).
		"polite": {Serve: func(c *negotiate.Conn) error {
			c.OnShutdown(func() {
				close(asked)
				_, _ = io.WriteString(c, "going away")
				_ = c.CloseWrite()
			})
			close(ready)
			_, err := io.Copy(io.Discard, c)
			return err
		}},
	})
	srv := startServer(t, n.Endpoint(reg))
	raw := dial(t, srv, "/", []string{"echo/1"}, nil)
	polite := dial(t, srv, "/", []string{"polite"}, nil)
	waitFor(t, "two live connections", func() bool { s := n.Stats(); return s.Active["echo"]+s.Active["polite"] == 2 })
	<-ready

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	<-asked
	// The raw stream is just closed.
	if b, err := io.ReadAll(raw); err != nil || len(b) != 0 {
		t.Errorf("raw stream at shutdown: %q, %v; want closed", b, err)
	}
	// The polite protocol said goodbye; it ends when the client closes.
	if b, err := io.ReadAll(polite); err != nil || string(b) != "going away" {
		t.Errorf("polite protocol at shutdown: %q, %v", b, err)
	}
	// New switches are refused while draining.
	resp, body, _, _ := rawReq(t, srv, upgradeReq("/", "echo/1"))
	if resp.StatusCode != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("upgrade while draining: %d %q, want 503", resp.StatusCode, body)
	}
	polite.Close()
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v, want nil once every connection is gone", err)
	}
	if s := n.Stats(); s.Active["echo"]+s.Active["polite"] != 0 {
		t.Errorf("active after shutdown: %v", s.Active)
	}
}

var rawReq = raw

func TestShutdownForcesStuckConnections(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	reg := newRegistry(t, map[string]negotiate.Protocol{"stubborn": {Serve: func(c *negotiate.Conn) error {
		c.OnShutdown(func() {}) // ignores the request to close
		close(ready)
		_, err := io.Copy(io.Discard, c)
		return err
	}}})
	srv := startServer(t, n.Endpoint(reg))
	c := dial(t, srv, "/", []string{"stubborn"}, nil)
	<-ready // OnShutdown is set (Serve runs in its own goroutine)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error", err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("stuck connection after forced close: %q, %v", b, err)
	}
	waitFor(t, "the forced connection to leave", func() bool { return n.Stats().Active["stubborn"] == 0 })
}

func TestRegisterOnShutdown(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(&negotiate.Options{ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, n.Endpoint(echoRegistry(t)))
	n.RegisterOnShutdown(srv.Config)
	c := dial(t, srv, "/", []string{"echo/1"}, nil)
	if err := srv.Config.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// http.Server.Shutdown forgets hijacked connections; the negotiator
	// closes them.
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("switched connection after srv.Shutdown: %q, %v; want closed", b, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("waiting for the negotiator: %v", err)
	}
}

func TestConnContextCancelledAtShutdown(t *testing.T) {
	t.Parallel()
	n, err := negotiate.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	got := make(chan any, 1)
	reg := newRegistry(t, map[string]negotiate.Protocol{"ctx": {Serve: func(c *negotiate.Conn) error {
		c.OnShutdown(func() {}) // rely on the context alone
		_, _ = c.Write([]byte{1})
		<-c.Context().Done()
		got <- c.Context().Value(key{})
		return nil
	}}})
	h := n.Endpoint(reg)
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "from the request")))
	}))
	c := dial(t, srv, "/", []string{"ctx"}, nil)
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "from the request" {
		t.Errorf("context value = %v, want the request's", v)
	}
}
