package h2c_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard-http/switchyard/h2c"
	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// app reports what it saw: protocol, hop-by-hop fields, and the body's
// length and digest.
var app = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	sum := sha256.Sum256(body)
	hop := []string{}
	for _, k := range []string{"Connection", "Upgrade", "Http2-Settings"} {
		if _, ok := r.Header[k]; ok {
			hop = append(hop, k)
		}
	}
	fmt.Fprintf(w, "%s %d %d %s %s hop=%v", r.Proto, r.ProtoMajor, len(body), hex.EncodeToString(sum[:4]), r.URL.Path, hop)
})

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
}

type setup struct {
	n   *negotiate.Negotiator
	srv *httptest.Server
}

// serve mounts h2c as middleware around app on a loopback server.
func serve(t *testing.T, opts *h2c.Options) setup {
	t.Helper()
	return mount(t, newH2C(t, opts))
}

// mount registers p as h2c with a new negotiator whose middleware wraps
// app on a loopback server.
func mount(t *testing.T, p negotiate.Protocol) setup {
	t.Helper()
	n := testkit.NewNegotiator(t, nil)
	return setup{n, testkit.StartServer(t, n.Middleware(register(p))(app))}
}

func newH2C(t *testing.T, opts *h2c.Options) negotiate.Protocol {
	t.Helper()
	p, err := h2c.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// register returns a registry with p registered as h2c.
func register(p negotiate.Protocol) *negotiate.Registry {
	reg := new(negotiate.Registry)
	reg.Register("h2c", p)
	return reg
}

func dialRaw(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	return testkit.DialTCP(t, testkit.Addr(srv))
}

// upgrade switches a new connection to srv and checks stream 1.
func upgrade(t *testing.T, srv *httptest.Server) *h2ctest.Client {
	t.Helper()
	c, first, err := h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", "/", "x"), nil)
	if err != nil || first == nil || first.Status != 200 {
		t.Fatalf("upgrade: %+v %v", first, err)
	}
	return c
}

// shutdown runs n.Shutdown in the background and returns its result.
func shutdown(n *negotiate.Negotiator) <-chan error { return testkit.Shutdown(n, testkit.Timeout) }

// waitGoAway waits for a graceful GOAWAY on c, then closes c, as a client
// does once its streams are done.
func waitGoAway(t *testing.T, c *h2ctest.Client, what string) {
	t.Helper()
	ga, err := c.WaitGoAway()
	if err != nil {
		t.Fatalf("%s: waiting for GOAWAY: %v", what, err)
	}
	if ga.ErrCode != 0 {
		t.Errorf("%s: GOAWAY code %v, want NO_ERROR", what, ga.ErrCode)
	}
	c.Conn.Close()
}

func wait(t *testing.T, done <-chan error, what string) {
	t.Helper()
	if err := testkit.Receive(t, done, what+" to return"); err != nil {
		t.Errorf("%s = %v, want nil", what, err)
	}
}

func TestUpgradeGET(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("GET", "/first", "x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first == nil {
		t.Fatalf("not upgraded: %s", c.Upgrade.Status)
	}
	if got, want := string(first.Body), "HTTP/2.0 2 0 "+digest(nil)+" /first hop=[]"; first.Status != 200 || got != want {
		t.Errorf("stream 1 = %d %q, want 200 %q", first.Status, got, want)
	}
	// The same connection serves further HTTP/2 requests.
	for i := range 3 {
		r, err := c.Get(fmt.Sprintf("/next/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("HTTP/2.0 2 0 %s /next/%d hop=[]", digest(nil), i); string(r.Body) != want {
			t.Errorf("stream %d = %q, want %q", 3+2*i, r.Body, want)
		}
	}
	if a := s.n.Stats().Active["h2c"]; a != 1 {
		t.Errorf("active h2c = %d, want 1", a)
	}
}

func TestUpgradeBodies(t *testing.T) {
	t.Parallel()
	s := serve(t, &h2c.Options{MaxBodyBytes: 200 << 10})
	body := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16) // 100 KiB
	big := bytes.Repeat([]byte("x"), 300<<10)

	t.Run("known length replayed", func(t *testing.T) {
		c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/post", "x", fmt.Sprintf("Content-Length: %d", len(body))), body)
		if err != nil || first == nil {
			t.Fatalf("upgrade with body: %v, %v", first, err)
		}
		if want := fmt.Sprintf("HTTP/2.0 2 %d %s /post hop=[]", len(body), digest(body)); string(first.Body) != want {
			t.Errorf("stream 1 = %q, want %q", first.Body, want)
		}
		if r, err := c.Do("POST", "/again", []byte("more")); err != nil || !strings.Contains(string(r.Body), "HTTP/2.0 2 4 ") {
			t.Errorf("a later POST: %v %v", r, err)
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		_, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/e", "x", "Expect: 100-continue", "Content-Length: 5"), []byte("hello"))
		if err != nil || first == nil || !strings.HasPrefix(string(first.Body), "HTTP/2.0 2 5 ") {
			t.Fatalf("100-continue upgrade: %v, %v", first, err)
		}
	})
	t.Run("chunked replayed", func(t *testing.T) {
		chunked := []byte("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
		_, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/c", "x", "Transfer-Encoding: chunked"), chunked)
		if err != nil || first == nil {
			t.Fatalf("chunked upgrade: %v, %v", first, err)
		}
		if want := "HTTP/2.0 2 11 " + digest([]byte("hello world")) + " /c hop=[]"; string(first.Body) != want {
			t.Errorf("stream 1 = %q, want %q", first.Body, want)
		}
	})
	t.Run("known length over the bound stays HTTP/1.1", func(t *testing.T) {
		c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/big", "x", fmt.Sprintf("Content-Length: %d", len(big))), big)
		if err != nil || first != nil {
			t.Fatalf("upgraded an over-bound body: %v", err)
		}
		got, _ := io.ReadAll(c.Upgrade.Body)
		if want := fmt.Sprintf("HTTP/1.1 1 %d %s /big hop=[Connection Upgrade Http2-Settings]", len(big), digest(big)); string(got) != want {
			t.Errorf("served as %q, want %q", got, want)
		}
	})
	t.Run("unknown length over the bound is 413", func(t *testing.T) {
		chunk := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big)
		c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/big", "x", "Transfer-Encoding: chunked"), []byte(chunk))
		if err != nil || first != nil {
			t.Fatalf("upgraded: %v", err)
		}
		if c.Upgrade.StatusCode != 413 || !c.Upgrade.Close {
			t.Errorf("got %s close=%v, want 413 and a closed connection", c.Upgrade.Status, c.Upgrade.Close)
		}
	})
	t.Run("body cut short never upgrades", func(t *testing.T) {
		conn := dialRaw(t, s.srv)
		go func() {
			io.WriteString(conn, h2ctest.RequestHead("POST", "/short", "x", "Content-Length: 100")+"\r\nonly ten..")
			conn.(*net.TCPConn).CloseWrite()
		}()
		got, _ := io.ReadAll(conn)
		if bytes.Contains(got, []byte("101 Switching")) {
			t.Errorf("switched on a cut-short body: %q", got)
		}
	})
}

// A MaxBodyBytes as large as an int64 goes is a bound like any other:
// the body is read, replayed and answered over HTTP/2. The read used to
// stop at MaxBodyBytes+1, which overflowed: it read nothing, so a body of
// known length was refused 400 (cut short) and a chunked one was left on
// the connection and taken for the client's HTTP/2 preface.
func TestMaxBodyBytesLargest(t *testing.T) {
	t.Parallel()
	s := serve(t, &h2c.Options{MaxBodyBytes: math.MaxInt64})
	body := []byte("hello world")
	for name, head := range map[string]struct {
		field string
		body  []byte
	}{
		"known length": {fmt.Sprintf("Content-Length: %d", len(body)), body},
		"chunked":      {"Transfer-Encoding: chunked", []byte("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")},
	} {
		t.Run(name, func(t *testing.T) {
			c, first, err := h2ctest.Upgrade(dialRaw(t, s.srv), h2ctest.RequestHead("POST", "/p", "x", head.field), head.body)
			if err != nil || first == nil {
				status := ""
				if c != nil && c.Upgrade != nil {
					status = c.Upgrade.Status
				}
				t.Fatalf("upgrade: stream 1 %+v, %v (answered %q)", first, err, status)
			}
			if want := fmt.Sprintf("HTTP/2.0 2 %d %s /p hop=[]", len(body), digest(body)); string(first.Body) != want {
				t.Errorf("stream 1 = %q, want %q", first.Body, want)
			}
		})
	}
}

func TestBadSettingsServedAsHTTP1(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	tests := map[string]string{
		"padded base64":             "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABk==",
		"std base64 chars":          "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAA+/",
		"length not 6n":             "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAA",
		"enable push 2":             "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAIAAAAC",
		"enable connect protocol 2": "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAgAAAAC",
		"max frame too big":         "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAUBAAAA",
		"window over 2^31":          "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AASAAAAA",
		"two settings lines":        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\nHTTP2-Settings: ",
		"no settings":               "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c",
		"connection lacks settings": "Connection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: ",
		"longer than a frame":       "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + strings.Repeat("AAMAAABk", 1<<14/6+1),
	}
	for name, fields := range tests {
		t.Run(name, func(t *testing.T) {
			conn := dialRaw(t, s.srv)
			c, first, err := h2ctest.Upgrade(conn, "GET /p HTTP/1.1\r\nHost: x\r\n"+fields+"\r\n", nil)
			if err != nil || first != nil {
				t.Fatalf("upgraded or failed: %v", err)
			}
			got, _ := io.ReadAll(c.Upgrade.Body)
			if c.Upgrade.StatusCode != 200 || !strings.HasPrefix(string(got), "HTTP/1.1 1 0") {
				t.Errorf("got %s %q, want the app over HTTP/1.1", c.Upgrade.Status, got)
			}
		})
	}
	if s.n.Stats().Refused != 0 {
		t.Errorf("bad settings were refused, want ignored")
	}
}

func TestSmugglingGuard(t *testing.T) {
	t.Parallel()
	untrusted := serve(t, nil)
	for _, hdr := range []string{"Via: 1.1 proxy", "Forwarded: for=192.0.2.1", "X-Forwarded-For: 192.0.2.1", "X-Forwarded-Proto: http"} {
		c, first, err := h2ctest.Upgrade(dialRaw(t, untrusted.srv), h2ctest.RequestHead("GET", "/", "x", hdr), nil)
		if err != nil || first != nil {
			t.Errorf("%s: upgraded through an untrusted proxy (%v)", hdr, err)
			continue
		}
		c.Upgrade.Body.Close()
		if c.Upgrade.StatusCode != 200 {
			t.Errorf("%s: %s, want served as HTTP/1.1", hdr, c.Upgrade.Status)
		}
	}
	trusted := serve(t, &h2c.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	_, first, err := h2ctest.Upgrade(dialRaw(t, trusted.srv), h2ctest.RequestHead("GET", "/", "x", "X-Forwarded-For: 192.0.2.1"), nil)
	if err != nil || first == nil {
		t.Errorf("trusted proxy not upgraded: %v", err)
	}
}

// By default the streams are served by the handler of the http.Server the
// upgrade came through, not by what the middleware wraps: a later stream
// reaches every route, as prior-knowledge HTTP/2 does.
func TestHandlerDefaultIsTheServers(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	reg := register(newH2C(t, nil))
	mux := http.NewServeMux()
	mux.Handle("/up/", n.Middleware(reg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "up "+r.Proto)
	})))
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other "+r.Proto) })
	srv := testkit.StartServer(t, mux)
	c, first, err := h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", "/up/x", "x"), nil)
	if err != nil || first == nil || string(first.Body) != "up HTTP/2.0" {
		t.Fatalf("stream 1: %+v %v, want up HTTP/2.0", first, err)
	}
	if r, err := c.Get("/other"); err != nil || string(r.Body) != "other HTTP/2.0" {
		t.Errorf("stream 3: %+v %v, want the server's mux to route it to /other", r, err)
	}
}

