// Package leakcheck verifies that a test leaves no goroutine and no file
// descriptor behind. Goroutines are go.uber.org/goleak's part: those
// running when the check starts are ignored, any other still running at
// the end is a leak. Descriptors goleak does not look at: their count is
// taken before the servers start and must be back at it afterwards.
//
// It measures the whole process, so it only fits tests that do not run in
// parallel with others (no t.Parallel in the package, or not in this test).
package leakcheck

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"yunpan/internal/cluster"

	"go.uber.org/goleak"
)

// TB is the part of testing.TB the checks use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// FDs is the number of open descriptors of this process (-1 where
// /proc/self/fd is not available). The directory read itself holds one
// descriptor, in every count alike. The port leases of the test harness
// (lock files internal/cluster keeps open until the process ends) are no
// leak and not counted.
func FDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(target, "/"+cluster.PortLeaseDir+"/") {
			continue
		}
		n++
	}
	return n
}

// Wait is how long a check lets goroutines and descriptors wind down.
var Wait = 5 * time.Second

// baseline is what a check compares with: the goroutines running and the
// descriptors open when it was taken.
type baseline struct {
	goroutines goleak.Option // ignores the goroutines running then
	fds        int
}

// take records the baseline once descriptors closed by earlier tests are
// gone (the count stops falling for a few samples, at most ~200 ms): one
// closed during the watched test would otherwise hide a leak. Goroutines
// need no such wait: goleak knows them one by one.
func take() baseline {
	fds := FDs()
	for i, still := 0, 0; i < 20 && still < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		n := FDs()
		if n < fds {
			still = 0
		} else {
			still++
		}
		fds = n
	}
	return baseline{goroutines: goleak.IgnoreCurrent(), fds: fds}
}

// leaks polls for up to Wait until no goroutine started after the
// baseline runs and the descriptors are back at (or below) it; it returns
// "" then, else what is left: the goroutines' stacks and the open
// descriptors.
func (b baseline) leaks() string {
	deadline := time.Now().Add(Wait)
	for {
		gerr := goleak.Find(b.goroutines) // retries for a moment itself
		fds := FDs()
		if gerr == nil && fds <= b.fds {
			return ""
		}
		if time.Now().After(deadline) {
			var out strings.Builder
			if fds > b.fds {
				fmt.Fprintf(&out, "%d descriptors (baseline %d)\n--- open descriptors:\n%s\n", fds, b.fds, fdList())
			}
			if gerr != nil {
				fmt.Fprintf(&out, "goroutines still running: %v\n", gerr)
			}
			return out.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Watch takes a baseline now and checks it when the test ends. Call it
// first in a test: cleanups run last-in first-out, so the check runs after
// the cleanups registered later (servers' Exit, connections' Close). It is
// skipped when the test already failed (a failing test may leave things
// half open; that is not the leak to report).
func Watch(t TB) {
	t.Helper()
	b := take()
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		if report := b.leaks(); report != "" {
			t.Errorf("leak: %s", report)
		}
	})
}

func fdList() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		lines = append(lines, fmt.Sprintf("%s -> %s", e.Name(), target))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
