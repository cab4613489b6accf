package metrics_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/metrics"
	"github.com/switchyard-http/switchyard/negotiate"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// scrape GETs url and returns its samples, "name{labels}" to value, and
// the body.
func scrape(t *testing.T, url string) (map[string]string, string) {
	t.Helper()
	resp, body := testkit.Do(t, "GET", url, nil, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	samples := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		samples[line[:i]] = line[i+1:]
	}
	return samples, body
}

// want fails the test for each sample that is missing or has another
// value.
func want(t *testing.T, samples map[string]string, body string, wants map[string]string) {
	t.Helper()
	for k, v := range wants {
		if got, ok := samples[k]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if t.Failed() {
		t.Logf("exposition:\n%s", body)
	}
}

// Real switches, refusals and failures through a loopback server, then a
// shutdown: /metrics shows each with its labels and count, a client's
// token never becomes a label, and the user's own hooks still run.
func TestRecordsUpgrades(t *testing.T) {
	rec := metrics.NewRecorder()
	userClosed := make(chan negotiate.ConnInfo, 8)
	n, err := rec.NewNegotiator(&negotiate.Options{
		ProtocolMaxConns: map[string]int{"echo": 2},
		OnClose:          func(c negotiate.ConnInfo) { userClosed <- c },
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	reg.Register("keyed", negotiate.Protocol{
		Check: func(r *http.Request) error {
			if r.Header.Get("X-Key") == "" {
				return negotiate.Refusal(http.StatusBadRequest, "no key")
			}
			return nil
		},
		Accept: func(*negotiate.Switch) (func(*negotiate.Conn) error, error) { return nil, errors.New("backend down") },
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", rec)
	mux.Handle("/up", n.Endpoint(reg))
	srv := testkit.StartServer(t, mux)
	addr := testkit.Addr(srv)

	samples, body := scrape(t, srv.URL+"/metrics")
	want(t, samples, body, map[string]string{
		`switchyard_shutdown_connections_total{result="graceful"}`: "0",
		`switchyard_shutdown_connections_total{result="forced"}`:   "0",
	})
	if strings.Contains(body, "token=") {
		t.Errorf("series before any upgrade:\n%s", body)
	}

	a, _ := testkit.Dial(t, srv.URL+"/up", []string{"echo/1"}, nil)
	b, _ := testkit.Dial(t, srv.URL+"/up", []string{"ECHO/1"}, nil)
	testkit.RoundTrip(t, a, "hello")
	testkit.RoundTrip(t, b, "0123456789")
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "echo/1"))                                   // 503: over echo's limit
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "nope/9"))                                   // 426, of no protocol
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "nope/9, evil\"label"))                      // 400: malformed, of no protocol
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "keyed"))                                    // 400 from keyed's Check
	testkit.Raw(t, addr, testkit.UpgradeRequest("/up", "keyed", "X-Key: 1"))                        // 500: Accept failed
	if x := testkit.Raw(t, addr, "GET /up HTTP/1.1\r\nHost: x\r\n\r\n"); x.Resp.StatusCode != 426 { // no offer
		t.Fatalf("plain GET at the endpoint: %d", x.Resp.StatusCode)
	}

	// Both echo connections are live, their bytes counted so far.
	samples, body = scrape(t, srv.URL+"/metrics")
	want(t, samples, body, map[string]string{
		`switchyard_upgrade_attempts_total{token="echo",outcome="switched"}`:               "2",
		`switchyard_upgrade_attempts_total{token="echo",outcome="refused"}`:                "1",
		`switchyard_upgrade_attempts_total{token="echo",outcome="failed"}`:                 "0",
		`switchyard_upgrade_attempts_total{token="keyed",outcome="refused"}`:               "1",
		`switchyard_upgrade_attempts_total{token="keyed",outcome="failed"}`:                "1",
		`switchyard_upgrade_attempts_total{token="_other",outcome="refused"}`:              "3",
		`switchyard_upgrade_refusals_total{token="echo",status="503"}`:                     "1",
		`switchyard_upgrade_refusals_total{token="keyed",status="400"}`:                    "1",
		`switchyard_upgrade_refusals_total{token="_other",status="426"}`:                   "2",
		`switchyard_upgrade_refusals_total{token="_other",status="400"}`:                   "1",
		`switchyard_upgraded_connections{token="echo",transport="http/1.1"}`:               "2",
		`switchyard_handshake_duration_seconds_count{token="echo"}`:                        "2",
		`switchyard_handshake_duration_seconds_bucket{token="echo",le="+Inf"}`:             "2",
		`switchyard_connection_io_bytes_total{token="echo",direction="receive"}`:           "15",
		`switchyard_connection_io_bytes_total{token="echo",direction="transmit"}`:          "15",
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"}`: "0",
	})
	for _, bad := range []string{"nope", "evil", `token="keyed",outcome="switched"} 1`, `token="_other",le=`, "127.0.0.1", "/up"} {
		if strings.Contains(body, bad) {
			t.Errorf("exposition carries %q:\n%s", bad, body)
		}
	}

	a.Close()
	testkit.Receive(t, userClosed, "the user's OnClose")
	done := testkit.Shutdown(n, testkit.Timeout) // b's protocol follows the shutdown
	if err := testkit.Receive(t, done, "the shutdown"); err != nil {
		t.Fatal(err)
	}
	testkit.Receive(t, userClosed, "the user's OnClose at shutdown")
	samples, body = scrape(t, srv.URL+"/metrics")
	want(t, samples, body, map[string]string{
		`switchyard_upgraded_connections{token="echo",transport="http/1.1"}`:                         "0",
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"}`:           "1",
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="shutdown"}`:         "1",
		`switchyard_connection_duration_seconds_bucket{token="echo",close_reason="normal",le="1"}`:   "1",
		`switchyard_connection_duration_seconds_bucket{token="echo",close_reason="error",le="+Inf"}`: "0",
		`switchyard_shutdown_connections_total{result="graceful"}`:                                   "1",
		`switchyard_shutdown_connections_total{result="forced"}`:                                     "0",
		`switchyard_connection_io_bytes_total{token="echo",direction="receive"}`:                     "15",
		`switchyard_upgrade_attempts_total{token="echo",outcome="switched"}`:                         "2",
	})
}

// A protocol that ignores the shutdown is closed at its deadline: forced.
func TestForcedShutdown(t *testing.T) {
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("deaf", func(c *negotiate.Conn) error {
		_, err := io.Copy(io.Discard, c)
		return err
	})
	srv := testkit.StartServer(t, n.Endpoint(reg))
	c, _ := testkit.Dial(t, srv.URL, []string{"deaf"}, nil)
	testkit.WaitFor(t, "the switch", func() bool { return len(n.Conns()) == 1 })
	if err := testkit.Receive(t, testkit.Shutdown(n, 100*time.Millisecond), "the shutdown"); err == nil {
		t.Fatal("Shutdown returned nil, want its deadline")
	}
	testkit.ExpectClosed(t, c)
	testkit.WaitFor(t, "the close to be recorded", func() bool {
		var sb strings.Builder
		_ = rec.WriteText(&sb, "")
		return strings.Contains(sb.String(), `shutdown_connections_total{result="forced"} 1`)
	})
	var sb strings.Builder
	if err := rec.WriteText(&sb, "edge"); err != nil {
		t.Fatal(err)
	}
	testkit.Contains(t, "namespace edge", sb.String(),
		`edge_connection_duration_seconds_count{token="deaf",close_reason="shutdown"} 1`,
		`edge_shutdown_connections_total{result="graceful"} 0`,
		"# TYPE edge_upgraded_connections gauge\n")
}

// sample returns the value of one sample of r's text without a namespace
// ("" when it is missing).
func sample(r *metrics.Recorder, name string) string {
	var sb strings.Builder
	_ = r.WriteText(&sb, "")
	for line := range strings.Lines(sb.String()) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// The user's OnSwitch, OnClose and OnRefuse are kept and run after the
// recorder's, which has already counted what they are told about. Two
// negotiators made from the same Options are each recorded once: opts
// itself is not changed.
func TestUserHooksRunAfterTheRecorder(t *testing.T) {
	rec := metrics.NewRecorder()
	seen := make(chan string, 16)
	opts := &negotiate.Options{
		OnSwitch: func(negotiate.ConnInfo) {
			seen <- "switch: switched " + sample(rec, `upgrade_attempts_total{token="echo",outcome="switched"}`)
		},
		OnClose: func(negotiate.ConnInfo) {
			seen <- "close: closed " + sample(rec, `connection_duration_seconds_count{token="echo",close_reason="normal"}`)
		},
		OnRefuse: func(negotiate.RefusalInfo) {
			seen <- "refuse: refused " + sample(rec, `upgrade_attempts_total{token="_other",outcome="refused"}`)
		},
	}
	var urls []string
	for range 2 {
		n, err := rec.NewNegotiator(opts)
		if err != nil {
			t.Fatal(err)
		}
		reg := new(negotiate.Registry)
		reg.HandleFunc("echo/1", testkit.EchoConn)
		urls = append(urls, testkit.StartServer(t, n.Endpoint(reg)).URL)
	}
	for i, url := range urls {
		c, _ := testkit.Dial(t, url, []string{"echo/1"}, nil)
		testkit.RoundTrip(t, c, "hi")
		c.Close()
		testkit.Raw(t, strings.TrimPrefix(url, "http://"), testkit.UpgradeRequest("/", "nope/9")) // 426
		k := i + 1
		got := map[string]bool{}
		for range 3 {
			got[testkit.Receive(t, seen, "a user's hook")] = true
		}
		for _, want := range []string{
			"switch: switched " + strconv.Itoa(k),
			"close: closed " + strconv.Itoa(k),
			"refuse: refused " + strconv.Itoa(k),
		} {
			if !got[want] {
				t.Errorf("negotiator %d: the user's hooks saw %v, want %q", k, got, want)
			}
		}
	}
	select {
	case s := <-seen:
		t.Errorf("a hook ran once more: %q", s)
	default:
	}
	// opts' own hooks are the user's, not wrapped by the recorder.
	opts.OnSwitch(negotiate.ConnInfo{Name: "direct"})
	testkit.Receive(t, seen, "the user's OnSwitch called directly")
	if v := sample(rec, `upgrade_attempts_total{token="direct",outcome="switched"}`); v != "" {
		t.Errorf("calling opts.OnSwitch recorded a switch (%s): NewNegotiator changed opts", v)
	}
}

// A protocol that fails closes with close_reason "error"; each family's
// series are sorted by token; WriteText with the namespace "" prefixes
// nothing.
func TestErrorCloseAndOrder(t *testing.T) {
	rec := metrics.NewRecorder()
	infos := testkit.NewConnInfos()
	n, err := rec.NewNegotiator(&negotiate.Options{OnClose: infos.Hook})
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("zeta", func(c *negotiate.Conn) error {
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return err
		}
		return errors.New("bad frame")
	})
	reg.HandleFunc("alpha", testkit.EchoConn)
	srv := testkit.StartServer(t, n.Endpoint(reg))
	z, _ := testkit.Dial(t, srv.URL, []string{"zeta"}, nil)
	if _, err := z.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	testkit.CloseWrite(t, z) // read after the byte: the linger ends at once
	if info := infos.Next(t); info.CloseReason != negotiate.CloseError {
		t.Fatalf("zeta closed with %q (%v), want %q", info.CloseReason, info.Err, negotiate.CloseError)
	}
	a, _ := testkit.Dial(t, srv.URL, []string{"alpha"}, nil)
	testkit.RoundTrip(t, a, "a")
	testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "nope/9"))

	for name, want := range map[string]string{
		`connection_duration_seconds_count{token="zeta",close_reason="error"}`:  "1",
		`connection_duration_seconds_count{token="zeta",close_reason="normal"}`: "0",
		`connection_io_bytes_total{token="zeta",direction="receive"}`:           "1",
		`upgraded_connections{token="zeta",transport="http/1.1"}`:               "0",
		`upgraded_connections{token="alpha",transport="http/1.1"}`:              "1",
	} {
		if got := sample(rec, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var sb strings.Builder
	if err := rec.WriteText(&sb, ""); err != nil {
		t.Fatal(err)
	}
	text := sb.String()
	if !strings.HasPrefix(text, "# HELP upgrade_attempts_total ") || !strings.Contains(text, "\n# TYPE upgraded_connections gauge\n") {
		t.Errorf("namespace \"\": names carry a prefix:\n%s", text)
	}
	var order []string
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, `upgrade_attempts_total{token="`); ok && strings.Contains(rest, `outcome="switched"`) {
			order = append(order, rest[:strings.IndexByte(rest, '"')])
		}
	}
	if strings.Join(order, " ") != "_other alpha zeta" {
		t.Errorf("upgrade_attempts_total's tokens in the order %v, want _other alpha zeta", order)
	}
}

