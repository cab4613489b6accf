package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gws "github.com/gorilla/websocket"
)

// dialer is every client's: gorilla's, with small buffers (the client's
// memory is not measured, its time is, and it is the same for every
// server). It offers no compression: gorilla's Upgrader used directly
// would not take it, and the demo's would.
var dialer = &gws.Dialer{HandshakeTimeout: ioTimeout, ReadBufferSize: 1024, WriteBufferSize: 1024}

func payload(size int) []byte {
	return bytes.Repeat([]byte("x"), size)
}

// open dials url and echoes msg echoes times: each text message written
// must come back whole, as text.
func open(ctx context.Context, url string, echoes int, msg []byte) (*gws.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	c, resp, err := dialer.DialContext(dctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (status %s)", err, resp.Status)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = c.NetConn().SetDeadline(time.Now().Add(ioTimeout))
	for range echoes {
		if err := c.WriteMessage(gws.TextMessage, msg); err != nil {
			c.Close()
			return nil, fmt.Errorf("write: %w", err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("read: %w", err)
		}
		if typ != gws.TextMessage || !bytes.Equal(got, msg) {
			c.Close()
			return nil, fmt.Errorf("echo: got a %d-byte message of type %d, want the %d bytes sent", len(got), typ, len(msg))
		}
	}
	return c, nil
}

var closeNormal = gws.FormatCloseMessage(gws.CloseNormalClosure, "")

// finish closes c the WebSocket way: a 1000 close frame, then reading
// until the server's close frame (or its end of stream), then the TCP
// close.
func finish(c *gws.Conn) error {
	defer c.Close()
	if err := c.WriteControl(gws.CloseMessage, closeNormal, time.Now().Add(ioTimeout)); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	for {
		if _, _, err := c.NextReader(); err != nil {
			var ce *gws.CloseError
			if errors.As(err, &ce) && ce.Code != gws.CloseNormalClosure && ce.Code != gws.CloseAbnormalClosure {
				return fmt.Errorf("close: the server answered %d", ce.Code)
			}
			return nil
		}
	}
}

// cycle runs n connections that open, echo and close, parallel at a time,
// for at most limit; it returns how many completed. With onErr nil it stops
// at the first error and returns it; otherwise it reports each error to
// onErr and goes on.
func cycle(ctx context.Context, url string, n, parallel, echoes, size int, limit time.Duration, onErr func(error)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	end, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(end) }
	var next, done atomic.Int64
	var first error
	var once sync.Once
	fail := func(err error) {
		if onErr != nil {
			onErr(err)
			return
		}
		once.Do(func() { first = err; cancel() })
	}
	var wg sync.WaitGroup
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := payload(size)
			for !over() && int(next.Add(1)) <= n {
				c, err := open(ctx, url, echoes, msg)
				if err == nil {
					err = finish(c)
				}
				if err != nil {
					if !over() {
						fail(err) // otherwise cut short by the end of the phase
					}
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), first
}

// server is a child process serving one kind.
type server struct {
	cmd    *exec.Cmd
	addr   string
	ctl    string
	exited chan struct{}
}

// startServer starts cfg.ServerCmd(kind) and reads the addresses it
// prints; its other output goes to cfg.Log.
func startServer(ctx context.Context, cfg Config, kind string) (*server, error) {
	cmd := cfg.ServerCmd(kind)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if cfg.Log != nil {
		cmd.Stderr = cfg.Log
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var ctl string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "control on http://"); ok {
				ctl = a
			} else if a, ok := strings.CutPrefix(line, "listening on http://"); ok && !sent {
				sent = true
				addrs <- [2]string{a, ctl}
			} else if cfg.Log != nil {
				fmt.Fprintf(cfg.Log, "%s: %s\n", kind, line)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(s.exited)
	}()
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case a := <-addrs:
		s.addr, s.ctl = a[0], a[1]
		return s, nil
	case <-s.exited:
		return nil, errors.New("the server exited before listening")
	case <-t.C:
	case <-ctx.Done():
	}
	s.kill()
	return nil, errors.New("the server did not print its address in time")
}

// stop asks the server to end (SIGINT), and kills it after 10 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.kill()
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// figures asks the server for its own figures (after two collections).
func (s *server) figures(ctx context.Context) (*Figures, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.ctl+"/figures", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	f := new(Figures)
	return f, json.NewDecoder(resp.Body).Decode(f)
}

// fetch saves what the control endpoint answers at path to file.
func (s *server) fetch(ctx context.Context, path, file string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.ctl+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// procRSS is VmRSS of process pid from /proc/PID/status, in bytes; 0 where
// there is no /proc.
func procRSS(pid int) uint64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
