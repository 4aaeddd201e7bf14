package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// A trunk-resident file is checked like a normal one (download.go): its
// content against the CRC32 its name and slot header record, before it is
// served, and the check is remembered for verify_interval. The name fixes
// the slot and the content (a slot reused for another file gets another
// name), so the name alone keys the check. A damaged slot is healed by the
// scrubber with a verified copy from another storage of the group, written
// over the slot's content in place; without a good copy it stays refused.

// trunkChecked reports whether ref's content is checked against its CRC32:
// file slots are, link slots (a slave's link to its master) are not.
func trunkChecked(h slotHeader) bool { return h.typ == slotTypeFile }

// trunkIntact checks the slot content of ref (size bytes, fd open on its
// trunk file) unless checked lately; a mismatch is logged, counted, handed
// to the scrubber and answered EIO.
func (s *Storage) trunkIntact(ref *trunkRef, fd int, h slotHeader) error {
	size := int64(h.fileSize)
	if !trunkChecked(h) || size > verifyMaxSize {
		return nil
	}
	stamp := fileStamp{size: size}
	if s.verified.seen(ref.remote, stamp) {
		return nil
	}
	got, err := crcOfFDAt(fd, int64(ref.slot.off)+trunkHeaderLen, size)
	if err != nil {
		return fmt.Errorf("download %s: verify: %w", ref.remote, err)
	}
	if got != ref.info.CRC32 {
		return s.damaged(ref.remote, got, ref.info.CRC32)
	}
	s.verified.add(ref.remote, stamp)
	return nil
}

// healTrunk heals a trunk-resident file a download found damaged, after
// reading it again (it may have been healed or deleted meanwhile).
func (sc *scrubber) healTrunk(ref *trunkRef) {
	f, h, err := sc.s.openSlot(ref)
	if err != nil {
		return
	}
	size := int64(h.fileSize)
	got, err := crcOfFDAt(int(f.Fd()), int64(ref.slot.off)+trunkHeaderLen, size)
	f.Close()
	if err != nil || got == ref.info.CRC32 || !trunkChecked(h) {
		return
	}
	sc.damaged.Add(1)
	sc.repairTrunk(ref, size)
}

// repairTrunk rewrites the content of ref's slot (size bytes) with a
// verified copy from another storage of the group.
func (sc *scrubber) repairTrunk(ref *trunkRef, size int64) {
	s := sc.s
	mu := s.fileLock(ref.remote) // against a concurrent delete of the same file
	mu.Lock()
	defer mu.Unlock()
	addr, err := sc.fromGroup(func(addr string) error { return sc.fetchIntoSlot(addr, ref, size) })
	if err != nil {
		s.log.Error().Err(err).Str("file", ref.remote).Msg("scrub: no good copy of a damaged trunk-resident file in the group; downloads keep refusing it")
		return
	}
	s.verified.forget(ref.remote)
	s.log.Warn().Str("file", ref.remote).Str("from", addr).Int64("scrub_healed_total", sc.healed.Load()).Msg("scrub: damaged trunk slot rewritten from a verified copy")
}

// fetchIntoSlot downloads ref from the storage at addr into a temp file,
// checks its size and CRC32, and writes it over the slot's content (the
// header stays: it already describes this file), synced.
func (sc *scrubber) fetchIntoSlot(addr string, ref *trunkRef, size int64) error {
	s := sc.s
	tmp, err := createTemp(s.paths[ref.slot.path].tempDir(0), "heal")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := sc.fetchVerified(addr, ref.remote, size, ref.info.CRC32, tmp); err != nil {
		return err
	}
	// Still this file's slot (a delete takes the file lock held here).
	t, _, err := s.slotHeaderOf(ref)
	if err != nil {
		return err
	}
	defer s.trunkFDs.put(t)
	w := &fdOffsetWriter{fd: t.fd, off: int64(ref.slot.off) + trunkHeaderLen}
	if _, err := io.Copy(w, io.NewSectionReader(tmp, 0, size)); err != nil {
		return fmt.Errorf("write slot: %w", err)
	}
	if err := unix.Fdatasync(t.fd); err != nil {
		return fmt.Errorf("fsync trunk file: %w", err)
	}
	got, err := crcOfFDAt(t.fd, int64(ref.slot.off)+trunkHeaderLen, size)
	if err == nil && got != ref.info.CRC32 {
		err = fmt.Errorf("slot still reads CRC32 %08X after the rewrite", got)
	}
	return err
}

// walkTrunk calls fn for every trunk-resident file this storage holds by
// its binlog (created here or received, not deleted) whose slot holds it;
// fn returning false stops it.
func (sc *scrubber) walkTrunk(fn func(f scrubFile) bool) {
	s := sc.s
	s.binlog.Flush()
	names, err := liveTrunkNames(filepath.Join(s.dataDir, "sync"))
	if err != nil {
		s.log.Warn().Err(err).Msg("scrub: trunk-resident files not listed")
		return
	}
	for _, name := range names {
		ref, ok, err := s.trunkRefOf(name)
		if !ok || err != nil {
			continue
		}
		h, err := s.slotExists(ref)
		if err != nil || !trunkChecked(h) {
			continue // deleted meanwhile, or a link
		}
		if !fn(scrubFile{remote: name, path: ref.file, size: int64(h.fileSize), trunk: ref}) {
			return
		}
	}
}
