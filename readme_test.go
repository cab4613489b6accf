package switchyard_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every Go snippet of the README is a whole file that compiles when pasted
// into a new module: the test writes each into a module of its own that
// requires this one (through a replace), and builds it.
func TestREADMESnippetsCompile(t *testing.T) {
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
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("go.sum")
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
	for i, code := range snippets {
		if !strings.HasPrefix(code, "package main\n") {
			t.Errorf("README go snippet %d is not a whole file (no package clause):\n%s", i+1, code)
			continue
		}
		dir := t.TempDir()
		mod := "module readme\n\ngo 1.26\n\nrequire github.com/switchyard-http/switchyard v0.0.0\n\nreplace github.com/switchyard-http/switchyard => " + root + "\n"
		for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "main.go": []byte(code)} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"mod", "tidy"}, {"vet", "."}, {"build", "-o", os.DevNull, "."}} {
			cmd := exec.Command("go", args...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("README go snippet %d: go %s: %v\n%s\n%s", i+1, strings.Join(args, " "), err, out, code)
				break
			}
		}
	}
}
