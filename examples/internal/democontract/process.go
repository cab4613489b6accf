package democontract

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// runProcess checks what only the program started by hand shows:
// testkit.StartProgram always passes -addr, stops the program with SIGTERM
// and looks for its listening line among what it prints.
func runProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "demo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("DefaultAddress", func(t *testing.T) { defaultAddress(t, bin) })
	t.Run("Interrupt", func(t *testing.T) { interrupt(t, bin) })
}

// process is the program started as its own process, all it writes kept.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr testkit.LockedBuffer
	exited         chan struct{} // closed once it has exited
}

// startProcess starts bin with args; the process is killed when the test
// ends if it is still running.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// hasExited reports whether the process has exited.
func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// wait returns the process's exit status once it has exited, killing it
// and failing the test if it has not within testkit.Timeout.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(testkit.Timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("the program did not exit within %v; stderr:\n%s", testkit.Timeout, p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// listeningURL is the URL of a listening line among what was printed.
var listeningURL = regexp.MustCompile(`(?m)^listening on (\S+)$`)

// url waits for the listening line, or for the process to exit (then "").
func (p *process) url(t *testing.T) string {
	t.Helper()
	var url string
	testkit.WaitFor(t, "the listening line", func() bool {
		if m := listeningURL.FindStringSubmatch(p.stdout.String()); m != nil {
			url = m[1]
			return true
		}
		return p.hasExited()
	})
	return url
}

// Without -addr the program listens on 127.0.0.1:8080. When that port is
// taken (by a program of the user's, or by another demo's test running at
// the same time), it says so and exits 1: either way it asked for
// 127.0.0.1:8080.
func defaultAddress(t *testing.T, bin string) {
	p := startProcess(t, bin)
	url := p.url(t)
	if url == "" {
		code, stderr := p.wait(t), p.stderr.String()
		if code != 1 || !strings.Contains(stderr, "127.0.0.1:8080") || !strings.Contains(stderr, "address already in use") {
			t.Fatalf("without -addr: exit status %d before listening, stderr:\n%s\nwant it to listen on 127.0.0.1:8080 (or to exit 1 when the port is taken)", code, stderr)
		}
		return
	}
	if url != "http://127.0.0.1:8080" {
		t.Errorf("without -addr: listening on %s, want http://127.0.0.1:8080", url)
	}
	if resp, body := testkit.Do(t, "GET", url+"/proto", nil, nil); resp.StatusCode != 200 || body != "HTTP/1.1" {
		t.Errorf("GET %s/proto: %d %q", url, resp.StatusCode, body)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
	}
}

// SIGINT (^C in a terminal) shuts the program down as SIGTERM does: an
// open WebSocket gets close 1001 and the program exits 0. Its standard
// output is the listening line and nothing else.
func interrupt(t *testing.T, bin string) {
	p := startProcess(t, bin, "-addr", "127.0.0.1:0")
	url := p.url(t)
	if url == "" {
		t.Fatalf("exited with status %d before listening; stderr:\n%s", p.wait(t), p.stderr.String())
	}
	ws, _ := wstest.Dial(t, &gws.Dialer{}, wstest.URL(url, "/ws"), nil)
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("before ^C"))
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	wstest.WantClose(t, ws, gws.CloseGoingAway)
	if code := p.wait(t); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0; stderr:\n%s", code, p.stderr.String())
	}
	if out := p.stdout.String(); !listening.MatchString(out) {
		t.Errorf("standard output %q, want the listening line alone", out)
	}
}
