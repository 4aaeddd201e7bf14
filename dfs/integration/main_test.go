package integration

import (
	"os"
	"testing"

	"yunpan/dfs/internal/leakcheck"
)

// TestMain checks that the test binary itself is back at its goroutines and
// descriptors after all tests (no leaks); every daemon the tests
// start is checked by the harness (internal/cluster/leak.go).
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
