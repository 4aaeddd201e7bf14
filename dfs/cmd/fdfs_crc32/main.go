// Command fdfs_crc32 prints the CRC32 of a local file as an unsigned decimal.
package main

import (
	"os"

	"yunpan/dfs/cmd/internal/cli"
)

func main() { os.Exit(cli.CRC32(os.Args[1:], os.Stdout, os.Stderr)) }
