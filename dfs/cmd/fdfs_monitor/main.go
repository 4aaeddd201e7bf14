// Command fdfs_monitor lists or deletes groups and storages (docs/protocol.md §9.8).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.Monitor(os.Args[1:], os.Stdout, os.Stderr)) }
