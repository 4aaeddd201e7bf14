// Command fdfs_list_files prints the file IDs a storage holds, from its
// binlog (see the usage text).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"yunpan/conf"
	"yunpan/dfs/binlog"
	"yunpan/dfs/cmd/internal/cli"
	"yunpan/dfs/proto"
)

const listFilesUsage = `Usage: fdfs_list_files <storage.conf> [-older-than DURATION]
	prints the file IDs (group/Mxx/HH/HH/name) this storage holds: created
	here or received from a replica and not deleted since, by its binlog
	(base_path/data/sync), and present on disk; one per line, in binlog order.
	-older-than: only files created at least DURATION ago (e.g. 1h).
	Run it on the storage host; it only reads.
`

func main() { os.Exit(listFiles(os.Args[1:], os.Stdout, os.Stderr)) }

// listFiles is the whole tool. FastDFS has no command that lists a
// storage's files, so this reads the storage's own binlog, as operators do
// by hand; it is how the cloud disk finds DFS files its database lost
// track of (fcgi/reconcile).
func listFiles(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fdfs_list_files", flag.ContinueOnError)
	fs.SetOutput(stderr)
	olderThan := fs.Duration("older-than", 0, "only files created at least this long ago")
	fs.Usage = func() { fmt.Fprint(stderr, listFilesUsage) }
	// Flags may come before or after the config path.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 1
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 || *olderThan < 0 {
		fmt.Fprint(stdout, listFilesUsage)
		return 1
	}
	st, err := conf.LoadStorage(pos[0])
	if err != nil && !(st != nil && errors.Is(err, conf.ErrDisabled)) {
		n := cli.Errno(err)
		if n == int(proto.StatusEIO) {
			n = int(proto.StatusEINVAL)
		}
		fmt.Fprintf(stderr, "load conf file \"%s\" fail, error no: %d, error info: %s (%v)\n",
			pos[0], n, proto.StrError(byte(n)), err)
		return n
	}
	files, stats, err := binlog.ListLiveFiles(filepath.Join(st.BasePath, "data", "sync"), st.StorePaths)
	if err != nil {
		fmt.Fprintf(stderr, "fdfs_list_files: %v\n", err)
		return cli.Errno(err)
	}
	cutoff := time.Now().Add(-*olderThan).Unix()
	w := bufio.NewWriter(stdout)
	listed := 0
	for _, f := range files {
		if *olderThan > 0 && f.Created > cutoff {
			continue
		}
		listed++
		fmt.Fprintf(w, "%s/%s\n", st.GroupName, f.Remote)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "fdfs_list_files: %v\n", err)
		return cli.Errno(err)
	}
	fmt.Fprintf(stderr, "fdfs_list_files: %d files listed (%d live; %d binlog files, %d records, %d malformed skipped, %d metadata files, %d missing on disk)\n",
		listed, len(files), stats.Binlogs, stats.Records, stats.Malformed, stats.Metadata, stats.Missing)
	return 0
}
