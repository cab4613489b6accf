package benchmarks

import (
	"os"
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// Every server set up by a test or a benchmark must have let go of its
// goroutines by the end. The tests run in a process with extended CONNECT
// on (see runWithXConnect).
func TestMain(m *testing.M) {
	if !testkit.XConnectOn() {
		os.Exit(runWithXConnect())
	}
	testkit.Main(m)
}
