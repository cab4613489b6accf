package main

import (
	"testing"

	"github.com/switchyard-http/switchyard/examples/internal/democontract"
	"github.com/switchyard-http/switchyard/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// The whole demo contract: against the program as a user runs it, against
// run in process for its standard output, and against a copy of main.go
// in a new module with this module's requirements, which must build.
func TestContract(t *testing.T) { democontract.Run(t, run) }
