package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// A trunk slot starts with a 24-byte header (docs/protocol.md §5.8): u8
// type, i32be alloc size, i32be file size, i32be CRC32, i32be mtime, then
// 7 bytes of the name's extension part. The content follows.
const trunkHeaderLen = fileid.TrunkHeaderLen

const (
	slotTypeFree = 0
	slotTypeFile = 'F'
	slotTypeLink = 'L'
)

type slotHeader struct {
	typ       byte
	allocSize int32
	fileSize  int32
	crc       uint32
	mtime     int32
	ext       string // at most 7 bytes
}

func (h slotHeader) encode() [trunkHeaderLen]byte {
	var b [trunkHeaderLen]byte
	b[0] = h.typ
	binary.BigEndian.PutUint32(b[1:], uint32(h.allocSize))
	binary.BigEndian.PutUint32(b[5:], uint32(h.fileSize))
	binary.BigEndian.PutUint32(b[9:], h.crc)
	binary.BigEndian.PutUint32(b[13:], uint32(h.mtime))
	copy(b[17:], h.ext)
	return b
}

func decodeSlotHeader(b []byte) slotHeader {
	return slotHeader{
		typ:       b[0],
		allocSize: int32(binary.BigEndian.Uint32(b[1:])),
		fileSize:  int32(binary.BigEndian.Uint32(b[5:])),
		crc:       binary.BigEndian.Uint32(b[9:]),
		mtime:     int32(binary.BigEndian.Uint32(b[13:])),
		ext:       proto.Fixed(b[17:24]),
	}
}

// trunkRef is a trunk-resident file: its name decoded and where its slot is.
type trunkRef struct {
	remote string
	info   fileid.Info
	slot   slotInfo
	file   string // the trunk file's path
}

// trunkRefOf decodes a remote filename naming a trunk-resident file; ok is
// false for any other kind of name.
func (s *Storage) trunkRefOf(remote string) (*trunkRef, bool, error) {
	if len(remote) != fileid.TrunkRemoteLen {
		return nil, false, nil
	}
	info, kind, err := fileid.Decode(remote)
	if err != nil || kind != fileid.KindTrunk {
		return nil, false, nil
	}
	r, _, err := s.parseRemote(remote)
	if err != nil {
		return nil, true, err
	}
	_, t, err := fileid.ParseTrunk(remote)
	if err != nil {
		return nil, true, err
	}
	si := slotInfo{path: r.StorePath, high: r.High, low: r.Low, id: t.TrunkID, off: t.Offset, size: t.SlotSize}
	return &trunkRef{remote: remote, info: info, slot: si, file: s.trunkFilePath(si)}, true, nil
}

// trunkFilePath is the trunk file holding si.
func (s *Storage) trunkFilePath(si slotInfo) string {
	// dataDir is clean, the rest has no dots: concatenation is the join.
	return s.paths[si.path].dataDir + "/" + fileid.TrunkFileRelPath(si.high, si.low, si.id)
}

// matches reports whether a slot header describes the file ref names: a
// freed or reused slot does not.
func (ref *trunkRef) matches(h slotHeader) bool {
	return (h.typ == slotTypeFile || h.typ == slotTypeLink) && int64(h.fileSize) == ref.info.Size() &&
		h.crc == ref.info.CRC32 && h.mtime == int32(ref.info.Timestamp) && h.allocSize == ref.slot.size
}

// errSlotGone is what reading a trunk-resident file that is not (or no
// longer) in its slot gives.
var errSlotGone = errors.New("not in its trunk slot")

// openSlot opens the trunk file of ref and checks the slot's header. A
// missing trunk file or a header of another file is ENOENT. The file is
// a descriptor of its own (the caller closes it), duplicated from the one
// kept open.
func (s *Storage) openSlot(ref *trunkRef) (*os.File, slotHeader, error) {
	t, h, err := s.slotHeaderOf(ref)
	if err != nil {
		return nil, h, err
	}
	defer s.trunkFDs.put(t)
	f, err := t.dupFile()
	return f, h, err
}

