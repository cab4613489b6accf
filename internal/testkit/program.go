package testkit

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var builds sync.Map // package dir -> *build

type build struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// Program is a running example server (examples/server, examples/echo …),
// started as its own process, as a user starts it.
type Program struct {
	URL string // "http://127.0.0.1:PORT" from its "listening on" line
	cmd *exec.Cmd
	out *LockedBuffer // its standard error, for failure messages
}

// StartProgram builds the main package in dir (a path relative to the
// test's working directory, such as "../examples/server"; built once per
// test binary, with -race off, and removed when Main's tests have run) and
// starts it with "-addr 127.0.0.1:0" and
// args. It waits for the "listening on URL" line and stops the program
// when the test ends, failing the test unless it then exits with status 0.
func StartProgram(t testing.TB, dir string, env []string, args ...string) *Program {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := builds.LoadOrStore(abs, new(build))
	b := v.(*build)
	b.once.Do(func() {
		tmp, err := os.MkdirTemp("", "switchyard-program-")
		if err != nil {
			b.err = err
			return
		}
		b.bin = filepath.Join(tmp, filepath.Base(abs))
		cmd := exec.Command("go", "build", "-o", b.bin, ".")
		cmd.Dir = abs
		b.out, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, b.err, b.out)
	}
	cmd := exec.Command(b.bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Program{cmd: cmd, out: new(LockedBuffer)}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				line <- u
			}
		}
	}()
	select {
	case p.URL = <-line:
	case <-time.After(Timeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("%s printed no listening line; stderr:\n%s", dir, p.out)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			if code := p.Stop(t); code != 0 {
				t.Errorf("%s exited with status %d; stderr:\n%s", dir, code, p.out)
			}
		}
	})
	return p
}

// removeBuilds removes what StartProgram built; Run calls it once the
// tests have run.
func removeBuilds() {
	builds.Range(func(_, v any) bool {
		if b := v.(*build); b.bin != "" {
			os.RemoveAll(filepath.Dir(b.bin))
		}
		return true
	})
}

// Addr is the program's host:port.
func (p *Program) Addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(p.URL, "http://"), "https://")
}

// Stderr is what the program wrote to its standard error so far.
func (p *Program) Stderr() string { return p.out.String() }

// Stop sends SIGTERM and returns the exit status; it kills the program if
// it has not exited within Timeout (and fails the test).
func (p *Program) Stop(t testing.TB) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(Timeout):
		_ = p.cmd.Process.Kill()
		<-done
		t.Errorf("program did not exit within %v of SIGTERM", Timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}
