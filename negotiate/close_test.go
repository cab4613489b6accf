package negotiate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// What a protocol wrote before it returned reaches the client, even when
// the client is still sending: the negotiator half-closes and drains
// instead of closing a socket with unread input (which sends a reset that
// destroys the reply in flight). Before the fix the client read about 1.7
// of 4 MiB, then "connection reset by peer".
func TestCloseLosesNothing(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	for _, tc := range []struct {
		name string
		err  error
	}{{"serve returns nil", nil}, {"serve returns an error", errors.New("line too long")}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			infos := testkit.NewConnInfos()
			reg := new(negotiate.Registry)
			reg.HandleFunc("big", func(c *negotiate.Conn) error {
				if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
					return err
				}
				if _, err := c.Write(big); err != nil {
					return err
				}
				return tc.err // with the client's input unread
			})
			_, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)
			c, _ := testkit.Dial(t, srv.URL, []string{"big"}, nil)
			if _, err := c.Write(bytes.Repeat([]byte("x"), 256<<10)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, big) {
				t.Fatalf("client read %d of %d bytes, then %v", len(got), len(big), err)
			}
			c.Close()
			if info := infos.Next(t); !errors.Is(info.Err, tc.err) || info.BytesOut != int64(len(big)) {
				t.Errorf("OnClose = %+v, want the protocol's error and %d bytes out", info, len(big))
			}
		})
	}
}

// The linger is bounded: a client that neither reads to the end nor closes
// does not hold the connection open past Options.Linger.
func TestLingerIsBounded(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("short", func(c *negotiate.Conn) error { return nil })
	n, srv := testkit.Endpoint(t, &negotiate.Options{Linger: 50 * time.Millisecond, OnClose: infos.Hook}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"short"}, nil)
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("after the half-close: %q, %v; want the end of the stream", b, err)
	}
	// The client keeps its side open; the negotiator closes anyway.
	info := infos.Next(t)
	if info.Err != nil {
		t.Errorf("OnClose error = %v, want nil", info.Err)
	}
	if s := n.Stats(); s.Active["short"] != 0 {
		t.Errorf("active after the linger = %d, want 0", s.Active["short"])
	}
}

// A protocol that watches its context gets to say goodbye at shutdown, and
// the goodbye reaches the client. Before the fix the shutdown cancelled the
// context and closed the connection at the same moment: the client read "".
func TestShutdownGoodbyeReachesClient(t *testing.T) {
	t.Parallel()
	watching := make(chan struct{})
	reg := new(negotiate.Registry)
	reg.HandleFunc("bye", func(c *negotiate.Conn) error {
		ctx := c.Context()
		close(watching)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // a goodbye that takes a moment
		_, err := io.WriteString(c, "bye")
		return err
	})
	n, srv := testkit.Endpoint(t, nil, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"bye"}, nil)
	<-watching
	done := testkit.Shutdown(n, testkit.Timeout)
	if got := testkit.ReadAll(t, c); got != "bye" {
		t.Errorf("client read %q at shutdown, want the goodbye", got)
	}
	c.Close()
	if err := testkit.Receive(t, done, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// A Context first asked for after the shutdown began is already cancelled:
// a protocol cannot miss the shutdown by asking late.
func TestContextAskedAfterShutdownIsCancelled(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	got := make(chan error, 1)
	reg := new(negotiate.Registry)
	reg.HandleFunc("late", func(c *negotiate.Conn) error {
		<-release
		select {
		case <-c.Context().Done():
			got <- nil
		case <-time.After(testkit.Timeout):
			got <- errors.New("context not cancelled")
		}
		return nil
	})
	// The probe that learns whether the shutdown has begun never switches:
	// the gate refuses it with 503 while shutting down, its Accept with 409
	// before. (Probing with "late" switched the probes sent before the
	// shutdown began, and all but one of the sends on got then blocked
	// for good, holding the shutdown to its deadline.)
	reg.Register("probe", negotiate.Protocol{Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) {
		return nil, negotiate.Refusal(http.StatusConflict, "a probe never switches")
	}})
	n, srv := testkit.Endpoint(t, nil, reg)
	testkit.Dial(t, srv.URL, []string{"late"}, nil)
	testkit.WaitFor(t, "the switch", func() bool { return n.Stats().Active["late"] == 1 })
	done := testkit.Shutdown(n, testkit.Timeout)
	testkit.WaitFor(t, "the shutdown to begin", func() bool {
		x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "probe"))
		return x.Resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(x.Body, "shutting down")
	})
	close(release)
	if err := testkit.Receive(t, got, "the protocol's look at its Context"); err != nil {
		t.Error(err)
	}
	if err := testkit.Receive(t, done, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
}

// OnClose reports a clean end as nil: the peer's EOF, or a read on a
// connection the negotiator closed.
func TestCleanCloseReportsNil(t *testing.T) {
	t.Parallel()
	infos := testkit.NewConnInfos()
	reg := new(negotiate.Registry)
	reg.HandleFunc("eof", func(c *negotiate.Conn) error {
		_, err := c.Read(make([]byte, 1))
		return err // io.EOF when the client closes
	})
	reg.HandleFunc("closed", func(c *negotiate.Conn) error {
		_, err := c.Read(make([]byte, 1))
		return err // net.ErrClosed when the shutdown closes the connection
	})
	n, srv := testkit.Endpoint(t, &negotiate.Options{OnClose: infos.Hook}, reg)
	c, _ := testkit.Dial(t, srv.URL, []string{"eof"}, nil)
	c.Close()
	if info := infos.Next(t); info.Err != nil || info.Token != "eof" {
		t.Errorf("after the client's close: %+v, want a nil error", info)
	}
	testkit.Dial(t, srv.URL, []string{"closed"}, nil)
	testkit.WaitFor(t, "the switch", func() bool { return n.Stats().Active["closed"] == 1 })
	// The protocol ignores its Context: the shutdown's end closes it.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the context's end", err)
	}
	if info := infos.Next(t); info.Err != nil || info.Token != "closed" {
		t.Errorf("after the negotiator's close: %+v, want a nil error", info)
	}
}

// The request's handler returns at the switch: middleware around the
// mount sees its request end while the protocol still runs, on a goroutine
// of the negotiator's.
func TestHandlerReturnsAtTheSwitch(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	returned := make(chan int, 1)
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	mount := n.Endpoint(reg)
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mount.ServeHTTP(w, r)
		returned <- n.Stats().Active["echo"]
	}))
	c, _ := testkit.Dial(t, srv.URL, []string{"echo/1"}, nil)
	if active := testkit.Receive(t, returned, "the handler to return"); active != 1 {
		t.Errorf("handler returned with %d active, want the connection live", active)
	}
	if got := testkit.RoundTrip(t, c, "still served"); got != "still served" {
		t.Errorf("after the handler returned: %q", got)
	}
}
