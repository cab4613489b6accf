package metrics_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
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
