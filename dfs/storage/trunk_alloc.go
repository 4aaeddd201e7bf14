package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"

	"yunpan/dfs/proto"
)

// The trunk allocator is the trunk server's view of the group's trunk files
// (docs/trunk.md): which trunk files exist and their free blocks. It changes
// only through the trunk binlog, one line per change, as FastDFS writes it:
//
//	<unix time> <op> <store path> <high> <low> <trunk id> <offset> <size>
//
// op 'A' adds a free block, 'D' removes one. An allocation removes the block
// it takes from ('D'), adds back the rest ('A') and adds the slot as a block
// of its own ('A'); the writer's confirmation removes that block ('D'). So
// a slot never confirmed is free after a replay, and a C trunk server
// replaying this binlog finds the same blocks. Replaying is tolerant of lines
// seen twice (a resent push): 'A' adds the range as one block, replacing
// whatever blocks it overlaps, and 'D' removes the range from the blocks it
// overlaps, so the free space comes out the same.
//
// In memory an allocation is held (not free) until it is confirmed, given
// back, or its hold expires; the binlog says free meanwhile.

const (
	trunkOpFree = 'A'
	trunkOpUsed = 'D'
)

// slotInfo is the 15-byte TrunkInfo record of §5.8: where a slot is.
type slotInfo struct {
	path, high, low int
	id, off, size   int32
}

const slotInfoLen = 15

func (si slotInfo) append(w *proto.Buf) *proto.Buf {
	return w.U8(byte(si.path)).U8(byte(si.high)).U8(byte(si.low)).I32(si.id).I32(si.off).I32(si.size)
}

func decodeSlotInfo(b []byte) slotInfo {
	r := &proto.Reader{B: b}
	return slotInfo{path: int(r.U8()), high: int(r.U8()), low: int(r.U8()), id: r.I32(), off: r.I32(), size: r.I32()}
}

func (si slotInfo) String() string {
	return fmt.Sprintf("M%02X/%02X/%02X/%06d@%d+%d", si.path, si.high, si.low, si.id, si.off, si.size)
}

// extent is a byte range of a trunk file.
type extent struct{ off, size int32 }

func (e extent) end() int32 { return e.off + e.size }

// trunkFile is one trunk file and its free blocks (disjoint, ordered by
// offset; neighbours stay separate blocks, as FastDFS keeps them without
// trunk_free_space_merge). The blocks are in a B-tree: after many deletes
// a trunk file holds thousands, and a sorted slice moved them all for each
// block taken or given back.
type trunkFile struct {
	path, high, low int
	id              int32
	free            *btree.BTreeG[extent]
	idx             *freeIndex // the allocator's index of its store path (nil: none)
}

// btreeDegree suits small items: nodes of up to 63 of them.
const btreeDegree = 32

func newTrunkFile(path, high, low int, id int32, idx *freeIndex) *trunkFile {
	return &trunkFile{path: path, high: high, low: low, id: id, idx: idx,
		free: btree.NewG(btreeDegree, func(a, b extent) bool { return a.off < b.off })}
}

// blocks lists the free blocks in offset order.
func (f *trunkFile) blocks() []extent {
	out := make([]extent, 0, f.free.Len())
	f.free.Ascend(func(x extent) bool {
		out = append(out, x)
		return true
	})
	return out
}

// overlapping calls fn for each free block overlapping [lo, hi), in
// offset order, until fn returns false.
func (f *trunkFile) overlapping(lo, hi int32, fn func(extent) bool) {
	// The blocks are disjoint: only the last one starting at or before lo
	// can reach into the range from before it.
	more := true
	f.free.DescendLessOrEqual(extent{off: lo}, func(x extent) bool {
		if x.off < lo && x.end() > lo {
			more = fn(x)
		}
		return false
	})
	if !more {
		return
	}
	f.free.AscendGreaterOrEqual(extent{off: lo}, func(x extent) bool {
		if x.off >= hi {
			return false
		}
		return fn(x)
	})
}

// addFree adds [e.off, e.end()) as one free block, replacing the parts of
// blocks it overlaps.
func (f *trunkFile) addFree(e extent) {
	if e.size <= 0 {
		return
	}
	f.removeFree(e)
	f.free.ReplaceOrInsert(e)
	f.indexAdd(e)
}

// removeFree makes [e.off, e.end()) used: a block equal to it goes, blocks
// it overlaps are cut.
func (f *trunkFile) removeFree(e extent) {
	lo, hi := e.off, e.end()
	var hit [4]extent
	touched := hit[:0]
	f.overlapping(lo, hi, func(x extent) bool {
		touched = append(touched, x)
		return true
	})
	for i, x := range touched {
		f.free.Delete(x)
		f.indexRemove(x)
		// The part of the first block before lo, of the last after hi.
		if i == 0 && x.off < lo {
			k := extent{x.off, lo - x.off}
			f.free.ReplaceOrInsert(k)
			f.indexAdd(k)
		}
		if i == len(touched)-1 && x.end() > hi {
			k := extent{hi, x.end() - hi}
			f.free.ReplaceOrInsert(k)
			f.indexAdd(k)
		}
	}
}

func (f *trunkFile) indexAdd(x extent) {
	if f.idx != nil {
		f.idx.add(x.size, blockKey{f.id, x.off})
	}
}

func (f *trunkFile) indexRemove(x extent) {
	if f.idx != nil {
		f.idx.remove(x.size, blockKey{f.id, x.off})
	}
}

// freeIndex finds the best-fit block of a store path without looking at
// every free block: the blocks by size, then trunk ID and offset, in a
// B-tree.
type freeIndex struct {
	t *btree.BTreeG[sizedBlock]
}

type blockKey struct{ id, off int32 }

type sizedBlock struct {
	size int32
	blockKey
}

func sizedLess(a, b sizedBlock) bool {
	if a.size != b.size {
		return a.size < b.size
	}
	return a.id < b.id || a.id == b.id && a.off < b.off
}

func (ix *freeIndex) add(size int32, k blockKey) {
	if ix.t == nil {
		ix.t = btree.NewG(btreeDegree, sizedLess)
	}
	ix.t.ReplaceOrInsert(sizedBlock{size, k})
}

func (ix *freeIndex) remove(size int32, k blockKey) {
	if ix.t != nil {
		ix.t.Delete(sizedBlock{size, k})
	}
}

// best is the smallest block of at least need bytes, the lowest trunk ID
// and offset among equals.
func (ix *freeIndex) best(need int32) (blockKey, int32, bool) {
	if ix.t == nil {
		return blockKey{}, 0, false
	}
	var found sizedBlock
	ok := false
	ix.t.AscendGreaterOrEqual(sizedBlock{size: need, blockKey: blockKey{id: -1 << 31, off: -1 << 31}}, func(x sizedBlock) bool {
		found, ok = x, true
		return false
	})
	return found.blockKey, found.size, ok
}

// neighbours returns the free blocks ending where e starts and starting
// where e ends (none, one or two).
func (f *trunkFile) neighbours(e extent) []extent {
	var out []extent
	if e.off > 0 {
		f.free.DescendLessOrEqual(extent{off: e.off - 1}, func(x extent) bool {
			if x.end() == e.off {
				out = append(out, x)
			}
			return false
		})
	}
	if x, ok := f.free.Get(extent{off: e.end()}); ok {
		out = append(out, x)
	}
	return out
}

// overlapsFree reports whether any byte of e is free.
func (f *trunkFile) overlapsFree(e extent) bool {
	hit := false
	f.overlapping(e.off, e.end(), func(extent) bool {
		hit = true
		return false
	})
	return hit
}

func (f *trunkFile) freeBytes() int64 {
	var n int64
	f.free.Ascend(func(x extent) bool {
		n += int64(x.size)
		return true
	})
	return n
}

// pendingSlot is an allocation waiting for its confirmation.
type pendingSlot struct {
	si    slotInfo
	until time.Time
}

// trunkAllocConfig are the cluster's trunk settings (PARAMETER_REQ).
type trunkAllocConfig struct {
	fileSize int32 // trunk_file_size
	slotMin  int32 // slot_min_size
	slotMax  int32 // slot_max_size
	align    int32 // trunk_alloc_alignment_size, 0: none
	subdirs  int
	paths    int
	hold     time.Duration          // how long an unconfirmed allocation is held
	subdir   func() (high, low int) // HH/HH of a new trunk file; nil: 00/00
	durable  bool                   // fsync confirmations and frees (fsync_after_written_bytes > 0)
	merge    bool                   // trunk_free_space_merge: a freed slot joins the free blocks next to it
}

