package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

// The test binary is also the server under test: started again with
// WSLOAD_SERVE=KIND, it serves that kind instead of testing.
// With WSLOAD_FAULTY=KIND it serves one of faultyServers instead.
func TestMain(m *testing.M) {
	if kind := os.Getenv("WSLOAD_SERVE"); kind != "" {
		os.Exit(serveMain(kind, os.Getenv("WSLOAD_HTTP"), 0))
	}
	if kind := os.Getenv("WSLOAD_FAULTY"); kind != "" {
		os.Exit(child.Main("faulty server "+kind, func(ctx context.Context, _ *slog.Logger) error {
			mux := http.NewServeMux()
			mux.HandleFunc("GET /figures", serveFigures)
			srv := &http.Server{Handler: onPath(faultyServers[kind](ctx)), ReadHeaderTimeout: 5 * time.Second}
			return child.Serve(ctx, os.Stdout, srv, mux, func() { _ = srv.Close() })
		}))
	}
	testkit.Main(m)
}

// faultyServers are servers that fail in ways a run must report: each
// serves gorilla's echo at first, as wsload's gorilla kind does.
var faultyServers = map[string]func(ctx context.Context) http.Handler{
	// stalls: after the warm-up, every connection is switched and then
	// left unanswered for a second, and closed: a server that stops
	// answering in the rate phase, whose connections fail only after
	// the phase's time is up.
	"stalls": func(ctx context.Context) http.Handler {
		var n atomic.Int64
		up := &gws.Upgrader{}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			if n.Add(1) <= warmUp {
				echo(c.NextReader, c.NextWriter)
				return
			}
			t := time.NewTimer(time.Second)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		})
	},
	// drops-idle: a connection that sends nothing for 200 ms is closed
	// (without a close frame): the idle connections are gone when the
	// server is measured.
	"drops-idle": func(context.Context) http.Handler {
		up := &gws.Upgrader{}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			echo(func() (int, io.Reader, error) {
				_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				return c.NextReader()
			}, c.NextWriter)
		})
	},
}

func faultyCmd(kind string) func(string) *exec.Cmd {
	return func(string) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "WSLOAD_FAULTY="+kind)
		return cmd
	}
}

func serverCmd(kind string) *exec.Cmd { return serverCmdHTTP(kind, "demo") }

func serverCmdHTTP(kind, httpMode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "WSLOAD_SERVE="+kind, "WSLOAD_HTTP="+httpMode)
	return cmd
}

// TestRun measures every kind once with a few connections: each idle
// connection is counted, every rate connection completes without error,
// and the table and the JSON line say so.
func TestRun(t *testing.T) {
	var log bytes.Buffer
	cfg := Config{
		Kinds: kinds, Runs: 1, Conns: 20, Echoes: 2, Settle: 10 * time.Millisecond,
		RateConns: 40, RateTime: 20 * time.Second, RateEchoes: 5, Parallel: 4, Size: 64,
		ProfileDir: t.TempDir(), ServerCmd: serverCmd, Log: &log,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	printTable(&out, cfg, res)
	t.Logf("\n%s%s", log.String(), out.String())
	if !res.OK {
		t.Fatalf("not ok")
	}
	for _, k := range kinds {
		m := res.Median[k]
		if m.Conns != 20 || m.Errors != 0 {
			t.Errorf("%s: %d idle connections, %d errors; want 20 and none", k, m.Conns, m.Errors)
		}
		if m.ConnsPerS <= 0 || m.StackPerConn <= 0 {
			t.Errorf("%s: %.0f conns/s, %.0f B of stack per idle connection; want both above 0", k, m.ConnsPerS, m.StackPerConn)
		}
		if runtime.GOOS == "linux" && res.Samples[0].RSSIdle == 0 {
			t.Errorf("%s: no RSS read", k)
		}
		for _, f := range []string{k + ".heap", k + ".goroutine", k + ".goroutine.txt"} {
			if st, err := os.Stat(cfg.ProfileDir + "/" + f); err != nil || st.Size() == 0 {
				t.Errorf("profile %s: %v", f, err)
			}
		}
	}
	// gorilla direct keeps net/http's 4 KiB read and write buffers for
	// each connection, and about 3.7 KB of other objects: its live heap
	// per connection, (after − before) / conns, is within these bounds.
	if h := res.Median["gorilla"].HeapPerConn; h < 8<<10 || h > 16<<10 {
		t.Errorf("gorilla: %.0f B of live heap per idle connection, want 8 to 16 KiB", h)
	}
	for _, s := range res.Samples {
		if s.RateConns != 40 {
			t.Errorf("%s: %d connections in the rate phase, want 40", s.Kind, s.RateConns)
		}
	}
	if ratio := res.Ratio[reference]; ratio != [2]float64{1, 1} {
		t.Errorf("the reference's ratios: %v, want [1 1]", ratio)
	}
	if !strings.Contains(out.String(), "result: ok") {
		t.Errorf("table without its result line")
	}
	if line, err := json.Marshal(res); err != nil || bytes.Contains(line, []byte("\n")) {
		t.Errorf("JSON: %v", err)
	}
}

// -http plain runs the kinds on a bare http.Server, and an unknown
// setting stops the server from starting.
func TestRunHTTPModes(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ok   bool
	}{{"plain", true}, {"nonesuch", false}} {
		cfg := Config{
			Kinds: []string{"switchyard", "gorilla"}, Runs: 1, RateConns: 8, RateTime: 20 * time.Second, RateEchoes: 2,
			Parallel: 2, Size: 64,
			ServerCmd: func(kind string) *exec.Cmd { return serverCmdHTTP(kind, tc.mode) },
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		res, err := Run(ctx, cfg)
		cancel()
		if (err == nil) != tc.ok {
			t.Fatalf("-http %s: err %v, want ok %v", tc.mode, err, tc.ok)
		}
		if !tc.ok {
			continue
		}
		for _, s := range res.Samples {
			if s.RateConns != 8 || s.Errors != 0 {
				t.Errorf("-http %s, %s: %d connections, %d errors; want 8 and none", tc.mode, s.Kind, s.RateConns, s.Errors)
			}
		}
	}
}

// The processor time read from /proc grows as this process works.
func TestSelfCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	start, until := child.SelfCPU(), time.Now().Add(10*time.Second)
	x := 0
	for child.SelfCPU() == start && time.Now().Before(until) {
		for i := range 1_000_000 {
			x += i % 7
		}
	}
	if child.SelfCPU() <= start {
		t.Errorf("SelfCPU stayed at %v after 10 s of work (%d)", start, x)
	}
}

