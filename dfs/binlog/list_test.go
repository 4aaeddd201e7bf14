package binlog

import (
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
)

// TestListFilesBinlogReplay replays hand-written binlogs over two store
// paths: creates (source and replica), deletes, a rename, a link, metadata,
// a gzipped old binlog, malformed and torn lines, and a file the binlog
// knows but the disk lost.
func TestListFilesBinlogReplay(t *testing.T) {
	base, sp1 := t.TempDir(), t.TempDir()
	paths := []string{base, sp1}
	syncDir := filepath.Join(base, "data", "sync")
	require.NoError(t, os.MkdirAll(syncDir, 0o755))
	name := func(path, n int, ts int64, ext string) string {
		info := fileid.Info{SourceIP: "127.0.0.1", Timestamp: ts, SizeField: int64(n)}
		return fileid.RemoteName(path, 1, 2, info, fileid.FormatExt(ext, func() uint32 { return uint32(n) }))
	}
	onDisk := func(remote string) {
		r, err := fileid.ParseRemote(remote, len(paths))
		require.NoError(t, err)
		p := filepath.Join(paths[r.StorePath], "data", filepath.FromSlash(r.RelPath()))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	var (
		a       = name(0, 1, 1000, "jpg") // created here, kept
		b       = name(1, 2, 1100, "")    // replica copy, kept (second store path)
		c       = name(0, 3, 1200, "txt") // created, then deleted by a replica record
		app     = name(0, 4, 1300, "log") // appender, renamed to reg
		reg     = name(0, 5, 1400, "log")
		link    = name(0, 6, 1500, "jpg") // a link to a
		lost    = name(0, 7, 1600, "bin") // in the binlog, not on disk
		torn    = name(0, 8, 1700, "bin") // last record half written
		archive = name(0, 9, 900, "old")  // in the gzipped binlog.000
	)
	for _, f := range []string{a, b, reg, link, torn, archive, a + "-m"} {
		onDisk(f)
	}
	var gz strings.Builder
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, "900 C %s\n", archive)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog.000.gz"), []byte(gz.String()), 0o644))
	lines := []string{
		"1000 C " + a,
		"1001 C " + a + "-m",
		"1100 c " + b,
		"1200 C " + c,
		"garbage without fields",
		"1250 d " + c,
		"1300 C " + app,
		"1350 A " + app + " 0 10",
		"1400 R " + reg + " " + app,
		"1500 L " + link + " " + a,
		"1600 C " + lost,
		"1650 C ../../etc/passwd",
	}
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog.001"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog.002"), []byte("1700 C "+torn), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog_index.dat"), []byte("current_write=2\ncurrent_compress=1\n"), 0o644))

	got, st, err := ListLiveFiles(syncDir, paths)
	require.NoError(t, err)
	var names []string
	for _, f := range got {
		names = append(names, f.Remote)
	}
	require.Equal(t, []string{archive, a, b, reg, link}, names)
	require.Equal(t, int64(1000), got[1].Created, "create time from the name")
	require.Equal(t, ListStats{Binlogs: 3, Records: 12, Malformed: 3, Metadata: 1, Missing: 1}, st)

	// A deleted data file takes its metadata with it (delete.go logs both).
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog.003"),
		[]byte("2000 D "+a+"\n2000 D "+a+"-m\n"), 0o644))
	got, _, err = ListLiveFiles(syncDir, paths)
	require.NoError(t, err)
	require.Len(t, got, 4)
	for _, f := range got {
		require.NotEqual(t, a, f.Remote)
	}

	_, _, err = ListLiveFiles(filepath.Join(base, "nope"), paths)
	require.Error(t, err)
}

// A trunk-resident file is live while its trunk file is on disk.
func TestListFilesTrunk(t *testing.T) {
	base := t.TempDir()
	syncDir := filepath.Join(base, "data", "sync")
	require.NoError(t, os.MkdirAll(syncDir, 0o755))
	info := fileid.Info{SourceIP: "127.0.0.1", Timestamp: 1000, SizeField: fileid.TrunkSizeField(100, 7)}
	trunk := func(id int32) string {
		return fileid.TrunkRemoteName(0, 1, 2, info, fileid.TrunkInfo{TrunkID: id, Offset: 0, SlotSize: 256}, "1234567")
	}
	kept, gone := trunk(1), trunk(2)
	require.NoError(t, os.MkdirAll(filepath.Join(base, "data", "01", "02"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(base, "data", "01", "02", "000001"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(syncDir, "binlog.000"), []byte("1000 C "+kept+"\n1000 c "+gone+"\n"), 0o644))
	files, st, err := ListLiveFiles(syncDir, []string{base})
	require.NoError(t, err)
	require.Equal(t, []LiveFile{{Remote: kept, Created: 1000}}, files)
	require.Equal(t, 1, st.Missing)
}