// trunkAlloc is the allocator of a trunk server. Its methods are safe for
// concurrent use.
type trunkAlloc struct {
	cfg  trunkAllocConfig
	path string   // the trunk binlog file
	out  *os.File // path opened for appending (reopened by a compaction)

	mu      sync.Mutex
	files   map[int32]*trunkFile
	index   map[int]*freeIndex // the free blocks of each store path by size
	nextID  int32
	pending map[slotKey]pendingSlot
	closed  bool
	epoch   int // compactions so far (each rewrites the binlog)
	blSize  int64
	lines   int                         // lines in the binlog
	usedAt  map[int32]map[extent]uint32 // per trunk file and range: when (Unix seconds) ranges were last marked used (the trunk check's age test)
	baseTS  int64                       // time of the binlog's first line: ranges used with no line of their own were used by then
}

type slotKey struct{ id, off int32 }

// trunkBinlogPath is the trunk binlog under base_path/data.
func trunkBinlogPath(dataDir string) string { return filepath.Join(dataDir, "trunk", "binlog") }

// openTrunkAlloc rebuilds the allocator from the trunk binlog at path (none
// is an empty one) and opens that binlog for appending.
func openTrunkAlloc(path string, cfg trunkAllocConfig) (*trunkAlloc, error) {
	a := &trunkAlloc{cfg: cfg, path: path, files: map[int32]*trunkFile{}, index: map[int]*freeIndex{}, nextID: 1,
		pending: map[slotKey]pendingSlot{}, usedAt: map[int32]map[extent]uint32{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("trunk binlog dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open trunk binlog: %w", err)
	}
	good, err := a.replay(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	// A torn last line (a crash while appending) is cut off: it was never
	// acknowledged.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("trunk binlog: cut torn tail: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("trunk binlog: %w", err)
	}
	if a.out, err = openAppend(path); err != nil {
		return nil, err
	}
	a.blSize = good
	return a, nil
}

// openAppend opens the trunk binlog at path for appending.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open trunk binlog: %w", err)
	}
	return f, nil
}

// replay applies every complete, well-formed line of r (others are
// skipped) and returns the length up to the last complete line.
func (a *trunkAlloc) replay(r io.Reader) (int64, error) {
	br := bufio.NewReader(r)
	var good int64
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return good, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read trunk binlog: %w", err)
		}
		op, si, ts, ok := parseTrunkLine(line)
		if !ok {
			if !strings.HasSuffix(line, "\n") {
				return good, nil // a torn last line
			}
			// A whole line that makes no sense is skipped: stopping there
			// would drop every line after it.
			good += int64(len(line))
			continue
		}
		if a.lines == 0 {
			a.baseTS = ts
		}
		a.apply(op, si)
		if op == trunkOpUsed {
			// A whole trunk file marked used at the binlog's start (a
			// compacted binlog's first line per file) is not a use: its
			// ranges count as used since then anyway.
			if whole := si.off == 0 && si.size == a.cfg.fileSize; !whole || ts != a.baseTS {
				a.noteUsed(si, ts)
			}
		} else if a.files[si.id] != nil {
			a.forgetUsed(si)
		}
		good += int64(len(line))
		a.lines++
	}
}

// parseTrunkLine parses one binlog line (with its newline).
func parseTrunkLine(line string) (byte, slotInfo, int64, bool) {
	f := strings.Fields(line)
	if len(f) != 8 || len(f[1]) != 1 || (f[1][0] != trunkOpFree && f[1][0] != trunkOpUsed) {
		return 0, slotInfo{}, 0, false
	}
	ts, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, slotInfo{}, 0, false
	}
	var v [6]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+2], 10, 32)
		if err != nil || n < 0 {
			return 0, slotInfo{}, 0, false
		}
		v[i] = n
	}
	if v[0] > 255 || v[1] > 255 || v[2] > 255 || v[5] <= 0 || v[4]+v[5] > 1<<31-1 {
		return 0, slotInfo{}, 0, false
	}
	return f[1][0], slotInfo{path: int(v[0]), high: int(v[1]), low: int(v[2]),
		id: int32(v[3]), off: int32(v[4]), size: int32(v[5])}, ts, true
}