// slotHeaderOf reads the header of ref's slot through the trunk file kept
// open (trunk_fds.go), checked as openSlot checks it; the caller puts the
// descriptor back.
func (s *Storage) slotHeaderOf(ref *trunkRef) (*trunkFD, slotHeader, error) {
	t, err := s.trunkFDs.get(ref.file, false)
	if err != nil {
		if isNotExistErr(err) {
			return nil, slotHeader{}, proto.Errf(proto.StatusENOENT, "%s: %v", ref.remote, errSlotGone)
		}
		return nil, slotHeader{}, err
	}
	var b [trunkHeaderLen]byte
	if err := preadFull(t.fd, b[:], int64(ref.slot.off)); err != nil {
		s.trunkFDs.put(t)
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return nil, slotHeader{}, proto.Errf(proto.StatusENOENT, "%s: %v", ref.remote, errSlotGone)
		}
		return nil, slotHeader{}, err
	}
	h := decodeSlotHeader(b[:])
	if !ref.matches(h) {
		s.trunkFDs.put(t)
		return nil, h, proto.Errf(proto.StatusENOENT, "%s: %v", ref.remote, errSlotGone)
	}
	return t, h, nil
}

// slotExists reports whether ref's file is in its slot.
func (s *Storage) slotExists(ref *trunkRef) (slotHeader, error) {
	t, h, err := s.slotHeaderOf(ref)
	if err != nil {
		return h, err
	}
	s.trunkFDs.put(t)
	return h, nil
}

// slotOccupied reports whether the header at si's offset in the trunk file
// at path shows a file (type F or L with sizes that fit): a slot that is
// free has a zeroed header, or none (a trunk file or region not written
// here yet). Content left by a freed larger slot is told apart by the sizes.
func (s *Storage) slotOccupied(path string, si slotInfo) (slotHeader, bool, error) {
	t, err := s.trunkFDs.get(path, false)
	if err != nil {
		if isNotExistErr(err) {
			return slotHeader{}, false, nil
		}
		return slotHeader{}, false, err
	}
	defer s.trunkFDs.put(t)
	var b [trunkHeaderLen]byte
	if err := preadFull(t.fd, b[:], int64(si.off)); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return slotHeader{}, false, nil
		}
		return slotHeader{}, false, err
	}
	h := decodeSlotHeader(b[:])
	busy := (h.typ == slotTypeFile || h.typ == slotTypeLink) && h.allocSize >= trunkHeaderLen && h.fileSize >= 0 &&
		int64(h.fileSize)+trunkHeaderLen <= int64(h.allocSize)
	return h, busy, nil
}

