// Command fdfs_delete_file deletes a file (docs/protocol.md §9.5).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.Delete(os.Args[1:], os.Stdout, os.Stderr)) }