// formatTrunkLine is one binlog line: "ts op path high low id off size".
func formatTrunkLine(ts int64, op byte, si slotInfo) string {
	var a [96]byte
	b := strconv.AppendInt(a[:0], ts, 10)
	b = append(b, ' ', op)
	for _, v := range [6]int64{int64(si.path), int64(si.high), int64(si.low), int64(si.id), int64(si.off), int64(si.size)} {
		b = strconv.AppendInt(append(b, ' '), v, 10)
	}
	return string(append(b, '\n'))
}

// apply changes the state by one binlog line. A range beyond the trunk
// file size (a binlog of another trunk_file_size) is ignored: no slot is
// ever handed out past the end of a trunk file.
func (a *trunkAlloc) apply(op byte, si slotInfo) {
	if int64(si.off)+int64(si.size) > int64(a.cfg.fileSize) || si.path >= a.cfg.paths ||
		si.high >= max(a.cfg.subdirs, 1) || si.low >= max(a.cfg.subdirs, 1) {
		return
	}
	f := a.files[si.id]
	if f == nil {
		ix := a.index[si.path]
		if ix == nil {
			ix = &freeIndex{}
			a.index[si.path] = ix
		}
		f = newTrunkFile(si.path, si.high, si.low, si.id, ix)
		a.files[si.id] = f
	}
	if si.id >= a.nextID {
		a.nextID = si.id + 1
	}
	e := extent{si.off, si.size}
	if op == trunkOpFree {
		f.addFree(e)
	} else {
		f.removeFree(e)
	}
}

// append writes lines to the binlog, synced when sync: with
// fsync_after_written_bytes set, a confirmed allocation or a free is
// acknowledged only once on disk (as a normal file then is; without it,
// neither is, as in FastDFS, and a killed process loses nothing: the
// kernel still writes what it was given). The file stays open: opening
// and closing it cost more than the write.
func (a *trunkAlloc) append(lines string, sync bool) error {
	if a.closed {
		return errors.New("trunk binlog closed")
	}
	_, err := a.out.WriteString(lines)
	if err == nil && sync {
		err = a.out.Sync()
	}
	if err != nil {
		// Cut a partial line so that the next append starts clean.
		a.out.Truncate(a.blSize)
		return fmt.Errorf("write trunk binlog: %w", err)
	}
	a.blSize += int64(len(lines))
	a.lines += strings.Count(lines, "\n")
	return nil
}

// slotSize is the slot a file of n bytes takes: header and content,
// at least slot_min_size, rounded up to the alignment.
func (c trunkAllocConfig) slotSize(n int64) int64 {
	need := max(n+trunkHeaderLen, int64(c.slotMin))
	if c.align > 0 {
		need = (need + int64(c.align) - 1) / int64(c.align) * int64(c.align)
	}
	return need
}

// fits reports whether a file of n bytes goes into a trunk slot.
func (c trunkAllocConfig) fits(n int64) bool {
	return n >= 0 && c.slotSize(n) <= int64(c.slotMax) && c.slotSize(n) <= int64(c.fileSize)
}

