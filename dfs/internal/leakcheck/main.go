package leakcheck

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

// Runner is what TestMain's *testing.M offers.
type Runner interface{ Run() int }

// Main runs a package's tests (m.Run) and then checks that the test binary
// runs no goroutine they started and is back at the descriptors it had
// before them: call it as os.Exit(leakcheck.Main(m)) from TestMain. A leak
// turns a passing run into exit code 1, with the leaked goroutines' stacks
// and the open descriptors on stderr. http.DefaultTransport's idle
// connections are closed first: they are pooled on purpose by any test's
// http.Get.
func Main(m Runner) int { return mainTo(m, os.Stderr) }

func mainTo(m Runner, stderr io.Writer) int {
	base := take()
	code := m.Run()
	if code != 0 {
		return code // the failures say more than a leak would
	}
	closeIdleHTTP()
	if report := base.leaks(); report != "" {
		fmt.Fprintf(stderr, "leak after all tests: %s", report)
		return 1
	}
	return 0
}

// closeIdleHTTP closes the idle keep-alive connections of
// http.DefaultTransport (what http.Get pools).
func closeIdleHTTP() {
	if t, ok := http.DefaultTransport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
