package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
)

// Bounds of a run, besides its hard deadline: loopback has about 28,000
// ephemeral ports per destination on Linux by default, and the demo's
// WebSocket read limit is 16 MiB.
const (
	maxConns = 100_000
	maxSize  = 1 << 20
)

// Config is one soak run.
type Config struct {
	Conns    int           // concurrent connections
	Duration time.Duration // how long all of them echo once the ramp-up is over
	Mix      [nProtos]int  // weights of websocket, echo/1, h2c
	// DialConcurrency bounds the handshakes in flight during the ramp-up.
	DialConcurrency int
	Pause           time.Duration // between two round trips of a connection (±20%)
	Size            int           // bytes per message
	// Timeout is the hard deadline of the whole run; 0: Duration + 3 min.
	Timeout time.Duration
	// DrainTimeout bounds the wait for the server's live counts and
	// goroutines to come back once every client has closed.
	DrainTimeout time.Duration
	// Slack is how many goroutines above its baseline the server may keep
	// after the drain before it is a leak.
	Slack int
	// ServerCloses: at the end, the server is asked to shut down while
	// every connection is still open (each must get its protocol's close
	// and the server exit 0), instead of the clients closing first and the
	// server's live counts and goroutines being checked.
	ServerCloses bool
	// ServerCmd makes the command that starts the server under test (this
	// binary with -serve).
	ServerCmd func() *exec.Cmd
	// Log receives progress lines and the server's standard error; nil
	// discards them.
	Log io.Writer
}

// counts splits Conns along the mix: largest remainders, so the parts add
// up to Conns exactly.
func (c *Config) counts() [nProtos]int {
	var out [nProtos]int
	total := 0
	for _, w := range c.Mix {
		total += w
	}
	if total == 0 {
		return out
	}
	type rem struct {
		p proto
		r int
	}
	var rems []rem
	left := c.Conns
	for p, w := range c.Mix {
		out[p] = c.Conns * w / total
		left -= out[p]
		rems = append(rems, rem{proto(p), c.Conns * w % total})
	}
	slices.SortStableFunc(rems, func(a, b rem) int { return b.r - a.r })
	for i := 0; left > 0; i++ {
		if c.Mix[rems[i%len(rems)].p] > 0 {
			out[rems[i%len(rems)].p]++
			left--
		}
	}
	return out
}

// parseMix reads "websocket=80,echo=10,h2c=10" (any order, missing ones 0;
// "ws" and "echo/1" also accepted).
func parseMix(s string) ([nProtos]int, error) {
	var m [nProtos]int
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return m, fmt.Errorf("mix: %q is not name=weight", part)
		}
		w, err := strconv.Atoi(val)
		if err != nil || w < 0 {
			return m, fmt.Errorf("mix: bad weight %q", val)
		}
		var p proto
		switch strings.ToLower(name) {
		case "websocket", "ws":
			p = pWS
		case "echo", "echo/1":
			p = pEcho
		case "h2c":
			p = pH2C
		default:
			return m, fmt.Errorf("mix: unknown protocol %q (websocket, echo, h2c)", name)
		}
		m[p] = w
		total += w
	}
	if total == 0 {
		return m, errors.New("mix: all weights are 0")
	}
	return m, nil
}

