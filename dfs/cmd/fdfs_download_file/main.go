// Command fdfs_download_file downloads a file, or a byte range of it (docs/protocol.md §9.4).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.Download(os.Args[1:], os.Stdout, os.Stderr)) }