// A server that cannot start fails the run, and does not hang it.
func TestRunFailsOnBadServer(t *testing.T) {
	cfg := Config{
		Kinds: []string{"gorilla"}, Runs: 1, Conns: 4, Echoes: 1, Settle: time.Millisecond,
		Parallel: 2, Size: 64,
		ServerCmd: func(string) *exec.Cmd { return serverCmd("nonesuch") },
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Run(ctx, cfg); err == nil {
		t.Fatal("Run against a server that cannot start: no error")
	}
}

// A server that stops answering in the rate phase fails the run, although
// its connections fail only once the phase's time is up: a connection under
// way at the end runs to its end, and its error counts.
func TestRunFailsOnStalledServer(t *testing.T) {
	cfg := Config{
		Kinds: []string{"gorilla"}, Runs: 1, RateConns: 1000, RateTime: 300 * time.Millisecond, RateEchoes: 1,
		Parallel: 2, Size: 64, ServerCmd: faultyCmd("stalls"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := res.Samples[0]
	if res.OK || s.Errors == 0 {
		t.Errorf("a server that stopped answering: ok %v, %d connections, %d errors; want a failed run with errors", res.OK, s.RateConns, s.Errors)
	}
	var out bytes.Buffer
	printTable(&out, cfg, res)
	if !strings.Contains(out.String(), "result: FAILED") {
		t.Errorf("table:\n%s\nwant result: FAILED", out.String())
	}
}

// A server that drops its idle connections before it is measured fails the
// run (a connection error: exit status 1) instead of reporting the memory
// of connections it no longer holds.
func TestRunFailsOnDroppedIdleConns(t *testing.T) {
	cfg := Config{
		Kinds: []string{"gorilla"}, Runs: 1, Conns: 10, Echoes: 1, Settle: time.Second,
		Parallel: 2, Size: 64, ServerCmd: faultyCmd("drops-idle"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if ce := (connError{}); !errors.As(err, &ce) {
		t.Fatalf("Run against a server that dropped its idle connections: %v, %+v; want a connection error", err, res)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// With Together the rate phase runs against every server at once and ends
// for all when one has had all its connections: the phases overlap, none
// fails a connection, the server's processor time is its own and the
// clients' is shared.
func TestRunTogether(t *testing.T) {
	cfg := Config{
		Kinds: []string{"switchyard", "gorilla"}, Runs: 1, RateConns: 30, RateTime: 20 * time.Second, RateEchoes: 2,
		Parallel: 3, Size: 64, Together: true, ServerCmd: serverCmd,
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Samples) != 2 {
		t.Fatalf("%d samples, want 2", len(res.Samples))
	}
	a, b := res.Samples[0], res.Samples[1]
	for _, s := range res.Samples {
		if s.RateConns < 1 || s.RateConns > 30 || s.Errors != 0 || s.ServerCPU <= 0 {
			t.Errorf("%s: %d connections, %d errors, %.0f µs of server time each; want 1 to 30, none, above 0", s.Kind, s.RateConns, s.Errors, s.ServerCPU)
		}
	}
	if max(a.RateConns, b.RateConns) != 30 {
		t.Errorf("%d and %d connections: the phases ended before either had its 30", a.RateConns, b.RateConns)
	}
	if a.ClientCPU <= 0 || a.ClientCPU != b.ClientCPU {
		t.Errorf("clients' µs per connection %.1f and %.1f, want one shared figure above 0", a.ClientCPU, b.ClientCPU)
	}
	// At once: each phase began before the other ended.
	if !a.rateStart.Before(b.rateEnd) || !b.rateStart.Before(a.rateEnd) {
		t.Errorf("the phases did not overlap: %v–%v and %v–%v", a.rateStart, a.rateEnd, b.rateStart, b.rateEnd)
	}
}
