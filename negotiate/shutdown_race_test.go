package negotiate_test

// A shutdown whose context ends while switches are under way: what it
// closes, what it counts, and that no switch is made once it has
// returned, over HTTP/1.1 and HTTP/2.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// hold stops a switch once, where a test wants it, until released.
type hold struct {
	once              sync.Once
	reached, released chan struct{}
}

func newHold() *hold { return &hold{reached: make(chan struct{}), released: make(chan struct{})} }

func (h *hold) wait() { h.once.Do(func() { close(h.reached); <-h.released }) }

// holdWriter is a ResponseWriter wrapper, as middleware adds, whose Hijack
// and SetReadDeadline wait at h: it holds a switch after its Accept, while
// the negotiator takes the connection (HTTP/1.1) or clears the stream's
// deadlines (HTTP/2).
type holdWriter struct {
	http.ResponseWriter
	h *hold
}

func (w holdWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.h.wait()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w holdWriter) SetReadDeadline(t time.Time) error {
	w.h.wait()
	return http.NewResponseController(w.ResponseWriter).SetReadDeadline(t)
}

func (w holdWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// forceShutdown shuts n down with a context that has already ended: it
// stops new switches, closes the live connections and returns.
func forceShutdown(t *testing.T, n *negotiate.Negotiator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
}

// heldSwitch is what a test of a switch that a forced shutdown overtakes
// sets up: the negotiator, the hold, and what the serve func's first read
// returned.
type heldSwitch struct {
	n        *negotiate.Negotiator
	h        *hold
	switches atomic.Int32 // OnSwitch calls
	infos    *testkit.ConnInfos
	served   chan error
	handler  http.Handler
}

// newHeldSwitch holds the switch of echo/1 in the ResponseWriter (see
// holdWriter) or, when inOnSwitch, in OnSwitch, once the connection is
// tracked.
func newHeldSwitch(t *testing.T, inOnSwitch bool) *heldSwitch {
	s := &heldSwitch{h: newHold(), infos: testkit.NewConnInfos(), served: make(chan error, 1)}
	s.n = testkit.NewNegotiator(t, &negotiate.Options{
		OnClose: s.infos.Hook,
		OnSwitch: func(negotiate.ConnInfo) {
			s.switches.Add(1)
			if inOnSwitch {
				s.h.wait()
			}
		},
	})
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c) // ignores its Context
		s.served <- err
		return err
	})
	end := s.n.Endpoint(reg)
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inOnSwitch {
			w = holdWriter{w, s.h}
		}
		end.ServeHTTP(w, r)
	})
	return s
}

// check checks, once the held switch has gone on, that its serve func ran
// on a closed connection and its slot is free, that Switched did not
// change after Shutdown returned (at), and that a switch counted is one
// OnSwitch saw and the shutdown closed.
func (s *heldSwitch) check(t *testing.T, at, want int64) {
	t.Helper()
	if err := testkit.Receive(t, s.served, "the serve func"); err == nil {
		t.Error("the serve func of the overtaken switch could read")
	}
	testkit.WaitFor(t, "the slot to be released", func() bool { return s.n.Stats().Active["echo"] == 0 })
	if got := s.n.Stats().Switched["echo"]; at != want || got != at {
		t.Errorf("Switched: %d when Shutdown returned and %d after, want %d", at, got, want)
	}
	if got := s.switches.Load(); int64(got) != want {
		t.Errorf("OnSwitch called %d times, want %d", got, want)
	}
	if want == 1 {
		if i := s.infos.Next(t); i.CloseReason != negotiate.CloseForced {
			t.Errorf("OnClose: CloseReason %q, want forced", i.CloseReason)
		}
	}
}

// A forced shutdown that returns while a switch is past its Accept does
// not leave that switch to be made after it. When the shutdown came while
// the connection was being hijacked, the switch is not made (not counted,
// not reported to OnSwitch): it was counted, after Shutdown had returned,
// and closed on its own. When it came once the connection was tracked (in
// OnSwitch), the switch was counted before Shutdown returned, and the
// shutdown closed it before its 101. Either way the client gets no 101.
func TestForcedShutdownDuringTheSwitch(t *testing.T) {
	t.Parallel()
	for _, inOnSwitch := range []bool{false, true} {
		name := "hijack"
		if inOnSwitch {
			name = "OnSwitch"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newHeldSwitch(t, inOnSwitch)
			srv := testkit.StartServer(t, s.handler)
			c := testkit.DialTCP(t, testkit.Addr(srv))
			if _, err := io.WriteString(c, testkit.UpgradeRequest("/", "echo/1")); err != nil {
				t.Fatal(err)
			}
			testkit.Receive(t, s.h.reached, "the switch to be held")
			forceShutdown(t, s.n)
			at := s.n.Stats().Switched["echo"]
			close(s.h.released)
			testkit.ExpectClosed(t, c)
			var want int64
			if inOnSwitch {
				want = 1
			}
			s.check(t, at, want)
		})
	}
}

