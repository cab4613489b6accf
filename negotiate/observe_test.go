package negotiate_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// Each way a connection ends has its CloseReason in OnClose: the client's
// end (normal), the protocol's error (error), a shutdown the protocol
// follows (shutdown), and one it ignores until the shutdown's context
// ends (forced).
func TestCloseReason(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("polite", testkit.EchoConn) // stops at the Context's end
	reg.HandleFunc("deaf", func(c *negotiate.Conn) error {
		_, err := io.Copy(io.Discard, c) // ignores the Context
		return err
	})
	reg.HandleFunc("fails", func(c *negotiate.Conn) error {
		_, _ = io.ReadFull(c, make([]byte, 1))
		return errors.New("bad frame")
	})
	n, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)

	c := dial(t, srv, "/", []string{"polite"}, nil)
	testkit.RoundTrip(t, c, "hi")
	c.Close()
	if i := infos.Next(t); i.CloseReason != negotiate.CloseNormal || i.Err != nil {
		t.Errorf("client closed: CloseReason %q, Err %v; want normal, nil", i.CloseReason, i.Err)
	}
	c = dial(t, srv, "/", []string{"fails"}, nil)
	_, _ = c.Write([]byte("x"))
	testkit.ReadAll(t, c) // the server's end, then ours: no linger
	c.Close()
	if i := infos.Next(t); i.CloseReason != negotiate.CloseError || i.Err == nil {
		t.Errorf("protocol failed: CloseReason %q, Err %v; want error", i.CloseReason, i.Err)
	}

	polite := dial(t, srv, "/", []string{"polite"}, nil)
	deaf := dial(t, srv, "/", []string{"deaf"}, nil)
	testkit.RoundTrip(t, polite, "hi")
	testkit.WaitFor(t, "both switched", func() bool { return len(n.Conns()) == 2 })
	done := testkit.Shutdown(n, time.Second) // the deaf one holds it to the end
	got := map[string]string{}
	for range 2 {
		i := infos.Next(t)
		got[i.Name] = i.CloseReason
	}
	if err := testkit.Receive(t, done, "the shutdown"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline (the deaf protocol ignores it)", err)
	}
	if got["polite"] != negotiate.CloseShutdown || got["deaf"] != negotiate.CloseForced {
		t.Errorf("at shutdown: %v, want polite shutdown and deaf forced", got)
	}
	if got := testkit.ReadAll(t, polite); got != "" {
		t.Errorf("polite connection read %q at shutdown, want the end of the stream", got)
	}
	testkit.ExpectClosed(t, deaf)
}

// Handshake runs from the choice of the protocol to the switch: it
// includes what Accept takes, and fits in what the client waited for the
// 101. OnSwitch, Conns and OnClose report the same value.
func TestHandshakeDuration(t *testing.T) {
	t.Parallel()
	const acceptTakes = 30 * time.Millisecond
	switched := make(chan negotiate.ConnInfo, 1)
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.Register("slow", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		time.Sleep(acceptTakes) // an Accept that dials a backend, say
		return testkit.EchoConn, nil
	}})
	n, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook,
		OnSwitch: func(i negotiate.ConnInfo) { switched <- i }}, reg)
	began := time.Now()
	c := dial(t, srv, "/", []string{"slow"}, nil)
	waited := time.Since(began)
	sw := testkit.Receive(t, switched, "OnSwitch")
	if sw.Handshake < acceptTakes || sw.Handshake > waited {
		t.Errorf("Handshake %v, want at least Accept's %v and at most the client's wait %v", sw.Handshake, acceptTakes, waited)
	}
	if live := n.Conns(); len(live) != 1 || live[0].Handshake != sw.Handshake {
		t.Errorf("Conns() = %+v, want the one connection with Handshake %v", live, sw.Handshake)
	}
	c.Close()
	if i := infos.Next(t); i.Handshake != sw.Handshake {
		t.Errorf("OnClose Handshake %v, OnSwitch's %v", i.Handshake, sw.Handshake)
	}
}

