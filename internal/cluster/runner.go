package cluster

import (
	"fmt"
	"os"
	"sync"
)

// Runner is a TB for programs (the benchmark): failures exit, temp dirs and
// cleanups are kept until Close.
type Runner struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

func (r *Runner) Helper() {}

func (r *Runner) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	r.Close()
	os.Exit(1)
}

func (r *Runner) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func (r *Runner) TempDir() string {
	d, err := os.MkdirTemp("", "yunpan-")
	if err != nil {
		r.Fatal(err)
	}
	r.mu.Lock()
	r.dirs = append(r.dirs, d)
	r.mu.Unlock()
	return d
}

func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

// Close runs the cleanups in reverse order and removes the temp dirs.
func (r *Runner) Close() {
	r.mu.Lock()
	cs, ds := r.cleanups, r.dirs
	r.cleanups, r.dirs = nil, nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	for _, d := range ds {
		os.RemoveAll(d)
	}
}