// Over HTTP/2 likewise. When the shutdown came before the stream was
// tracked (while its deadlines were cleared), nothing has been written: the
// stream is refused with 503, as a switch still in Accept is (it was
// answered 200, after Shutdown had returned, and counted). When it came
// once the stream was tracked, the stream is reset, not answered 200.
func TestForcedShutdownDuringTheStreamSwitch(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		for _, inOnSwitch := range []bool{false, true} {
			name := "deadlines"
			if inOnSwitch {
				name = "OnSwitch"
			}
			t.Run(name, func(t *testing.T) {
				s := newHeldSwitch(t, inOnSwitch)
				srv := testkit.StartH2Server(t, s.handler, s.n, useTLS)
				client := testkit.XClient(t, srv, useTLS)
				type answer struct {
					resp *http.Response
					err  error
				}
				answers := make(chan answer, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
					defer cancel()
					st, resp, err := client.Dial(ctx, srv.URL, "echo/1", nil)
					if st != nil {
						st.Close()
					}
					answers <- answer{resp, err}
				}()
				testkit.Receive(t, s.h.reached, "the switch to be held")
				forceShutdown(t, s.n)
				at := s.n.Stats().Switched["echo"]
				close(s.h.released)
				a := testkit.Receive(t, answers, "the client's answer")
				switch {
				case !inOnSwitch && (a.resp == nil || a.resp.StatusCode != http.StatusServiceUnavailable):
					t.Errorf("switch overtaken before it was tracked: %v, %v; want 503", a.resp, a.err)
				case inOnSwitch && (a.err == nil || a.resp != nil && a.resp.StatusCode == http.StatusOK):
					t.Errorf("switch overtaken once tracked: %v, %v; want the stream reset", a.resp, a.err)
				}
				var want int64
				if inOnSwitch {
					want = 1
				}
				s.check(t, at, want)
			})
		}
	})
}

// A forced shutdown ends an HTTP/2 stream whose protocol ignores its
// Context as it ends a hijacked connection: at once, whether or not the
// protocol is reading or writing. A protocol that waits for an event
// (a push protocol) held its stream open past Shutdown's return, until the
// event came: the stream's close ended it only when the protocol returned.
func TestForcedShutdownResetsStreams(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		n := testkit.NewNegotiator(t, nil)
		event := make(chan struct{})
		reg := new(negotiate.Registry)
		reg.HandleFunc("push/1", func(c *negotiate.Conn) error {
			<-event // ignores its Context
			_, err := c.Write([]byte("event"))
			return err
		})
		srv := testkit.StartH2Server(t, n.Endpoint(reg), n, useTLS)
		t.Cleanup(func() { close(event) }) // before the cleanups above
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		st, _, err := testkit.XClient(t, srv, useTLS).Dial(ctx, srv.URL, "push/1", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		forceShutdown(t, n)
		_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
		b, err := io.ReadAll(st)
		var ne net.Error
		if len(b) > 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("stream after the forced shutdown: read %q, %v; want it reset", b, err)
		}
	})
}

// A Shutdown that returns nil has seen every connection's OnClose return,
// so that what observers recorded (package metrics: the live gauge, the
// graceful count) is whole once it has: it returned as soon as the last
// connection's slot was released, before its OnClose ran. A Shutdown asked
// while the last OnClose runs, with a context that has already ended so
// that it returns at once, reports that something is left.
func TestShutdownWaitsForOnClose(t *testing.T) {
	t.Parallel()
	shutdowns := make(chan error, 1)
	var n *negotiate.Negotiator
	n = testkit.NewNegotiator(t, &negotiate.Options{OnClose: func(negotiate.ConnInfo) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		shutdowns <- n.Shutdown(ctx)
	}})
	srv := testkit.StartServer(t, n.Endpoint(echoRegistry()))
	c, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
	testkit.RoundTrip(t, c, "x")
	c.Close()
	if err := testkit.Receive(t, shutdowns, "OnClose"); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown while the last OnClose runs = %v, want context.Canceled", err)
	}
}