// alloc reserves a slot for a file of n bytes in store path pathIdx (path 0
// when out of range): the smallest free block that fits, in a new trunk file
// (logged 'A' whole) when none does. mkfile creates the trunk file on disk
// before it is logged; it fails for an ID whose file exists already (made by
// an earlier trunk server whose lines this binlog lacks), and the next ID is
// tried. The split is logged at once (not synced: the confirmation's sync
// covers it).
func (a *trunkAlloc) alloc(n int64, pathIdx int, now time.Time, mkfile func(slotInfo) error) (slotInfo, error) {
	c := a.cfg
	if !c.fits(n) {
		return slotInfo{}, proto.Errf(proto.StatusEINVAL, "trunk alloc: %d bytes do not fit a slot (max %d)", n, c.slotMax)
	}
	if pathIdx < 0 || pathIdx >= c.paths {
		pathIdx = 0
	}
	need := int32(c.slotSize(n))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	f, x := a.findLocked(pathIdx, need)
	if f == nil {
		var err error
		if f, err = a.newFileLocked(pathIdx, now, mkfile); err != nil {
			return slotInfo{}, err
		}
		x, _ = f.free.Min()
	}
	// A rest too small for any slot goes along with this one.
	take := need
	if x.size-need < c.slotMin {
		take = x.size
	}
	block := slotInfo{path: f.path, high: f.high, low: f.low, id: f.id, off: x.off, size: x.size}
	si := block
	si.size = take
	lines := formatTrunkLine(now.Unix(), trunkOpUsed, block)
	if take < x.size {
		rest := block
		rest.off, rest.size = x.off+take, x.size-take
		lines += formatTrunkLine(now.Unix(), trunkOpFree, rest)
	}
	lines += formatTrunkLine(now.Unix(), trunkOpFree, si)
	if err := a.append(lines, false); err != nil {
		return slotInfo{}, err
	}
	f.removeFree(extent{x.off, x.size})
	if take < x.size {
		f.addFree(extent{x.off + take, x.size - take})
	}
	a.pending[slotKey{si.id, si.off}] = pendingSlot{si: si, until: now.Add(c.hold)}
	return si, nil
}

// findLocked returns the smallest free block of at least need bytes in a
// trunk file of pathIdx (the lowest trunk ID and offset among equals).
func (a *trunkAlloc) findLocked(pathIdx int, need int32) (*trunkFile, extent) {
	ix := a.index[pathIdx]
	if ix == nil {
		return nil, extent{}
	}
	k, size, ok := ix.best(need)
	if !ok {
		return nil, extent{}
	}
	return a.files[k.id], extent{k.off, size}
}

// newFileLocked creates and logs a new, wholly free trunk file.
func (a *trunkAlloc) newFileLocked(pathIdx int, now time.Time, mkfile func(slotInfo) error) (*trunkFile, error) {
	for tries := 0; ; tries++ {
		id := a.nextID
		high, low := 0, 0
		if a.cfg.subdir != nil {
			high, low = a.cfg.subdir()
		}
		si := slotInfo{path: pathIdx, high: high, low: low, id: id, off: 0, size: a.cfg.fileSize}
		if mkfile != nil {
			if err := mkfile(si); err != nil {
				if errors.Is(err, fs.ErrExist) && tries < 100 {
					a.nextID = id + 1
					continue
				}
				return nil, fmt.Errorf("create trunk file %v: %w", si, err)
			}
		}
		if err := a.append(formatTrunkLine(now.Unix(), trunkOpFree, si), false); err != nil {
			return nil, err
		}
		a.nextID = id + 1
		a.apply(trunkOpFree, si)
		return a.files[id], nil
	}
}

// addFile creates a new, wholly free trunk file in store path pathIdx
// (trunk_create_file_advance).
func (a *trunkAlloc) addFile(pathIdx int, now time.Time, mkfile func(slotInfo) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if pathIdx < 0 || pathIdx >= a.cfg.paths {
		pathIdx = 0
	}
	_, err := a.newFileLocked(pathIdx, now, mkfile)
	return err
}

// freeByPath returns the free bytes of the trunk files of each store path.
func (a *trunkAlloc) freeByPath() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	free := make([]int64, max(a.cfg.paths, 1))
	for _, f := range a.files {
		if f.path < len(free) {
			free[f.path] += f.freeBytes()
		}
	}
	return free
}

// raiseNextID makes new trunk files take IDs above id (the tracker's
// record of the group's last one, §4.7).
func (a *trunkAlloc) raiseNextID(id int32) {
	a.mu.Lock()
	if id >= a.nextID {
		a.nextID = id + 1
	}
	a.mu.Unlock()
}

// confirm ends an allocation: kept and logged 'D' when ok, given back
// otherwise. An allocation no longer held (expired, or made by an earlier
// trunk server) is ENOENT: the writer must not use the slot.
func (a *trunkAlloc) confirm(si slotInfo, ok bool, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := slotKey{si.id, si.off}
	p, held := a.pending[k]
	if !held || p.si != si {
		return proto.Errf(proto.StatusENOENT, "trunk confirm %v: not allocated here", si)
	}
	delete(a.pending, k)
	f := a.files[si.id]
	if !ok {
		f.addFree(extent{si.off, si.size})
		return nil
	}
	if err := a.append(formatTrunkLine(now.Unix(), trunkOpUsed, si), a.cfg.durable); err != nil {
		f.addFree(extent{si.off, si.size})
		return err
	}
	a.noteUsed(si, now.Unix())
	return nil
}

