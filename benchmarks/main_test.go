package benchmarks

import (
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// Every server set up by a test or a benchmark must have let go of its
// goroutines by the end.
func TestMain(m *testing.M) { testkit.Main(m) }