// A server without a Handler serves with http.DefaultServeMux, and so do
// its upgraded connections.
func TestHandlerDefaultServeMux(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	reg := register(newH2C(t, nil))
	// A path of this run's own: the default mux outlives the test.
	path := fmt.Sprintf("/h2c-test-default-mux/%d/", defaultMuxRuns.Add(1))
	http.Handle(path, n.Middleware(reg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "default mux "+r.Proto)
	})))
	srv := testkit.StartServer(t, nil)
	_, first, err := h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", path, "x"), nil)
	if err != nil || first == nil || string(first.Body) != "default mux HTTP/2.0" {
		t.Errorf("stream 1: %+v %v, want default mux HTTP/2.0", first, err)
	}
}

var defaultMuxRuns atomic.Int64

// Options.Handler serves the streams when set; with none set and no
// http.Server to be found, the streams find nothing.
func TestHandlerGivenAndNotFound(t *testing.T) {
	t.Parallel()
	given := serve(t, &h2c.Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "given "+r.Proto)
	})})
	_, first, err := h2ctest.Upgrade(dialRaw(t, given.srv), h2ctest.RequestHead("GET", "/", "x"), nil)
	if err != nil || first == nil || string(first.Body) != "given HTTP/2.0" {
		t.Errorf("given handler: %+v %v", first, err)
	}

	n := testkit.NewNegotiator(t, nil)
	reg := register(newH2C(t, nil))
	mw := n.Middleware(reg)(app)
	// As a server other than net/http's would call it: no http.Server in
	// the request's context.
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), http.ServerContextKey, nil)))
	}))
	_, first, err = h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", "/", "x"), nil)
	if err != nil || first == nil || first.Status != 404 {
		t.Errorf("no server, no handler: %+v %v, want 404 over HTTP/2", first, err)
	}
}

