package storage

import (
	"cmp"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	require.Equal(t, slotInfo{path: 1, id: 1, off: 0, size: 1024}, s1)
	s2, err := a.alloc(100, 1, now, mk) // slot_min_size
	require.NoError(t, err)
	require.Equal(t, int32(1024), s2.off)
	require.Equal(t, int32(256), s2.size)
	// Too large for a slot.
	_, err = a.alloc(16<<10, 1, now, mk)
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err))
	// The lines FastDFS writes: the new file, then per allocation the
	// block taken, the rest and the slot.
	lines, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "1700000000 A 1 0 0 1 0 65536\n"+
		"1700000000 D 1 0 0 1 0 65536\n1700000000 A 1 0 0 1 1024 64512\n1700000000 A 1 0 0 1 0 1024\n"+
		"1700000000 D 1 0 0 1 1024 64512\n1700000000 A 1 0 0 1 1280 64256\n1700000000 A 1 0 0 1 1024 256\n", string(lines))

	require.NoError(t, a.confirm(s1, true, now))
	require.NoError(t, a.confirm(s2, false, now)) // the writer failed: free again
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(a.confirm(s2, true, now)), "confirmed twice")
	free, last := a.stats()
	require.EqualValues(t, 64<<10-1024, free)
	require.EqualValues(t, 1, last)

	// The freed block is the best fit for a small file; a held allocation
	// is free again after a restart (its slot is logged free until
	// confirmed) and after the hold.
	s3, err := a.alloc(200, 1, now, mk)
	require.NoError(t, err)
	require.Equal(t, s2, s3, "the given-back slot is reused")
	b := openTestAlloc(t, path)
	free, _ = b.stats()
	require.EqualValues(t, 64<<10-1024, free)
	s4, err := a.alloc(200, 1, now.Add(2*time.Minute), mk)
	require.NoError(t, err)
	require.Equal(t, s3, s4, "an expired hold is handed out again")

	// Free, twice: the second is a no-op; a slot of no trunk file is EINVAL.
	require.NoError(t, a.free(s1, now))
	require.NoError(t, a.free(s1, now))
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(a.free(slotInfo{path: 1, id: 9, size: 300}, now)))
	require.Equal(t, proto.StatusEBUSY, proto.StatusOf(a.free(s4, now)), "not confirmed yet")

	// The binlog replays to the same state, also with its lines twice.
	require.NoError(t, a.confirm(s4, true, now))
	lines, err = os.ReadFile(path)
	require.NoError(t, err)
	c := openTestAlloc(t, path)
	require.Equal(t, []slotInfo{s4}, c.used())
	require.Equal(t, a.used(), c.used())
	twice := filepath.Join(t.TempDir(), "binlog")
	require.NoError(t, os.WriteFile(twice, append(append([]byte{}, lines...), lines[strings.Index(string(lines), "\n")+1:]...), 0o644))
	d := openTestAlloc(t, twice)
	require.Equal(t, c.used(), d.used())
	free, _ = d.stats()
	require.EqualValues(t, 64<<10-256, free)
}