// Every upgrade request that does not switch reaches OnRefuse once, with
// the protocol concerned (never what the client offered), the status
// answered, and whether the server failed rather than refused.
func TestOnRefuse(t *testing.T) {
	t.Parallel()
	refusals := make(chan negotiate.RefusalInfo, 16)
	reg := new(negotiate.Registry)
	reg.Register("checked", negotiate.Protocol{
		Check: func(r *http.Request) error {
			if r.Header.Get("X-Ok") == "" {
				return negotiate.Refusal(http.StatusBadRequest, "no X-Ok")
			}
			return nil
		},
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return testkit.EchoConn, nil },
	})
	reg.Register("broken", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		return nil, errors.New("backend down")
	}})
	reg.Register("panics", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		panic("bug")
	}})
	reg.Register("gateway", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		return nil, negotiate.Refusal(http.StatusBadGateway, "no backend")
	}})
	reg.HandleFunc("private", testkit.EchoConn)
	reg.HandleFunc("one", testkit.EchoConn)
	n, srv := testkit.Endpoint(t, &negotiate.Options{
		ProtocolMaxConns: map[string]int{"one": 1},
		Authorize: func(s *negotiate.Switch) error {
			if s.Token == "private" {
				return errors.New("not you")
			}
			return nil
		},
		OnRefuse: func(i negotiate.RefusalInfo) { refusals <- i },
	}, reg)
	held := dial(t, srv, "/", []string{"one"}, nil) // takes the one slot
	testkit.RoundTrip(t, held, "x")

	for _, tc := range []struct {
		name, request string
		want          negotiate.RefusalInfo
	}{
		{"unregistered at an endpoint", testkit.UpgradeRequest("/", "nope/9"), negotiate.RefusalInfo{Status: 426}},
		{"malformed list", testkit.UpgradeRequest("/", "a b"), negotiate.RefusalInfo{Status: 400}},
		{"check refuses", testkit.UpgradeRequest("/", "Checked/2"), negotiate.RefusalInfo{Name: "checked", Status: 400}},
		{"authorize refuses", testkit.UpgradeRequest("/", "private"), negotiate.RefusalInfo{Name: "private", Status: 403}},
		{"over the protocol's limit", testkit.UpgradeRequest("/", "one"), negotiate.RefusalInfo{Name: "one", Status: 503}},
		{"accept refuses with its own status", testkit.UpgradeRequest("/", "gateway"), negotiate.RefusalInfo{Name: "gateway", Status: 502}},
		{"accept fails", testkit.UpgradeRequest("/", "broken"), negotiate.RefusalInfo{Name: "broken", Status: 500, Failed: true}},
		{"accept panics", testkit.UpgradeRequest("/", "panics"), negotiate.RefusalInfo{Name: "panics", Status: 500, Failed: true}},
	} {
		x := testkit.Raw(t, testkit.Addr(srv), tc.request)
		if x.Resp.StatusCode != tc.want.Status {
			t.Errorf("%s: answered %d, want %d", tc.name, x.Resp.StatusCode, tc.want.Status)
		}
		if got := testkit.Receive(t, refusals, "OnRefuse for "+tc.name); got != tc.want {
			t.Errorf("%s: OnRefuse(%+v), want %+v", tc.name, got, tc.want)
		}
	}
	// A switch reports nothing to OnRefuse.
	c := dial(t, srv, "/", []string{"checked"}, http.Header{"X-Ok": {"1"}})
	testkit.RoundTrip(t, c, "x")
	select {
	case i := <-refusals:
		t.Errorf("OnRefuse(%+v) for a switch", i)
	default:
	}
	if s := n.Stats(); s.Refused != 8 {
		t.Errorf("Stats().Refused = %d, want the 8 OnRefuse saw", s.Refused)
	}
}

// A ResponseWriter that cannot hijack makes the switch fail on the
// server's side: OnRefuse sees a failure of the chosen protocol, with
// the 500 answered.
func TestOnRefuseHijackFails(t *testing.T) {
	t.Parallel()
	refusals := make(chan negotiate.RefusalInfo, 1)
	n := testkit.NewNegotiator(t, &negotiate.Options{OnRefuse: func(i negotiate.RefusalInfo) { refusals <- i }})
	h := n.Endpoint(echoRegistry())
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(struct{ http.ResponseWriter }{w}, r) // hides Hijack, no Unwrap
	}))
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "echo/1"))
	want := negotiate.RefusalInfo{Name: "echo", Status: 500, Failed: true}
	if got := testkit.Receive(t, refusals, "OnRefuse"); x.Resp.StatusCode != 500 || got != want {
		t.Errorf("answered %d, OnRefuse(%+v); want 500 and %+v", x.Resp.StatusCode, got, want)
	}
}

// Conns lists the live connections oldest first with their bytes so far,
// and drops each once it has closed.
func TestConns(t *testing.T) {
	t.Parallel()
	reg := echoRegistry()
	reg.HandleFunc("other", testkit.EchoConn)
	n, srv := testkit.Endpoint(t, nil, reg)
	if got := n.Conns(); len(got) != 0 {
		t.Fatalf("Conns() of a new negotiator = %+v", got)
	}
	first := dial(t, srv, "/", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, first, "hello")
	second := dial(t, srv, "/", []string{"Other"}, nil)
	testkit.RoundTrip(t, second, "0123456789")
	testkit.WaitFor(t, "the byte counts", func() bool {
		l := n.Conns()
		return len(l) == 2 && l[0].BytesOut == 5 && l[1].BytesOut == 10
	})
	l := n.Conns()
	for i, want := range []struct {
		token, name string
		local       string
		bytes       int64
	}{{"echo/1", "echo", first.LocalAddr().String(), 5}, {"Other", "other", second.LocalAddr().String(), 10}} {
		c := l[i]
		if c.Token != want.token || c.Name != want.name || c.RemoteAddr != want.local || c.Transport != negotiate.TransportHTTP1 ||
			c.BytesIn != want.bytes || c.Start.IsZero() || c.Duration <= 0 || c.CloseReason != "" || c.Err != nil {
			t.Errorf("Conns()[%d] = %+v, want %s (%s) from %s over http/1.1, %d bytes each way", i, c, want.token, want.name, want.local, want.bytes)
		}
	}
	if !l[0].Start.Before(l[1].Start) {
		t.Errorf("Conns() not oldest first: %v, %v", l[0].Start, l[1].Start)
	}
	first.Close()
	testkit.WaitFor(t, "the first connection to leave the list", func() bool {
		l := n.Conns()
		return len(l) == 1 && l[0].Name == "other"
	})
}

