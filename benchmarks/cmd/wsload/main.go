// Command wsload measures what a WebSocket server costs its operator, with
// Switchyard on the demo's configuration against gorilla/websocket's
// Upgrader used directly (the reference), coder/websocket and gobwas/ws:
//
//   - idle memory: the server's RSS per open, idle WebSocket, with -conns
//     connections (2,000 by default) held open after -echoes echoes each:
//     (VmRSS with them open − VmRSS before) / conns, read from
//     /proc/PID/status of the server's process;
//
//     The table also shows the live heap and the goroutine stacks per
//     connection, as the server's runtime counts them after two
//     collections (the rest of RSS is heap the runtime holds beyond
//     the live objects: garbage not yet collected, free spans not yet
//     returned to the system); after the readings every connection must
//     still echo, or the run fails;
//
//   - connection rate: new WebSocket connections per second, each opened,
//     echoed -rate-echoes times (5) and closed (close frame both ways),
//     -parallel (64) in flight, until -rate-conns (20,000) have run or
//     -rate-time (10s) has passed; a connection under way then runs to its
//     end, and its error counts.
//
//     go -C benchmarks run ./cmd/wsload
//     cd benchmarks && go run ./cmd/wsload -runs 5 -profile /tmp/prof
//
// Each server runs in a process of its own (this binary again, with -serve
// KIND), started afresh for each figure, on 127.0.0.1:0; the clients run
// in this process. Every kind serves the same echo on /ws: switchyard is
// examples/server's configuration (internal/demoserver: its /ws endpoint,
// compression enabled, 16 MiB read limit, keep-alive and every other
// default; only its MaxConns is lifted); gorilla is a gws.Upgrader{} in
// an http.HandlerFunc; gorilla-lean is gorilla's Upgrader set for the
// least memory per idle connection (a 256-byte read buffer, pooled write
// buffers, the connection served in a goroutine of its own) and keeping
// nothing else, the floor of a goroutine-per-connection server on
// gorilla. All kinds run on the same http.Server settings:
// examples/server's by default (timeouts, and HTTP/2 with prior knowledge,
// for which net/http reads the first 14 bytes of every connection on
// their own), or with -http plain only a header timeout. The clients (gorilla's Dialer) offer no
// compression, so no connection compresses. -runs repeats the whole set,
// kinds interleaved, and the table shows each kind's median and its ratio
// to gorilla in the same run. -profile DIR saves, for each kind, the
// server's heap profile (after a collection) and goroutine profiles with
// the connections idle. -cpuprofile DIR saves a CPU profile of each
// server over the rate phase, whose processor time per connection (the
// server's and the clients') the table shows too. -together runs the rate
// phase of a round against every kind's server at once, each with its own
// -parallel clients: the rates are lower (the servers share the
// processors) but whatever else slows the machine slows them alike, so
// their ratio is steadier than that of phases run one after the other.
//
// The exit status is 1 when a connection failed, 2 when the run could not
// be made (e.g. the open-file limit is below conns + 256).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
)