// A binlog as the reference FastDFS 6.16.1 wrote it (three uploads of
// 1000, 1500 and 300 bytes into a 4 MiB trunk file, the second deleted,
// then one of 700 bytes) replays to its free blocks.
func TestTrunkAllocReplaysFastDFSBinlog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "binlog")
	require.NoError(t, os.WriteFile(path, []byte(`1796666336 A 0 0 0 1 0 4194304
1796666336 D 0 0 0 1 0 4194304
1796666336 A 0 0 0 1 1024 4193280
1796666336 A 0 0 0 1 0 1024
1796666336 D 0 0 0 1 0 1024
1796666336 D 0 0 0 1 1024 4193280
1796666336 A 0 0 0 1 2548 4191756
1796666336 A 0 0 0 1 1024 1524
1796666336 D 0 0 0 1 1024 1524
1796666336 D 0 0 0 1 2548 4191756
1796666336 A 0 0 0 1 2872 4191432
1796666336 A 0 0 0 1 2548 324
1796666336 D 0 0 0 1 2548 324
1796666378 A 0 0 0 1 1024 1524
1796666380 D 0 0 0 1 1024 1524
1796666380 A 0 0 0 1 1748 800
1796666380 A 0 0 0 1 1024 724
1796666380 D 0 0 0 1 1024 724
`), 0o644))
	cfg := testTrunkConfig()
	cfg.fileSize, cfg.paths = 4<<20, 1
	a, err := openTrunkAlloc(path, cfg)
	require.NoError(t, err)
	defer a.close()
	require.Equal(t, []extent{{1748, 800}, {2872, 4191432}}, a.files[1].blocks())
	// The next small file takes the 800-byte block, as FastDFS would.
	si, err := a.alloc(500, 0, time.Unix(1796666400, 0), nil)
	require.NoError(t, err)
	require.Equal(t, slotInfo{id: 1, off: 1748, size: 524}, si)
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
	// An ID whose trunk file exists already is skipped.
	a3 := openTestAlloc(t, filepath.Join(t.TempDir(), "binlog"))
	si, err = a3.alloc(100, 0, now, func(si slotInfo) error {
		if si.id < 3 {
			return fs.ErrExist
		}
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, 3, si.id)
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
	f := newTrunkFile(0, 0, 0, 0, nil)
	f.addFree(extent{100, 50})
	f.addFree(extent{0, 50})
	f.addFree(extent{50, 50}) // neighbours stay blocks of their own
	require.Equal(t, []extent{{0, 50}, {50, 50}, {100, 50}}, f.blocks())
	f.removeFree(extent{20, 10})
	require.Equal(t, []extent{{0, 20}, {30, 20}, {50, 50}, {100, 50}}, f.blocks())
	f.addFree(extent{140, 100}) // overlapping: replaces the overlapped part
	require.Equal(t, []extent{{0, 20}, {30, 20}, {50, 50}, {100, 40}, {140, 100}}, f.blocks())
	f.removeFree(extent{50, 50}) // an exact block
	require.Equal(t, []extent{{0, 20}, {30, 20}, {100, 40}, {140, 100}}, f.blocks())
	require.True(t, f.overlapsFree(extent{10, 15}))
	require.False(t, f.overlapsFree(extent{20, 10}))
	require.EqualValues(t, 180, f.freeBytes())
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

func TestTrunkUnreferenced(t *testing.T) {
	a := openTestAlloc(t, filepath.Join(t.TempDir(), "binlog"))
	now := time.Unix(1700000000, 0)
	alloc := func(n int64, confirm bool, at time.Time) slotInfo {
		si, err := a.alloc(n, 0, at, nil)
		require.NoError(t, err)
		if confirm {
			require.NoError(t, a.confirm(si, true, at))
		}
		return si
	}
	lost := alloc(1000, true, now)                      // confirmed, no file names it
	alloc(1000, false, now)                             // held: a writer at work
	kept := alloc(1000, true, now)                      // a live file
	young := alloc(1000, true, now.Add(30*time.Second)) // too recent to judge
	lost2 := alloc(1000, true, now)                     // beside the young one
	live := func() map[int32][]extent { return map[int32][]extent{kept.id: {{kept.off, kept.size}}} }
	old, youngBytes := a.unreferenced(live(), now.Unix())
	require.Equal(t, []slotInfo{lost, lost2}, old)
	require.EqualValues(t, young.size, youngBytes)
	// All old enough: the young one too, joined with its neighbour; never
	// the held or the live one.
	old, youngBytes = a.unreferenced(live(), now.Add(time.Minute).Unix()-1)
	joined := young
	joined.size += lost2.size
	require.Equal(t, []slotInfo{lost, joined}, old)
	require.Zero(t, youngBytes)
}

// The next time trunk files are created ahead: base + k × interval, the
// first at or after now, k of either sign.
func TestNextAdvance(t *testing.T) {
	at := func(h, m, s int) time.Time { return time.Date(2026, 12, 7, h, m, s, 0, time.UTC) }
	day := trunkAdvance{hour: 2, interval: 24 * time.Hour}
	hourly := trunkAdvance{hour: 2, min: 30, interval: time.Hour}
	for _, c := range []struct {
		now  time.Time
		adv  trunkAdvance
		want time.Time
	}{
		{at(1, 0, 0), day, at(2, 0, 0)},
		{at(2, 0, 0), day, at(2, 0, 0)},
		{at(2, 0, 1), day, at(2, 0, 0).Add(24 * time.Hour)},
		{at(0, 10, 0), hourly, at(0, 30, 0)},
		{at(2, 30, 0), hourly, at(2, 30, 0)},
		{at(5, 31, 0), hourly, at(6, 30, 0)},
		{at(23, 45, 0), hourly, at(0, 30, 0).Add(24 * time.Hour)},
	} {
		require.Equal(t, c.want, nextAdvance(c.now, c.adv), "now %v", c.now)
	}
}

// With trunk_free_space_merge a freed slot joins the free blocks next to
// it: freeing every slot leaves the trunk file one block again, which a
// file as large as a slot may have takes, and the binlog replays to it.
func TestTrunkAllocFreeSpaceMerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "binlog")
	cfg := testTrunkConfig()
	cfg.merge = true
	a, err := openTrunkAlloc(path, cfg)
	require.NoError(t, err)
	t.Cleanup(a.close)
	now := time.Unix(1700000000, 0)
	var slots []slotInfo
	for range 3 {
		si, err := a.alloc(1000, 0, now, nil)
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now))
		slots = append(slots, si)
	}
	require.NoError(t, a.free(slots[0], now)) // no free neighbour
	require.NoError(t, a.free(slots[2], now)) // joins the rest of the file
	require.Equal(t, []extent{{0, 1024}, {2048, 64<<10 - 2048}}, a.files[1].blocks())
	require.NoError(t, a.free(slots[1], now)) // joins both
	require.Equal(t, []extent{{0, 64 << 10}}, a.files[1].blocks())
	require.Empty(t, a.used())
	b, err := openTrunkAlloc(path, cfg)
	require.NoError(t, err)
	t.Cleanup(b.close)
	require.Equal(t, a.files[1].blocks(), b.files[1].blocks())
	big, err := a.alloc(16<<10-trunkHeaderLen, 0, now, nil)
	require.NoError(t, err)
	require.Equal(t, slotInfo{id: 1, off: 0, size: 16 << 10}, big, "the merged space is one block")

	// Without merging the freed slots stay blocks of their own.
	path = filepath.Join(t.TempDir(), "binlog")
	c := openTestAlloc(t, path)
	slots = slots[:0]
	for range 2 {
		si, err := c.alloc(1000, 0, now, nil)
		require.NoError(t, err)
		require.NoError(t, c.confirm(si, true, now))
		slots = append(slots, si)
	}
	require.NoError(t, c.free(slots[1], now))
	require.NoError(t, c.free(slots[0], now))
	require.Equal(t, []extent{{0, 1024}, {1024, 1024}, {2048, 64<<10 - 2048}}, c.files[1].blocks())
}

