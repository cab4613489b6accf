package negotiate_test

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

// ledger keeps what a negotiator's hooks report and what the load's
// protocols did, for the checks after the load.
type ledger struct {
	panicked atomic.Int64 // panics the load's code raised
	hooks    atomic.Int64 // OnSwitch and OnClose calls

	mu       sync.Mutex
	switched map[string]int // OnSwitch calls by key
	closed   map[string]int // OnClose calls by key
	early    []string       // OnClose calls for a key OnSwitch had not seen
	refused  int64          // OnRefuse calls with a status answered
}

func newLedger() *ledger { return &ledger{switched: map[string]int{}, closed: map[string]int{}} }

// panic counts a panic of the load's own code, then panics.
func (l *ledger) panic(v string) {
	l.panicked.Add(1)
	panic(v)
}

// options are the load's options: limits, an Authorize that refuses or
// panics as the request asks, and hooks that record, keyed by key(info),
// and panic now and then.
func (l *ledger) options(key func(negotiate.ConnInfo) string) *negotiate.Options {
	return &negotiate.Options{
		MaxConns:         30,
		ProtocolMaxConns: map[string]int{"echo": 15},
		Linger:           50 * time.Millisecond,
		Authorize: func(s *negotiate.Switch) error {
			switch s.Request.Header.Get("X-Authorize") {
			case "deny":
				return errors.New("denied")
			case "panic":
				l.panic("Authorize")
			}
			return nil
		},
		OnSwitch: func(i negotiate.ConnInfo) {
			l.mu.Lock()
			l.switched[key(i)]++
			l.mu.Unlock()
			if l.hooks.Add(1)%7 == 0 {
				l.panic("OnSwitch")
			}
		},
		OnClose: func(i negotiate.ConnInfo) {
			k := key(i)
			l.mu.Lock()
			l.closed[k]++
			if l.closed[k] > l.switched[k] {
				l.early = append(l.early, k)
			}
			l.mu.Unlock()
			if l.hooks.Add(1)%5 == 0 {
				l.panic("OnClose")
			}
		},
		OnRefuse: func(ri negotiate.RefusalInfo) {
			l.mu.Lock()
			if ri.Status != 0 {
				l.refused++
			}
			l.mu.Unlock()
		},
	}
}

// registry holds the load's protocols: echo/1 follows the shutdown, deaf/1
// ignores it (the forced close ends it), boom/1 panics, fail/1 and panic/1 fail in Accept, check/1
// panics in Check, bad/1 refuses in Check, slow/1 takes its time in
// Accept.
func (l *ledger) registry() *negotiate.Registry {
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.HandleFunc("deaf/1", func(c *negotiate.Conn) error {
		_, err := io.Copy(c, c)
		return err
	})
	reg.HandleFunc("boom/1", func(*negotiate.Conn) error { l.panic("serve"); return nil })
	accept := func(f func() error) negotiate.Protocol {
		return negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
			if err := f(); err != nil {
				return nil, err
			}
			return testkit.EchoConn, nil
		}}
	}
	reg.Register("fail/1", accept(func() error { return errors.New("no backend") }))
	reg.Register("panic/1", accept(func() error { l.panic("Accept"); return nil }))
	reg.Register("slow/1", accept(func() error { time.Sleep(5 * time.Millisecond); return nil }))
	checked := func(err error) negotiate.Protocol {
		p := accept(func() error { return nil })
		p.Check = func(*http.Request) error {
			if err == nil {
				l.panic("Check")
			}
			return err
		}
		return p
	}
	reg.Register("check/1", checked(nil))
	reg.Register("bad/1", checked(negotiate.Refusal(http.StatusBadRequest, "bad offer")))
	return reg
}

var loadTokens = []string{"echo/1", "deaf/1", "boom/1", "fail/1", "panic/1", "slow/1", "check/1", "bad/1", "echo/1", "deaf/1", "slow/1"}

// shutdownDuringLoad waits until n has switched a few connections, or the
// clients are done, then shuts n down with a context that has already
// ended, while most switches are still under way, and returns the switches
// counted when Shutdown returned and its error.
func shutdownDuringLoad(n *negotiate.Negotiator, clients *sync.WaitGroup) (map[string]int64, error) {
	done := make(chan struct{})
	go func() { clients.Wait(); close(done) }()
	busy := func() bool {
		select {
		case <-done:
			return true
		default:
		}
		var total int64
		for _, v := range n.Stats().Switched {
			total += v
		}
		return total >= 3
	}
	for deadline := time.Now().Add(testkit.Timeout); !busy() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := n.Shutdown(ctx)
	return n.Stats().Switched, err
}

