package testkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestStartProgramRemovesItsBuild: the program StartProgram builds (11 MB
// for examples/server) is gone once the test binary that built it has
// run its tests; every run used to leave one more behind in the temp dir.
// The test runs itself as a child that starts the demo and prints where
// it was built.
func TestStartProgramRemovesItsBuild(t *testing.T) {
	const child = "TESTKIT_STARTPROGRAM_CHILD"
	if os.Getenv(child) == "1" {
		StartProgram(t, "../../examples/server", nil)
		abs, err := filepath.Abs("../../examples/server")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := builds.Load(abs)
		fmt.Printf("built in %s\n", filepath.Dir(v.(*build).bin))
		return
	}

	// Building the demo on a cold cache takes a while.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStartProgramRemovesItsBuild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), child+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "built in "); ok {
			dir = d
		}
	}
	if dir == "" {
		t.Fatalf("the child did not say where it built the demo:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		os.RemoveAll(dir)
		t.Errorf("%s is still there after the child's tests ended (stat: %v), want it removed", dir, err)
	}
}
