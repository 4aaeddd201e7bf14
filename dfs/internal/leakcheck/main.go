package leakcheck

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// Runner is what TestMain's *testing.M offers.
type Runner interface{ Run() int }

// Main runs a package's tests (m.Run) and then checks that the test binary
// is back at the goroutines and descriptors it had before them: call it as
// os.Exit(leakcheck.Main(m)) from TestMain. A leak turns a passing run into
// exit code 1, with every goroutine's stack and the open descriptors on
// stderr. http.DefaultTransport's idle connections are closed first: they
// are pooled on purpose by any test's http.Get.
func Main(m Runner) int { return mainTo(m, os.Stderr) }

func mainTo(m Runner, stderr io.Writer) int {
	base := settle()
	code := m.Run()
	if code != 0 {
		return code // the failures say more than a leak would
	}
	closeIdleHTTP()
	deadline := time.Now().Add(Wait)
	now := Take()
	for !now.within(base) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		now = Take()
	}
	if now.within(base) {
		return 0
	}
	fmt.Fprintf(stderr, "leak after all tests: %d goroutines (before them %d), %d descriptors (before them %d)\n--- open descriptors:\n%s\n--- goroutines:\n%s\n",
		now.Goroutines, base.Goroutines, now.FDs, base.FDs, fdList(), stacks())
	return 1
}

// closeIdleHTTP closes the idle keep-alive connections of
// http.DefaultTransport (what http.Get pools).
func closeIdleHTTP() {
	if t, ok := http.DefaultTransport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}
