//go:build cpuprofile

// Package cpuprofile writes a program's CPU profile when $YUNPAN_CPUPROFILE
// is set, and its heap profile when $YUNPAN_MEMPROFILE is, for `make bench`:
// where each daemon's and program's time and memory go. Only builds with
// the cpuprofile tag have it (`make build` adds the tag when either
// variable is set): runtime/pprof and its compression add a quarter MiB to
// every daemon's resident memory.
package cpuprofile

import (
	"os"
	"runtime/pprof"
)

// Start begins profiling into $YUNPAN_CPUPROFILE.<name> when the variable
// is set; the returned function ends it (a no-op otherwise) and writes the
// heap profile to $YUNPAN_MEMPROFILE.<name> when that one is set.
func Start(name string) (stop func()) {
	stopCPU := startCPU(name)
	return func() {
		stopCPU()
		writeHeap(name)
	}
}

func startCPU(name string) func() {
	path := os.Getenv("YUNPAN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + name)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// writeHeap writes the heap profile (allocations since the start and what
// is in use) to $YUNPAN_MEMPROFILE.<name>.
func writeHeap(name string) {
	path := os.Getenv("YUNPAN_MEMPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path + "." + name)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.Lookup("heap").WriteTo(f, 0)
}
