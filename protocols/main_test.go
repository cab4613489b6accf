package protocols_test

import (
	"testing"

	"github.com/switchyard-http/switchyard/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }
