package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Writing and reading trunk-resident files (docs/trunk.md). A small upload
// asks the trunk server for a slot (27), writes header and content into the
// slot of its own copy of the trunk file, syncs, and confirms (28); only
// then is the name logged and answered. Replicas get the content through the
// normal sync (a 60-character name is written into its slot).

// errNoTrunk makes an upload fall back to a normal file: no trunk server is
// known or reachable, nothing of the body was read yet.
var errNoTrunk = errors.New("trunk storage unavailable")

// trunkCall makes one request to the trunk server over a pooled connection.
// A pooled connection the trunk server closed meanwhile is replaced once.
func (s *Storage) trunkCall(cmd, status byte, body []byte) ([]byte, error) {
	_, addr, _ := s.trunk.server()
	if addr == "" {
		return nil, fmt.Errorf("%w: no trunk server known", errNoTrunk)
	}
	t := s.trunk
	for try := 0; ; try++ {
		var c net.Conn
		t.mu.Lock()
		if t.connsAddr != addr {
			t.drainConnsLocked()
			t.connsAddr = addr
		}
		select {
		case c = <-t.conns:
		default:
		}
		t.mu.Unlock()
		pooled := c != nil
		if c == nil {
			var err error
			if c, err = s.dialTracked(addr); err != nil {
				return nil, fmt.Errorf("%w: connect %s: %v", errNoTrunk, addr, err)
			}
		}
		resp, err := peerCall(c, s.timeout, cmd, status, body)
		var se proto.StatusError
		if err != nil && !errors.As(err, &se) {
			s.closeTracked(c)
			if pooled && try == 0 {
				continue
			}
			return nil, err
		}
		t.mu.Lock()
		put := t.connsAddr == addr
		if put {
			select {
			case t.conns <- c:
			default:
				put = false
			}
		}
		t.mu.Unlock()
		if !put {
			s.closeTracked(c)
		}
		return resp, err
	}
}

// trunkAllocate gets a slot for size bytes, preferably in store path path.
func (s *Storage) trunkAllocate(size int64, path int) (slotInfo, error) {
	if a := s.trunk.allocator(); a != nil {
		return s.trunkAllocLocal(a, size, path)
	}
	body := (&proto.Buf{}).Fixed(s.group, proto.GroupNameLen).I32(int32(size + trunkHeaderLen)).U8(byte(path)).B
	resp, err := s.trunkCall(proto.CmdTrunkAllocSpace, 0, body)
	var se proto.StatusError
	if err != nil && !errors.Is(err, errNoTrunk) && !errors.As(err, &se) {
		// The trunk server went away: nothing is allocated for this upload
		// (a slot it held for us expires there).
		err = fmt.Errorf("%w: %v", errNoTrunk, err)
	}
	if err != nil {
		return slotInfo{}, fmt.Errorf("trunk alloc: %w", err)
	}
	if len(resp) != slotInfoLen {
		return slotInfo{}, fmt.Errorf("%w: trunk alloc answer of %d bytes", errNoTrunk, len(resp))
	}
	si := decodeSlotInfo(resp)
	if si.path >= len(s.paths) || si.high >= s.subdirs || si.low >= s.subdirs || si.id < 0 || si.off < 0 ||
		int64(si.size) < trunkHeaderLen+size {
		return slotInfo{}, fmt.Errorf("%w: trunk alloc answer %v unusable", errNoTrunk, si)
	}
	return si, nil
}

// trunkOccupiedTries bounds the slots skipped for one upload because they
// hold files here.
const trunkOccupiedTries = 8

// trunkAllocateUnused is trunkAllocate, skipping slots that hold files in
// this storage's copy of the trunk file: a trunk server that does not know
// the slots are used (confirmations that never reached it) hands them out
// again, and writing there would destroy those files. A skipped slot is
// confirmed, which marks it used, as it is. After trunkOccupiedTries the
// upload goes to a normal file (errNoTrunk: nothing was read yet).
func (s *Storage) trunkAllocateUnused(size int64, path int) (slotInfo, error) {
	for range trunkOccupiedTries {
		si, err := s.trunkAllocate(size, path)
		if err != nil {
			return si, err
		}
		taken, err := s.trunk.found.taken(s, s.trunkFilePath(si), si, s.curParams().trunk.fileSize)
		if err != nil {
			if cerr := s.trunkConfirm(si, false); cerr != nil {
				s.log.Warn().Err(cerr).Stringer("slot", si).Msg("trunk: give back slot")
			}
			return slotInfo{}, fmt.Errorf("trunk slot %v: %w", si, err)
		}
		if !taken {
			return si, nil
		}
		s.log.Warn().Stringer("slot", si).Msg("trunk: slot handed out holds a file here; marked used, another asked for")
		if err := s.trunkConfirm(si, true); err != nil {
			s.log.Warn().Err(err).Stringer("slot", si).Msg("trunk: mark occupied slot used")
		}
	}
	return slotInfo{}, fmt.Errorf("%w: %d slots handed out hold files here", errNoTrunk, trunkOccupiedTries)
}

// foundFiles are the slots of files a writer found in space its trunk
// server handed out (their headers in this storage's copy): a slot of
// such space that starts inside a file has no header of its own to tell.
// Files lie back to back from where a free block began, so the header of
// the next one is where a found one ends: a slot covering such an end is
// checked there too. Entries are kept for foundKeep, foundMax at most.
type foundFiles struct {
	mu sync.Mutex
	m  map[int32][]foundFile // by trunk ID
	n  int
}

type foundFile struct {
	extent
	at time.Time
}

const (
	foundKeep = 10 * time.Minute
	foundMax  = 4096
)

// taken reports whether the slot si overlaps a file: one found before, or
// one whose header is at si's start or at the end of a found file within
// si (those found are remembered). fileSize is trunk_file_size.
func (ff *foundFiles) taken(s *Storage, path string, si slotInfo, fileSize int32) (bool, error) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	now := time.Now()
	if ff.m == nil || ff.n > foundMax {
		ff.m, ff.n = map[int32][]foundFile{}, 0
	}
	live := ff.m[si.id][:0]
	for _, f := range ff.m[si.id] {
		if now.Sub(f.at) < foundKeep {
			live = append(live, f)
		}
	}
	ff.m[si.id] = live
	e := extent{si.off, si.size}
	checked := map[int32]bool{}
	for {
		var at []int32 // header positions to look at
		if !checked[e.off] {
			at = append(at, e.off)
		}
		for _, f := range ff.m[si.id] {
			if end := f.end(); end > e.off && end < e.end() && !checked[end] {
				at = append(at, end)
			}
		}
		if len(at) == 0 {
			break
		}
		for _, off := range at {
			checked[off] = true
			h, busy, err := s.slotOccupied(path, slotInfo{off: off})
			if err != nil {
				return false, err
			}
			if busy && int64(off)+int64(h.allocSize) <= int64(fileSize) {
				ff.m[si.id] = append(ff.m[si.id], foundFile{extent{off, h.allocSize}, now})
				ff.n++
			}
		}
	}
	for _, f := range ff.m[si.id] {
		if f.off < e.end() && e.off < f.end() {
			return true, nil
		}
	}
	return false, nil
}

// trunkConfirm tells the trunk server whether the slot was written.
func (s *Storage) trunkConfirm(si slotInfo, ok bool) error {
	if a := s.trunk.allocator(); a != nil {
		return s.trunkConfirmLocal(a, si, ok)
	}
	var st byte
	if !ok {
		st = proto.StatusEIO
	}
	_, err := s.trunkCall(proto.CmdTrunkAllocConfirm, st, si.append((&proto.Buf{}).Fixed(s.group, proto.GroupNameLen)).B)
	return err
}

// trunkRelease gives a deleted file's slot back to the trunk server.
func (s *Storage) trunkRelease(si slotInfo) error {
	if a := s.trunk.allocator(); a != nil {
		return s.trunkFreeLocal(a, si)
	}
	_, err := s.trunkCall(proto.CmdTrunkFreeSpace, 0, si.append((&proto.Buf{}).Fixed(s.group, proto.GroupNameLen)).B)
	return err
}

