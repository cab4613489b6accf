package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/benchmarks/internal/child"
)

// Config is one run.
type Config struct {
	Kinds      []string      // servers to measure, each in a process of its own
	Runs       int           // rounds; each measures every kind once, interleaved
	Conns      int           // idle connections held open (0: no idle figure)
	Echoes     int           // echoes each idle connection makes before it idles
	Settle     time.Duration // wait after the last idle connection before RSS is read
	RateConns  int           // connections of the rate phase at most (0: no rate figure)
	RateTime   time.Duration // and for at most this long
	RateEchoes int           // echoes per connection of the rate phase
	Parallel   int           // connections in flight at a time (for each kind, with Together)
	Size       int           // bytes per message
	ProfileDir string        // if set, heap and goroutine profiles of each kind at idle
	// If set, a CPU profile of each kind's server over the rate phase (the
	// first round's is overwritten by later ones).
	CPUProfileDir string
	// Together runs the rate phase of every kind of a round at once, each
	// with its own Parallel clients, so that whatever else the machine
	// does in the meantime slows them alike: their ratio is then taken
	// under the same conditions (their rates are lower than alone, since
	// they share the processors).
	Together  bool
	ServerCmd func(kind string) *exec.Cmd
	Log       io.Writer // progress; nil for none
}

// Sample is one kind's figures from one round.
type Sample struct {
	Kind string `json:"kind"`
	// Idle phase.
	Conns      int     `json:"conns"`        // idle connections held open
	RSSBefore  uint64  `json:"rss_before"`   // VmRSS after start and warm-up, bytes
	RSSIdle    uint64  `json:"rss_idle"`     // VmRSS with Conns open and idle, bytes
	RSSPerConn float64 `json:"rss_per_conn"` // (idle − before) / Conns, bytes
	// The server's own figures, after two collections: live heap and
	// goroutine stacks, (idle − before) / Conns, bytes.
	HeapPerConn  float64 `json:"heap_per_conn"`
	StackPerConn float64 `json:"stack_per_conn"`
	// Rate phase.
	RateConns int     `json:"rate_conns"` // connections opened, echoed and closed
	RateSecs  float64 `json:"rate_secs"`
	ConnsPerS float64 `json:"conns_per_s"`
	// Processor time per connection of the rate phase, in microseconds:
	// the server's (its process) and the clients' (this one's).
	ServerCPU float64 `json:"server_cpu_us"`
	ClientCPU float64 `json:"client_cpu_us"`
	Errors    int     `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`

	rateStart, rateEnd time.Time // when the rate phase ran
}

// Result is the median of each kind's samples and its ratio to the
// reference (gorilla direct) in the same run.
type Result struct {
	Go      string                `json:"go"`
	Samples []Sample              `json:"samples"`
	Median  map[string]Sample     `json:"median"`
	Ratio   map[string][2]float64 `json:"ratio"` // kind: RSS per conn, conns/s, each over the reference's
	OK      bool                  `json:"ok"`
}

func (cfg *Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, format+"\n", args...)
	}
}

// Run measures every kind cfg.Runs times, interleaved.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Runs < 1 || cfg.Parallel < 1 || cfg.Size < 1 {
		return nil, errors.New("runs, parallel and size must be at least 1")
	}
	if cfg.Log != nil {
		// The servers' standard error is copied to it too, by exec's
		// goroutines.
		cfg.Log = &syncWriter{w: cfg.Log}
	}
	res := &Result{OK: true}
	for r := range cfg.Runs {
		round := make([]*Sample, len(cfg.Kinds))
		for i, kind := range cfg.Kinds {
			s := &Sample{Kind: kind}
			round[i] = s
			if cfg.Conns > 0 {
				if err := idle(ctx, cfg, kind, r, s); err != nil {
					return nil, fmt.Errorf("%s, idle: %w", kind, err)
				}
			}
			if cfg.RateConns > 0 && !cfg.Together {
				if err := rate(ctx, cfg, round[i:i+1]); err != nil {
					return nil, fmt.Errorf("%s, rate: %w", kind, err)
				}
			}
		}
		if cfg.RateConns > 0 && cfg.Together {
			if err := rate(ctx, cfg, round); err != nil {
				return nil, fmt.Errorf("rate: %w", err)
			}
		}
		for _, s := range round {
			if s.Errors > 0 {
				res.OK = false
			}
			res.Samples = append(res.Samples, *s)
		}
	}
	res.Median = make(map[string]Sample)
	res.Ratio = make(map[string][2]float64)
	for _, kind := range cfg.Kinds {
		var rss, heap, stack, cps, scpu, ccpu []float64
		m := Sample{Kind: kind}
		for _, s := range res.Samples {
			if s.Kind == kind {
				rss = append(rss, s.RSSPerConn)
				heap = append(heap, s.HeapPerConn)
				stack = append(stack, s.StackPerConn)
				cps = append(cps, s.ConnsPerS)
				scpu, ccpu = append(scpu, s.ServerCPU), append(ccpu, s.ClientCPU)
				m.Conns, m.Errors = s.Conns, m.Errors+s.Errors
			}
		}
		m.RSSPerConn, m.ConnsPerS = median(rss), median(cps)
		m.HeapPerConn, m.StackPerConn = median(heap), median(stack)
		m.ServerCPU, m.ClientCPU = median(scpu), median(ccpu)
		res.Median[kind] = m
	}
	if ref, ok := res.Median[reference]; ok {
		for kind, m := range res.Median {
			res.Ratio[kind] = [2]float64{div(m.RSSPerConn, ref.RSSPerConn), div(m.ConnsPerS, ref.ConnsPerS)}
		}
	}
	return res, nil
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// connError is an error of the clients' connections that stopped the run
// (exit status 1), as opposed to one that kept it from being made (2).
type connError struct{ err error }

