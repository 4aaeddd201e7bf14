package metrics

import (
	"os"
	"runtime"
)

// Process adds the standard Prometheus process families every served
// registry exposes (Handler): go_goroutines and process_open_fds, so tests
// and operators can see a daemon's goroutines and descriptors return to
// their baseline.
func Process(set *Set) {
	set.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	// The descriptor of the directory read is counted too, as the Go client
	// library does.
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		set.Gauge("process_open_fds", "Number of open file descriptors.", float64(len(ents)))
	}
}