func TestTLSNeverUpgrades(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Middleware(register(newH2C(t, nil)))(app))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	defer srv.Close()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, first, err := h2ctest.Upgrade(conn, h2ctest.RequestHead("GET", "/", "x"), nil)
	if err != nil || first != nil {
		t.Fatalf("TLS request upgraded to h2c: %v", err)
	}
	got, _ := io.ReadAll(c.Upgrade.Body)
	if !strings.HasPrefix(string(got), "HTTP/1.1") {
		t.Errorf("got %q, want served as HTTP/1.1", got)
	}
}

func TestShutdownSendsGoAway(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	c := upgrade(t, s.srv)
	done := shutdown(s.n)
	waitGoAway(t, c, "negotiator shutdown")
	wait(t, done, "Shutdown")
}

func TestHTTPServerShutdownSendsGoAway(t *testing.T) {
	t.Parallel()
	s := serve(t, nil)
	s.n.RegisterOnShutdown(s.srv.Config)
	c := upgrade(t, s.srv)
	if err := s.srv.Config.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitGoAway(t, c, "http.Server.Shutdown")
}

// One h2c value registered with two negotiators: each negotiator's
// shutdown reaches its own connections only. (Every connection of a value
// used to share one private http.Server, so A's shutdown sent GOAWAY to B's
// connections as well.)
func TestShutdownStaysHome(t *testing.T) {
	t.Parallel()
	p := newH2C(t, nil)
	a, b := mount(t, p), mount(t, p)
	ca, cb := upgrade(t, a.srv), upgrade(t, b.srv)

	done := shutdown(a.n)
	waitGoAway(t, ca, "A's connection after A's shutdown")
	wait(t, done, "A's Shutdown")
	if r, err := cb.Get("/after"); err != nil || r.Status != 200 {
		t.Fatalf("B's connection after A's shutdown: %+v %v, want it still serving", r, err)
	}
	if cb.GoAway != nil {
		t.Fatalf("B's connection got GOAWAY %v from A's shutdown", cb.GoAway)
	}
	// B's own shutdown still works: its connection's server was not
	// shut down before.
	done = shutdown(b.n)
	waitGoAway(t, cb, "B's connection after B's shutdown")
	wait(t, done, "B's Shutdown")
}

