package leakcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"yunpan/internal/cluster"

	"github.com/stretchr/testify/require"
)

// fakeT records errors instead of failing the real test.
type fakeT struct {
	errs     []string
	cleanups []func()
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Failed() bool      { return len(f.errs) > 0 }
func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestCleanPasses(t *testing.T) {
	f := &fakeT{}
	Watch(f)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { <-stop; close(done) }()
	file, err := os.Create(filepath.Join(t.TempDir(), "x"))
	require.NoError(t, err)
	close(stop)
	<-done
	file.Close()
	f.end()
	require.Empty(t, f.errs)
}

func TestGoroutineLeakReported(t *testing.T) {
	old := Wait
	Wait = 100 * time.Millisecond
	defer func() { Wait = old }()
	f := &fakeT{}
	Watch(f)
	stop := make(chan struct{})
	defer close(stop)
	go func() { <-stop }()
	f.end()
	require.Len(t, f.errs, 1)
	require.Contains(t, f.errs[0], "goroutines")
	require.Contains(t, f.errs[0], "TestGoroutineLeakReported")
}

func TestDescriptorLeakReported(t *testing.T) {
	old := Wait
	Wait = 100 * time.Millisecond
	defer func() { Wait = old }()
	f := &fakeT{}
	Watch(f)
	file, err := os.Create(filepath.Join(t.TempDir(), "leaked"))
	require.NoError(t, err)
	defer file.Close()
	f.end()
	require.Len(t, f.errs, 1)
	require.Contains(t, f.errs[0], "leaked")
}

func TestSlowShutdownWaitedFor(t *testing.T) {
	f := &fakeT{}
	Watch(f)
	go func() { time.Sleep(200 * time.Millisecond) }()
	f.end()
	require.Empty(t, f.errs)
}

type runFunc func() int

func (f runFunc) Run() int { return f() }

func TestMainCatchesLeftovers(t *testing.T) {
	var out strings.Builder
	require.Equal(t, 0, mainTo(runFunc(func() int { return 0 }), &out), out.String())

	// A goroutine still running after the tests fails the run.
	stop := make(chan struct{})
	defer close(stop)
	old := Wait
	Wait = 100 * time.Millisecond
	defer func() { Wait = old }()
	require.Equal(t, 1, mainTo(runFunc(func() int {
		go func() { <-stop }()
		return 0
	}), &out))
	require.Contains(t, out.String(), "leak after all tests")
	require.Contains(t, out.String(), "TestMainCatchesLeftovers")

	// A failed run keeps its own code.
	require.Equal(t, 3, mainTo(runFunc(func() int { return 3 }), &out))
}

// A goroutine from before the watch that ends during the test does not
// hide one the test leaks (counts would balance them).
func TestLeakNotHiddenByAnEndingGoroutine(t *testing.T) {
	old := Wait
	Wait = 100 * time.Millisecond
	defer func() { Wait = old }()
	before, beforeDone := make(chan struct{}), make(chan struct{})
	go func() { <-before; close(beforeDone) }()
	f := &fakeT{}
	Watch(f)
	close(before)
	<-beforeDone
	stop := make(chan struct{})
	defer close(stop)
	go func() { <-stop }()
	f.end()
	require.Len(t, f.errs, 1)
	require.Contains(t, f.errs[0], "TestLeakNotHiddenByAnEndingGoroutine")
}

// The harness's port lease (a lock file open until the process ends) is
// no leak.
func TestPortLeaseNotCounted(t *testing.T) {
	n := FDs()
	cluster.FreePort(t)
	require.Equal(t, n, FDs())
}