func (e connError) Error() string { return e.err.Error() }
func (e connError) Unwrap() error { return e.err }

// ioTimeout bounds every dial, read and write of the clients.
const ioTimeout = 10 * time.Second

// warmUp connections run before the baseline, so that the code paths of a
// connection are paged in and the runtime's first growth is behind.
const warmUp = 32

// warmServer starts kind's server and runs warmUp connections of echoes
// echoes each; it returns the server and its WebSocket URL.
func warmServer(ctx context.Context, cfg Config, kind string, echoes int) (*child.Process, string, error) {
	srv, err := startServer(ctx, cfg, kind)
	if err != nil {
		return nil, "", err
	}
	url := "ws://" + srv.Addr + "/ws"
	if _, err := cycle(ctx, url, warmUp, cfg.Parallel, echoes, cfg.Size, time.Minute, nil); err != nil {
		stop(srv)
		return nil, "", connError{fmt.Errorf("warm-up: %w", err)}
	}
	return srv, url, nil
}

// rss is the server's resident set size, in bytes (0 where unknown).
func rss(srv *child.Process) uint64 {
	rss, _ := srv.Memory()
	return rss
}

// idle starts kind's server, opens cfg.Conns connections that echo
// cfg.Echoes messages each and then stay open and idle, and reads the
// server's RSS before and after.
func idle(ctx context.Context, cfg Config, kind string, round int, s *Sample) error {
	srv, url, err := warmServer(ctx, cfg, kind, cfg.Echoes)
	if err != nil {
		return err
	}
	defer stop(srv)
	time.Sleep(cfg.Settle)
	s.RSSBefore = rss(srv)
	before, err := figures(ctx, srv)
	if err != nil {
		return err
	}

	conns := make([]*gws.Conn, cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Parallel)
	for range min(cfg.Parallel, cfg.Conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := payload(cfg.Size)
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.Conns || ctx.Err() != nil {
					return
				}
				c, err := open(ctx, url, cfg.Echoes, buf)
				if err != nil {
					errc <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
				_ = c.NetConn().SetDeadline(time.Time{})
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		s.Errors++
		s.FirstErr = err.Error()
		return connError{err}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	time.Sleep(cfg.Settle)
	s.Conns = cfg.Conns
	s.RSSIdle = rss(srv)
	s.RSSPerConn = (float64(s.RSSIdle) - float64(s.RSSBefore)) / float64(cfg.Conns)
	after, err := figures(ctx, srv) // after the RSS reading: its collections would change it
	if err != nil {
		return err
	}
	// Every connection must still be open after the readings, and echo: one
	// the server dropped before them would have lowered the figures.
	msg := payload(cfg.Size)
	for i, c := range conns {
		if err := exchange(c, 1, msg); err != nil {
			s.Errors++
			s.FirstErr = fmt.Sprintf("idle connection %d, after the readings: %v", i, err)
			return connError{errors.New(s.FirstErr)}
		}
	}
	n := float64(cfg.Conns)
	s.HeapPerConn = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	s.StackPerConn = (float64(after.StackInuse) - float64(before.StackInuse)) / n
	cfg.logf("%-10s idle: %d conns, RSS %.1f -> %.1f MiB, %.0f B/conn (heap %.0f, stack %.0f, goroutines %+d; before collecting: heap spans %.0f, stack %.0f)", kind, cfg.Conns,
		float64(s.RSSBefore)/(1<<20), float64(s.RSSIdle)/(1<<20), s.RSSPerConn, s.HeapPerConn, s.StackPerConn, after.Goroutines-before.Goroutines,
		(float64(after.HeapInuseNoGC)-float64(before.HeapInuseNoGC))/n, (float64(after.StackNoGC)-float64(before.StackNoGC))/n)
	if cfg.ProfileDir != "" && round == 0 {
		for _, p := range []string{"heap?gc=1", "goroutine", "goroutine?debug=1"} {
			name := kind + "." + strings.NewReplacer("?gc=1", "", "?debug=1", ".txt").Replace(p)
			if err := fetch(ctx, srv, "/debug/pprof/"+p, filepath.Join(cfg.ProfileDir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// rate starts the servers of samples' kinds and runs against each of them
// at once connections that open, echo cfg.RateEchoes messages and close,
// cfg.Parallel at a time, until cfg.RateConns have run against one of them
// or cfg.RateTime has passed, so that every rate is taken over the same
// time. The clients' processor time per connection is the whole client's
// over every server's connections.
func rate(ctx context.Context, cfg Config, samples []*Sample) error {
	srvs := make([]*child.Process, len(samples))
	urls := make([]string, len(samples))
	defer func() {
		for _, srv := range srvs {
			if srv != nil {
				stop(srv)
			}
		}
	}()
	for i, s := range samples {
		var err error
		if srvs[i], urls[i], err = warmServer(ctx, cfg, s.Kind, cfg.RateEchoes); err != nil {
			return fmt.Errorf("%s: %w", s.Kind, err)
		}
	}
	self0 := child.SelfCPU()
	errs := make([]error, len(samples))
	phase, end := context.WithCancel(ctx)
	defer end()
	var wg sync.WaitGroup
	for i, s := range samples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rateOne(ctx, phase, cfg, srvs[i], urls[i], s)
			end() // the first to finish ends the others' phases
		}()
	}
	wg.Wait()
	clients, total := child.SelfCPU()-self0, 0
	for _, s := range samples {
		total += s.RateConns
	}
	for _, s := range samples {
		if total > 0 {
			s.ClientCPU = float64(clients) / float64(time.Microsecond) / float64(total)
		}
		cfg.logf("%-10s rate: %d conns in %.2fs, %.0f conns/s, CPU µs/conn: server %.0f, clients %.0f; %d errors", s.Kind, s.RateConns, s.RateSecs, s.ConnsPerS, s.ServerCPU, s.ClientCPU, s.Errors)
	}
	return errors.Join(errs...)
}

// rateOne runs the rate phase against srv, at url, into s, until phase
// ends at the latest.
func rateOne(ctx, phase context.Context, cfg Config, srv *child.Process, url string, s *Sample) error {
	var first atomic.Pointer[error]
	var errs atomic.Int64
	var profiled chan error
	if cfg.CPUProfileDir != "" {
		// A CPU profile of the server over the first seconds of the phase.
		profiled = make(chan error, 1)
		go func() {
			secs := max(1, int(min(cfg.RateTime, 10*time.Second)/time.Second)-1)
			profiled <- fetch(ctx, srv, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), filepath.Join(cfg.CPUProfileDir, s.Kind+".cpu"))
		}()
	}
	start, cpu0 := time.Now(), srv.CPU()
	n, _ := cycle(phase, url, cfg.RateConns, cfg.Parallel, cfg.RateEchoes, cfg.Size, cfg.RateTime, func(err error) {
		errs.Add(1)
		first.CompareAndSwap(nil, &err)
	})
	s.rateStart, s.rateEnd = start, time.Now()
	s.RateSecs = s.rateEnd.Sub(start).Seconds()
	s.RateConns = n
	s.ConnsPerS = float64(s.RateConns) / s.RateSecs
	if n > 0 {
		s.ServerCPU = float64(srv.CPU()-cpu0) / float64(time.Microsecond) / float64(n)
	}
	s.Errors += int(errs.Load())
	if p := first.Load(); p != nil {
		s.FirstErr = (*p).Error()
	}
	if profiled != nil {
		return <-profiled
	}
	return nil
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
