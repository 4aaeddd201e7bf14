// Command fdfs_trackerd is the tracker daemon:
//
//	fdfs_trackerd <tracker.conf> [start|stop|restart]
package main

import (
	"os"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/daemon"
	"yunpan/dfs/tracker"
)

func main() {
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