// check checks the negotiator's accounting once every client is done: no
// switch counted after Shutdown returned, every connection closed and
// reported once to OnClose after OnSwitch, every slot released, every
// panic counted, every refusal written counted.
func (l *ledger) check(t *testing.T, n *negotiate.Negotiator, at map[string]int64, err error) {
	t.Helper()
	testkit.WaitFor(t, "every connection to close", func() bool {
		for _, a := range n.Stats().Active {
			if a != 0 {
				return false
			}
		}
		return true
	})
	s := n.Stats()
	var total int64
	for name, v := range s.Switched {
		total += v
		if at[name] != v {
			t.Errorf("%s: %d switched when Shutdown returned, %d after", name, at[name], v)
		}
	}
	testkit.WaitFor(t, "OnClose for every switch", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		var closed int
		for _, v := range l.closed {
			closed += v
		}
		return int64(closed) == total
	})
	l.mu.Lock()
	var switched int64
	for k, v := range l.switched {
		switched += int64(v)
		if l.closed[k] != v {
			t.Errorf("%s: %d OnSwitch, %d OnClose", k, v, l.closed[k])
		}
	}
	if switched != total {
		t.Errorf("OnSwitch called %d times, Stats.Switched %d", switched, total)
	}
	if len(l.early) > 0 {
		t.Errorf("OnClose before OnSwitch for %v", l.early)
	}
	l.mu.Unlock()
	// A hook's panic is raised (and counted here) before the negotiator
	// recovers and counts it, and OnRefuse runs after the client has its
	// answer: both counts are awaited, not read once.
	testkit.WaitFor(t, "Stats.Refused and Stats.Panics to match what the hooks saw", func() bool {
		s = n.Stats()
		l.mu.Lock()
		defer l.mu.Unlock()
		return s.Refused == l.refused && s.Panics == l.panicked.Load()
	})
	// Every slot is free: the shutdown ends at once.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after the load: %v (a slot left taken)", err)
	}
	t.Logf("%d switched, %d refused, %d panics; the shutdown: %v", total, s.Refused, s.Panics, err)
}

// 200 clients switch to protocols that serve, ignore the shutdown, panic,
// fail or refuse, some behind a writer that cannot hijack, some refused or
// failed by Authorize, some vanishing mid-handshake, over limits, while a
// shutdown's context ends. Afterwards the negotiator's accounting holds
// (see ledger.check), every connection a client kept after its 101 has
// been closed by the server, and a new upgrade is refused.
func TestShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	l := newLedger()
	n := testkit.NewNegotiator(t, l.options(func(i negotiate.ConnInfo) string { return i.RemoteAddr }))
	h := n.Endpoint(l.registry())
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Opaque") != "" {
			w = &opaque{w}
		}
		h.ServeHTTP(w, r)
	}))
	addr := testkit.Addr(srv)

	const clients = 200
	var wg sync.WaitGroup
	kept := make(chan net.Conn, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
			var extra []string
			switch i % 10 {
			case 1:
				extra = []string{"X-Authorize: deny"}
			case 2:
				extra = []string{"X-Authorize: panic"}
			case 3:
				extra = []string{"X-Opaque: 1"}
			}
			req := testkit.UpgradeRequest("/", loadTokens[i%len(loadTokens)], extra...)
			if i%13 == 0 {
				// Gone in the middle of the head.
				_, _ = io.WriteString(c, req[:len(req)/2])
				c.Close()
				return
			}
			if _, err := io.WriteString(c, req+"early"); err != nil {
				c.Close()
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || i%4 == 0 {
				c.Close()
				return
			}
			kept <- c
		}()
	}
	at, err := shutdownDuringLoad(n, &wg)
	wg.Wait()
	close(kept)
	for c := range kept {
		_ = c.SetDeadline(time.Now().Add(testkit.Timeout))
		_, rerr := io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			t.Errorf("a switched connection still open after the shutdown: %v", rerr)
		}
		c.Close()
	}
	l.check(t, n, at, err)
	x := testkit.Raw(t, addr, testkit.UpgradeRequest("/", "echo/1"))
	if x.Resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("an upgrade after the shutdown: %d %q, want 503", x.Resp.StatusCode, x.Body)
	}
}

// The same over HTTP/2: 150 extended CONNECT streams on one connection,
// some reset by their client at once, and those that do not end
// otherwise are ended by the shutdown.
func TestShutdownUnderLoadOverH2(t *testing.T) {
	testkit.EachXConnect(t, func(t *testing.T, useTLS bool) {
		l := newLedger()
		// Streams of one connection share its address; OnSwitch and
		// OnClose are matched by count.
		n := testkit.NewNegotiator(t, l.options(func(negotiate.ConnInfo) string { return "streams" }))
		srv := testkit.StartH2Server(t, n.Endpoint(l.registry()), n, useTLS)
		client := testkit.XClient(t, srv, useTLS)
		// Open the connection first, so that the streams race the
		// shutdown rather than the TLS handshake.
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
		defer cancel()
		if _, resp, _ := client.Dial(ctx, srv.URL, "bad/1", nil); resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("first stream: %v, want 400", resp)
		}

		const streams = 150
		var wg sync.WaitGroup
		var wrong atomic.Int32
		for i := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := http.Header{}
				switch i % 10 {
				case 1:
					h.Set("X-Authorize", "deny")
				case 2:
					h.Set("X-Authorize", "panic")
				}
				st, resp, err := client.Dial(ctx, srv.URL, loadTokens[i%len(loadTokens)], h)
				if err != nil {
					return
				}
				defer st.Close()
				if resp.StatusCode != http.StatusOK || i%4 == 0 {
					return
				}
				_ = st.SetReadDeadline(time.Now().Add(testkit.Timeout))
				_, rerr := io.Copy(io.Discard, st)
				var ne net.Error
				if errors.As(rerr, &ne) && ne.Timeout() {
					wrong.Add(1)
				}
			}()
		}
		at, err := shutdownDuringLoad(n, &wg)
		wg.Wait()
		if w := wrong.Load(); w > 0 {
			t.Errorf("%d switched streams still open after the shutdown", w)
		}
		l.check(t, n, at, err)
		for name, v := range n.Stats().Switched {
			if over := n.Stats().OverH2[name]; over != v {
				t.Errorf("%s: %d switched, %d of them over HTTP/2; want all", name, v, over)
			}
		}
		if _, resp, _ := client.Dial(ctx, srv.URL, "echo/1", nil); resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("a stream after the shutdown: %v, want 503", resp)
		}
	})
}