// skipOccupied undoes the allocation si, whose slot holds a file of n
// bytes (its header's alloc size) in this storage's copy: the slot and the
// free block right after it (the rest of the split) become one range again,
// the file's part of it used and the remainder one free block starting
// where the file ends. (Given back as it was cut, the rest would start
// inside the file, and the next slot from it would run over the file.)
// The lines: 'D' of the slot and of the rest, 'A' of the remainder.
func (a *trunkAlloc) skipOccupied(si slotInfo, n int32, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := slotKey{si.id, si.off}
	if p, held := a.pending[k]; !held || p.si != si {
		return proto.Errf(proto.StatusENOENT, "trunk skip %v: not allocated here", si)
	}
	f := a.files[si.id]
	end := si.off + si.size
	lines := formatTrunkLine(now.Unix(), trunkOpUsed, si)
	if x, ok := f.free.Get(extent{off: end}); ok {
		r := si
		r.off, r.size = x.off, x.size
		lines += formatTrunkLine(now.Unix(), trunkOpUsed, r)
		end = x.end()
	}
	used := si.off + min(max(n, 0), end-si.off)
	if used < end {
		r := si
		r.off, r.size = used, end-used
		lines += formatTrunkLine(now.Unix(), trunkOpFree, r)
	}
	if err := a.append(lines, a.cfg.durable); err != nil {
		return err
	}
	delete(a.pending, k)
	f.removeFree(extent{si.off, end - si.off})
	if used < end {
		f.addFree(extent{used, end - used})
	}
	if used > si.off {
		u := si
		u.size = used - si.off
		a.noteUsed(u, now.Unix())
	}
	return nil
}

// markUsed makes the range of si used where it is free, as an allocation
// and its confirmation would: for each free block it overlaps, 'D' of the
// block and 'A' of its parts outside the range (lines a replay that
// removes only whole blocks follows too). For a file found in space the
// binlog says is free.
func (a *trunkAlloc) markUsed(si slotInfo, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.files[si.id]
	if f == nil || si.size <= 0 || si.off < 0 || int64(si.off)+int64(si.size) > int64(a.cfg.fileSize) {
		return proto.Errf(proto.StatusEINVAL, "trunk mark used %v: no such trunk range", si)
	}
	e := extent{si.off, si.size}
	var lines string
	f.overlapping(e.off, e.end(), func(x extent) bool {
		b := si
		b.off, b.size = x.off, x.size
		lines += formatTrunkLine(now.Unix(), trunkOpUsed, b)
		if x.off < e.off {
			b.off, b.size = x.off, e.off-x.off
			lines += formatTrunkLine(now.Unix(), trunkOpFree, b)
		}
		if x.end() > e.end() {
			b.off, b.size = e.end(), x.end()-e.end()
			lines += formatTrunkLine(now.Unix(), trunkOpFree, b)
		}
		return true
	})
	if lines == "" {
		return nil
	}
	if err := a.append(lines, a.cfg.durable); err != nil {
		return err
	}
	f.removeFree(e)
	a.noteUsed(si, now.Unix())
	return nil
}

// noteUsed records when a range was marked used.
func (a *trunkAlloc) noteUsed(si slotInfo, ts int64) {
	if a.files[si.id] == nil {
		return // an ignored line
	}
	m := a.usedAt[si.id]
	if m == nil {
		m = map[extent]uint32{}
		a.usedAt[si.id] = m
	}
	// One entry per range, so that the record does not grow with every
	// reuse of a slot; the later time wins. An entry for every live
	// trunk-resident file: 12 bytes of it (a time of 32 bits).
	e := extent{si.off, si.size}
	m[e] = max(uint32(min(max(ts, 0), 1<<32-1)), m[e])
}