// A member's copy of the binlog is never truncated: one that missed lines
// before a compaction gets the compacted binlog appended to what it had,
// and must come out with the trunk server's state (a slot confirmed in
// the lines it missed is used), whatever it missed; a line cut or garbled
// in the middle does not stop the replay.
func TestTrunkCompactedBinlogAppendedToStaleCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "binlog")
	a := openTestAlloc(t, path)
	now := time.Unix(1700000000, 0)
	var slots []slotInfo
	for range 60 {
		si, err := a.alloc(300, 0, now, nil)
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now))
		slots = append(slots, si)
	}
	for _, si := range slots[:40] {
		require.NoError(t, a.free(si, now))
	}
	stale, err := os.ReadFile(path) // what a member got before it went down
	require.NoError(t, err)
	// Meanwhile: the freed space used again and a new trunk file filled.
	for range 30 {
		si, err := a.alloc(300, 0, now.Add(time.Second), nil)
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now.Add(time.Second)))
	}
	for range 250 {
		si, err := a.alloc(16<<10-trunkHeaderLen, 1, now.Add(time.Second), nil)
		require.NoError(t, err)
		require.NoError(t, a.confirm(si, true, now.Add(time.Second)))
	}
	done, err := a.compact(now.Add(2 * time.Second))
	require.NoError(t, err)
	require.True(t, done)
	compacted, err := os.ReadFile(path)
	require.NoError(t, err)

	member := filepath.Join(t.TempDir(), "binlog")
	copyOf := append(append(append([]byte{}, stale...), "1700000000 D 0 0 0 1 51\n"...), compacted...)
	require.NoError(t, os.WriteFile(member, copyOf, 0o644))
	b := openTestAlloc(t, member)
	require.Equal(t, a.used(), b.used())
	fa, _ := a.stats()
	fb, _ := b.stats()
	require.Equal(t, fa, fb)
}

