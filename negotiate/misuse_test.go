package negotiate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// panicMessage runs f and returns what it panicked with, "" if it did not.
func panicMessage(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
			if msg == "" {
				msg = "(empty panic)"
			}
		}
	}()
	f()
	return ""
}

// Mistakes in mounting a negotiator panic when the mount is made, with a
// message that names the mistake, as http.Handle does on a nil handler,
// rather than as a nil dereference inside the first request (a zero or
// nil Negotiator at its first upgrade, even at its first plain request at
// an Endpoint) or, for a nil next handler, as a silent 426 to every plain
// request.
func TestMountMistakesPanic(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	n := testkit.NewNegotiator(t, nil)
	var zero negotiate.Negotiator
	var nilN *negotiate.Negotiator
	for name, f := range map[string]func(){
		"zero Negotiator's Middleware": func() { zero.Middleware(reg) },
		"zero Negotiator's Endpoint":   func() { zero.Endpoint(reg) },
		"nil Negotiator's Middleware":  func() { nilN.Middleware(reg) },
		"nil Negotiator's Endpoint":    func() { nilN.Endpoint(reg) },
		"Middleware around nil":        func() { n.Middleware(reg)(nil) },
		"RegisterOnShutdown(nil)":      func() { n.RegisterOnShutdown(nil) },
	} {
		msg := panicMessage(f)
		if !strings.HasPrefix(msg, "negotiate: ") {
			t.Errorf("%s: panic %q, want one of negotiate's own at the mount", name, msg)
		}
	}
}

// Upgrade, the call adapters to other routers make, panics with
// negotiate's own message on a nil Registry or a Negotiator New did not
// make, as the mounts do, at the first upgrade it is given, not with a nil
// dereference deep in the negotiation; a plain request passes as before.
func TestUpgradeMistakesPanic(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	n := testkit.NewNegotiator(t, nil)
	var zero negotiate.Negotiator
	for name, call := range map[string]func(http.ResponseWriter, *http.Request) bool{
		"nil Registry":    func(w http.ResponseWriter, r *http.Request) bool { return n.Upgrade(w, r, nil) },
		"zero Negotiator": func(w http.ResponseWriter, r *http.Request) bool { return zero.Upgrade(w, r, reg) },
	} {
		panics := make(chan string, 2)
		srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			msg := panicMessage(func() {
				if !call(w, r) {
					w.WriteHeader(http.StatusNoContent)
				}
			})
			panics <- msg
			if msg != "" {
				http.Error(w, "panicked", http.StatusTeapot)
			}
		}))
		resp, _ := testkit.Do(t, "GET", srv.URL, nil, nil)
		if msg := testkit.Receive(t, panics, name+": the plain request's outcome"); msg != "" || resp.StatusCode != http.StatusNoContent {
			t.Errorf("%s, plain request: %s, panic %q; want 204 and no panic", name, resp.Status, msg)
		}
		testkit.Do(t, "GET", srv.URL, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, nil)
		if msg := testkit.Receive(t, panics, name+": the upgrade's outcome"); !strings.HasPrefix(msg, "negotiate: Upgrade ") {
			t.Errorf("%s, upgrade: panic %q, want negotiate's own message naming Upgrade", name, msg)
		}
	}
}

// ProtocolMaxConns keys are protocol names, compared in lower case: two
// keys that differ only in case name one protocol, and New refuses them
// rather than keep either limit as the map's order falls.
func TestNewRefusesCaseVariantLimits(t *testing.T) {
	t.Parallel()
	_, err := negotiate.New(&negotiate.Options{ProtocolMaxConns: map[string]int{"echo": 0, "ECHO": 5}})
	if err == nil {
		t.Fatal("New took ProtocolMaxConns echo and ECHO")
	}
	testkit.Contains(t, "the error", err.Error(), "ProtocolMaxConns")
}

