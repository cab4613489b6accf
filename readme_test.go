package switchyard_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	gws "github.com/gorilla/websocket"

	"github.com/switchyard-http/switchyard/internal/testkit"
	"github.com/switchyard-http/switchyard/internal/wstest"
)

// readmeSnippets returns the README's Go snippets, in order.
func readmeSnippets(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds programs; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var snippets []string
	for _, part := range strings.Split(string(readme), "```go\n")[1:] {
		code, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatal("unterminated go block in README.md")
		}
		snippets = append(snippets, code)
	}
	if len(snippets) < 3 {
		t.Fatalf("found %d go snippets in README.md, want the Quick start, the protocol and the Echo programs", len(snippets))
	}
	return snippets
}

// buildSnippet writes code into a module of its own that requires this
// one (through a replace), tidies, vets and builds it into out.
func buildSnippet(t *testing.T, code, out string) error {
	t.Helper()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mod := "module readme\n\ngo 1.26\n\nrequire github.com/switchyard-http/switchyard v0.0.0\n\nreplace github.com/switchyard-http/switchyard => " + root + "\n"
	for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": []byte(code)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"mod", "tidy"}, {"vet", "."}, {"build", "-o", out, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return &snippetError{args, err, b}
		}
	}
	return nil
}

type snippetError struct {
	args []string
	err  error
	out  []byte
}

func (e *snippetError) Error() string {
	return "go " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + string(e.out)
}

// Every Go snippet of the README is a whole file that compiles when pasted
// into a new module.
func TestREADMESnippetsCompile(t *testing.T) {
	for i, code := range readmeSnippets(t) {
		if !strings.HasPrefix(code, "package main\n") {
			t.Errorf("README go snippet %d is not a whole file (no package clause):\n%s", i+1, code)
			continue
		}
		if err := buildSnippet(t, code, os.DevNull); err != nil {
			t.Errorf("README go snippet %d: %v\n%s", i+1, err, code)
		}
	}
}

// The Quick start does what its introduction says, run as a program: a
// WebSocket echo at /ws, echo/1 on every path, and on an interrupt a
// graceful shutdown of both — the WebSocket gets close 1001, the echo/1
// connection its end of stream, and only then does the program exit, with
// status 0.
func TestREADMEQuickStartShutsDownGracefully(t *testing.T) {
	code := readmeSnippets(t)[0]
	const readmeAddr = "127.0.0.1:8080"
	if !strings.Contains(code, readmeAddr) {
		t.Fatalf("the Quick start no longer listens on %s:\n%s", readmeAddr, code)
	}
	// The program takes its address from the environment, so that the
	// port is chosen after the build, just before the start: a port
	// chosen before it stayed free for the seconds a build takes, in
	// which any connection of another test may take it as its own
	// (listening then fails, "address already in use"). A start that
	// still loses it is made again on another port.
	bin := filepath.Join(t.TempDir(), "quickstart")
	if err := buildSnippet(t, strings.Replace(code, `"`+readmeAddr+`"`, `os.Getenv("QUICKSTART_ADDR")`, 1), bin); err != nil {
		t.Fatalf("the Quick start: %v", err)
	}
	var (
		cmd     *exec.Cmd
		addr    string
		stderr  *testkit.LockedBuffer
		exited  chan struct{}
		waitErr error
	)
	defer func() {
		if exited == nil {
			return // never started
		}
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
		cmd = exec.Command(bin)
		cmd.Env = append(os.Environ(), "QUICKSTART_ADDR="+addr)
		stderr = new(testkit.LockedBuffer)
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited = make(chan struct{})
		go func() { waitErr = cmd.Wait(); close(exited) }()
		var gone bool
		testkit.WaitFor(t, "the Quick start to listen on "+addr, func() bool {
			select {
			case <-exited:
				gone = true
				return true
			default:
			}
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		if !gone {
			break
		}
		if attempt == 3 || !strings.Contains(stderr.String(), "address already in use") {
			t.Fatalf("the Quick start exited before it listened on %s: %v; stderr:\n%s", addr, waitErr, stderr.String())
		}
		t.Logf("%s was taken before the Quick start listened; again on another port", addr)
	}

	base := "http://" + addr
	ws, _ := wstest.Dial(t, nil, wstest.URL(base, "/ws"), nil)
	wstest.WantEcho(t, ws, gws.TextMessage, []byte("hello"))
	echo, _ := testkit.Dial(t, base+"/anything", []string{"echo/1"}, nil)
	if got := testkit.RoundTrip(t, echo, "ping"); got != "ping" {
		t.Fatalf("echo/1 sent back %q, want %q", got, "ping")
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	wstest.WantClose(t, ws, gws.CloseGoingAway)
	if rest := testkit.ReadAll(t, echo); rest != "" {
		t.Errorf("echo/1 sent %q after the interrupt, want its end of stream alone", rest)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the Quick start exited with %v after the interrupt; stderr:\n%s", waitErr, stderr.String())
		}
	case <-time.After(testkit.Timeout):
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		t.Fatalf("the Quick start did not exit within %v of the interrupt; stderr:\n%s", testkit.Timeout, stderr.String())
	}
	if s := stderr.String(); s != "" {
		t.Errorf("the Quick start wrote to its standard error:\n%s", s)
	}
}
