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
// step is the README's test command as it stands.
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
	// -race; uncached[dir], those of them with -count=1.
	tested, uncached := map[string][]string{}, map[string][]string{}
	inDir := regexp.MustCompile(`^\(cd (\S+) && (.*)\)$`)
	for _, line := range strings.Split(string(script), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		dir, cmds := ".", line
		if m := inDir.FindStringSubmatch(line); m != nil {
			dir, cmds = m[1], m[2]
		}
		for _, cmd := range strings.Split(cmds, "&&") {
			f := strings.Fields(cmd)
			// Environment assignments (SWITCHYARD_INTEROP=1 …) first.
			for len(f) > 0 && strings.Contains(f[0], "=") {
				f = f[1:]
			}
			if len(f) < 2 || f[0] != "go" || f[1] != "test" || !slices.Contains(f, "-race") ||
				slices.Contains(f, "'^$'") || slices.Contains(f, "-run='^$'") {
				continue
			}
			tested[dir] = append(tested[dir], line)
			if slices.Contains(f, "-count=1") {
				uncached[dir] = append(uncached[dir], line)
			}
		}
	}
	for _, dir := range modules {
		switch {
		case len(tested[dir]) == 0:
			t.Errorf(".ci/run does not run the tests of the module in %s with -race", dir)
		case dir != "." && len(uncached[dir]) == 0:
			t.Errorf(".ci/run runs the tests of the module in %s without -count=1, so a cached result can stand in for them: %q", dir, tested[dir])
		}
	}
}