// A ProtocolMaxConns of 0 refuses every switch to that protocol with 503
// (unlike MaxConns, whose 0 means no limit), and a RetryAfter too long for
// the header's arithmetic is still its whole seconds, not 1.
func TestLimitEdges(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	reg.HandleFunc("other", testkit.EchoConn)
	_, srv := testkit.Endpoint(t, &negotiate.Options{
		ProtocolMaxConns: map[string]int{"echo": 0},
		RetryAfter:       math.MaxInt64,
	}, reg)
	resp, _ := testkit.Do(t, "GET", srv.URL, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("echo with ProtocolMaxConns 0: %s, want 503", resp.Status)
	}
	if got, want := resp.Header.Get("Retry-After"), "9223372037"; got != want {
		t.Errorf("Retry-After = %q, want %q (math.MaxInt64 ns in whole seconds, rounded up)", got, want)
	}
	c, _ := testkit.Dial(t, srv.URL, []string{"other"}, nil)
	defer c.Close()
	if got := testkit.RoundTrip(t, c, "hi"); got != "hi" {
		t.Errorf("other protocol's echo = %q", got)
	}
}

// The Registry's doc says registration is safe while it serves requests:
// tokens registered while two negotiators (over HTTP/1.1) switch through
// it are offered and switched as soon as Register has returned, with the
// race detector watching.
func TestRegisterWhileServing(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("base", testkit.EchoConn)
	n1 := testkit.NewNegotiator(t, nil)
	n2 := testkit.NewNegotiator(t, nil)
	srvs := []string{
		testkit.StartServer(t, n1.Middleware(reg)(http.NotFoundHandler())).URL,
		testkit.StartServer(t, n2.Endpoint(reg)).URL,
	}
	const rounds = 20
	registered := make(chan string)
	go func() {
		defer close(registered)
		for i := range rounds {
			tok := fmt.Sprintf("p%d", i)
			reg.HandleFunc(tok, testkit.EchoConn)
			registered <- tok
		}
	}()
	var wg sync.WaitGroup
	for tok := range registered {
		for _, u := range srvs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, resp := testkit.Dial(t, u, []string{tok, "base"}, nil)
				defer c.Close()
				if got := resp.Header.Get("Upgrade"); got != tok {
					t.Errorf("switched to %q, want %q registered before the dial", got, tok)
				}
				if got := testkit.RoundTrip(t, c, tok); got != tok {
					t.Errorf("echo = %q, want %q", got, tok)
				}
			}()
		}
		_ = reg.Tokens()
	}
	wg.Wait()
	if got := len(reg.Tokens()); got != rounds+1 {
		t.Errorf("%d tokens registered, want %d", got, rounds+1)
	}
	testkit.WaitFor(t, "every connection closed", func() bool { return len(n1.Conns())+len(n2.Conns()) == 0 })
	for i, n := range []*negotiate.Negotiator{n1, n2} {
		s := n.Stats()
		for j := range rounds {
			if got := s.Switched[fmt.Sprintf("p%d", j)]; got != 1 {
				t.Errorf("negotiator %d: Switched[p%d] = %d, want 1", i+1, j, got)
			}
		}
		if s.Refused != 0 || s.Panics != 0 {
			t.Errorf("negotiator %d: %+v", i+1, s)
		}
	}
}

// What the Conn's doc says of its Close, on both transports: a read or
// write made after it fails with net.ErrClosed, calling Close again does
// nothing, the context is cancelled and Buffers is nil; none of it
// panics, also once the negotiator has closed the connection itself.
func TestConnAfterClose(t *testing.T) {
	t.Parallel()
	serve := func(errs chan<- error, kept chan<- *negotiate.Conn) func(c *negotiate.Conn) error {
		return func(c *negotiate.Conn) error {
			kept <- c
			errs <- afterClose(c)
			return nil
		}
	}
	check := func(t *testing.T, n *negotiate.Negotiator, errs <-chan error, kept <-chan *negotiate.Conn) {
		if err := testkit.Receive(t, errs, "the checks after Close"); err != nil {
			t.Error(err)
		}
		c := testkit.Receive(t, kept, "the Conn")
		testkit.WaitFor(t, "the negotiator's close", func() bool { return len(n.Conns()) == 0 })
		if err := afterClose(c); err != nil {
			t.Errorf("once the negotiator closed it: %v", err)
		}
	}
	t.Run("http/1.1", func(t *testing.T) {
		t.Parallel()
		errs, kept := make(chan error, 1), make(chan *negotiate.Conn, 1)
		reg := new(negotiate.Registry)
		reg.HandleFunc("x", serve(errs, kept))
		n, srv := testkit.Endpoint(t, &negotiate.Options{Linger: time.Millisecond}, reg)
		c, _ := testkit.Dial(t, srv.URL, []string{"x"}, nil)
		defer c.Close()
		check(t, n, errs, kept)
	})
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		errs, kept := make(chan error, 1), make(chan *negotiate.Conn, 1)
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.HandleFunc("x", serve(errs, kept))
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		if _, _, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "x", nil); err != nil {
			t.Fatal(err)
		}
		check(t, n, errs, kept)
	})
}

// afterClose closes c (again, the second time) and checks what follows.
func afterClose(c *negotiate.Conn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	_ = c.Close()
	if err := c.Close(); err != nil {
		return fmt.Errorf("second Close: %v, want nil", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
	if c.CloseWrite() == nil {
		return errors.New("CloseWrite after Close: nil")
	}
	if c.Context().Err() == nil {
		return errors.New("Context not cancelled after Close")
	}
	if c.Buffers() != nil {
		return errors.New("Buffers after Close: not nil")
	}
	if i := c.Info(); i.Token != "x" || i.Name != "x" {
		return fmt.Errorf("Info after Close: %+v", i)
	}
	return nil
}

// New's doc: a negative limit or timeout, or a ProtocolMaxConns key that
// is not a token, is an error; each field on its own.
func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]negotiate.Options{
		"MaxConns -1":                  {MaxConns: -1},
		"RetryAfter -1ns":              {RetryAfter: -1},
		"HandshakeTimeout -1ns":        {HandshakeTimeout: -1},
		"Linger -1ns":                  {Linger: -1},
		"ShutdownTimeout -1ns":         {ShutdownTimeout: -1},
		"ProtocolMaxConns -1":          {ProtocolMaxConns: map[string]int{"echo": -1}},
		"ProtocolMaxConns key a b":     {ProtocolMaxConns: map[string]int{"a b": 1}},
		"ProtocolMaxConns key empty":   {ProtocolMaxConns: map[string]int{"": 1}},
		"ProtocolMaxConns key version": {ProtocolMaxConns: map[string]int{"echo/2": 1}},
	} {
		if n, err := negotiate.New(&o); err == nil || n != nil {
			t.Errorf("%s: New = %v, %v; want an error", name, n != nil, err)
		}
	}
	if _, err := negotiate.New(&negotiate.Options{ProtocolMaxConns: map[string]int{"WebSocket": 3, "echo": 0}}); err != nil {
		t.Errorf("valid limits: %v", err)
	}
}

// One negotiator tied to two servers (an HTTP and an HTTPS listener, say)
// is one shutdown: the first srv.Shutdown shuts the negotiator down, so
// the switched connections of the other server close too and its
// upgrades are refused with 503 while it still serves plain requests, as
// RegisterOnShutdown's doc says.
func TestSharedNegotiatorShutsDownWithFirstServer(t *testing.T) {
	t.Parallel()
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo", testkit.EchoConn)
	n := testkit.NewNegotiator(t, nil)
	h := n.Middleware(reg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("plain")) }))
	srv1, srv2 := testkit.StartServer(t, h), testkit.StartServer(t, h)
	n.RegisterOnShutdown(srv1.Config)
	n.RegisterOnShutdown(srv2.Config)
	c, _ := testkit.Dial(t, srv2.URL, []string{"echo"}, nil)
	defer c.Close()
	testkit.RoundTrip(t, c, "before")
	if err := srv1.Config.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.ExpectClosed(t, c)
	resp, _ := testkit.Do(t, "GET", srv2.URL, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade on the other server after the first's Shutdown: %s, want 503", resp.Status)
	}
	if resp, body := testkit.Do(t, "GET", srv2.URL, nil, nil); resp.StatusCode != http.StatusOK || body != "plain" {
		t.Errorf("plain request on the other server: %s %q", resp.Status, body)
	}
}