// forgetUsed drops the record of a range when it is freed: its age no
// longer matters, and a later use records its own. A trunk file's record
// emptied goes whole (a map keeps its size after its entries are deleted).
func (a *trunkAlloc) forgetUsed(si slotInfo) {
	m := a.usedAt[si.id]
	delete(m, extent{si.off, si.size})
	if len(m) == 0 {
		delete(a.usedAt, si.id)
	}
}

// unreferenced returns the used ranges no slot of live covers (live: per
// trunk file, the slots of the files this storage knows to exist), split
// into those marked used at notAfter or before and the number of bytes of the
// younger ones (their files may still be on their way here).
func (a *trunkAlloc) unreferenced(live map[int32][]extent, notAfter int64) (old []slotInfo, young int64) {
	used := a.used()
	a.mu.Lock()
	defer a.mu.Unlock()
	// Held allocations are as good as live: their writers are at work.
	for _, p := range a.pending {
		live[p.si.id] = append(live[p.si.id], extent{p.si.off, p.si.size})
	}
	for id := range live {
		sort.Slice(live[id], func(i, j int) bool { return live[id][i].off < live[id][j].off })
	}
	for _, u := range used {
		emit := func(lo, hi int32) {
			if hi <= lo {
				return
			}
			// Pieces marked used at different times are judged apart.
			cuts := []int32{lo, hi}
			for x := range a.usedAt[u.id] {
				for _, c := range []int32{x.off, x.end()} {
					if c > lo && c < hi {
						cuts = append(cuts, c)
					}
				}
			}
			sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
			for i := 0; i+1 < len(cuts); i++ {
				if cuts[i] == cuts[i+1] {
					continue
				}
				g := u
				g.off, g.size = cuts[i], cuts[i+1]-cuts[i]
				if a.lastUsedLocked(g) > notAfter {
					young += int64(g.size)
					continue
				}
				if n := len(old); n > 0 && old[n-1].id == g.id && old[n-1].off+old[n-1].size == g.off {
					old[n-1].size += g.size
				} else {
					old = append(old, g)
				}
			}
		}
		pos, end := u.off, u.off+u.size
		for _, x := range live[u.id] {
			if x.end() <= pos || x.off >= end {
				continue
			}
			emit(pos, x.off)
			pos = max(pos, x.end())
		}
		emit(pos, end)
	}
	return old, young
}

// lastUsedLocked is the latest time a part of g was marked used; a range
// never seen marked used (held allocations) counts as now.
func (a *trunkAlloc) lastUsedLocked(g slotInfo) int64 {
	last := int64(-1)
	for x, ts := range a.usedAt[g.id] {
		if x.off < g.off+g.size && g.off < x.end() {
			last = max(last, int64(ts))
		}
	}
	if last < 0 {
		return a.baseTS
	}
	return last
}

// free gives a used slot back and logs 'A'. A slot of an unknown trunk
// file or already free (a repeated free) is EINVAL / done.
func (a *trunkAlloc) free(si slotInfo, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.files[si.id]
	if f == nil || f.path != si.path || f.high != si.high || f.low != si.low ||
		si.size <= 0 || si.off < 0 || int64(si.off)+int64(si.size) > int64(a.cfg.fileSize) {
		return proto.Errf(proto.StatusEINVAL, "trunk free %v: no such trunk slot", si)
	}
	if _, held := a.pending[slotKey{si.id, si.off}]; held {
		return proto.Errf(proto.StatusEBUSY, "trunk free %v: allocation not confirmed yet", si)
	}
	e := extent{si.off, si.size}
	if f.overlapsFree(e) {
		return nil
	}
	// With trunk_free_space_merge the free blocks next to the slot go
	// ('D' each) and one block of the three is added ('A'); replaying
	// gives the same (an 'A' replaces the blocks it overlaps).
	var lines string
	add := si
	if a.cfg.merge {
		for _, x := range f.neighbours(e) {
			n := si
			n.off, n.size = x.off, x.size
			lines += formatTrunkLine(now.Unix(), trunkOpUsed, n)
			add.off, add.size = min(add.off, x.off), add.size+x.size
		}
	}
	lines += formatTrunkLine(now.Unix(), trunkOpFree, add)
	if err := a.append(lines, a.cfg.durable); err != nil {
		return err
	}
	f.addFree(extent{add.off, add.size})
	a.forgetUsed(si)
	return nil
}

