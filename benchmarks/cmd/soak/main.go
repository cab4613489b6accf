// Command soak holds many concurrent upgraded connections against the
// demo's configuration (examples/server's WebSocket echo on /ws, the echo/1
// raw echo and h2c, built the same way in server.go) and checks that the
// server keeps up, loses nothing and lets go of everything.
//
//	go -C benchmarks run ./cmd/soak -conns 1000 -duration 15s
//	cd benchmarks && go run ./cmd/soak -conns 10000 -duration 30s -json
//
// The server runs in a child process (this binary with -serve) so that its
// heap, RSS and goroutines are measured apart from the clients'. The parent
// opens -conns connections, a mix of WebSocket (gorilla's Dialer), echo/1
// (negotiate.Dialer) and h2c (an Upgrade: h2c, then POST /echo on streams
// 3, 5, …), at most -dial-concurrency handshakes at a time; each echoes a
// -size message, checks the answer, and pauses -pause (±20%) before the
// next, until -duration has passed after the last connection came up.
// Half-way through it measures the server (after two collections); at the
// end every client closes its connection its protocol's way, the server's
// live counts must come back to 0 and its goroutines to their baseline
// (plus -slack) within -drain-timeout, and a graceful shutdown must exit 0.
// With -server-close, the server is shut down instead while every
// connection is open: each client must receive its protocol's close
// (WebSocket 1001, h2c GOAWAY, echo/1 end of stream) and the server exit 0.
//
// It prints the connections per second of the ramp-up, the round-trip
// percentiles per protocol, the server's heap, stack, RSS and goroutines
// per connection, and the errors by kind; -json prints one JSON line
// instead. The exit status is 1 on any error, leak, count mismatch, server
// warning or failed shutdown, 2 when the run could not be made.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"time"
)

