package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// The test binary is also the server under test: started again with
// SOAK_SERVE=1, it serves instead of testing.
// The tests must leave no goroutine behind (testkit.Main).
func TestMain(m *testing.M) {
	if os.Getenv("SOAK_SERVE") == "1" {
		os.Exit(serveMain())
	}
	testkit.Main(m)
}

func serverCmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SOAK_SERVE=1")
	return cmd
}

// TestSoak runs the whole program in-process against a child server: 20
// connections of every protocol for a second, no error, no leak, exit 0.
func TestSoak(t *testing.T) {
	var log bytes.Buffer
	cfg := Config{
		Conns: 20, Duration: time.Second, Mix: [nProtos]int{2, 1, 1}, DialConcurrency: 4,
		Pause: 50 * time.Millisecond, Size: 64, Timeout: time.Minute, DrainTimeout: 10 * time.Second,
		Slack: 4, ServerCmd: serverCmd, Log: &log,
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	printTable(&out, res)
	t.Logf("\n%s", out.String())
	if !res.OK {
		t.Fatalf("not ok:\n%s\n%s", out.String(), log.String())
	}
	if got := res.Up["websocket"] + res.Up["echo"] + res.Up["h2c"]; got != 20 {
		t.Errorf("%d connections up, want 20", got)
	}
	for _, k := range []string{"websocket", "echo", "h2c"} {
		if res.RoundTrip[k].Count == 0 {
			t.Errorf("no %s round trip", k)
		}
	}
	if res.Load == nil || res.GoroutinesPerConn < 1 {
		t.Errorf("server figures at load: %+v, %.2f goroutines per connection", res.Load, res.GoroutinesPerConn)
	}
	line, err := json.Marshal(res)
	if err != nil || bytes.Contains(line, []byte("\n")) {
		t.Errorf("JSON: %v", err)
	}
}

// TestSoakServerCloses: the server shut down under 12 open connections
// closes each its protocol's way and exits 0.
func TestSoakServerCloses(t *testing.T) {
	var log bytes.Buffer
	cfg := Config{
		Conns: 12, Duration: 500 * time.Millisecond, Mix: [nProtos]int{1, 1, 1}, DialConcurrency: 4,
		Pause: 50 * time.Millisecond, Size: 64, Timeout: time.Minute, ServerCloses: true,
		ServerCmd: serverCmd, Log: &log,
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	printTable(&out, res)
	if !res.OK || res.ExitCode != 0 {
		t.Fatalf("not ok:\n%s\n%s", out.String(), log.String())
	}
}

// TestSoakCatchesDeadServer: a server that dies under the clients is
// reported as errors and a failed run, not a pass or a hang.
func TestSoakCatchesDeadServer(t *testing.T) {
	cfg := Config{
		Conns: 6, Duration: 2 * time.Second, Mix: [nProtos]int{1, 1, 1}, DialConcurrency: 6,
		Pause: 20 * time.Millisecond, Size: 32, Timeout: time.Minute, DrainTimeout: time.Second,
		ServerCmd: serverCmd,
	}
	cfg.Log = killer{t}
	res, err := Run(context.Background(), cfg)
	if err == nil && res.OK {
		t.Fatalf("a killed server passed: %+v", res)
	}
	if err == nil && len(res.Errors) == 0 {
		t.Errorf("no client error reported: %+v", res)
	}
	if err == nil {
		var out bytes.Buffer
		printTable(&out, res)
		t.Logf("\n%s", out.String())
	}
}

// killer kills the server 700 ms after Run reports its pid.
type killer struct{ t *testing.T }

func (k killer) Write(p []byte) (int, error) {
	if _, rest, ok := strings.Cut(string(p), "server (pid "); ok {
		pid, err := strconv.Atoi(rest[:strings.IndexByte(rest, ')')])
		if err != nil {
			k.t.Errorf("pid in %q: %v", p, err)
			return len(p), nil
		}
		time.AfterFunc(700*time.Millisecond, func() {
			if proc, err := os.FindProcess(pid); err == nil {
				_ = proc.Kill()
			}
		})
	}
	return len(p), nil
}

func TestCounts(t *testing.T) {
	for _, tc := range []struct {
		n    int
		mix  [nProtos]int
		want [nProtos]int
	}{
		{1000, [nProtos]int{80, 10, 10}, [nProtos]int{800, 100, 100}},
		{10, [nProtos]int{1, 1, 1}, [nProtos]int{4, 3, 3}},
		{7, [nProtos]int{1, 0, 0}, [nProtos]int{7, 0, 0}},
		{3, [nProtos]int{0, 5, 5}, [nProtos]int{0, 2, 1}},
		{1, [nProtos]int{80, 10, 10}, [nProtos]int{1, 0, 0}},
	} {
		c := Config{Conns: tc.n, Mix: tc.mix}
		if got := c.counts(); got != tc.want {
			t.Errorf("%d along %v: %v, want %v", tc.n, tc.mix, got, tc.want)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := parseMix("h2c=1, ws=3,echo/1=2")
	if err != nil || m != [nProtos]int{3, 2, 1} {
		t.Errorf("got %v, %v", m, err)
	}
	for _, bad := range []string{"", "websocket", "websocket=-1", "quic=1", "websocket=0,h2c=0"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDist(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := dist(d)
	if got != (Dist{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100}) {
		t.Errorf("dist: %+v", got)
	}
	if (dist(nil) != Dist{}) {
		t.Error("empty dist")
	}
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errMismatch, "mismatch"},
		{fmt.Errorf("x: %w", statusError{503}), "status 503"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, "reset"},
		{io.ErrUnexpectedEOF, "eof"},
		{errors.New("something"), "other"},
	} {
		if got := kind(tc.err); got != tc.want {
			t.Errorf("kind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestDrained(t *testing.T) {
	base := &Figures{Goroutines: 7}
	for _, tc := range []struct {
		f    Figures
		want bool
	}{
		{Figures{Goroutines: 7, Active: map[string]int{"websocket": 0, "h2c": 0}}, true},
		{Figures{Goroutines: 11}, true},
		{Figures{Goroutines: 12}, false},                                   // goroutines left
		{Figures{Goroutines: 7, Active: map[string]int{"echo": 1}}, false}, // a live connection
	} {
		if got := drained(&tc.f, base, 4); got != tc.want {
			t.Errorf("drained(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}
