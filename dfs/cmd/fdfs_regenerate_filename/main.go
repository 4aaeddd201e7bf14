// Command fdfs_regenerate_filename turns an appender file into a normal file and prints its new file ID (docs/protocol.md §9.7).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.RegenerateFilename(os.Args[1:], os.Stdout, os.Stderr)) }