// Dist is a distribution of durations, in milliseconds.
type Dist struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func dist(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	q := func(f float64) float64 {
		i := int(f*float64(len(d))+0.5) - 1
		i = max(0, min(i, len(d)-1))
		return ms(d[i])
	}
	return Dist{Count: len(d), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(d[len(d)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Result is what a run found; main prints it as a table or one JSON line.
type Result struct {
	Date         string          `json:"date"`
	Go           string          `json:"go"`
	Platform     string          `json:"platform"`
	CPUs         int             `json:"cpus"`
	Conns        int             `json:"conns"`
	Planned      map[string]int  `json:"planned"`
	Duration     string          `json:"duration"`
	Pause        string          `json:"pause"`
	Size         int             `json:"size"`
	FileLimit    uint64          `json:"file_limit"`
	ServerCloses bool            `json:"server_closes"` // the server was shut down with every connection open
	Up           map[string]int  `json:"up"`            // connections that switched
	RampSecs     float64         `json:"ramp_s"`
	ConnsPerS    float64         `json:"conns_per_s"`
	Handshake    map[string]Dist `json:"handshake"`
	RoundTrip    map[string]Dist `json:"round_trip"`
	// MaxAt is when each protocol's longest round trip began, and LoadAt
	// when the server was measured at load (two forced collections), in
	// seconds since the first connection was dialled.
	MaxAt             map[string]float64 `json:"max_at_s"`
	LoadAt            float64            `json:"load_at_s"`
	Baseline          *Figures           `json:"baseline,omitempty"`
	Load              *Figures           `json:"load,omitempty"`
	After             *Figures           `json:"after,omitempty"`
	HeapPerConn       float64            `json:"heap_per_conn"`  // bytes: (load − baseline HeapInuse) / up
	StackPerConn      float64            `json:"stack_per_conn"` // bytes: StackInuse likewise
	RSSPerConn        float64            `json:"rss_per_conn"`   // bytes: VmRSS likewise
	GoroutinesPerConn float64            `json:"goroutines_per_conn"`
	DrainSecs         float64            `json:"drain_s"`
	ShutdownSecs      float64            `json:"shutdown_s"`
	ExitCode          int                `json:"server_exit"`
	ServerLogLines    int                `json:"server_log_lines"` // warnings and errors the server logged
	Errors            map[string]int     `json:"errors"`
	ErrorSamples      map[string]string  `json:"error_samples,omitempty"`
	Leak              string             `json:"leak,omitempty"`
	Problems          []string           `json:"problems,omitempty"`
	OK                bool               `json:"ok"`
}

// runner is the state of one run.
type runner struct {
	cfg  Config
	addr string
	res  *Result

	hard context.Context // the run's deadline: everything is aborted at its end
	load context.Context // the echo phase: ends when the duration is over
	sem  chan struct{}   // handshakes in flight
	wg   sync.WaitGroup

	ramped   sync.WaitGroup // one per connection, done when its handshake is over
	quiet    sync.WaitGroup // one per connection, done when it no longer echoes
	up       [nProtos]atomic.Int64
	lastUp   atomic.Int64 // unix nanos of the last successful handshake
	mu       sync.Mutex
	hs, rtt  [nProtos][]time.Duration
	start    time.Time
	maxRTT   [nProtos]time.Duration
	maxAt    [nProtos]time.Time // when the longest round trip began
	errs     map[string]int
	examples map[string]string
}

func (r *runner) fail(p proto, phase string, err error) {
	k := fmt.Sprintf("%s %s: %s", p.label(), phase, kind(err))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[k]++
	if _, ok := r.examples[k]; !ok {
		r.examples[k] = err.Error()
	}
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "soak: "+format+"\n", args...)
	}
}

// Run starts the server, soaks it and returns what it found; the error is
// for a run that could not be made at all. res.OK tells whether the server
// passed.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Conns <= 0 || cfg.Duration < 0 || cfg.Pause <= 0 || cfg.Size <= 0 || cfg.DialConcurrency <= 0 {
		return nil, errors.New("conns, pause, size and dial concurrency must be positive")
	}
	if cfg.Conns > maxConns || cfg.Size > maxSize {
		return nil, fmt.Errorf("at most %d connections and %d-byte messages", maxConns, maxSize)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Duration + 3*time.Minute
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	planned := cfg.counts()
	res := &Result{
		Date: time.Now().UTC().Format(time.RFC3339), Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(),
		Conns: cfg.Conns, Planned: map[string]int{}, Duration: cfg.Duration.String(),
		Pause: cfg.Pause.String(), Size: cfg.Size, Up: map[string]int{}, ServerCloses: cfg.ServerCloses,
		Handshake: map[string]Dist{}, RoundTrip: map[string]Dist{}, MaxAt: map[string]float64{}, Errors: map[string]int{},
	}
	for p := range nProtos {
		res.Planned[p.key()] = planned[p]
	}
	limit, err := child.FileLimit(uint64(cfg.Conns) + 256)
	res.FileLimit = limit
	if err != nil {
		return res, err
	}

	hard, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	srv, err := startServer(hard, cfg)
	if err != nil {
		return res, err
	}
	defer srv.Kill()
	r := &runner{cfg: cfg, addr: srv.Addr, res: res, hard: hard, sem: make(chan struct{}, cfg.DialConcurrency),
		errs: map[string]int{}, examples: map[string]string{}}
	r.logf("server (pid %d) on %s, control %s", srv.Cmd.Process.Pid, srv.Addr, srv.Control)
	problem := func(format string, args ...any) {
		res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
	}

	res.Baseline, err = figures(hard, srv, true)
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}

	// Ramp-up: every connection has its goroutine; at most DialConcurrency
	// handshakes are in flight. Each echoes as soon as it has switched.
	load, stopLoad := context.WithCancel(hard)
	defer stopLoad()
	r.load = load
	kinds := make([]proto, 0, cfg.Conns)
	for p := range nProtos {
		for range planned[p] {
			kinds = append(kinds, p)
		}
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	start := time.Now()
	r.start = start
	r.ramped.Add(len(kinds))
	r.quiet.Add(len(kinds))
	r.wg.Add(len(kinds))
	for i, p := range kinds {
		go r.conn(i, p)
	}
	rampDone := make(chan struct{})
	go func() { r.ramped.Wait(); close(rampDone) }()
	select {
	case <-rampDone:
	case <-hard.Done():
	}
	rampEnd := time.Now()
	if last := r.lastUp.Load(); last > 0 {
		rampEnd = time.Unix(0, last)
	}
	up := 0
	for p := range nProtos {
		n := int(r.up[p].Load())
		res.Up[p.key()] = n
		up += n
	}
	res.RampSecs = rampEnd.Sub(start).Seconds()
	if res.RampSecs > 0 {
		res.ConnsPerS = float64(up) / res.RampSecs
	}
	r.logf("%d of %d connections up in %.2fs; echoing for %s", up, cfg.Conns, res.RampSecs, cfg.Duration)

	// Full load: measure half-way through the duration.
	sleep(hard, cfg.Duration/2)
	if hard.Err() == nil {
		res.LoadAt = time.Since(start).Seconds()
		res.Load, err = figures(hard, srv, true)
		if err != nil {
			problem("figures at load: %v", err)
		}
	}
	if f := res.Load; f != nil && up > 0 {
		n := float64(up)
		res.HeapPerConn = (float64(f.HeapInuse) - float64(res.Baseline.HeapInuse)) / n
		res.StackPerConn = (float64(f.StackInuse) - float64(res.Baseline.StackInuse)) / n
		res.RSSPerConn = (float64(f.RSS) - float64(res.Baseline.RSS)) / n
		res.GoroutinesPerConn = float64(f.Goroutines-res.Baseline.Goroutines) / n
		for p := range nProtos {
			if got, want := f.Active[p.key()], int(r.up[p].Load()); got != want {
				problem("at load the server counts %d live %s connections, the client %d", got, p.label(), want)
			}
		}
	}
	sleep(hard, cfg.Duration-cfg.Duration/2)

	// Every client closes its connection; then the server must let go of
	// all of them.
	stopLoad()
	if cfg.ServerCloses {
		r.serverCloses(srv, problem)
	} else {
		r.clientsClose(srv, problem)
	}
	res.ServerLogLines = srv.LogLines()
	if res.ServerLogLines > 0 {
		problem("the server logged %d warnings or errors", res.ServerLogLines)
	}
	if hard.Err() != nil {
		problem("hard deadline (%s) reached", cfg.Timeout)
	}
	r.mu.Lock()
	maps := r.errs
	res.ErrorSamples = r.examples
	r.mu.Unlock()
	res.Errors = maps
	res.OK = len(res.Errors) == 0 && res.Leak == "" && len(res.Problems) == 0
	return res, nil
}

// checkCounts compares the server's switch counts with the clients'.
func (r *runner) checkCounts(f *Figures, problem func(string, ...any)) {
	for p := range nProtos {
		if got, want := f.Switched[p.key()], int64(r.up[p].Load()); got != want {
			problem("the server switched %d %s connections, the client %d", got, p.label(), want)
		}
	}
	if f.Refused != 0 || f.Panics != 0 {
		problem("the server refused %d upgrades and recovered %d panics", f.Refused, f.Panics)
	}
}

func (r *runner) dists() {
	for p := range nProtos {
		r.res.Handshake[p.key()] = dist(r.hs[p])
		r.res.RoundTrip[p.key()] = dist(r.rtt[p])
		if !r.maxAt[p].IsZero() {
			r.res.MaxAt[p.key()] = r.maxAt[p].Sub(r.start).Seconds()
		}
	}
}

// clientsClose: every client closes its connection; then the server must
// let go of all of them (live counts 0, goroutines back to the baseline),
// and shut down gracefully, exiting 0.
func (r *runner) clientsClose(srv *child.Process, problem func(string, ...any)) {
	cfg, res, hard := r.cfg, r.res, r.hard
	r.logf("closing")
	r.wg.Wait()
	r.dists()
	drainStart := time.Now()
	var after *Figures
	var err error
	for {
		after, err = figures(hard, srv, false)
		if err == nil && drained(after, res.Baseline, cfg.Slack) {
			break
		}
		if time.Since(drainStart) > cfg.DrainTimeout || hard.Err() != nil {
			break
		}
		sleep(hard, 100*time.Millisecond)
	}
	res.DrainSecs = time.Since(drainStart).Seconds()
	if err == nil {
		// once more after a collection, for the record
		if f, err2 := figures(hard, srv, true); err2 == nil {
			after = f
		}
	}
	res.After = after
	switch {
	case after == nil:
		problem("no figures after the close: %v", err)
	case !drained(after, res.Baseline, cfg.Slack):
		res.Leak = fmt.Sprintf("%.1fs after every client closed, the server still counts %s live and %d goroutines (baseline %d + slack %d)",
			res.DrainSecs, activeString(after.Active), after.Goroutines, res.Baseline.Goroutines, cfg.Slack)
	}
	if after != nil {
		r.checkCounts(after, problem)
	}
	r.shutdown(srv, problem)
}

// serverCloses: once no client echoes any more, the server is asked to
// shut down with every connection open; each client waits for its
// protocol's close, and the server must exit 0 (within the demo's 10 s).
func (r *runner) serverCloses(srv *child.Process, problem func(string, ...any)) {
	quiet := make(chan struct{})
	go func() { r.quiet.Wait(); close(quiet) }()
	select {
	case <-quiet:
	case <-r.hard.Done():
	}
	if f, err := figures(r.hard, srv, false); err != nil {
		problem("figures before the shutdown: %v", err)
	} else {
		r.checkCounts(f, problem)
	}
	r.logf("shutting the server down under %d live connections", r.upTotal())
	r.shutdown(srv, problem)
	r.wg.Wait()
	r.dists()
}

func (r *runner) upTotal() int {
	n := 0
	for p := range nProtos {
		n += int(r.up[p].Load())
	}
	return n
}

// shutdown asks the server for a graceful shutdown and checks it exits 0.
func (r *runner) shutdown(srv *child.Process, problem func(string, ...any)) {
	t := time.Now()
	code, err := shutdown(r.hard, srv)
	r.res.ShutdownSecs = time.Since(t).Seconds()
	r.res.ExitCode = code
	if err != nil {
		problem("shutdown: %v", err)
	} else if code != 0 {
		problem("the server exited %d", code)
	}
}

// conn is one connection's whole life: handshake, echo loop, close.
func (r *runner) conn(i int, p proto) {
	defer r.wg.Done()
	rampDone := sync.OnceFunc(r.ramped.Done)
	defer rampDone()
	quiet := sync.OnceFunc(r.quiet.Done)
	defer quiet()
	select {
	case r.sem <- struct{}{}:
	case <-r.load.Done():
		r.fail(p, "dial", context.Canceled)
		return
	}
	t0 := time.Now()
	s, err := dial(r.load, p, r.addr)
	hs := time.Since(t0)
	<-r.sem
	if err != nil {
		rampDone()
		r.fail(p, "dial", err)
		return
	}
	r.up[p].Add(1)
	r.lastUp.Store(time.Now().UnixNano())
	rampDone()
	stop := context.AfterFunc(r.hard, s.abort)
	defer stop()

	rng := rand.New(rand.NewPCG(uint64(i), 3))
	msg := make([]byte, r.cfg.Size)
	for j := range msg {
		msg[j] = byte(rng.Uint32())
	}
	samples := make([]time.Duration, 0, 64)
	var longest time.Duration
	var longestAt time.Time
	defer func() {
		r.mu.Lock()
		r.hs[p] = append(r.hs[p], hs)
		r.rtt[p] = append(r.rtt[p], samples...)
		if longest > r.maxRTT[p] {
			r.maxRTT[p], r.maxAt[p] = longest, longestAt
		}
		r.mu.Unlock()
	}()
	timer := time.NewTimer(time.Duration(rng.Int64N(int64(r.cfg.Pause)) + 1)) // spread the first ones
	defer timer.Stop()
	// Bounded in time by the load and hard contexts, and in count: no
	// connection makes more round trips than its duration allows twice over.
	limit := 2*uint64(r.cfg.Duration/r.cfg.Pause) + 1000
loop:
	for seq := uint64(0); seq < limit; seq++ {
		select {
		case <-r.load.Done():
			break loop
		case <-timer.C:
		}
		if len(msg) >= 16 { // make every message different
			binary.LittleEndian.PutUint64(msg, uint64(i))
			binary.LittleEndian.PutUint64(msg[8:], seq)
		}
		t := time.Now()
		if err := s.roundTrip(msg, echoTimeout); err != nil {
			if r.hard.Err() != nil {
				err = context.Canceled
			}
			r.fail(p, "echo", err)
			s.abort()
			return
		}
		d := time.Since(t)
		samples = append(samples, d)
		if d > longest {
			longest, longestAt = d, t
		}
		timer.Reset(time.Duration(float64(r.cfg.Pause) * (0.8 + 0.4*rng.Float64())))
	}
	<-r.load.Done()
	quiet()
	phase, err := "close", error(nil)
	if r.cfg.ServerCloses && r.hard.Err() == nil {
		phase, err = "server close", s.awaitClose(serverCloseTimeout)
	} else {
		err = s.close(closeTimeout)
	}
	if err != nil {
		if r.hard.Err() != nil {
			err = context.Canceled
		}
		r.fail(p, phase, err)
	}
}

func drained(f, base *Figures, slack int) bool {
	for _, n := range f.Active {
		if n != 0 {
			return false
		}
	}
	return f.Goroutines <= base.Goroutines+slack
}

func activeString(m map[string]int) string {
	var parts []string
	for p := range nProtos {
		parts = append(parts, fmt.Sprintf("%s %d", p.label(), m[p.key()]))
	}
	return strings.Join(parts, ", ")
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// startServer starts cfg.ServerCmd and reads the two addresses it prints.
func startServer(ctx context.Context, cfg Config) (*child.Process, error) {
	return child.Start(ctx, cfg.ServerCmd(), "server", cfg.Log)
}

// figures asks the server for its figures, after two collections if gc.
func figures(ctx context.Context, srv *child.Process, gc bool) (*Figures, error) {
	path := "/figures"
	if gc {
		path += "?gc=1"
	}
	f := new(Figures)
	return f, srv.GetJSON(ctx, path, f)
}

// shutdown asks for a graceful shutdown and waits for the exit: the demo
// exits within 10 s; a little more is allowed for a loaded machine.
func shutdown(ctx context.Context, srv *child.Process) (int, error) {
	if err := srv.Post(ctx, "/shutdown"); err != nil {
		return -1, err
	}
	return srv.Wait(ctx, 15*time.Second)
}
