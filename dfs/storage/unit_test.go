package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// TestPublishCollision: an existing name is never replaced; after 10 taken
// names publish gives up with EBUSY and the temp file stays for the caller
// to remove.
func TestPublishCollision(t *testing.T) {
	// Both ways of refusing to replace: rename with RENAME_NOREPLACE, and
	// the hard link used where a filesystem lacks it.
	for _, link := range []bool{false, true} {
		t.Run(fmt.Sprint("link=", link), func(t *testing.T) {
			noReplaceUnsupported.Store(link)
			defer noReplaceUnsupported.Store(false)
			dir := t.TempDir()
			for i := range 12 {
				require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprint("taken", i)), []byte("old"), 0o644))
			}
			tmp := filepath.Join(dir, ".up-1.tmp")
			require.NoError(t, os.WriteFile(tmp, []byte("new"), 0o644))
			var tries []int
			name, err := publish(tmp, dir, func(try int) string {
				tries = append(tries, try)
				if try < 3 {
					return fmt.Sprint("taken", try)
				}
				return "fresh"
			})
			require.NoError(t, err)
			require.Equal(t, "fresh", name)
			require.Equal(t, []int{0, 1, 2, 3}, tries)
			require.NoFileExists(t, tmp)
			b, _ := os.ReadFile(filepath.Join(dir, "taken0"))
			require.Equal(t, "old", string(b))
			b, _ = os.ReadFile(filepath.Join(dir, "fresh"))
			require.Equal(t, "new", string(b))

			require.NoError(t, os.WriteFile(tmp, []byte("new"), 0o644))
			_, err = publish(tmp, dir, func(try int) string { return fmt.Sprint("taken", try) })
			require.Equal(t, proto.StatusEBUSY, proto.StatusOf(err))
			require.FileExists(t, tmp)
		})
	}
}

// TestBinlogRotateAndIndex: records go to binlog.NNN, a full file starts
// the next one, binlog_index.dat follows, and the old binlog.index is read.
func TestBinlogRotateAndIndex(t *testing.T) {
	old := binlogMaxSize
	binlogMaxSize = 100
	defer func() { binlogMaxSize = old }()
	dir := t.TempDir()
	b, err := openBinlog(dir, time.Hour, zerolog.Nop())
	require.NoError(t, err)
	name := "M00/00/00/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg"
	b.Write(1700000000, opCreate, name, "")
	b.Write(1700000001, opAppend, name, "0 4096")
	// Written through at once (a killed process must not lose acknowledged
	// records); the size passed binlogMaxSize, so the next file is started.
	data, _ := os.ReadFile(filepath.Join(dir, "binlog.000"))
	require.Equal(t, "1700000000 C "+name+"\n1700000001 A "+name+" 0 4096\n", string(data))
	idx, _ := os.ReadFile(filepath.Join(dir, binlogIndexFile))
	require.Equal(t, "current_write=1\ncurrent_compress=0\n", string(idx))
	b.Write(1700000002, opDelete, name, "")
	require.NoError(t, b.Close())
	data, _ = os.ReadFile(filepath.Join(dir, "binlog.001"))
	require.Equal(t, "1700000002 D "+name+"\n", string(data))
	b.Write(1700000003, opDelete, name, "") // after Close: dropped, no panic

	// Reopen continues in binlog.001; an old-style index is honoured.
	b, err = openBinlog(dir, time.Hour, zerolog.Nop())
	require.NoError(t, err)
	require.Equal(t, 1, b.index)
	require.NoError(t, b.Close())
	dir2 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir2, binlogOldIndex), []byte("7\n"), 0o644))
	b, err = openBinlog(dir2, time.Hour, zerolog.Nop())
	require.NoError(t, err)
	require.Equal(t, 7, b.index)
	require.NoError(t, b.Close())
	require.FileExists(t, filepath.Join(dir2, "binlog.007"))

	// Records are at most 256 bytes: a longer one is dropped.
	b, err = openBinlog(t.TempDir(), time.Hour, zerolog.Nop())
	require.NoError(t, err)
	b.Write(1, opCreate, strings.Repeat("x", 300), "")
	require.Empty(t, b.buf)
	require.NoError(t, b.Close())
}

