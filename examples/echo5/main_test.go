package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-http/switchyard/examples/demoapp"
	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

// copyCheck is the contract's check that the program's files build in a
// new module. democontract.Run builds that copy against the repository's
// root go.mod, which does not require Echo v5: this module is the one
// that does, so TestCopiesIntoANewModule builds the copy against this
// module's go.mod instead, and Run's own copy check is skipped.
const copyCheck = "TestContract/CopiesIntoANewModule"

func TestMain(m *testing.M) {
	flag.Parse()
	if skip := flag.Lookup("test.skip"); skip != nil && skip.Value.String() == "" {
		if err := skip.Value.Set(copyCheck); err != nil {
			panic(err)
		}
	}
	testkit.Main(m)
}

// The whole demo contract: against the program as a user runs it, and
// against run in process for its standard output.
func TestContract(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	democontract.Run(t, func(ctx context.Context, out io.Writer) error {
		return run(ctx, "127.0.0.1:0", demoapp.DefaultLimits(), out, io.Discard, quiet)
	})
}

// main.go copied into a new module, with this module's requirements and
// Switchyard's modules replaced by the repository, builds offline: it is a
// complete program to copy.
func TestCopiesIntoANewModule(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build with: %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"main.go", "go.sum"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	// The same requirements under a new module path; the replacements
	// point at the repository by absolute path.
	_, rest, ok := strings.Cut(string(mod), "\n")
	if !ok || !strings.Contains(rest, "=> ../..") {
		t.Fatalf("go.mod %q: want a module line and Switchyard replaced by ../..", mod)
	}
	gomod := "module example.com/copied\n" + strings.ReplaceAll(rest, "=> ../..", "=> "+root)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	// Offline: the copy needs what this module needs, in the module cache
	// already.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in a new module: %v\n%s", err, out)
	}
}