// Shutdown's edges, as its doc says them: before any connection it
// returns nil at once, and again; a mount then refuses upgrades with 503
// and passes plain requests on. Called again after a Shutdown whose
// context ended, it waits again for a protocol that has not returned
// (here, one that ignores its context and its closed connection) and
// returns nil once it has.
func TestShutdownAgain(t *testing.T) {
	t.Parallel()
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	t.Run("before serving", func(t *testing.T) {
		t.Parallel()
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo", testkit.EchoConn)
		n := testkit.NewNegotiator(t, nil)
		for i := range 2 {
			if err := n.Shutdown(short()); err != nil {
				t.Fatalf("Shutdown #%d with nothing live: %v", i+1, err)
			}
		}
		srv := testkit.StartServer(t, n.Middleware(reg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("plain")) })))
		resp, _ := testkit.Do(t, "GET", srv.URL, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"echo"}}, nil)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("upgrade after Shutdown: %s, want 503", resp.Status)
		}
		if resp, body := testkit.Do(t, "GET", srv.URL, nil, nil); resp.StatusCode != http.StatusOK || body != "plain" {
			t.Errorf("plain request after Shutdown: %s %q", resp.Status, body)
		}
		if s := n.Stats(); s.Refused != 1 || len(s.Switched) != 0 {
			t.Errorf("Stats = %+v, want one refusal and no switch", s)
		}
	})
	t.Run("waits again", func(t *testing.T) {
		t.Parallel()
		release, started := make(chan struct{}), make(chan struct{})
		reg := new(negotiate.Registry)
		reg.HandleFunc("hold", func(c *negotiate.Conn) error {
			close(started)
			<-release // neither the context nor the close ends it
			return nil
		})
		n, srv := testkit.Endpoint(t, nil, reg)
		c, _ := testkit.Dial(t, srv.URL, []string{"hold"}, nil)
		defer c.Close()
		<-started
		for i := range 2 {
			if err := n.Shutdown(short()); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown #%d with the protocol holding: %v, want the context's error", i+1, err)
			}
		}
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown once the protocol returned: %v", err)
		}
		if s := n.Stats(); s.Active["hold"] != 0 || s.Switched["hold"] != 1 {
			t.Errorf("Stats = %+v", s)
		}
	})
}

