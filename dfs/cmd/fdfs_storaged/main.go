// Command fdfs_storaged is the storage server: `fdfs_storaged <storage.conf>
// [start|stop|restart]`.
package main

import (
	"os"

	"github.com/rs/zerolog"

	"yunpan/conf"
	"yunpan/dfs/daemon"
	"yunpan/dfs/storage"
)

func main() {
	os.Exit(daemon.Main(daemon.Spec{
		Name: "storaged",
		Load: func(path string) (string, string, error) {
			c, err := conf.LoadStorage(path)
			if err != nil {
				return "", "", err
			}
			return c.BasePath, c.LogLevel, nil
		},
		New: func(path string, log zerolog.Logger) (daemon.Server, error) {
			c, err := conf.LoadStorage(path)
			if err != nil {
				return nil, err
			}
			return storage.New(c, log)
		},
	}, os.Args[1:], os.Stderr))
}
