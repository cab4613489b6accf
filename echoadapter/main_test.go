package echoadapter_test

import (
	"testing"

	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }
