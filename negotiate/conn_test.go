package negotiate_test

import (
	"context"
	"errors"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/negotiate"
)

func TestHooksSeeSwitchAndClose(t *testing.T) {
	t.Parallel()
	switched := make(chan negotiate.ConnInfo, 1)
	infos := testkit.NewConnInfos()
	n := testkit.NewNegotiator(t, &negotiate.Options{
		OnSwitch: func(i negotiate.ConnInfo) { switched <- i },
		OnClose:  infos.Hook,
	})
	boom := errors.New("protocol failed")
	reg := newRegistry(map[string]negotiate.Protocol{"count": serving(func(c *negotiate.Conn) error {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if _, err := c.Write([]byte("0123456789")); err != nil {
			return err
		}
		return boom
	})})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	c := dial(t, srv, "/", []string{"count"}, nil)
	in := <-switched
	if in.Token != "count" || in.RemoteAddr != c.LocalAddr().String() {
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
	out := infos.Next(t)
	if out.BytesIn != 5 || out.BytesOut != 10 || !errors.Is(out.Err, boom) || out.Duration <= 0 || out.Token != "count" {
		t.Errorf("OnClose = %+v, want 5 in, 10 out, the protocol's error, a duration", out)
	}
	s := n.Stats()
	if s.Active["count"] != 0 || s.Switched["count"] != 1 {
		t.Errorf("stats after close = %+v, want 0 active, 1 switched", s)
	}
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	var logs testkit.LockedBuffer
	infos := testkit.NewConnInfos()
	n := testkit.NewNegotiator(t, &negotiate.Options{
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		OnClose: infos.Hook,
	})
	reg := newRegistry(map[string]negotiate.Protocol{
		"echo/1": serving(testkit.EchoConn),
		"boom": serving(func(c *negotiate.Conn) error {
			buf := make([]byte, 1)
			_, _ = c.Read(buf)
			panic("protocol bug")
		}),
		"boom-engine": {Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { panic("engine bug before the switch") }},
	})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	good := dial(t, srv, "/", []string{"echo/1"}, nil)
	bad := dial(t, srv, "/", []string{"boom"}, nil)
	if _, err := bad.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(bad); err != nil {
		t.Errorf("panicking connection: %v, want a clean close", err)
	}
	info := infos.Next(t)
	if info.Token != "boom" || info.Err == nil || !strings.Contains(info.Err.Error(), "protocol bug") {
		t.Errorf("OnClose after panic = %+v", info)
	}
	// A panic before the switch is a 500 (the server's fault), and the
	// slot it held is free again.
	resp, err := http.DefaultClient.Do(mustReq(t, srv.URL, "boom-engine"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("engine panic before the switch answered %d, want 500", resp.StatusCode)
	}
	if got := testkit.RoundTrip(t, good, "unharmed"); got != "unharmed" {
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
	asked, ready := make(chan struct{}), make(chan struct{})
	reg := newRegistry(map[string]negotiate.Protocol{
		"echo/1": serving(testkit.EchoConn),
		// polite watches its context and says goodbye its own way when
		// the shutdown cancels it, then returns.
		"polite": serving(func(c *negotiate.Conn) error {
			ctx := c.Context()
			close(ready)
			<-ctx.Done()
			close(asked)
			_, err := io.WriteString(c, "going away")
			return err
		}),
	})
	n, srv := testkit.Endpoint(t, nil, reg)
	raw := dial(t, srv, "/", []string{"echo/1"}, nil)
	polite := dial(t, srv, "/", []string{"polite"}, nil)
	testkit.WaitFor(t, "two live connections", func() bool { s := n.Stats(); return s.Active["echo"]+s.Active["polite"] == 2 })
	<-ready

	done := testkit.Shutdown(n, 10*time.Second)
	<-asked
	// The raw stream is just closed.
	if b, err := io.ReadAll(raw); err != nil || len(b) != 0 {
		t.Errorf("raw stream at shutdown: %q, %v; want closed", b, err)
	}
	// The polite protocol said goodbye; the negotiator's close lingers
	// until the client closes too.
	if b, err := io.ReadAll(polite); err != nil || string(b) != "going away" {
		t.Errorf("polite protocol at shutdown: %q, %v", b, err)
	}
	// New switches are refused while draining.
	resp, body, _, _ := rawReq(t, srv, testkit.UpgradeRequest("/", "echo/1"))
	if resp.StatusCode != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("upgrade while draining: %d %q, want 503", resp.StatusCode, body)
	}
	polite.Close()
	if err := testkit.Receive(t, done, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown = %v, want nil once every connection is gone", err)
	}
	if s := n.Stats(); s.Active["echo"]+s.Active["polite"] != 0 {
		t.Errorf("active after shutdown: %v", s.Active)
	}
}

var rawReq = raw

func TestShutdownForcesStuckConnections(t *testing.T) {
	t.Parallel()
	ready := make(chan struct{})
	reg := newRegistry(map[string]negotiate.Protocol{"stubborn": serving(func(c *negotiate.Conn) error {
		_ = c.Context() // takes part in the shutdown, then ignores it
		close(ready)
		_, err := io.Copy(io.Discard, c)
		return err
	})})
	n, srv := testkit.Endpoint(t, nil, reg)
	c := dial(t, srv, "/", []string{"stubborn"}, nil)
	<-ready
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's error", err)
	}
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("stuck connection after forced close: %q, %v", b, err)
	}
	testkit.WaitFor(t, "the forced connection to leave", func() bool { return n.Stats().Active["stubborn"] == 0 })
}

func TestRegisterOnShutdown(t *testing.T) {
	t.Parallel()
	n, srv := testkit.Endpoint(t, &negotiate.Options{ShutdownTimeout: 5 * time.Second}, echoRegistry())
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
	type key struct{}
	got := make(chan any, 1)
	reg := newRegistry(map[string]negotiate.Protocol{"ctx": serving(func(c *negotiate.Conn) error {
		_, _ = c.Write([]byte{1})
		<-c.Context().Done()
		got <- c.Context().Value(key{})
		return nil
	})})
	n := testkit.NewNegotiator(t, nil)
	h := n.Endpoint(reg)
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "from the request")))
	}))
	c := dial(t, srv, "/", []string{"ctx"}, nil)
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Receive(t, testkit.Shutdown(n, testkit.Timeout), "Shutdown to return"); err != nil {
		t.Fatal(err)
	}
	if v := testkit.Receive(t, got, "the protocol's context value"); v != "from the request" {
		t.Errorf("context value = %v, want the request's", v)
	}
}
