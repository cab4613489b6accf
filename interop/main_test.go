package interop_test

import (
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

// The Go peers, the echo server and chromedp all start goroutines; none may
// outlive the tests.
func TestMain(m *testing.M) { testkit.Main(m) }
