// Command fdfs_upload_file uploads a local file and prints its file ID (docs/protocol.md §9.1).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.UploadMain(os.Args[1:], os.Stdout, os.Stderr)) }