// Conns may be called while connections come and go (run with -race):
// it never holds a connection up, and lists only live ones.
func TestConnsWhileChurning(t *testing.T) {
	t.Parallel()
	n, srv := testkit.Endpoint(t, nil, echoRegistry())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, c := range n.Conns() {
				if c.Name != "echo" || c.BytesIn < 0 {
					t.Errorf("Conns() listed %+v", c)
				}
			}
		}
	}()
	for i := range 50 {
		c := dial(t, srv, "/", []string{"echo/1"}, nil)
		msg := strings.Repeat("x", i+1)
		if got := testkit.RoundTrip(t, c, msg); got != msg {
			t.Errorf("echo %q", got)
		}
		c.Close()
	}
	close(stop)
	wg.Wait()
	testkit.WaitFor(t, "every connection to leave the list", func() bool { return len(n.Conns()) == 0 })
}

// A Responder that panics answers nothing (net/http closes the
// connection), and the refusal still reaches OnRefuse, as a failure with
// nothing answered, so that what observers count agrees with
// Stats().Refused.
func TestOnRefuseResponderPanics(t *testing.T) {
	t.Parallel()
	refusals := make(chan negotiate.RefusalInfo, 1)
	n := testkit.NewNegotiator(t, &negotiate.Options{
		OnRefuse:  func(i negotiate.RefusalInfo) { refusals <- i },
		Responder: func(http.ResponseWriter, *http.Request, *negotiate.Error) { panic("responder") },
	})
	srv := httptest.NewUnstartedServer(n.Endpoint(echoRegistry()))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // net/http's "panic serving"
	srv.Start()
	t.Cleanup(srv.Close)
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "nothing/9")); err != nil {
		t.Fatal(err)
	}
	if got := testkit.ReadAll(t, c); got != "" {
		t.Errorf("the client got %q, want nothing", got)
	}
	want := negotiate.RefusalInfo{Status: 0, Failed: true}
	if got := testkit.Receive(t, refusals, "OnRefuse"); got != want {
		t.Errorf("OnRefuse(%+v), want %+v", got, want)
	}
	if s := n.Stats(); s.Refused != 1 {
		t.Errorf("Stats().Refused = %d, want 1", s.Refused)
	}
}

// A ResponseWriter wrapper whose Hijack fails with an error of its own
// (not http.ErrNotSupported, not an *Error) gets a 500, as gorilla's
// Upgrader and x/net's h2c answer a failed hijack, not the empty 200
// net/http writes for a handler that wrote nothing. Only a connection
// already hijacked (http.ErrHijacked: a middleware in front took it) gets
// no answer: it is no longer the server's to write on.
func TestHijackFailsWithItsOwnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		answer string // the status line the client gets, "" for none
		want   negotiate.RefusalInfo
	}{
		{"its own error", errors.New("wrapper: not now"), "HTTP/1.1 500 Internal Server Error", negotiate.RefusalInfo{Name: "echo", Status: 500, Failed: true}},
		{"already hijacked", http.ErrHijacked, "", negotiate.RefusalInfo{Name: "echo", Status: 0, Failed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refusals := make(chan negotiate.RefusalInfo, 1)
			n := testkit.NewNegotiator(t, &negotiate.Options{OnRefuse: func(i negotiate.RefusalInfo) { refusals <- i }})
			h := n.Endpoint(echoRegistry())
			var errorLog testkit.LockedBuffer
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.err == http.ErrHijacked {
					nc, _, err := http.NewResponseController(w).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					nc.Close()
				}
				h.ServeHTTP(hijackFails{w, tc.err}, r)
			}))
			srv.Config.ErrorLog = log.New(&errorLog, "", 0)
			srv.Start()
			t.Cleanup(srv.Close)
			c := testkit.DialTCP(t, testkit.Addr(srv))
			if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "echo/1")); err != nil {
				t.Fatal(err)
			}
			got, _, _ := strings.Cut(testkit.ReadAll(t, c), "\r\n")
			if got != tc.answer {
				t.Errorf("the client got %q first, want %q", got, tc.answer)
			}
			if got := testkit.Receive(t, refusals, "OnRefuse"); got != tc.want {
				t.Errorf("OnRefuse(%+v), want %+v", got, tc.want)
			}
			srv.Close()
			if l := errorLog.String(); l != "" {
				t.Errorf("the server logged %q", l)
			}
		})
	}
}

// hijackFails is a ResponseWriter wrapper whose Hijack fails with err.
type hijackFails struct {
	http.ResponseWriter
	err error
}

func (w hijackFails) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, w.err }