// wantsTrunk reports whether an upload of size bytes goes into a trunk slot.
func (s *Storage) wantsTrunk(size int64, appender bool) bool {
	p := s.curParams()
	return p.useTrunkFile && !appender && p.trunk.slotMax > 0 && p.trunk.fits(size)
}

// receiveTrunk stores an upload of size bytes in a trunk slot and returns
// its remote filename. errNoTrunk (wrapped) means nothing was read: the
// caller stores a normal file instead.
func (sess *session) receiveTrunk(path int, size int64, ext string) (string, error) {
	s := sess.s
	si, err := s.trunkAllocateUnused(size, path)
	if err != nil {
		if errors.Is(err, errNoTrunk) {
			return "", err
		}
		var se proto.StatusError
		if errors.As(err, &se) {
			// The trunk server refused (not the server any more, no
			// space): a normal file still takes the upload.
			return "", fmt.Errorf("%w: %v", errNoTrunk, err)
		}
		return "", err
	}
	info := fileid.Info{SourceIP: s.sourceIP(sess.c), SourceID: s.sourceID()}
	ext7 := fileid.FormatExt(ext, nil)
	mtime := wallNow().Unix()
	crc, err := s.writeSlot(s.trunkFilePath(si), si, sess.copyBodyTo, size, func(crc uint32) slotHeader {
		return slotHeader{typ: slotTypeFile, allocSize: si.size, fileSize: int32(size), crc: crc, mtime: int32(mtime), ext: ext7}
	}, s.fsyncBytes > 0)
	if err != nil {
		if cerr := s.trunkConfirm(si, false); cerr != nil {
			s.log.Warn().Err(cerr).Stringer("slot", si).Msg("trunk: give back slot")
		}
		return "", err
	}
	info.Timestamp, info.CRC32 = mtime, crc
	info.SizeField = fileid.TrunkSizeField(size, rand.Uint32())
	remote := fileid.TrunkRemoteName(si.path, si.high, si.low, info,
		fileid.TrunkInfo{TrunkID: si.id, Offset: si.off, SlotSize: si.size}, ext7)
	if err := s.trunkConfirm(si, true); err != nil {
		// Not confirmed: the slot may go to another file, so this one must
		// not look present here.
		if ref, ok, _ := s.trunkRefOf(remote); ok && ref != nil {
			s.clearSlot(ref)
		}
		return "", fmt.Errorf("trunk confirm %v: %w", si, err)
	}
	s.binlog.Write(mtime, opCreate, remote, "")
	return remote, nil
}

