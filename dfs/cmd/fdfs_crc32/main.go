// Command fdfs_crc32 prints the CRC32 of a local file in lower-case hex, as
// FastDFS 6.16 does.
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.CRC32(os.Args[1:], os.Stdout, os.Stderr)) }