// A shutdown lets a stream in progress finish: GOAWAY names it as
// processed, its response arrives whole, and only then does the
// connection close.
func TestShutdownDrainsStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := serve(t, &h2c.Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	})})
	c := upgrade(t, s.srv)
	got := make(chan *h2ctest.Response, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := c.Get("/slow")
		got <- r
		errc <- err
	}()
	testkit.Receive(t, started, "the slow stream to start")
	done := shutdown(s.n)
	testkit.WaitFor(t, "the shutdown to begin", func() bool { return shuttingDown(t, s) })
	close(release)
	r, err := testkit.Receive(t, got, "the slow stream's response"), testkit.Receive(t, errc, "the slow stream's error")
	if err != nil || r == nil || string(r.Body) != "done /slow" {
		t.Fatalf("slow stream during shutdown: %+v %v, want it finished", r, err)
	}
	if c.GoAway == nil {
		// The GOAWAY may follow the stream's last frame (Go 1.27's server
		// sends it from its serving goroutine, after a write in flight).
		if _, err := c.WaitGoAway(); err != nil {
			t.Fatalf("waiting for the GOAWAY after the slow stream: %v", err)
		}
	}
	if c.GoAway.ErrCode != 0 || c.GoAway.LastStreamID < 3 {
		t.Errorf("GOAWAY %v, want NO_ERROR naming stream 3 as processed", c.GoAway)
	}
	c.Conn.Close()
	wait(t, done, "Shutdown")
}