// copyBodyTo copies n bytes of the request body to w; a read failure
// aborts the connection.
func (sess *session) copyBodyTo(w io.Writer, n int64) error {
	s := sess.s
	bp := getBuf(n)
	defer putBuf(bp)
	buf := *bp
	var done int64
	for done < n {
		k, rerr := sess.body.Read(buf[:min(int64(len(buf)), n-done)])
		if k > 0 {
			s.stats.add(statTotalUploadBytes, int64(k))
			if _, err := w.Write(buf[:k]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			done += int64(k)
		}
		if rerr != nil && done < n {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("receive body (%d of %d bytes): %w: %v", done, n, errAbort, rerr)
		}
	}
	return nil
}

// downloadTrunk serves DOWNLOAD_FILE for a trunk-resident file. The slot
// is read through the trunk file kept open (trunk_fds.go); an answer too
// large for one buffer is sent from a descriptor of its own.
func (s *Storage) downloadTrunk(ref *trunkRef, off, n int64) (*reply, error) {
	t, h, err := s.slotHeaderOf(ref)
	if err != nil {
		return nil, err
	}
	defer s.trunkFDs.put(t)
	size := int64(h.fileSize)
	if size == 0 && off == 0 {
		s.stats.add(statSuccessDownload, 1)
		return &reply{}, nil
	}
	if off >= size {
		return nil, proto.Errf(proto.StatusEINVAL, "download %s: offset %d ≥ size %d", ref.remote, off, size)
	}
	if n == 0 || n > size-off {
		n = size - off
	}
	// As a normal file (download.go): a small whole file is checked in its
	// buffer, anything else before the header (trunk_verify.go).
	whole := off == 0 && n == size
	if !whole || n > inlineReplyMax {
		if err := s.trunkIntact(ref, t.fd, h); err != nil {
			return nil, err
		}
	}
	s.stats.add(statSuccessDownload, 1)
	at := int64(ref.slot.off) + trunkHeaderLen + off
	if proto.HeaderSize+n <= copyBufSize {
		// One read, and one write with the header: the content starts 24
		// bytes into a page, which sendfile would splice a page more of
		// (sendCopy), and a slot is small.
		bp := getBuf(proto.HeaderSize + n)
		buf := (*bp)[:proto.HeaderSize+int(n)]
		if err := preadFull(t.fd, buf[proto.HeaderSize:], at); err != nil {
			putBuf(bp)
			return nil, fmt.Errorf("download %s: %w", ref.remote, err)
		}
		if whole && n <= inlineReplyMax && trunkChecked(h) { // larger: trunkIntact
			if got := crc32.ChecksumIEEE(buf[proto.HeaderSize:]); got != ref.info.CRC32 {
				putBuf(bp)
				return nil, s.damaged(ref.remote, got, ref.info.CRC32)
			}
		}
		s.stats.add(statTotalDownloadBytes, n)
		s.stats.add(statSuccessDownloadBytes, n)
		return &reply{framed: bp, n: n}, nil
	}
	// The reply closes the file it sends from: a descriptor of its own.
	f, err := t.dupFile()
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", ref.remote, err)
	}
	return &reply{file: f, off: at, n: n, copy: true}, nil // unaligned: sendCopy
}

// deleteTrunk deletes a trunk-resident file: the slot is marked free here
// and logged, then given back to the trunk server. Should that fail, the
// slot stays used until the trunk check frees it (trunk_check.go).
func (s *Storage) deleteTrunk(ref *trunkRef) error {
	mu := s.fileLock(ref.remote)
	mu.Lock()
	defer mu.Unlock()
	cleared, err := s.clearSlot(ref)
	if err != nil {
		return fmt.Errorf("delete %s: %w", ref.remote, err)
	}
	if !cleared {
		s.noteDeleteOfMissing(ref.remote)
		return proto.Errf(proto.StatusENOENT, "delete %s", ref.remote)
	}
	now := wallNow().Unix()
	s.binlog.Write(now, opDelete, ref.remote, "")
	_, path, _ := s.parseRemote(ref.remote)
	if err := os.Remove(path + metaSuffix); err == nil {
		s.binlog.Write(now, opDelete, ref.remote+metaSuffix, "")
	}
	if err := s.trunkRelease(ref.slot); err != nil {
		s.log.Warn().Err(err).Str("file", ref.remote).Stringer("slot", ref.slot).Msg("trunk: slot not given back (the trunk check frees it)")
	}
	s.stats.add(statSuccessDelete, 1)
	s.stats.touch(statLastSourceUpdate)
	return nil
}

// storedExists reports whether the file remote (at path when not
// trunk-resident) exists: nil, an ENOENT status, or another error.
func (s *Storage) storedExists(remote, path string) error {
	if ref, ok, err := s.trunkRefOf(remote); ok {
		if err != nil {
			return err
		}
		_, err := s.slotExists(ref)
		return err
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return proto.Errf(proto.StatusENOENT, "%s", remote)
		}
		return err
	}
	return nil
}

