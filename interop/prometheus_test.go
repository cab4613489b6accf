package interop_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// TestPrometheusScrapesDemo runs Debian's Prometheus server against the
// demo (examples/server as a user runs it) on loopback: after a WebSocket
// and an echo/1 switch and a refused upgrade, Prometheus's own query API
// shows the switches, the live connections and the refusal, with the
// labels of the demo's /metrics, and the scrape target is healthy (the
// exposition is accepted by Prometheus's ingestion, not only its parser).
func TestPrometheusScrapesDemo(t *testing.T) {
	bin := findPeer(t, "", []string{"prometheus"}, "prometheus is not on PATH (Debian's prometheus package)")
	p := testkit.StartProgram(t, "../examples/server", nil)

	ws, _ := wstest.Dial(t, &gws.Dialer{}, wstest.URL(p.URL, "/ws"), nil)
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("scraped"))
	stream, _ := testkit.Dial(t, p.URL+"/", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, stream, "0123456789")
	if x := testkit.Raw(t, p.Addr(), testkit.UpgradeRequest("/ws", "nope/9")); x.Resp.StatusCode != 426 {
		t.Fatalf("nope/9 at /ws: %d, want 426", x.Resp.StatusCode)
	}

	dir := t.TempDir()
	config := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: ['%s']\n", p.Addr())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	api := "http://" + freeLoopbackAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+api[len("http://"):])
	out := new(testkit.LockedBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(testkit.Timeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("prometheus did not stop within %v of SIGTERM", testkit.Timeout)
		}
	})

	for query, want := range map[string]string{
		`up{job="switchyard"}`: "1",
		`switchyard_upgrade_attempts_total{token="websocket",outcome="switched"}`:                   "1",
		`switchyard_upgrade_attempts_total{token="echo",outcome="switched"}`:                        "1",
		`switchyard_upgrade_refusals_total{token="_other",status="426"}`:                            "1",
		`sum by (transport) (switchyard_upgraded_connections)`:                                      "2",
		`switchyard_handshake_duration_seconds_count{token="websocket"}`:                            "1",
		`switchyard_connection_io_bytes_total{token="echo",direction="transmit"}`:                   "10",
		`histogram_quantile(0.99, sum by (le) (switchyard_handshake_duration_seconds_bucket)) < 10`: "", // any value: the README's query works
	} {
		got := waitQuery(t, api, query, want, out)
		if want != "" && got != want {
			t.Errorf("%s = %q, want %q", query, got, want)
		}
	}
	wstest.CloseNormally(t, ws)
}

// freeLoopbackAddr returns a loopback address with a port free a moment
// ago, for a program that must be told its port.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitQuery asks Prometheus's instant query API until the query has a
// result (want as the value, when want is not ""), within 30 s (its start,
// and a scrape a second), and returns the value of the first result.
func waitQuery(t *testing.T, api, query, want string, log *testkit.LockedBuffer) string {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
		if err == nil {
			var r struct {
				Status string
				Data   struct {
					Result []struct {
						Value [2]any
					}
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			last = fmt.Sprintf("%+v %v", r, err)
			if err == nil && r.Status == "success" && len(r.Data.Result) > 0 {
				if v, _ := r.Data.Result[0].Value[1].(string); want == "" || v == want {
					return v
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Prometheus: %s: no result within 30 s (last: %s); its log:\n%s", query, last, log)
	return ""
}