// shuttingDown reports whether s's negotiator refuses new switches
// because it is shutting down.
func shuttingDown(t *testing.T, s setup) bool {
	down, _ := probe(t, s)
	return down
}

// probe offers h2c to s's server and reports whether the negotiator
// refused it for its shutdown (a 503 for a connection limit is not one),
// and whether it switched: a probe sent before the shutdown began is a
// switch like any other, and its connection is closed at once, or the
// shutdown would wait for a client that never sends its preface.
func probe(t *testing.T, s setup) (down, switched bool) {
	e := testkit.Raw(t, testkit.Addr(s.srv), testkit.UpgradeRequest("/", "h2c", "HTTP2-Settings: "+h2ctest.Settings, "Connection: HTTP2-Settings"))
	if e.Resp.StatusCode == http.StatusSwitchingProtocols {
		e.Conn.Close()
		return false, true
	}
	return e.Resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(e.Body, "shutting down"), false
}

func TestPriorKnowledge(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(testkit.NewNegotiator(t, nil).Middleware(register(newH2C(t, nil)))(app))
	h2c.ConfigureServer(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)

	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/pk")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(got), "HTTP/2.0 2 0 ") {
		t.Errorf("prior knowledge served %q, want HTTP/2.0 by the same handler", got)
	}
	// Upgrades still work on the same server.
	_, first, err := h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", "/up", "x"), nil)
	if err != nil || first == nil || !strings.HasPrefix(string(first.Body), "HTTP/2.0") {
		t.Errorf("upgrade beside prior knowledge: %+v %v", first, err)
	}
}

// At an Endpoint mount the default handler is the server's, which routes
// stream 1 back to the endpoint: it answers a request that is not an
// upgrade with 426, as the package documentation warns.
func TestHandlerDefaultAtEndpoint(t *testing.T) {
	t.Parallel()
	_, srv := testkit.Endpoint(t, nil, register(newH2C(t, nil)))
	_, first, err := h2ctest.Upgrade(dialRaw(t, srv), h2ctest.RequestHead("GET", "/", "x"), nil)
	if err != nil || first == nil || first.Status != http.StatusUpgradeRequired {
		t.Errorf("stream 1 at an endpoint: %+v %v, want 426 over HTTP/2", first, err)
	}
}

// A shutdown that begins while a connection is switching, before its HTTP/2
// server has started, still reaches it: stream 1 is answered, GOAWAY
// follows, and the shutdown ends without waiting for its deadline.
func TestShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	var s setup
	var first atomic.Bool
	done := make(chan error, 1)
	n := testkit.NewNegotiator(t, &negotiate.Options{OnSwitch: func(negotiate.ConnInfo) {
		// The connection is tracked and its 101 not yet written. Only the
		// test's connection starts the shutdown: a probe sent before the
		// shutdown began switches too (probe closes it), and its OnSwitch
		// started a shutdown and probed in turn, each on a goroutine
		// whose send on done then blocked for good.
		if !first.CompareAndSwap(false, true) {
			return
		}
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Timeout)
			defer cancel()
			done <- s.n.Shutdown(ctx)
		}()
		testkit.WaitFor(t, "the shutdown to begin", func() bool { return shuttingDown(t, s) })
	}})
	s = setup{n, testkit.StartServer(t, n.Middleware(register(newH2C(t, nil)))(app))}
	c := upgrade(t, s.srv)
	if c.GoAway == nil {
		waitGoAway(t, c, "a connection switched during the shutdown")
	} else {
		c.Conn.Close()
	}
	wait(t, done, "Shutdown")
}

// What the HTTP/2 server of an upgraded connection logs (a client whose
// preface is wrong, say) goes to the ErrorLog of the http.Server the
// upgrade came through, as net/http's own HTTP/2 connections log, not to
// the standard logger.
func TestErrorsGoToTheServersErrorLog(t *testing.T) {
	t.Parallel()
	n := testkit.NewNegotiator(t, nil)
	var errorLog testkit.LockedBuffer
	srv := httptest.NewUnstartedServer(n.Middleware(register(newH2C(t, nil)))(app))
	srv.Config.ErrorLog = log.New(&errorLog, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	c := dialRaw(t, srv)
	if _, err := io.WriteString(c, h2ctest.RequestHead("GET", "/", "x")+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil { // not the preface, as long
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, br) // the server closes
	testkit.WaitFor(t, "the preface error in the server's ErrorLog", func() bool {
		return strings.Contains(errorLog.String(), "preface")
	})
}