// failingHijack is a ResponseWriter wrapper whose Hijack fails with err.
type failingHijack struct {
	http.ResponseWriter
	err error
}

func (w failingHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, w.err }

// A hijack that fails is a failed attempt, whether the negotiator could
// answer (500, the writer cannot hijack) or not (status 0): never a
// refusal, so no refusals series.
func TestFailedHijacks(t *testing.T) {
	rec := metrics.NewRecorder()
	n, err := rec.NewNegotiator(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(negotiate.Registry)
	reg.HandleFunc("echo/1", testkit.EchoConn)
	endpoint := n.Endpoint(reg)
	// Each request's outcome is recorded before the endpoint returns, which
	// may be after its client has seen the answer (or, for /gone, the
	// connection's end): the exposition is read once both have returned.
	served := make(chan struct{}, 2)
	srv := testkit.StartServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { served <- struct{}{} }()
		var hijackErr error = http.ErrNotSupported
		if r.URL.Path == "/gone" {
			// A middleware in front took the connection first.
			nc, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			nc.Close()
			hijackErr = http.ErrHijacked
		}
		endpoint.ServeHTTP(failingHijack{w, hijackErr}, r)
	}))
	if x := testkit.Raw(t, testkit.Addr(srv), testkit.UpgradeRequest("/", "echo/1")); x.Resp.StatusCode != 500 {
		t.Fatalf("a writer that cannot hijack: %d, want 500", x.Resp.StatusCode)
	}
	c := testkit.DialTCP(t, testkit.Addr(srv))
	if _, err := io.WriteString(c, testkit.UpgradeRequest("/gone", "echo/1")); err != nil {
		t.Fatal(err)
	}
	if got := testkit.ReadAll(t, c); got != "" {
		t.Errorf("a connection hijacked in front: the client got %q, want nothing", got)
	}
	testkit.Receive(t, served, "the first request's end")
	testkit.Receive(t, served, "the second request's end")
	var sb strings.Builder
	if err := rec.WriteText(&sb, ""); err != nil {
		t.Fatal(err)
	}
	text := sb.String()
	testkit.Contains(t, "the exposition", text,
		`upgrade_attempts_total{token="echo",outcome="failed"} 2`+"\n",
		`upgrade_attempts_total{token="echo",outcome="refused"} 0`+"\n",
		`upgrade_attempts_total{token="echo",outcome="switched"} 0`+"\n")
	testkit.Lacks(t, "the exposition", text, "upgrade_refusals_total{", "upgraded_connections{")
	if st := n.Stats(); st.Active["echo"] != 0 || st.Switched["echo"] != 0 {
		t.Errorf("stats %+v, want no switch", st)
	}
}
