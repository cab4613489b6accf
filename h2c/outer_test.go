package h2c_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

// TestStreamsKeepTheServersLimits: the streams of an upgraded connection
// are held to the limits of the http.Server the upgrade came through, as
// the streams of a prior-knowledge connection on the same server are (and
// as x/net's h2c.NewHandler held them): MaxHeaderBytes (431), WriteTimeout
// (the stream is reset), ReadTimeout (the body's read fails), and their
// handler finds that server under http.ServerContextKey. Each case runs on
// an upgraded and on a prior-knowledge connection.
func TestStreamsKeepTheServersLimits(t *testing.T) {
	t.Parallel()
	var outer *http.Server
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/server":
			srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
			fmt.Fprintf(w, "outer=%v", srv == outer)
		case "/write":
			select { // until the server gives up on the stream
			case <-r.Context().Done():
			case <-time.After(testkit.Timeout):
			}
			io.WriteString(w, "written late")
		case "/read":
			_, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "timeout=%v", errors.Is(err, os.ErrDeadlineExceeded))
		default:
			io.WriteString(w, "ok")
		}
	})
	n := testkit.NewNegotiator(t, nil)
	srv := httptest.NewUnstartedServer(n.Middleware(register(newH2C(t, nil)))(h))
	outer = srv.Config
	outer.MaxHeaderBytes = 1 << 10
	outer.ReadTimeout = time.Second
	outer.WriteTimeout = time.Second
	outer.IdleTimeout = time.Minute // not ReadTimeout: no GOAWAY while a case waits
	h2c.ConfigureServer(outer)
	srv.Start()
	t.Cleanup(srv.Close)

	for _, upgraded := range []bool{true, false} {
		name := "prior knowledge"
		if upgraded {
			name = "upgraded"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("MaxHeaderBytes", func(t *testing.T) {
				t.Parallel()
				c := openH2(t, srv, upgraded)
				var big []hpack.HeaderField // each within the limit, not all
				for i := range 16 {
					big = append(big, hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("b", 256)})
				}
				// x/net answers 431, net/http's server GOAWAY.
				if r := c.do(t, "/", false, big...); r.status != http.StatusRequestHeaderFieldsTooLarge && !r.goAway {
					t.Errorf("4 KiB of header fields with MaxHeaderBytes 1 KiB: %+v, want them refused", r)
				}
			})
			t.Run("WriteTimeout", func(t *testing.T) {
				t.Parallel()
				c := openH2(t, srv, upgraded)
				if r := c.do(t, "/write", false); !r.reset {
					t.Errorf("a handler past WriteTimeout: %+v, want the stream reset", r)
				}
			})
			t.Run("ReadTimeout", func(t *testing.T) {
				t.Parallel()
				c := openH2(t, srv, upgraded)
				// The handler's read fails, or the stream is reset
				// (net/http's server does both).
				if r := c.do(t, "/read", true); r.body != "timeout=true" && !r.reset {
					t.Errorf("a body unsent past ReadTimeout: %+v, want its read to time out", r)
				}
			})
			t.Run("ServerContextKey", func(t *testing.T) {
				t.Parallel()
				c := openH2(t, srv, upgraded)
				if r := c.do(t, "/server", false); r.body != "outer=true" {
					t.Errorf("http.ServerContextKey: %+v, want the server the connection came through", r)
				}
			})
		})
	}
}

// rawH2 is a client connection of raw HTTP/2 frames, upgraded or with
// prior knowledge.
type rawH2 struct {
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32
}

type rawResult struct {
	status int
	body   string
	reset  bool
	goAway bool // the connection ended with an error
}

// openH2 opens an HTTP/2 connection to srv: upgraded by a GET (stream 1,
// whose answer is skipped) or with the prior-knowledge preface.
func openH2(t *testing.T, srv *httptest.Server, upgrade bool) *rawH2 {
	t.Helper()
	conn := dialRaw(t, srv)
	br := bufio.NewReader(conn)
	c := &rawH2{next: 1}
	if upgrade {
		if _, err := io.WriteString(conn, h2ctest.RequestHead("GET", "/", "x")+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		c.next = 3
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c.fr = http2.NewFramer(conn, br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a GET for path with the extra fields (leaving the stream open
// if open) and reads its answer: status and body, a reset, or the
// connection's end with an error.
func (c *rawH2) do(t *testing.T, path string, open bool, extra ...hpack.HeaderField) rawResult {
	t.Helper()
	id := c.next
	c.next += 2
	c.hbuf.Reset()
	for _, f := range append([]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path}, {Name: ":authority", Value: "h2c.test"},
	}, extra...) {
		_ = c.enc.WriteField(f)
	}
	block := c.hbuf.Bytes()
	first := block[:min(len(block), 1<<14)]
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(first) == len(block), EndStream: !open}); err != nil {
		t.Fatal(err)
	}
	for rest := block[len(first):]; len(rest) > 0; {
		k := min(len(rest), 1<<14)
		if err := c.fr.WriteContinuation(id, k == len(rest), rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	var r rawResult
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("stream %d: %v (so far %+v)", id, err, r)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = c.fr.WritePing(true, f.Data)
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				r.goAway = true
				return r
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				r.reset = true
				return r
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			r.status, _ = strconv.Atoi(f.PseudoValue("status"))
			if f.StreamEnded() {
				return r
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			r.body += string(f.Data())
			if f.StreamEnded() {
				return r
			}
		}
	}
}

// TestUpgradeBodyWithinReadTimeout: the upgrade request's body must come
// within the server's ReadTimeout, as any request's body must on HTTP/1.1;
// the negotiator's HandshakeTimeout bounds it where the server's bound is
// longer or unset, but does not lengthen it. (Before, the body was awaited
// for the whole HandshakeTimeout whatever the ReadTimeout.)
func TestUpgradeBodyWithinReadTimeout(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, &negotiate.Options{HandshakeTimeout: time.Hour})
	srv := httptest.NewUnstartedServer(n.Middleware(register(newH2C(t, nil)))(app))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	// The head is there when the server starts to read the request: the
	// ReadTimeout passes while the body is awaited, not before the head
	// came from a client run late after its connect.
	srv.Listener = testkit.Arrived(srv.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	// The body is declared, never sent: the answer must come before the
	// connection's own deadline (testkit.Timeout).
	c := dialRaw(t, srv)
	if _, err := io.WriteString(c, h2ctest.RequestHead("POST", "/", "x", "Content-Length: 5")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a body unsent past ReadTimeout: %v, want a 408", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a body unsent past ReadTimeout: %s, want 408", resp.Status)
	}
}

// TestLatePanicGoesToItsServersErrorLog: a handler that outlives its
// connection and then panics is logged to the ErrorLog of the server its
// connection came through, even when one protocol value serves two servers
// and the other has switched a connection since. (Before, the HTTP/2
// server of the connection that ended went back to the pool at once, the
// next connection, of the other server, set its own ErrorLog on it, and
// the late panic was logged there.)
func TestLatePanicGoesToItsServersErrorLog(t *testing.T) {
	t.Parallel()
	closed := testkit.NewConnInfos()
	n := testkit.NewNegotiator(t, &negotiate.Options{OnClose: closed.Hook})
	started := make(chan struct{}, 1)
	var release chan struct{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			wait := release
			started <- struct{}{}
			<-wait
			panic("late panic")
		}
		io.WriteString(w, "ok")
	})
	mw := n.Middleware(register(newH2C(t, nil)))(h) // one h2c value for both servers
	var logA, logB testkit.LockedBuffer
	a := httptest.NewUnstartedServer(mw)
	a.Config.ErrorLog = log.New(&logA, "", 0)
	a.Start()
	t.Cleanup(a.Close)
	b := httptest.NewUnstartedServer(mw)
	b.Config.ErrorLog = log.New(&logB, "", 0)
	b.Start()
	t.Cleanup(b.Close)
	// Several rounds: a pool may drop what it is given (sync.Pool does, at
	// random, under the race detector).
	for i := range 4 {
		release = make(chan struct{})
		c := upgrade(t, a)
		done := make(chan error, 1)
		go func() {
			_, err := c.Get("/late")
			done <- err
		}()
		testkit.Receive(t, started, "the late handler to start")
		c.Conn.Close()
		testkit.Receive(t, done, "the client to give up")
		closed.Next(t) // a's connection is over, its handler still running
		cb := upgrade(t, b)
		close(release)
		testkit.WaitFor(t, "the late panic to be logged", func() bool {
			return strings.Count(logA.String()+logB.String(), "late panic") > i
		})
		cb.Conn.Close()
		closed.Next(t)
		if strings.Contains(logB.String(), "late panic") {
			t.Fatalf("round %d: a panic on a connection of server a logged to server b's ErrorLog", i)
		}
	}
}
