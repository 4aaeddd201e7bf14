// Command fdfs_append_file appends a local file to an appender file (docs/protocol.md §9.3).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.AppendFile(os.Args[1:], os.Stdout, os.Stderr)) }
