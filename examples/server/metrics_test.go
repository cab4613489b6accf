package main

import (
	"strings"
	"testing"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/h2ctest"
	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// GET /metrics of the program as a user runs it, after real WebSocket,
// echo/1 and h2c switches and refused upgrades: each series of issue 15
// with its labels and count, and no client value as a label.
func TestMetrics(t *testing.T) {
	t.Parallel()
	p := testkit.StartProgram(t, ".", nil)
	ws, _ := wstest.Dial(t, &gws.Dialer{}, wstest.URL(p.URL, "/ws"), nil)
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("hello"))
	stream, _ := testkit.Dial(t, p.URL+"/anywhere", []string{"echo/1"}, nil)
	testkit.RoundTrip(t, stream, "0123456789")
	h2, first, err := h2ctest.Upgrade(testkit.DialTCP(t, p.Addr()), h2ctest.RequestHead("GET", "/proto", p.Addr()), nil)
	if err != nil || first == nil {
		t.Fatalf("h2c upgrade: %v", err)
	}
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

	resp, body := testkit.Do(t, "GET", p.URL+"/metrics", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
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
	testkit.Lacks(t, "GET /metrics", body, "nope", "evil", "127.0.0.1", "/ws", "/chat")

	wstest.CloseNormally(t, ws)
	stream.Close()
	h2.Conn.Close()
	testkit.WaitFor(t, "/metrics to show every connection closed", func() bool {
		_, body := testkit.Do(t, "GET", p.URL+"/metrics", nil, nil)
		return strings.Contains(body, `switchyard_upgraded_connections{token="websocket",transport="http/1.1"} 0`) &&
			strings.Contains(body, `switchyard_upgraded_connections{token="echo",transport="http/1.1"} 0`) &&
			strings.Contains(body, `switchyard_upgraded_connections{token="h2c",transport="http/1.1"} 0`)
	})
	_, body = testkit.Do(t, "GET", p.URL+"/metrics", nil, nil)
	testkit.Contains(t, "GET /metrics after the closes", body,
		`switchyard_connection_duration_seconds_count{token="websocket",close_reason="normal"} 1`,
		`switchyard_connection_duration_seconds_count{token="echo",close_reason="normal"} 1`,
		`switchyard_connection_io_bytes_total{token="echo",direction="receive"} 10`,
	)
}