// What Conn.Buffers' doc promises: the server's 4 KiB buffers, once, with
// nothing buffered, reading from and writing to the Conn (the client's
// early bytes first, and counted); nil after the first Read or Write, and
// nil on an HTTP/2 stream (TestXConnect's concern, not here).
func TestConnBuffers(t *testing.T) {
	t.Parallel()
	type result struct {
		sizes        [2]int
		buffered     int
		again, later bool
		early        string
		err          error
	}
	results := make(chan result, 2)
	reg := new(negotiate.Registry)
	reg.HandleFunc("adopt", func(c *negotiate.Conn) error {
		var r result
		defer func() { results <- r }()
		brw := c.Buffers()
		if brw == nil {
			r.err = errors.New("first Buffers: nil")
			return nil
		}
		r.again = c.Buffers() != nil
		r.sizes = [2]int{brw.Reader.Size(), brw.Writer.Size()}
		r.buffered = brw.Reader.Buffered() + brw.Writer.Buffered()
		p := make([]byte, len("early"))
		if _, r.err = io.ReadFull(brw, p); r.err != nil {
			return nil
		}
		r.early = string(p)
		if _, r.err = brw.WriteString("adopted"); r.err == nil {
			r.err = brw.Flush()
		}
		return nil
	})
	reg.HandleFunc("late", func(c *negotiate.Conn) error {
		_, err := c.Write([]byte("x"))
		results <- result{later: c.Buffers() != nil, err: err}
		return nil
	})
	infos := testkit.NewConnInfos()
	_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook, Linger: time.Millisecond}, reg)
	x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "adopt")+"early")
	r := testkit.Receive(t, results, "the adopting protocol")
	if r.err != nil || r.again || r.sizes != [2]int{4096, 4096} || r.buffered != 0 || r.early != "early" {
		t.Errorf("Buffers: %+v; want 4096-byte buffers, once, empty, the early bytes first", r)
	}
	if x.Resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("adopt: %s", x.Resp.Status)
	}
	if got := testkit.ReadAll(t, x); got != "adopted" {
		t.Errorf("the client read %q after the 101, want what the protocol wrote through the buffers", got)
	}
	if i := infos.Next(t); i.BytesIn != 5 || i.BytesOut != 7 {
		t.Errorf("bytes through the buffers: in %d out %d, want 5 and 7", i.BytesIn, i.BytesOut)
	}
	c, _ := testkit.Dial(t, srv.URL, []string{"late"}, nil)
	defer c.Close()
	if r := testkit.Receive(t, results, "the late protocol"); r.err != nil || r.later {
		t.Errorf("Buffers after a Write: not nil (%v)", r.err)
	}
}

// A refusal whose *Error has a status no final answer can have (a zero
// Status left out, a 1xx, one past 599) is the server's failure: 500,
// reported as Failed. net/http panicked on WriteHeader(0), 99 or 1000
// (the client got nothing), and a 101 went out as a switch that was none.
func TestRefusalWithInvalidStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []int{0, 99, 100, 101, 199, 600, 1000} {
		for _, where := range []string{"Check", "Accept", "Authorize"} {
			bad := &negotiate.Error{Status: status, Reason: "no"}
			p := negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return testkit.EchoConn, nil }}
			refusals := make(chan negotiate.RefusalInfo, 1)
			o := &negotiate.Options{OnRefuse: func(ri negotiate.RefusalInfo) { refusals <- ri }}
			switch where {
			case "Check":
				p.Check = func(*http.Request) error { return bad }
			case "Accept":
				p.Accept = func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return nil, bad }
			case "Authorize":
				o.Authorize = func(*negotiate.Switch) error { return bad }
			}
			reg := new(negotiate.Registry)
			reg.Register("x", p)
			n, srv := testkit.Endpoint(t, o, reg)
			x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "x"))
			if x.Resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("%s refusing with %d: %s, want 500", where, status, x.Resp.Status)
			}
			if ri := testkit.Receive(t, refusals, "OnRefuse"); ri.Status != 500 || !ri.Failed || ri.Name != "x" {
				t.Errorf("%s refusing with %d: OnRefuse %+v, want a failure answered 500", where, status, ri)
			}
			if s := n.Stats(); s.Refused != 1 || len(s.Switched) != 0 && s.Switched["x"] != 0 {
				t.Errorf("%s refusing with %d: %+v", where, status, s)
			}
		}
	}
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n := testkit.NewNegotiator(t, nil)
		reg := new(negotiate.Registry)
		reg.Register("x", negotiate.Protocol{
			Check:  func(*http.Request) error { return &negotiate.Error{Reason: "no status"} },
			Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return testkit.EchoConn, nil },
		})
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		_, resp, err := testkit.XDial(t, testkit.XClient(t, srv, useTLS), srv.URL, "x", nil)
		if resp == nil || resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("extended CONNECT refused with status 0: %v, %v; want 500", resp, err)
		}
	})
}