func main() {
	serveKind := flag.String("serve", "", "")           // hidden: be the server of this kind
	memProfileRate := flag.Int("memprofilerate", 0, "") // hidden: the server's runtime.MemProfileRate
	httpMode := flag.String("http", "demo", "http.Server settings of every kind: demo (examples/server's) or plain")
	kindList := flag.String("kinds", strings.Join(kinds, ","), "servers to measure")
	runs := flag.Int("runs", 1, "rounds (kinds interleaved); medians are reported")
	conns := flag.Int("conns", 2000, "idle connections held open (0: skip the idle figure)")
	echoes := flag.Int("echoes", 3, "echoes each idle connection makes before it idles")
	settle := flag.Duration("settle", 2*time.Second, "wait before each RSS reading")
	rateConns := flag.Int("rate-conns", 20000, "connections of the rate phase at most (0: skip the rate figure)")
	rateTime := flag.Duration("rate-time", 10*time.Second, "duration of the rate phase at most")
	rateEchoes := flag.Int("rate-echoes", 5, "echoes per connection of the rate phase")
	parallel := flag.Int("parallel", 64, "connections in flight at a time (against each server, with -together)")
	together := flag.Bool("together", false, "run the rate phase against every kind's server at once, so that the machine's drift slows them alike")
	size := flag.Int("size", 64, "bytes per message")
	profile := flag.String("profile", "", "directory for the servers' heap and goroutine profiles at idle (first round)")
	cpuProfile := flag.String("cpuprofile", "", "directory for CPU profiles of the servers over the rate phase (its -rate-time less a second, at most 9s; without -profile's sampling of every allocation)")
	asJSON := flag.Bool("json", false, "print one JSON line instead of the table")
	quiet := flag.Bool("q", false, "no progress lines on standard error")
	flag.Parse()
	if *serveKind != "" {
		os.Exit(serveMain(*serveKind, *httpMode, *memProfileRate))
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	cfg := Config{
		Kinds: strings.Split(*kindList, ","), Runs: *runs, Conns: *conns, Echoes: *echoes, Settle: *settle,
		RateConns: *rateConns, RateTime: *rateTime, RateEchoes: *rateEchoes, Parallel: *parallel, Size: *size,
		ProfileDir: *profile, CPUProfileDir: *cpuProfile, Together: *together,
		ServerCmd: func(kind string) *exec.Cmd {
			if *profile != "" {
				// Every allocation in the heap profile; it costs RSS, so
				// take the figures from a run without -profile.
				return exec.Command(self, "-serve", kind, "-http", *httpMode, "-memprofilerate", "1")
			}
			return exec.Command(self, "-serve", kind, "-http", *httpMode)
		},
		Log: os.Stderr,
	}
	if *quiet {
		cfg.Log = nil
	}
	if !slices.Contains(httpModes, *httpMode) {
		fail(fmt.Errorf("unknown -http %q (want one of %s)", *httpMode, strings.Join(httpModes, ",")))
	}
	for _, k := range cfg.Kinds {
		if !known(k) {
			fail(fmt.Errorf("unknown kind %q (want some of %s)", k, strings.Join(kinds, ",")))
		}
	}
	inFlight := *parallel
	if *together {
		inFlight *= len(cfg.Kinds)
	}
	if _, err := child.FileLimit(uint64(*conns + inFlight + 256)); err != nil {
		fail(err)
	}
	for _, dir := range []string{cfg.ProfileDir, cfg.CPUProfileDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				fail(err)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	if ce := (connError{}); errors.As(err, &ce) {
		fmt.Fprintln(os.Stderr, "wsload:", err)
		os.Exit(1)
	}
	if err != nil {
		fail(err)
	}
	res.Go = fmt.Sprintf("%s %s/%s, %d CPUs", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printTable(os.Stdout, cfg, res)
	}
	if !res.OK {
		os.Exit(1)
	}
}

func known(kind string) bool {
	for _, k := range kinds {
		if k == kind {
			return true
		}
	}
	return false
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wsload:", err)
	os.Exit(2)
}

// printTable writes the medians and the ratios to gorilla.
func printTable(w io.Writer, cfg Config, r *Result) {
	together := ""
	if cfg.Together {
		together = " against each server, every server at once"
	}
	fmt.Fprintf(w, "wsload: %s; %d run(s), medians; idle: %d conns after %d echoes; rate: open, %d echoes, close, %d in flight%s, at most %d conns or %s\n",
		r.Go, cfg.Runs, cfg.Conns, cfg.Echoes, cfg.RateEchoes, cfg.Parallel, together, cfg.RateConns, cfg.RateTime)
	fmt.Fprintf(w, "%-12s %12s %10s %12s %12s %12s %10s %14s %14s %7s\n", "server", "RSS B/conn", "x "+reference, "heap B/conn", "stack B/conn", "conns/s", "x "+reference, "server µs/conn", "client µs/conn", "errors")
	for _, k := range cfg.Kinds {
		m, ratio := r.Median[k], r.Ratio[k]
		fmt.Fprintf(w, "%-12s %12.0f %10.2f %12.0f %12.0f %12.0f %10.2f %14.0f %14.0f %7d\n", k, m.RSSPerConn, ratio[0], m.HeapPerConn, m.StackPerConn, m.ConnsPerS, ratio[1], m.ServerCPU, m.ClientCPU, m.Errors)
	}
	for _, s := range r.Samples {
		if s.FirstErr != "" {
			fmt.Fprintf(w, "%s: %d error(s), first: %s\n", s.Kind, s.Errors, s.FirstErr)
		}
	}
	fmt.Fprintf(w, "result: %s\n", map[bool]string{true: "ok", false: "FAILED"}[r.OK])
}
