package interop_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestCIRunsEveryModule reads .ci/run, which is what CI runs, and checks
// that it runs the tests of every module (each directory with a go.mod)
// with -race, and those of every nested module with -count=1 too: the
// interop tests run programs (the examples, Node's scripts, Chromium …)
// whose changes the go command's test cache does not see, so a cached
// "ok" would pass a peer or an example that is broken now. The root's
// step is the README's test command as it stands. The README also says
// that the main module's, the adapters' and the interop tests run under
// the newest Go 1.27 as well (GOTOOLCHAIN="$go127"), where net/http's
// HTTP/2 is x/net's.
func TestCIRunsEveryModule(t *testing.T) {
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	var modules []string
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			dir, _ := filepath.Rel("..", filepath.Dir(path))
			modules = append(modules, filepath.ToSlash(dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(modules, ".") || !slices.Contains(modules, "interop") {
		t.Fatalf("modules found: %v, want the root and interop among them", modules)
	}

	// tested[dir] is the lines of .ci/run that run dir's tests with
	// -race; uncached[dir], those of them with -count=1; go127[dir], those
	// of them under the Go 1.27 toolchain. A line of a loop over
	// directories (for m in a b; do (cd "$m" && …); done) counts for each.
	tested, uncached, go127 := map[string][]string{}, map[string][]string{}, map[string][]string{}
	inDir := regexp.MustCompile(`^\(cd (\S+) && (.*)\)$`)
	loop := regexp.MustCompile(`^for (\w+) in ([^;]*); do$`)
	var loopVar string
	var loopDirs []string
	for _, line := range strings.Split(string(script), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := loop.FindStringSubmatch(line); m != nil {
			loopVar, loopDirs = m[1], strings.Fields(m[2])
			continue
		}
		if line == "done" {
			loopVar, loopDirs = "", nil
			continue
		}
		dirs, cmds := []string{"."}, line
		if m := inDir.FindStringSubmatch(line); m != nil {
			dirs, cmds = []string{m[1]}, m[2]
			if loopVar != "" && m[1] == `"$`+loopVar+`"` {
				dirs = loopDirs
			}
		}
		for _, cmd := range strings.Split(cmds, "&&") {
			f := strings.Fields(cmd)
			// Environment assignments (SWITCHYARD_INTEROP=1 …) first.
			on127 := false
			for len(f) > 0 && strings.Contains(f[0], "=") {
				on127 = on127 || f[0] == `GOTOOLCHAIN="$go127"`
				f = f[1:]
			}
			if len(f) < 2 || f[0] != "go" || f[1] != "test" || !slices.Contains(f, "-race") ||
				slices.Contains(f, "'^$'") || slices.Contains(f, "-run='^$'") {
				continue
			}
			for _, dir := range dirs {
				tested[dir] = append(tested[dir], line)
				if slices.Contains(f, "-count=1") {
					uncached[dir] = append(uncached[dir], line)
				}
				if on127 {
					go127[dir] = append(go127[dir], line)
				}
			}
		}
	}
	if !strings.Contains(string(script), "\ngo127=") {
		t.Error(".ci/run no longer sets go127, the Go 1.27 toolchain this test looks for")
	}
	for _, dir := range modules {
		switch {
		case len(tested[dir]) == 0:
			t.Errorf(".ci/run does not run the tests of the module in %s with -race", dir)
		case dir != "." && len(uncached[dir]) == 0:
			t.Errorf(".ci/run runs the tests of the module in %s without -count=1, so a cached result can stand in for them: %q", dir, tested[dir])
		}
	}
	for _, dir := range []string{".", "interop", "echoadapter/v5", "otelmetrics", "prometheus"} {
		if !slices.Contains(modules, dir) {
			t.Errorf("no module in %s: correct this test and the README", dir)
		} else if len(go127[dir]) == 0 {
			t.Errorf(".ci/run does not run the tests of the module in %s with -race under Go 1.27 (GOTOOLCHAIN=\"$go127\"), as the README says", dir)
		}
	}
}

// TestCIFuzzesEveryTarget: the README says every fuzz target runs for a
// bounded time in CI. Each Fuzz function of every module's tests must
// have its line in .ci/run, in its module's directory and for its
// package: go test -run '^$' -fuzz '^Name$' -fuzztime … ./its/dir.
func TestCIFuzzesEveryTarget(t *testing.T) {
	script, err := os.ReadFile("../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(script), "\n")
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	found := 0
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			found++
			mod, pkg := moduleOf(t, filepath.Dir(path))
			want := "go test -run '^$' -fuzz '^" + m[1] + "$' -fuzztime "
			if !slices.ContainsFunc(lines, func(l string) bool {
				l = strings.TrimSpace(l)
				if mod != "." {
					prefix := "(cd " + mod + " && "
					if !strings.HasPrefix(l, prefix) || !strings.HasSuffix(l, ")") {
						return false
					}
					l = strings.TrimSuffix(strings.TrimPrefix(l, prefix), ")")
				}
				return strings.HasPrefix(l, want) && strings.HasSuffix(l, " "+pkg)
			}) {
				t.Errorf(".ci/run does not fuzz %s (%s): want a line %q…%q", m[1], filepath.ToSlash(path), want, " "+pkg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no fuzz target at all")
	}
}

// moduleOf returns the directory, relative to the repository's root, of
// the module dir is in (the nearest go.mod up from it), and dir as a
// package pattern relative to that module: "." or "./a/b".
func moduleOf(t *testing.T, dir string) (mod, pkg string) {
	t.Helper()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			m, err1 := filepath.Rel("..", d)
			p, err2 := filepath.Rel(d, dir)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if p = filepath.ToSlash(p); p != "." {
				p = "./" + p
			}
			return filepath.ToSlash(m), p
		}
		if d == filepath.Dir(d) || d == ".." {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}