// TestBinlogCacheFlushesWhenFull: the 16 KiB cache is written when nearly full.
func TestBinlogCacheFlushesWhenFull(t *testing.T) {
	dir := t.TempDir()
	b, err := openBinlog(dir, time.Hour, zerolog.Nop())
	require.NoError(t, err)
	defer b.Close()
	name := "M00/00/00/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg"
	for i := range 400 {
		b.Write(int64(i), opCreate, name, "")
	}
	fi, err := os.Stat(filepath.Join(dir, "binlog.000"))
	require.NoError(t, err)
	require.Greater(t, fi.Size(), int64(binlogCacheSize/2))
	require.Less(t, len(b.buf), binlogCacheSize)
}

// TestParams: the PARAMETER_REQ text of the captured tracker.
func TestParams(t *testing.T) {
	body := "use_storage_id=0\nid_type_in_filename=ip\ntrust_storage_server_id=1\nresponse_ip_addr_size=16\n" +
		"storage_ip_changed_auto_adjust=1\nstorage_sync_file_max_delay=86400\nstore_path=2\n" +
		"reserved_storage_space=20.00%\nuse_trunk_file=0\n"
	p, err := parseParams([]byte(body))
	require.NoError(t, err)
	require.Equal(t, 2, p.storePathMode)
	require.InDelta(t, 0.2, p.reserved.Ratio, 1e-9)
	require.Equal(t, 16, p.responseIPSize)
	require.True(t, p.ipChangedAutoAdjust)
	_, err = parseParams([]byte(body + "#include /etc/passwd\n"))
	require.Error(t, err) // network text never reads local files
	p, err = parseParams([]byte("reserved_storage_space=1024MB\nresponse_ip_addr_size=46\n"))
	require.NoError(t, err)
	require.Equal(t, int64(1024), p.reserved.MB)
	require.Equal(t, 46, p.responseIPSize)
}

// TestDistributor: round robin over HH/HH with rotate count (§6.5).
func TestDistributor(t *testing.T) {
	d := &distributor{subdirs: 2, rotate: 2}
	var got []string
	for range 10 {
		h, l := d.next()
		got = append(got, fmt.Sprintf("%d/%d", h, l))
	}
	require.Equal(t, []string{"0/0", "0/0", "0/1", "0/1", "1/0", "1/0", "1/1", "1/1", "0/0", "0/0"}, got)
}

// TestDiskUsage: statvfs in MB.
func TestDiskUsage(t *testing.T) {
	total, free, err := diskUsage(t.TempDir())
	require.NoError(t, err)
	require.Greater(t, total, int64(0))
	require.LessOrEqual(t, free, total)
	_, _, err = diskUsage("/nonexistent/path")
	require.True(t, errors.Is(err, syscall.ENOENT))
}

// TestHandlerPanic: a panicking handler costs its connection only.
func TestHandlerPanic(t *testing.T) {
	const cmd = 249
	handlers[cmd] = handler{fn: func(*session, proto.Header, []byte) (*reply, error) { panic("boom") }}
	t.Cleanup(func() { delete(handlers, cmd) }) // after the storage's Exit (cleanups run LIFO)
	s := start(t, testOpts(t))
	c := dial(t, s)
	require.NoError(t, proto.WritePacket(c, cmd, 0, nil))
	requireClosed(t, c)
	require.Equal(t, int64(1), s.panics.Load())
	activeOK(t, s)
}

// TestPublishFD: an unnamed file gets the first free generated name, by
// its descriptor (AT_EMPTY_PATH) or through /proc/self/fd; a taken name is
// never replaced.
func TestPublishFD(t *testing.T) {
	dir := t.TempDir()
	if !tmpfileWorks(dir) {
		t.Skip("no O_TMPFILE here")
	}
	byFD := emptyPathLink.Load()
	for _, fdLink := range []bool{false, true} {
		t.Run(fmt.Sprint("empty_path=", fdLink), func(t *testing.T) {
			if fdLink && !byFD {
				t.Skip("linkat with AT_EMPTY_PATH refused here")
			}
			emptyPathLink.Store(fdLink)
			defer emptyPathLink.Store(byFD)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "taken"), []byte("old"), 0o644))
			f, err := createUnnamed(dir)
			require.NoError(t, err)
			defer f.Close()
			_, err = f.Write([]byte("new"))
			require.NoError(t, err)
			name, err := publishFD(f, dir, func(try int) string {
				if try == 0 {
					return "taken"
				}
				return fmt.Sprint("fresh-", fdLink)
			})
			require.NoError(t, err)
			require.Equal(t, fmt.Sprint("fresh-", fdLink), name)
			b, _ := os.ReadFile(filepath.Join(dir, "taken"))
			require.Equal(t, "old", string(b))
			b, _ = os.ReadFile(filepath.Join(dir, name))
			require.Equal(t, "new", string(b))
		})
	}
}
