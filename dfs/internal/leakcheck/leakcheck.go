// Package leakcheck verifies that a test leaves no goroutine and no file
// descriptor behind: snapshot the counts before the servers start, and
// after they exit poll until both are back at the baseline.
//
// It measures the whole process, so it only fits tests that do not run in
// parallel with others (no t.Parallel in the package, or not in this test).
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// TB is the part of testing.TB the checks use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Cleanup(func())
	Failed() bool
}

// Snapshot is the goroutine and descriptor count at one moment.
type Snapshot struct {
	Goroutines int
	FDs        int
}

// Take counts now.
func Take() Snapshot {
	return Snapshot{Goroutines: runtime.NumGoroutine(), FDs: FDs()}
}

// FDs is the number of open descriptors of this process (-1 where
// /proc/self/fd is not available). The directory read itself holds one
// descriptor, in every count alike.
func FDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// Wait is how long Check lets goroutines and descriptors wind down.
var Wait = 5 * time.Second

// Check polls until the process is back at (or below) s, and reports a
// test error listing every goroutine's stack and the open descriptors if it
// is not within Wait.
func (s Snapshot) Check(t TB) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	now := Take()
	for !now.within(s) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		now = Take()
	}
	if now.within(s) {
		return
	}
	t.Errorf("leak: %d goroutines (baseline %d), %d descriptors (baseline %d)\n--- open descriptors:\n%s\n--- goroutines:\n%s",
		now.Goroutines, s.Goroutines, now.FDs, s.FDs, fdList(), stacks())
}

func (now Snapshot) within(base Snapshot) bool {
	return now.Goroutines <= base.Goroutines && now.FDs <= base.FDs
}

// Watch takes a snapshot now and checks it when the test ends. Call it
// first in a test: cleanups run last-in first-out, so the check runs after
// the cleanups registered later (servers' Exit, connections' Close). It is
// skipped when the test already failed (a failing test may leave things
// half open; that is not the leak to report).
func Watch(t TB) {
	t.Helper()
	s := settle()
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		s.Check(t)
	})
}

// settle takes a snapshot once goroutines of earlier tests have wound down
// (the count stops falling for a few samples, at most ~200 ms): one that
// ends during the watched test would otherwise hide a leak.
func settle() Snapshot {
	s := Take()
	for i, still := 0, 0; i < 20 && still < 3; i++ {
		time.Sleep(10 * time.Millisecond)
		n := Take()
		if n.Goroutines < s.Goroutines || n.FDs < s.FDs {
			still = 0
		} else {
			still++
		}
		s = n
	}
	return s
}

func stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
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