// syncTrunkFile stores a replicated trunk-resident file into its slot.
// The content is written even over a live header: the trunk server gave the
// slot to this file, so what was there before was deleted.
func (sess *session) syncTrunkFile(ref *trunkRef, size, ts int64, update bool) error {
	s := sess.s
	if int64(ref.slot.size) < trunkHeaderLen+size || size != ref.info.Size() {
		if err := sess.discard(); err != nil {
			return err
		}
		return proto.Errf(proto.StatusEINVAL, "sync trunk file %s: %d bytes do not fit its slot", ref.remote, size)
	}
	if !update {
		if _, err := s.slotExists(ref); err == nil {
			if err := sess.discard(); err != nil {
				return err
			}
			return proto.Errf(proto.StatusEEXIST, "sync create %s: already here", ref.remote)
		}
	}
	mu := s.fileLock(ref.remote)
	mu.Lock()
	defer mu.Unlock()
	ext := ref.remote[len(ref.remote)-fileid.ExtPartLen:]
	crc, err := s.writeSlot(ref.file, ref.slot, sess.copyContent2, size, func(crc uint32) slotHeader {
		// The header carries the name's CRC32: a damaged copy then fails
		// to match and reads as missing here rather than wrong.
		return slotHeader{typ: slotTypeFile, allocSize: ref.slot.size, fileSize: int32(size), crc: ref.info.CRC32, mtime: int32(ref.info.Timestamp), ext: ext}
	}, s.fsyncBytes > 0)
	if err != nil {
		return fmt.Errorf("sync trunk file %s: %w", ref.remote, err)
	}
	if crc != ref.info.CRC32 {
		s.clearSlot(ref)
		return proto.Errf(proto.StatusEIO, "sync trunk file %s: content CRC32 %08x, name says %08x", ref.remote, crc, ref.info.CRC32)
	}
	op := byte('c')
	if update {
		op = 'u'
	}
	sess.syncDone(ts, op, ref.remote, "")
	s.stats.add(proto.StatSuccessSyncInBytes, size)
	return nil
}

// copyContent2 adapts copyContent to writeSlot's source.
func (sess *session) copyContent2(w io.Writer, n int64) error { return sess.copyContent(w, n) }

// syncDeleteTrunk applies a replicated delete of a trunk-resident file.
func (sess *session) syncDeleteTrunk(ref *trunkRef, ts int64) error {
	s := sess.s
	mu := s.fileLock(ref.remote)
	mu.Lock()
	defer mu.Unlock()
	cleared, err := s.clearSlot(ref)
	if err != nil {
		return fmt.Errorf("sync delete %s: %w", ref.remote, err)
	}
	if !cleared {
		if !s.binlog.tombs.covers(ref.remote, ts) {
			sess.syncDone(ts, 'd', ref.remote, "")
		}
		return proto.Errf(proto.StatusENOENT, "sync delete %s", ref.remote)
	}
	sess.syncDone(ts, 'd', ref.remote, "")
	return nil
}

// pushTrunkFile replicates a trunk-resident file (SYNC_CREATE/UPDATE_FILE
// with the slot's content); one no longer here is skipped.
func (sy *syncer) pushTrunkFile(ref *trunkRef, cmd byte, ts int64) (bool, error) {
	f, h, err := sy.s.openSlot(ref)
	if proto.StatusOf(err) == proto.StatusENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	size := int64(h.fileSize)
	if sy.lastFileExist && cmd == proto.CmdSyncCreateFile {
		if peerSize, ok, err := sy.peerFileSize(ref.remote); err != nil {
			return false, err
		} else if ok && peerSize == size {
			return false, nil
		}
	}
	body := (&proto.Buf{}).I64(int64(len(ref.remote))).I64(size).I32(int32(ts)).
		Fixed(sy.s.group, proto.GroupNameLen).String(ref.remote).B
	st, err := peerSend(sy.conn, sy.s.timeout, cmd, 0, body, f, int64(ref.slot.off)+trunkHeaderLen, size)
	sy.lastIO = time.Now()
	if err != nil {
		return false, err
	}
	if !doneStatus(st, proto.StatusEEXIST) {
		return false, fmt.Errorf("sync file %s: %w", ref.remote, proto.StatusError(st))
	}
	sy.lastFileExist = st == proto.StatusEEXIST
	sy.s.stats.add(proto.StatTotalSyncOutBytes, size)
	sy.s.stats.add(proto.StatSuccessSyncOutBytes, size)
	return true, nil
}
