// Package child runs the server under test of a load command (cmd/soak,
// cmd/wsload) in a process of its own, so that its memory and goroutines
// are measured apart from the clients'.
//
// The child calls Main and, from its serve function, Serve: the server
// under test listens on 127.0.0.1:0 and a control endpoint (the child's
// own measurements) on a second loopback listener, and the child prints
// "control on http://HOST:PORT" and then "listening on http://HOST:PORT".
// The parent calls Start, which reads those two lines, and asks the
// control endpoint through the Process it returns.
package child

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The lines the child prints and Start reads.
const (
	controlLine   = "control on http://"
	listeningLine = "listening on http://"
)

// startWait bounds how long Start waits for the two addresses.
const startWait = 30 * time.Second

// Main is the child's main: it logs warnings and above to standard error
// (a parent may count those lines: Process.LogLines), runs serve with a
// context that SIGINT and SIGTERM end, and returns the exit status, 1
// (logged as name) when serve fails.
func Main(name string, serve func(ctx context.Context, logger *slog.Logger) error) int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, logger); err != nil {
		logger.Error(name, "err", err)
		return 1
	}
	return 0
}

// Serve serves srv on 127.0.0.1:0 and control on a second loopback
// listener, prints the control line and then the listening line to out,
// and serves until srv fails or ctx ends. Then it calls stop, which must
// make srv's Serve return (srv.Close, srv.Shutdown), and closes the
// control server. It returns srv's error unless that is
// http.ErrServerClosed.
func Serve(ctx context.Context, out io.Writer, srv *http.Server, control http.Handler, stop func()) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return err
	}
	ctl := &http.Server{Handler: control, ReadHeaderTimeout: 5 * time.Second}
	ctl.SetKeepAlivesEnabled(false) // no idle connection goroutine between two calls
	go func() { _ = ctl.Serve(cln) }()
	defer ctl.Close()

	fmt.Fprintf(out, "%s%s\n", controlLine, cln.Addr())
	fmt.Fprintf(out, "%s%s\n", listeningLine, ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop()
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Process is a started child.
type Process struct {
	Cmd     *exec.Cmd
	Addr    string // the server under test, HOST:PORT
	Control string // the control endpoint, HOST:PORT

	exited   chan struct{}
	waitErr  error // set before exited is closed
	logLines atomic.Int64
	client   *http.Client
}

// Start starts cmd and waits for the two addresses it prints. Its other
// lines, on standard output and standard error, go to log (nil: nowhere),
// each prefixed with name.
func Start(ctx context.Context, cmd *exec.Cmd, name string, log io.Writer) (*Process, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, exited: make(chan struct{}), client: &http.Client{Timeout: time.Minute}}
	if log == nil {
		log = io.Discard
	}
	var logMu sync.Mutex
	logf := func(line string) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(log, "%s: %s\n", name, line)
	}
	addrs := make(chan [2]string, 1)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stdout)
		var ctl string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, controlLine); ok {
				ctl = a
			} else if a, ok := strings.CutPrefix(line, listeningLine); ok && !sent {
				sent = true
				addrs <- [2]string{a, ctl}
			} else {
				logf(line)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.logLines.Add(1)
			logf(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		pipes.Wait()
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case a := <-addrs:
		p.Addr, p.Control = a[0], a[1]
		if p.Control == "" {
			p.Kill()
			return nil, errors.New("the server printed no control address")
		}
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the server exited before listening: %v", p.waitErr)
	case <-t.C:
	case <-ctx.Done():
	}
	p.Kill()
	return nil, errors.New("the server did not print its address in time")
}

// LogLines counts the lines the child wrote to its standard error: Main's
// logger writes warnings and above only, so each is something to look at
// (a panic's trace is several).
func (p *Process) LogLines() int { return int(p.logLines.Load()) }

// Get asks the control endpoint for path and returns the body of its 200.
func (p *Process) Get(ctx context.Context, path string) ([]byte, error) {
	return p.do(ctx, http.MethodGet, path)
}

// GetJSON asks the control endpoint for path and decodes its JSON into v.
func (p *Process) GetJSON(ctx context.Context, path string, v any) error {
	b, err := p.Get(ctx, path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Post posts nothing to the control endpoint at path; any 2xx will do.
func (p *Process) Post(ctx context.Context, path string) error {
	_, err := p.do(ctx, http.MethodPost, path)
	return err
}

func (p *Process) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+p.Control+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ok := resp.StatusCode == http.StatusOK || (method == http.MethodPost && resp.StatusCode/100 == 2); !ok {
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// Wait waits up to d for the child to exit and returns its exit status;
// past d, or once ctx ends, it kills the child and returns an error.
func (p *Process) Wait(ctx context.Context, d time.Duration) (int, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-t.C:
		p.Kill()
		return -1, fmt.Errorf("the server did not exit within %s", d)
	case <-ctx.Done():
		p.Kill()
		return -1, ctx.Err()
	}
}

// Kill ends the child if it still runs, and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// Memory is the child's resident set size and its peak, in bytes (zeros
// where there is no /proc).
func (p *Process) Memory() (rss, peak uint64) {
	return memory(strconv.Itoa(p.Cmd.Process.Pid))
}

// SelfMemory is this process's resident set size and its peak, in bytes
// (zeros where there is no /proc).
func SelfMemory() (rss, peak uint64) { return memory("self") }

// CPU is the processor time the child has used so far, user and system
// (0 where there is no /proc).
func (p *Process) CPU() time.Duration { return cpu(strconv.Itoa(p.Cmd.Process.Pid)) }

// SelfCPU is this process's processor time so far, user and system (0
// where there is no /proc).
func SelfCPU() time.Duration { return cpu("self") }

// cpu reads utime and stime, in clock ticks of 1/100 s (Linux's USER_HZ),
// from /proc/PID/stat.
func cpu(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // from field 3 (state) on
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	s, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// memory reads VmRSS and VmHWM from /proc/PID/status.
func memory(pid string) (rss, peak uint64) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}
