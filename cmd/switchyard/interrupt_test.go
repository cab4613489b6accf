package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// Ctrl-C in a ws session ends it as the end of input does, as doc.go
// says: a close frame with 1000, then the wait for the server's, and exit
// 0; before, Go's default handling ended the program with no close frame,
// which the server saw as a vanished peer (1006). The command runs as a
// program of its own, for the signal to be a real one.
func TestChatInterrupt(t *testing.T) {
	t.Parallel()
	frames := make(chan []string, 1)
	srv := testkit.NewTCPServer(t, func(c net.Conn, head string) {
		if err := switchWS(c, head, ""); err != nil {
			frames <- []string{err.Error()}
			return
		}
		var got []string
		for {
			op, p, err := readClientFrame(c)
			if err != nil {
				frames <- append(got, "read: "+err.Error())
				return
			}
			got = append(got, fmt.Sprintf("%#x %q", op, p))
			if op == opClose {
				_, _ = io.WriteString(c, serverFrame(0x88, string(p)))
				frames <- got
				return
			}
		}
	})

	bin := filepath.Join(t.TempDir(), "switchyard")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "ws", srv.URL())
	stdin, err := cmd.StdinPipe() // left open: the input does not end
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, waited := make(chan error, 1), make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		defer close(waited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	if first := testkit.Receive(t, lines, "the connected line"); !strings.HasPrefix(first, "connected to ") {
		t.Fatalf("first line on standard error %q, want connected to …", first)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Receive(t, frames, "the client's frames"); len(got) != 1 || got[0] != `0x8 "\x03\xe8"` {
		t.Errorf("the server got %q, want one close frame with 1000", got)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := testkit.Receive(t, exited, "the exit"); err != nil {
		t.Errorf("exit: %v, want status 0; standard error %q", err, rest)
	}
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "closed by the server: 1000") {
		t.Errorf("standard error after the interrupt %q, want the server's close", rest)
	}
}
