package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

func testTrunkConfig() trunkAllocConfig {
	return trunkAllocConfig{fileSize: 64 << 10, slotMin: 256, slotMax: 16 << 10, subdirs: 16, paths: 2, hold: time.Minute}
}

func openTestAlloc(t *testing.T, path string) *trunkAlloc {
	t.Helper()
	a, err := openTrunkAlloc(path, testTrunkConfig())
	require.NoError(t, err)
	t.Cleanup(a.close)
	return a
}

func TestTrunkAllocConfirmFreeReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trunk", "binlog")
	a := openTestAlloc(t, path)
	now := time.Unix(1700000000, 0)
	var made []slotInfo
	mk := func(si slotInfo) error { made = append(made, si); return nil }

	s1, err := a.alloc(1000, 1, now, mk)
	require.NoError(t, err)
	require.Len(t, made, 1)
	require.Equal(t, slotInfo{path: 1, high: 0, low: 1, id: 1, off: 0, size: 1024}, s1)
	s2, err := a.alloc(100, 1, now, mk) // slot_min_size
	require.NoError(t, err)
	require.Equal(t, int32(1024), s2.off)
	require.Equal(t, int32(256), s2.size)
	// Too large for a slot.
	_, err = a.alloc(16<<10, 1, now, mk)
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err))

	require.NoError(t, a.confirm(s1, true, now))
	require.NoError(t, a.confirm(s2, false, now)) // the writer failed: free again
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(a.confirm(s2, true, now)), "confirmed twice")
	free, last := a.stats()
	require.EqualValues(t, 64<<10-1024, free)
	require.EqualValues(t, 1, last)

	// A held allocation is free again after a restart (nothing was logged)
	// and after the hold.
	s3, err := a.alloc(500, 1, now, mk)
	require.NoError(t, err)
	require.Equal(t, int32(1024), s3.off, "the failed slot is reused")
	b := openTestAlloc(t, path)
	free, _ = b.stats()
	require.EqualValues(t, 64<<10-1024, free)
	s4, err := a.alloc(500, 1, now.Add(2*time.Minute), mk)
	require.NoError(t, err)
	require.Equal(t, s3, s4, "an expired hold is handed out again")

	// Free, twice: the second is a no-op; a slot of no trunk file is EINVAL.
	require.NoError(t, a.free(s1, now))
	require.NoError(t, a.free(s1, now))
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(a.free(slotInfo{path: 1, id: 9, size: 300}, now)))
	require.Equal(t, proto.StatusEBUSY, proto.StatusOf(a.free(s4, now)), "not confirmed yet")

	// The binlog replays to the same state, also with its lines twice.
	require.NoError(t, a.confirm(s4, true, now))
	lines, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(lines), "\n")) // new file, D s1, A s1, D s4
	c := openTestAlloc(t, path)
	require.Equal(t, []slotInfo{s4}, c.used())
	require.Equal(t, a.used(), c.used())
	twice := filepath.Join(t.TempDir(), "binlog")
	require.NoError(t, os.WriteFile(twice, append(append([]byte{}, lines...), lines[strings.Index(string(lines), "\n")+1:]...), 0o644))
	d := openTestAlloc(t, twice)
	require.Equal(t, c.used(), d.used())
	free, _ = d.stats()
	require.EqualValues(t, 64<<10-524, free)
}

func TestTrunkAllocNewFilesAndPaths(t *testing.T) {
	a := openTestAlloc(t, filepath.Join(t.TempDir(), "binlog"))
	now := time.Unix(1700000000, 0)
	ids := map[int32]int{}
	for range 20 {
		si, err := a.alloc(15<<10, 0, now, nil) // 4 slots of 15.x KiB per 64 KiB file
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now))
		ids[si.id]++
		require.Equal(t, 0, si.path)
		require.LessOrEqual(t, int64(si.off)+int64(si.size), int64(64<<10))
	}
	require.Len(t, ids, 5)
	// Another store path gets its own trunk file; a path out of range is 0.
	si, err := a.alloc(100, 1, now, nil)
	require.NoError(t, err)
	require.Equal(t, 1, si.path)
	require.EqualValues(t, 6, si.id)
	si, err = a.alloc(100, 7, now, nil)
	require.NoError(t, err)
	require.Equal(t, 0, si.path)
	// A failing trunk file creation fails the allocation and logs nothing.
	before := a.size()
	a2 := openTestAlloc(t, filepath.Join(t.TempDir(), "binlog"))
	_, err = a2.alloc(100, 0, now, func(slotInfo) error { return os.ErrPermission })
	require.Error(t, err)
	require.Zero(t, a2.size())
	require.Equal(t, before, a.size())
	// raiseNextID: new files take IDs above the tracker's.
	a2.raiseNextID(41)
	si, err = a2.alloc(100, 0, now, nil)
	require.NoError(t, err)
	require.EqualValues(t, 42, si.id)
}

func TestTrunkAllocCompactAndTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "binlog")
	a := openTestAlloc(t, path)
	now := time.Unix(1700000000, 0)
	var kept []slotInfo
	for i := range 200 {
		si, err := a.alloc(300, 0, now, nil)
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now))
		if i%3 == 0 {
			require.NoError(t, a.free(si, now))
		} else {
			kept = append(kept, si)
		}
	}
	held, err := a.alloc(300, 0, now, nil)
	require.NoError(t, err)
	before := a.used()
	done, err := a.compact(now)
	require.NoError(t, err)
	require.True(t, done)
	require.Less(t, a.size(), int64(3000))
	b := openTestAlloc(t, path)
	// The compacted binlog has the same used ranges, less the held slot
	// (not logged, free after a restart).
	require.NoError(t, a.confirm(held, false, now))
	require.Equal(t, a.used(), b.used())
	require.NotEqual(t, before, b.used())
	for _, si := range kept {
		f := b.files[si.id]
		require.False(t, f.overlapsFree(extent{si.off, si.size}), "kept slot %v free after compaction", si)
	}
	done, err = b.compact(now)
	require.NoError(t, err)
	require.False(t, done, "nothing to gain")

	// A torn last line is cut at start.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteString("1700000000 D 0 0 1 1 51")
	f.Close()
	size := b.size()
	c := openTestAlloc(t, path)
	require.Equal(t, size, c.size())
	require.Equal(t, b.used(), c.used())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, size, fi.Size())
}

func TestTrunkExtents(t *testing.T) {
	f := &trunkFile{}
	f.addFree(extent{100, 50})
	f.addFree(extent{0, 50})
	f.addFree(extent{50, 50}) // joins both
	require.Equal(t, []extent{{0, 150}}, f.free)
	f.removeFree(extent{20, 10})
	require.Equal(t, []extent{{0, 20}, {30, 120}}, f.free)
	f.addFree(extent{140, 100}) // overlapping
	require.Equal(t, []extent{{0, 20}, {30, 210}}, f.free)
	require.True(t, f.overlapsFree(extent{10, 15}))
	require.False(t, f.overlapsFree(extent{20, 10}))
	require.EqualValues(t, 230, f.freeBytes())
}

func TestSlotHeaderAndLines(t *testing.T) {
	h := slotHeader{typ: slotTypeFile, allocSize: 1024, fileSize: 1000, crc: 0xDEADBEEF, mtime: 1700000000, ext: "812.jpg"}
	b := h.encode()
	require.Equal(t, "4600000400000003e8deadbeef6553f100383132", hexs(b[:20]))
	require.Equal(t, h, decodeSlotHeader(b[:]))
	si := slotInfo{path: 1, high: 2, low: 3, id: 4, off: 5, size: 600}
	op, got, ts, ok := parseTrunkLine(formatTrunkLine(1700000000, trunkOpUsed, si))
	require.EqualValues(t, 1700000000, ts)
	require.True(t, ok)
	require.Equal(t, byte(trunkOpUsed), op)
	require.Equal(t, si, got)
	for _, bad := range []string{"", "1 X 0 0 0 1 0 10\n", "1 A 0 0 0 1 0 0\n", "1 A 0 0 0 1 -5 10\n", "1 A 300 0 0 1 0 10\n", "1 A 0 0 0 1 2147483000 1000\n", "1 A 0 0 0 1 0\n"} {
		_, _, _, ok := parseTrunkLine(bad)
		require.False(t, ok, bad)
	}
	w := si.append(&proto.Buf{}).B
	require.Len(t, w, slotInfoLen)
	require.Equal(t, si, decodeSlotInfo(w))
}

func hexs(b []byte) string {
	const d = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, d[c>>4], d[c&15])
	}
	return string(out)
}
