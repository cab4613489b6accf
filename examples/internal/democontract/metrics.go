package democontract

import (
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// readMetrics returns the program's GET /metrics, which must be the
// Prometheus text format (over HTTP/2 for an https program).
func readMetrics(t *testing.T, p *testkit.Program) string {
	t.Helper()
	resp, body := do(t, p.URL, "GET", "/metrics", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return body
}

// GET /metrics after real WebSocket, echo/1 and h2c switches and refused
// upgrades: each series of issue 15 with its labels and count, an offer
// nobody registered counted as "_other", and no path, address or other
// client value as a label.
func prometheusMetrics(t *testing.T, p *testkit.Program) {
	ws, _ := dialWS(t, gws.Dialer{}, p, "/ws")
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("hello"))
	stream, _ := testkit.Dial(t, p.URL+"/anywhere", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, stream, "0123456789")
	h2, _ := h2cDial(t, p, "/proto")
	const key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	for _, tc := range []struct {
		request string
		status  int
	}{
		{testkit.UpgradeRequest("/ws", "websocket"), 400}, // no key
		{testkit.UpgradeRequest("/ws", "websocket", key, "Sec-WebSocket-Version: 13", "Origin: http://evil.example"), 403},
		{testkit.UpgradeRequest("/ws", "nope/9"), 426},
		{testkit.UpgradeRequest("/chat", "nope/9"), 426},
	} {
		if x := testkit.Raw(t, p.Addr(), tc.request); x.Resp.StatusCode != tc.status {
			t.Fatalf("%.40q…: %d, want %d", tc.request, x.Resp.StatusCode, tc.status)
		}
	}

	body := readMetrics(t, p)
	testkit.Contains(t, "GET /metrics", body,
		`switchyard_upgrade_attempts_total{token="websocket",outcome="switched"} 1`,
		`switchyard_upgrade_attempts_total{token="websocket",outcome="refused"} 2`,
		`switchyard_upgrade_attempts_total{token="echo",outcome="switched"} 1`,
		`switchyard_upgrade_attempts_total{token="h2c",outcome="switched"} 1`,
		`switchyard_upgrade_attempts_total{token="_other",outcome="refused"} 2`,
		`switchyard_upgrade_refusals_total{token="websocket",status="400"} 1`,
		`switchyard_upgrade_refusals_total{token="websocket",status="403"} 1`,
		`switchyard_upgrade_refusals_total{token="_other",status="426"} 2`,
		`switchyard_upgraded_connections{token="websocket",transport="http/1.1"} 1`,
		`switchyard_upgraded_connections{token="echo",transport="http/1.1"} 1`,
		`switchyard_upgraded_connections{token="h2c",transport="http/1.1"} 1`,
		`switchyard_handshake_duration_seconds_count{token="websocket"} 1`,
		`switchyard_handshake_duration_seconds_bucket{token="echo",le="+Inf"} 1`,
		`switchyard_connection_io_bytes_total{token="echo",direction="receive"} 10`,
		`switchyard_connection_io_bytes_total{token="echo",direction="transmit"} 10`,
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"} 0`,
		`switchyard_shutdown_connections_total{result="graceful"} 0`,
		"# TYPE switchyard_handshake_duration_seconds histogram\n",
		"# TYPE switchyard_upgraded_connections gauge\n",
		"# TYPE switchyard_connection_io_bytes_total counter\n",
	)
	testkit.Lacks(t, "GET /metrics", body, "nope", "evil", "127.0.0.1", "/ws", "/chat", "/anywhere", "/proto", `"echo/1"`)
	if resp, body := do(t, p.URL, "HEAD", "/metrics", nil); resp.StatusCode != 200 || body != "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("HEAD /metrics: %d %q %q, want 200, the type and no body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}

	wstest.CloseNormally(t, ws)
	stream.Close()
	h2.Conn.Close()
	testkit.WaitFor(t, "/metrics to show every connection closed", func() bool {
		body := readMetrics(t, p)
		return strings.Contains(body, `switchyard_upgraded_connections{token="websocket",transport="http/1.1"} 0`) &&
			strings.Contains(body, `switchyard_upgraded_connections{token="echo",transport="http/1.1"} 0`) &&
			strings.Contains(body, `switchyard_upgraded_connections{token="h2c",transport="http/1.1"} 0`)
	})
	testkit.Contains(t, "GET /metrics after the closes", readMetrics(t, p),
		`switchyard_connection_duration_seconds_count{token="websocket",close_reason="normal"} 1`,
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"} 1`,
		`switchyard_connection_io_bytes_total{token="echo",direction="receive"} 10`,
	)
}