// isNotExistErr reports whether err says a file is missing.
func isNotExistErr(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// slotWriteInOne is the largest content writeSlot gathers and writes with
// its slot's header in one pwrite: what fits a small buffer with the header
// (a second large buffer for each upload would outnumber those kept).
const slotWriteInOne = smallBufSize - trunkHeaderLen

// writeSlot writes size bytes from src into the slot of si in the trunk
// file at path, then the header (last, so a slot whose content is not
// complete never looks like a file), and syncs when sync (as a normal
// upload does with fsync_after_written_bytes set). It returns the CRC32 of
// the content. mkHeader gets that CRC32 and makes the header.
//
// The slot's old header is zeroed first: a crash while the content is
// written must not leave the old file's header over new bytes. Content up
// to slotWriteInOne is gathered first and written in one pwrite after the
// zeroed header (a write cut short leaves the zeroes first), then the
// header; larger content streams in.
func (s *Storage) writeSlot(path string, si slotInfo, src func(io.Writer, int64) error, size int64, mkHeader func(crc uint32) slotHeader, sync bool) (uint32, error) {
	if int64(si.size) < trunkHeaderLen+size {
		return 0, fmt.Errorf("slot %v too small for %d bytes", si, size)
	}
	t, err := s.trunkFDs.get(path, true)
	if err != nil {
		return 0, err
	}
	defer s.trunkFDs.put(t)
	var sum uint32
	if size <= slotWriteInOne {
		bp := getBuf(trunkHeaderLen + size)
		defer putBuf(bp)
		buf := (*bp)[:trunkHeaderLen]
		clear(buf)
		w := &appendWriter{b: buf, max: trunkHeaderLen + int(size)}
		if err := src(w, size); err != nil {
			return 0, err
		}
		buf = w.b
		if int64(len(buf)) != trunkHeaderLen+size {
			return 0, fmt.Errorf("slot %v: %d bytes of %d", si, len(buf)-trunkHeaderLen, size)
		}
		sum = crc32.ChecksumIEEE(buf[trunkHeaderLen:])
		if err := pwriteFull(t.fd, buf, int64(si.off)); err != nil {
			return 0, fmt.Errorf("write slot: %w", err)
		}
	} else {
		var zero [trunkHeaderLen]byte
		if err := pwriteFull(t.fd, zero[:], int64(si.off)); err != nil {
			return 0, fmt.Errorf("write slot header: %w", err)
		}
		crc := crc32.NewIEEE()
		w := io.MultiWriter(&fdOffsetWriter{fd: t.fd, off: int64(si.off) + trunkHeaderLen}, crc)
		if err := src(w, size); err != nil {
			return 0, err
		}
		sum = crc.Sum32()
	}
	h := mkHeader(sum).encode()
	if err := pwriteFull(t.fd, h[:], int64(si.off)); err != nil {
		return 0, fmt.Errorf("write slot header: %w", err)
	}
	if sync {
		if err := unix.Fdatasync(t.fd); err != nil {
			return 0, fmt.Errorf("fsync trunk file: %w", err)
		}
	}
	return sum, nil
}

// appendWriter gathers writes into b, refusing more than max bytes.
type appendWriter struct {
	b   []byte
	max int
}

func (w *appendWriter) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > w.max {
		return 0, errors.New("more content than announced")
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// fdOffsetWriter writes sequentially from off with pwrite.
type fdOffsetWriter struct {
	fd  int
	off int64
}

func (w *fdOffsetWriter) Write(b []byte) (int, error) {
	if err := pwriteFull(w.fd, b, w.off); err != nil {
		return 0, err
	}
	w.off += int64(len(b))
	return len(b), nil
}

// pwriteFull writes all of b at off.
func pwriteFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// clearSlot marks the slot of ref free on this storage (its header zeroed,
// as FastDFS does) if it still holds ref's file; false when it did not.
func (s *Storage) clearSlot(ref *trunkRef) (bool, error) {
	t, _, err := s.slotHeaderOf(ref)
	if err != nil {
		if proto.StatusOf(err) == proto.StatusENOENT {
			return false, nil
		}
		return false, err
	}
	defer s.trunkFDs.put(t)
	var zero [trunkHeaderLen]byte
	if err := pwriteFull(t.fd, zero[:], int64(ref.slot.off)); err != nil {
		return false, fmt.Errorf("clear slot: %w", err)
	}
	if err := unix.Fdatasync(t.fd); err != nil {
		return true, fmt.Errorf("clear slot: fsync: %w", err)
	}
	return true, nil
}

// createTrunkFile makes the trunk file of a new trunk ID (its whole size,
// sparse) on the trunk server. A file of that name existing already is
// fs.ErrExist: the ID was used by an earlier trunk server.
func (s *Storage) createTrunkFile(si slotInfo) error {
	path := s.trunkFilePath(si)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < int64(si.size) {
		if err := f.Truncate(int64(si.size)); err != nil {
			return err
		}
	}
	return f.Sync()
}

// slotStat is what stat-like commands answer for a trunk-resident file.
func (s *Storage) slotStat(ref *trunkRef) (size, mtime int64, err error) {
	h, err := s.slotExists(ref)
	if err != nil {
		return 0, 0, err
	}
	return int64(h.fileSize), int64(h.mtime), nil
}
