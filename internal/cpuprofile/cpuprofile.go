//go:build cpuprofile

// Package cpuprofile writes a program's CPU profile when $YUNPAN_CPUPROFILE
// is set, for `make bench`: where each daemon's and program's time goes.
// Only builds with the cpuprofile tag have it (`make build` adds the tag
// when YUNPAN_CPUPROFILE is set): runtime/pprof and its compression add a
// quarter MiB to every daemon's resident memory.
package cpuprofile

import (
	"os"
	"runtime/pprof"
)

// Start begins profiling into $YUNPAN_CPUPROFILE.<name> when the variable
// is set; the returned function ends it (a no-op otherwise).
func Start(name string) (stop func()) {
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
