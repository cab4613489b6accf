//go:build go1.27 && !http2legacy

package interop_test

//lint:file-ignore SA1019 x/net's deprecated http2.Transport is one of the Go clients whose refusal of :protocol this file checks

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// From Go 1.27 on, golang.org/x/net/http2's Transport is net/http's (x/net
// wraps it), and net/http's Transport refuses the ":protocol" field as an
// invalid header name before its HTTP/2 code sees the request: a Go program
// built the default way has no client that sends an extended CONNECT. x/net
// keeps its own implementation, which does, for builds with -tags
// http2legacy.

// TestGoExtendedConnect, on Go 1.27: net/http's Transport and x/net's both
// refuse ":protocol" without sending anything, while a GET on the same
// client goes over HTTP/2; then h2_goclient_test.go's TestGoExtendedConnect
// runs, with x/net's own HTTP/2 client, in a go test of its own built with
// -tags http2legacy (as x/net's own tests do for that build).
func TestGoExtendedConnect(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		p := startDemo(t, xconnectOn, "-tls")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		std := &http.Transport{TLSClientConfig: selfSigned(), Protocols: new(http.Protocols)}
		std.Protocols.SetHTTP2(true)
		for _, c := range []struct {
			name string
			tr   interface {
				http.RoundTripper
				CloseIdleConnections()
			}
		}{
			{"net/http", std},
			{"x/net", &http2.Transport{TLSClientConfig: selfSigned()}},
		} {
			t.Cleanup(c.tr.CloseIdleConnections)
			req, err := http.NewRequestWithContext(ctx, http.MethodConnect, p.URL+"/ws", http.NoBody)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(":protocol", "websocket")
			req.Header.Set("Sec-Websocket-Version", "13")
			resp, err := c.tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s's Transport: extended CONNECT answered %d; want its refusal of :protocol (if Go's client sends it now, test it here, and correct the README)", c.name, resp.StatusCode)
			} else if !strings.Contains(err.Error(), `invalid header field name ":protocol"`) {
				t.Errorf("%s's Transport: %v; want its refusal of the :protocol field name", c.name, err)
			}
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/proto", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err = c.tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s's Transport: GET /proto: %v", c.name, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "HTTP/2.0" {
				t.Errorf("%s's Transport: GET /proto: %q, %v; want HTTP/2.0", c.name, body, err)
			}
		}
		s := readDemoStats(t, p)
		wantOverH2(t, s, 0, 0, 0, 0)
		if s.Refused != 0 {
			t.Errorf("/stats refused %d, want 0: the extended CONNECTs must not have been sent", s.Refused)
		}
	})
	t.Run("http2legacy", func(t *testing.T) {
		t.Parallel()
		args := []string{"test", "-tags=http2legacy", "-run=^TestGoExtendedConnect$", "-count=1", "-v"}
		if raceEnabled() {
			args = append(args, "-race")
		}
		// Bounded by this test's own deadline, less a margin to report in.
		timeout := 8 * time.Minute
		if d, ok := t.Deadline(); ok {
			timeout = min(timeout, time.Until(d)-15*time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		args = append(args, "-timeout="+timeout.String())
		// go test puts its toolchain's bin first on PATH: the same go.
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, sub := range []string{"tls", "h2c", "off"} {
			if want := "--- PASS: TestGoExtendedConnect/" + sub + " "; !strings.Contains(string(out), want) {
				t.Errorf("go %s: no %q in its output:\n%s", strings.Join(args, " "), strings.TrimSpace(want), out)
			}
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "--- ") {
				t.Log(strings.TrimSpace(line))
			}
		}
	})
}

// raceEnabled reports whether this test binary was built with -race, so
// that the go test it starts is too.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