// sliceBlocks is the free blocks of a trunk file kept as a sorted slice,
// the plain way: the oracle for trunkFile's B-tree.
type sliceBlocks []extent

func (s *sliceBlocks) remove(e extent) {
	var out sliceBlocks
	for _, x := range *s {
		if x.end() <= e.off || x.off >= e.end() {
			out = append(out, x)
			continue
		}
		if x.off < e.off {
			out = append(out, extent{x.off, e.off - x.off})
		}
		if x.end() > e.end() {
			out = append(out, extent{e.end(), x.end() - e.end()})
		}
	}
	*s = out
}

func (s *sliceBlocks) add(e extent) {
	s.remove(e)
	*s = append(*s, e)
	slices.SortFunc(*s, func(a, b extent) int { return cmp.Compare(a.off, b.off) })
}

func TestTrunkFileBlocksMatchSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ix := &freeIndex{}
	f := newTrunkFile(0, 0, 0, 7, ix)
	var want sliceBlocks
	const size = 1 << 12
	for i := range 20000 {
		off := rng.Int32N(size - 1)
		e := extent{off, 1 + rng.Int32N(min(size-off, 300))}
		if rng.IntN(2) == 0 {
			f.addFree(e)
			want.add(e)
		} else {
			f.removeFree(e)
			want.remove(e)
		}
		got := f.blocks()
		if !slices.Equal(got, []extent(want)) {
			t.Fatalf("op %d (%v): blocks %v, want %v", i, e, got, want)
		}
		var hit bool
		for _, x := range want {
			hit = hit || x.off < e.end() && e.off < x.end()
		}
		require.Equal(t, hit, f.overlapsFree(e), "op %d: overlapsFree(%v)", i, e)
		var nb []extent
		for _, x := range want {
			if x.end() == e.off || x.off == e.end() {
				nb = append(nb, x)
			}
		}
		require.Equal(t, nb, f.neighbours(e), "op %d: neighbours(%v)", i, e)
		require.Equal(t, len(want), ix.t.Len(), "op %d: the index", i)
		if len(want) > 0 {
			need := 1 + rng.Int32N(300)
			var best *extent
			for j, x := range want {
				if x.size >= need && (best == nil || x.size < best.size) {
					best = &want[j]
				}
			}
			k, sz, ok := ix.best(need)
			require.Equal(t, best != nil, ok, "op %d: best(%d)", i, need)
			if best != nil {
				require.Equal(t, blockKey{7, best.off}, k)
				require.Equal(t, best.size, sz)
			}
		}
	}
}
