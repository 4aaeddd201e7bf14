// Command fdfs_trackerd is the tracker daemon:
//
//	fdfs_trackerd <tracker.conf> [start|stop|restart]
package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/daemon"
	"yunpan/dfs/tracker"
)

// The tracker's memory settings, unless GOGC or GOMAXPROCS in the
// environment say otherwise. Its live heap is a few hundred KiB; with Go's
// default GOGC of 100 the heap grows to the 4 MiB minimum goal between
// collections, most of the daemon's memory, for garbage: at 10 it stays
// near 1 MiB, for a fraction of a millisecond of CPU per second under load.
// Every request runs under the registry's one lock, so a second P adds its
// per-P caches (about a MiB resident) and thread handoffs, not throughput:
// the same query rate was measured with one as with two.
const (
	gcPercent = 10
	maxProcs  = 1
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(maxProcs)
	}
	os.Exit(daemon.Main(daemon.Spec{
		Name: "trackerd",
		Load: func(path string) (string, string, error) {
			c, err := conf.LoadTracker(path)
			if err != nil {
				return "", "", err
			}
			return c.BasePath, c.LogLevel, nil
		},
		New: func(path string, log zerolog.Logger) (daemon.Server, error) {
			c, err := conf.LoadTracker(path)
			if err != nil {
				return nil, err
			}
			return tracker.New(c, log)
		},
	}, os.Args[1:], os.Stderr))
}