func main() {
	serveFlag := flag.Bool("serve", false, "") // hidden: be the server under test
	conns := flag.Int("conns", 1000, "concurrent connections")
	duration := flag.Duration("duration", 15*time.Second, "how long every connection echoes once all are up")
	mix := flag.String("mix", "websocket=80,echo=10,h2c=10", "share of each protocol")
	dialConc := flag.Int("dial-concurrency", 64, "handshakes in flight at most during the ramp-up")
	pause := flag.Duration("pause", time.Second, "pause between two round trips of a connection (±20%)")
	size := flag.Int("size", 64, "bytes per message")
	timeout := flag.Duration("timeout", 0, "hard deadline of the whole run (default duration + 3m)")
	drain := flag.Duration("drain-timeout", 30*time.Second, "how long the server may take to let go of everything once the clients have closed")
	slack := flag.Int("slack", 4, "goroutines the server may keep above its baseline after the drain")
	serverCloses := flag.Bool("server-close", false, "at the end, shut the server down with every connection open (each must get its protocol's close, the server exit 0) instead of closing from the clients and checking for leaks")
	asJSON := flag.Bool("json", false, "print one JSON line instead of the table")
	quiet := flag.Bool("q", false, "no progress lines on standard error")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: soak [flags]\n")
		flag.VisitAll(func(f *flag.Flag) {
			if f.Name != "serve" {
				fmt.Fprintf(flag.CommandLine.Output(), "  -%s %s (default %q)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	flag.Parse()
	if *serveFlag {
		os.Exit(serveMain())
	}
	m, err := parseMix(*mix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	cfg := Config{
		Conns: *conns, Duration: *duration, Mix: m, DialConcurrency: *dialConc,
		Pause: *pause, Size: *size, Timeout: *timeout, DrainTimeout: *drain, Slack: *slack,
		ServerCloses: *serverCloses,
		ServerCmd:    func() *exec.Cmd { return exec.Command(self, "-serve") },
		Log:          os.Stderr,
	}
	if *quiet {
		cfg.Log = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(res)
	} else {
		printTable(os.Stdout, res)
	}
	if !res.OK {
		os.Exit(1)
	}
}

// printTable writes the result for people.
func printTable(w io.Writer, r *Result) {
	fmt.Fprintf(w, "soak %s: %d conns (", r.Date, r.Conns)
	sep := ""
	for p := range nProtos {
		fmt.Fprintf(w, "%s%s %d", sep, p.label(), r.Planned[p.key()])
		sep = ", "
	}
	fmt.Fprintf(w, "), %s after ramp-up, %d B messages every %s; %s %s, %d CPUs, open file limit %d\n",
		r.Duration, r.Size, r.Pause, r.Go, r.Platform, r.CPUs, r.FileLimit)
	up := 0
	for _, n := range r.Up {
		up += n
	}
	fmt.Fprintf(w, "ramp-up      %d up in %.2fs: %.0f conns/s\n\n", up, r.RampSecs, r.ConnsPerS)

	fmt.Fprintf(w, "%-10s %8s %8s %8s %8s %8s   %s\n", "ms", "count", "p50", "p90", "p99", "max", "")
	for p := range nProtos {
		for _, row := range []struct {
			name string
			d    Dist
		}{{"handshake", r.Handshake[p.key()]}, {"round trip", r.RoundTrip[p.key()]}} {
			if row.d.Count == 0 {
				continue
			}
			at := ""
			if row.name == "round trip" {
				at = fmt.Sprintf(" (max at %.1fs)", r.MaxAt[p.key()])
			}
			fmt.Fprintf(w, "%-10s %8d %8.2f %8.2f %8.2f %8.2f   %s%s\n", p.label(), row.d.Count, row.d.P50, row.d.P90, row.d.P99, row.d.Max, row.name, at)
		}
	}
	fmt.Fprintln(w)
	if b, l := r.Baseline, r.Load; b != nil && l != nil {
		fmt.Fprintf(w, "%-12s %12s %12s %12s   (at load: measured at %.1fs, after two forced collections)\n", "server", "baseline", "full load", "per conn", r.LoadAt)
		row := func(name string, base, load uint64, per float64) {
			fmt.Fprintf(w, "%-12s %10.1f M %10.1f M %10.0f B\n", name, float64(base)/(1<<20), float64(load)/(1<<20), per)
		}
		row("heap inuse", b.HeapInuse, l.HeapInuse, r.HeapPerConn)
		row("stack inuse", b.StackInuse, l.StackInuse, r.StackPerConn)
		if b.RSS > 0 {
			row("rss", b.RSS, l.RSS, r.RSSPerConn)
		}
		fmt.Fprintf(w, "%-12s %12d %12d %12.2f\n", "goroutines", b.Goroutines, l.Goroutines, r.GoroutinesPerConn)
		fmt.Fprintf(w, "live at load: %s; peak rss %.1f M\n", activeString(l.Active), float64(l.PeakRSS)/(1<<20))
	}
	if a := r.After; a != nil {
		fmt.Fprintf(w, "after close:  %s live, %d goroutines (baseline %d) after %.2fs\n", activeString(a.Active), a.Goroutines, r.Baseline.Goroutines, r.DrainSecs)
	}
	if r.ServerCloses {
		fmt.Fprintf(w, "shutdown:     with %d connections open: exit %d in %.2fs\n", up, r.ExitCode, r.ShutdownSecs)
	} else {
		fmt.Fprintf(w, "shutdown:     exit %d in %.2fs\n", r.ExitCode, r.ShutdownSecs)
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors:       none")
	} else {
		fmt.Fprintln(w, "errors:")
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %6d  %s  (%s)\n", r.Errors[k], k, r.ErrorSamples[k])
		}
	}
	if r.Leak != "" {
		fmt.Fprintf(w, "LEAK:         %s\n", r.Leak)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM:      %s\n", p)
	}
	fmt.Fprintf(w, "result:       %s\n", map[bool]string{true: "ok", false: "FAILED"}[r.OK])
}
