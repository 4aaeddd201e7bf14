// Command fdfs_upload_appender uploads a local file as an appender file and prints its file ID (docs/protocol.md §9.2).
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.UploadAppender(os.Args[1:], os.Stdout, os.Stderr)) }
