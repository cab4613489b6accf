package switchyard_test

import (
	"os/exec"
	"strings"
	"testing"
)

// negotiate and protocols use the standard library only, as their package
// docs say: what they import beyond it is this module's own internal
// packages, which import nothing else either. The engines' dependencies
// (gorilla, x/net) stay in websocket and h2c.
func TestCoreUsesTheStandardLibraryOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	const module = "github.com/switchyard-http/switchyard/"
	for _, pkg := range []string{"./negotiate", "./protocols"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			if !strings.HasPrefix(dep, module) {
				t.Errorf("%s depends on %s, outside the standard library", pkg, dep)
			}
		}
	}
}
