// Command fdfs_file_info prints what a file ID tells, asking the storage when needed (docs/protocol.md §9.6).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.FileInfo(os.Args[1:], os.Stdout, os.Stderr)) }