// expireLocked gives back allocations whose writer never confirmed.
func (a *trunkAlloc) expireLocked(now time.Time) {
	for k, p := range a.pending {
		if now.After(p.until) {
			delete(a.pending, k)
			a.files[p.si.id].addFree(extent{p.si.off, p.si.size})
		}
	}
}

// stats returns the free bytes over all trunk files and the highest trunk
// file ID.
func (a *trunkAlloc) stats() (free int64, lastID int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.files {
		free += f.freeBytes()
	}
	return free, a.nextID - 1
}

// used lists every used range (neither free nor held) of every trunk file.
func (a *trunkAlloc) used() []slotInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []slotInfo
	for _, f := range a.files {
		var pos int32
		emit := func(to int32) {
			if to > pos {
				out = append(out, slotInfo{path: f.path, high: f.high, low: f.low, id: f.id, off: pos, size: to - pos})
			}
		}
		f.free.Ascend(func(x extent) bool {
			emit(x.off)
			pos = x.end()
			return true
		})
		emit(a.cfg.fileSize)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].id < out[j].id || out[i].id == out[j].id && out[i].off < out[j].off
	})
	return out
}

// size is the binlog's length.
func (a *trunkAlloc) size() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.blSize
}

// compact rewrites the binlog as the shortest one giving the current free
// blocks: per trunk file a 'D' of the whole file, then an 'A' per free
// block (held allocations count as free: they are not confirmed). The 'D'
// makes the compacted binlog describe the state by itself: the members'
// copies are never truncated, and one that missed lines before the
// compaction gets the compacted binlog appended to what it had; without it,
// a range used meanwhile (with no line of its own in the compacted binlog)
// would stay free in that copy. It runs when the binlog has many more
// lines than that.
func (a *trunkAlloc) compact(now time.Time) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	n := 0
	ids := make([]int32, 0, len(a.files))
	for id := range a.files {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	held := map[int32][]extent{}
	for _, p := range a.pending {
		held[p.si.id] = append(held[p.si.id], extent{p.si.off, p.si.size})
	}
	for _, id := range ids {
		f := a.files[id]
		free := &trunkFile{free: f.free.Clone()} // no index: a copy
		for _, e := range held[id] {
			free.addFree(e)
		}
		whole := slotInfo{path: f.path, high: f.high, low: f.low, id: id, off: 0, size: a.cfg.fileSize}
		b.WriteString(formatTrunkLine(now.Unix(), trunkOpUsed, whole))
		n++
		for _, x := range free.blocks() {
			si := slotInfo{path: f.path, high: f.high, low: f.low, id: id, off: x.off, size: x.size}
			b.WriteString(formatTrunkLine(now.Unix(), trunkOpFree, si))
			n++
		}
	}
	if a.lines <= 2*n+64 {
		return false, nil
	}
	if err := writeFileAtomic(a.path, []byte(b.String()), true); err != nil {
		return false, fmt.Errorf("compact trunk binlog: %w", err)
	}
	out, err := openAppend(a.path) // the compacted file replaced the one open
	if err != nil {
		a.out.Close() // appends would go to the replaced file
		a.closed = true
		return false, err
	}
	a.out.Close()
	a.out = out
	a.blSize, a.lines, a.baseTS = int64(b.Len()), n, now.Unix()
	a.epoch++
	return true, nil
}

// epochNow is the number of compactions so far.
func (a *trunkAlloc) epochNow() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.epoch
}

// close closes the binlog; the allocator is unusable afterwards.
func (a *trunkAlloc) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.closed {
		a.out.Close()
	}
	a.closed = true
}

// readTrunkBinlog returns the bytes of the trunk binlog at path from off
// (at most max); none when it does not exist.
func readTrunkBinlog(path string, off, max int64) ([]byte, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	if off >= size {
		return nil, size, nil
	}
	b := make([]byte, min(max, size-off))
	n, err := f.ReadAt(b, off)
	if n < len(b) {
		return nil, size, fmt.Errorf("read trunk binlog: %v", err)
	}
	// Whole lines only.
	if i := strings.LastIndexByte(string(b), '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	return b, size, nil
}
