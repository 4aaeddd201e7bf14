// Command fdfs_test walks through upload, slave upload, metadata, download and delete (docs/protocol.md §9.9).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.FdfsTest(os.Args[1:], os.Stdout, os.Stderr)) }
