package negotiate_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// startLogged is testkit.StartServer with the server's error log kept, so
// that a test sees a panic net/http recovered.
func startLogged(t *testing.T, h http.Handler) (*httptest.Server, *testkit.LockedBuffer) {
	t.Helper()
	logs := new(testkit.LockedBuffer)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, logs
}

// A Check that panics is answered like an Accept that panics: 500, the
// connection closed, the panic counted and reported as a failure — not a
// connection net/http drops without an answer.
func TestCheckPanicIsAFailure(t *testing.T) {
	t.Parallel()
	refusals := make(chan negotiate.RefusalInfo, 1)
	n := testkit.NewNegotiator(t, &negotiate.Options{OnRefuse: func(ri negotiate.RefusalInfo) { refusals <- ri }})
	reg := new(negotiate.Registry)
	reg.Register("kv/1", negotiate.Protocol{
		Check: func(r *http.Request) error { _ = r.Header["Name"][0]; return nil }, // panics without a Name field
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
			return testkit.EchoConn, nil
		},
	})
	srv, logs := startLogged(t, n.Endpoint(reg))
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "kv/1"))
	if x.Resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d %q, want 500", x.Resp.StatusCode, x.Body)
	}
	testkit.ExpectClosed(t, x.BR)
	if ri := testkit.Receive(t, refusals, "OnRefuse"); ri != (negotiate.RefusalInfo{Name: "kv", Status: 500, Failed: true}) {
		t.Errorf("OnRefuse got %+v, want kv, 500, failed", ri)
	}
	if p := n.Stats().Panics; p != 1 {
		t.Errorf("Stats.Panics = %d, want 1", p)
	}
	testkit.Lacks(t, "the server's error log", logs.String(), "panic")
}

// A hook that panics is a bug in the application's observer, not in the
// connection: the panic is recovered and counted, the switch goes on, the
// connection serves and closes, its slot is released, and the process
// lives.
func TestHookPanicsAreRecovered(t *testing.T) {
	t.Parallel()
	var switches atomic.Int32
	n := testkit.NewNegotiator(t, &negotiate.Options{
		MaxConns: 1,
		OnSwitch: func(negotiate.ConnInfo) {
			if switches.Add(1) == 1 {
				panic("OnSwitch bug")
			}
		},
		OnClose:  func(negotiate.ConnInfo) { panic("OnClose bug") },
		OnRefuse: func(negotiate.RefusalInfo) { panic("OnRefuse bug") },
	})
	srv, logs := startLogged(t, n.Endpoint(echoRegistry()))

	for i := range 2 { // the second switch needs the first one's slot
		c, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
		if got := testkit.RoundTrip(t, c, "ping"); got != "ping" {
			t.Fatalf("connection %d: echo = %q", i+1, got)
		}
		testkit.CloseWrite(t, c)
		if rest := testkit.ReadAll(t, c); rest != "" {
			t.Errorf("connection %d: read %q after the half-close", i+1, rest)
		}
		testkit.WaitFor(t, "the connection's slot to be released", func() bool { return n.Stats().Active["echo"] == 0 })
	}

	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "nothing/1"))
	if x.Resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("refusal with a panicking OnRefuse: status %d, want 426", x.Resp.StatusCode)
	}
	testkit.ExpectClosed(t, x.BR)

	// OnSwitch once, OnClose twice, OnRefuse once.
	testkit.WaitFor(t, "four hook panics counted", func() bool { return n.Stats().Panics == 4 })
	if s := n.Stats(); s.Switched["echo"] != 2 || s.Active["echo"] != 0 {
		t.Errorf("stats = %+v, want 2 switched, none active", s)
	}
	testkit.Lacks(t, "the server's error log", logs.String(), "panic")
}

// A switch still in Accept when the shutdown's context ends is not made
// after Shutdown has returned: the forced shutdown already closed every
// connection, so this one would be left open with nothing to close it.
// It is refused with 503, and its serve func runs on a dead connection.
func TestForcedShutdownRefusesSwitchesInAccept(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	inAccept, release, served := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	reg := new(negotiate.Registry)
	reg.Register("slow/1", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		close(inAccept)
		<-release
		return func(c *negotiate.Conn) error { // ignores its Context
			_, err := io.Copy(io.Discard, c)
			served <- err
			return err
		}, nil
	}})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "slow/1")); err != nil {
		t.Fatal(err)
	}
	testkit.Receive(t, inAccept, "the switch to reach Accept")

	// A shutdown whose context has already ended: it stops new switches,
	// closes the live connections and returns at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	close(release)

	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the switch that was in Accept: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after the forced shutdown: status %d %q, want 503", resp.StatusCode, body)
	}
	testkit.ExpectClosed(t, br)
	if err := testkit.Receive(t, served, "the serve func"); err == nil {
		t.Error("the serve func of the refused switch could read")
	}
	testkit.WaitFor(t, "the slot to be released", func() bool { return n.Stats().Active["slow"] == 0 })
	if s := n.Stats(); s.Switched["slow"] != 0 {
		t.Errorf("stats = %+v, want nothing switched", s)
	}
}

// When the switch fails after Accept, the serve func that runs to release
// what Accept acquired sees its Context cancelled, as the Conn's is when
// the connection is closed: a protocol that waits on it returns.
func TestFailedSwitchCancelsTheContext(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	done := make(chan error, 1)
	reg := newRegistry(map[string]negotiate.Protocol{"push": serving(func(c *negotiate.Conn) error {
		<-c.Context().Done() // a push protocol: it ends with its Context
		done <- c.Context().Err()
		return nil
	})})
	srv := testkit.StartServer(t, wrapWith(func(w http.ResponseWriter) http.ResponseWriter { return &opaque{w} }, n.Endpoint(reg)))
	resp, _, _, _ := raw(t, srv, testkit.UpgradeRequest("/", "push"))
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	if err := testkit.Receive(t, done, "the serve func to see its Context end"); !errors.Is(err, context.Canceled) {
		t.Errorf("Context().Err() = %v, want context.Canceled", err)
	}
}

// A Middleware passes on upgrades that offer nothing of its registry, but
// not a malformed Upgrade or Connection list: no server can tell what
// such a request offers, so every mount answers it 400, as its doc says.
func TestMiddlewareRefusesMalformedLists(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	srv := testkit.StartServer(t, n.Middleware(echoRegistry())(testkit.Plain))
	for _, tc := range []struct{ name, request, want string }{
		{"unregistered offer", testkit.UpgradeRequest("/", "websocket"), "200 plain"},
		{"malformed Upgrade", testkit.UpgradeRequest("/", "websocket, x y"), "400 malformed Upgrade"},
		{"malformed Connection", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, a@b\r\nUpgrade: websocket\r\n\r\n", "400 malformed Connection"},
	} {
		x := testkit.Raw(t, testkit.Addr(srv), tc.request)
		if got := fmt.Sprintf("%d %s", x.Resp.StatusCode, x.Body); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: answered %q, want %q…", tc.name, got, tc.want)
		}
	}
}

// A mount over a nil registry is a wiring mistake: it panics when it is
// made, like http.Handle with a nil handler, not inside the first upgrade
// request it serves.
func TestMountsPanicOnANilRegistry(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	for name, mount := range map[string]func(){
		"Middleware": func() { n.Middleware(nil) },
		"Endpoint":   func() { n.Endpoint(nil) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "nil *Registry") {
					t.Errorf("%s(nil): recovered %v, want a panic naming the nil *Registry", name, p)
				}
			}()
			mount()
		}()
	}
}
