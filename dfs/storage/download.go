package storage

import (
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// downloadFixedLen is offset + length + group (docs/protocol.md §3.7).
const downloadFixedLen = 8 + 8 + proto.GroupNameLen

// inlineReplyMax is the largest file answered from one pooled buffer:
// read with one pread and sent with its header in one write, which saves
// the sendfile path's system calls. Larger ones are sent with sendfile(2),
// which saves the copy into the socket: at 64 KiB the storage spent 78 µs
// of CPU a download that way against 98–111 inline.
const inlineReplyMax = 16 << 10

// download serves DOWNLOAD_FILE (14) with the current range rules: offset ≥
// size is EINVAL, a length beyond the end is clamped, 0 means "to the end".
// As advised in §3.7, offset 0 on an empty file answers an empty body.
//
// A normal file's content is checked against the CRC32 in its name
// (§6.10) before a client can take it as good: a small file in its buffer
// before anything is sent; other files, whole or a range, up to
// verifyMaxSize, by reading them first (damage answers EIO, so a client
// reads another replica; verifiedCache spares files checked lately); a
// larger whole file while it streams, its last chunk held back until the
// CRC matches (damage closes the connection short). Ranges of larger files
// are left to the scrubber.
func (sess *session) download(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalDownload, 1)
	if len(body) <= downloadFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "download: body %d bytes", len(body))
	}
	r := &proto.Reader{B: body}
	off, n := r.I64(), r.I64()
	group := r.Fixed(proto.GroupNameLen)
	remote := string(r.Rest())
	if off < 0 || n < 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "download %s: negative offset %d or length %d", remote, off, n)
	}
	if err := s.checkGroup(group); err != nil {
		return nil, err
	}
	loc, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := s.trunkRefOf(remote); ok {
		if err != nil {
			return nil, err
		}
		return s.downloadTrunk(ref, off, n) // trunk_writer.go
	}
	s.stats.add(statTotalFileOpen, 1)
	// A raw descriptor: os.Open would register the file with the poller and
	// Fd() would switch it to blocking mode, system calls a read needs not.
	fd, err := openRead(path)
	if err != nil {
		if err == syscall.ENOENT || err == syscall.ENOTDIR {
			return nil, proto.Errf(proto.StatusENOENT, "download %s", remote)
		}
		return nil, fmt.Errorf("download %s: %w", remote, err)
	}
	owned := true // fd is closed here unless a reply takes it
	defer func() {
		if owned {
			syscall.Close(fd)
		}
	}()
	s.stats.add(statSuccessFileOpen, 1)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("download %s: %w", remote, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, proto.Errf(proto.StatusEISDIR, "download %s: not a regular file", remote)
	}
	size := st.Size
	if size == 0 && off == 0 {
		s.stats.add(statSuccessDownload, 1)
		return &reply{}, nil
	}
	if off >= size {
		return nil, proto.Errf(proto.StatusEINVAL, "download %s: offset %d ≥ size %d", remote, off, size)
	}
	if n == 0 || n > size-off {
		n = size - off
	}
	want, checked := nameCRC(remote, size)
	whole := off == 0 && n == size
	stamp := fileStamp{ino: st.Ino, ctime: st.Ctim.Nano(), size: size}
	// A small whole file is checked in its buffer below, which costs less
	// than remembering it. Other files up to verifyMaxSize are read and
	// checked before the header (damage answers EIO, and the client reads
	// another replica), then sent from the page cache; the check is
	// remembered for this version of the file for verify_interval.
	if checked && (!whole || n > inlineReplyMax) && size <= verifyMaxSize {
		if !s.verified.seen(remote, stamp) {
			if err := s.verifyWhole(remote, fd, size); err != nil { // hardening.go
				return nil, err
			}
			s.verified.add(remote, stamp)
		}
		checked = false
	}
	s.stats.add(statSuccessDownload, 1)
	s.stats.add(statTotalFileRead, 1)
	s.stats.add(statSuccessFileRead, 1)
	if n <= inlineReplyMax {
		bp := getBuf(proto.HeaderSize + n)
		buf := (*bp)[:proto.HeaderSize+int(n)]
		if err := preadFull(fd, buf[proto.HeaderSize:], off); err != nil {
			putBuf(bp)
			return nil, fmt.Errorf("download %s: %w", remote, err)
		}
		if checked && whole {
			if got := crc32.ChecksumIEEE(buf[proto.HeaderSize:]); got != want {
				putBuf(bp)
				return nil, s.damaged(remote, got, want)
			}
		}
		s.stats.add(statTotalDownloadBytes, n)
		s.stats.add(statSuccessDownloadBytes, n)
		return &reply{framed: bp, n: n}, nil
	}
	owned = false
	rep := &reply{file: os.NewFile(uintptr(fd), path), off: off, n: n, copy: s.paths[loc.StorePath].copySend && n >= copyBufSize}
	if checked && whole {
		rep.crc, rep.remote = &want, remote
	}
	return rep, nil
}

// Checking a file reads all of it, which a player seeking through a video
// would repeat for every range, and which for a file in the page cache
// costs more than sending it (with sendfile, a 1 MiB download took the
// storage 0.24 ms of CPU unchecked, 0.52 checked every time). verifiedCache
// remembers files whose content matched their name: they are served without
// reading them again while their inode, ctime and size are unchanged (any
// write changes the ctime) and the check is younger than verify_interval
// (default 10 minutes; 0 checks every download). Damage that changes none
// of them (bit rot under the file system) in a file checked within that
// time shows at its next check or scrub.
const verifiedMax = 4096

// fileStamp identifies one version of a file on disk.
type fileStamp struct {
	ino   uint64
	ctime int64
	size  int64
}

type verifiedCache struct {
	ttl time.Duration // verify_interval; 0: nothing is remembered
	mu  sync.Mutex
	m   map[string]verifiedEntry
}

type verifiedEntry struct {
	stamp fileStamp
	at    time.Time
}

func (v *verifiedCache) seen(remote string, st fileStamp) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[remote]
	return ok && e.stamp == st && time.Since(e.at) < v.ttl
}

func (v *verifiedCache) add(remote string, st fileStamp) {
	if v.ttl <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string]verifiedEntry)
	}
	if len(v.m) >= verifiedMax {
		clear(v.m) // the next downloads check their files once more
	}
	v.m[remote] = verifiedEntry{stamp: st, at: time.Now()}
}

// forget drops what is remembered of remote (its content was rewritten).
func (v *verifiedCache) forget(remote string) {
	v.mu.Lock()
	delete(v.m, remote)
	v.mu.Unlock()
}

// openRead opens path read-only, retrying on EINTR.
func openRead(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// preadFull fills b from fd at off; a file that ended early is an error.
func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		k, err := syscall.Pread(fd, b, off)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return err
		case k == 0:
			return fmt.Errorf("file shrank: %d bytes missing: %w", len(b), io.ErrUnexpectedEOF)
		}
		b, off = b[k:], off+int64(k)
	}
	return nil
}

// nameCRC returns the CRC32 a normal file's name records and whether the
// content can be checked against it. Appender files (the name keeps the
// first CRC), trunk and slave files (named after their master) are not
// checked. A size different from the name's is not taken as damage either:
// a slave file's name can have a normal file's length.
func nameCRC(remote string, size int64) (uint32, bool) {
	if len(remote) != fileid.NormalRemoteLen {
		return 0, false
	}
	info, kind, err := fileid.Decode(remote)
	if err != nil || kind != fileid.KindNormal || info.Size() != size {
		return 0, false
	}
	return info.CRC32, true
}

// damaged logs and counts a file whose content does not match its name's
// CRC32 and returns the EIO that refuses it.
func (s *Storage) damaged(remote string, got, want uint32) error {
	s.corrupt.Add(1)
	if s.scrub != nil {
		s.scrub.report(remote) // fetch a good copy from the group
	}
	s.log.Error().Str("file", remote).Uint32("crc32", got).Uint32("want", want).
		Int64("corrupt_total", s.corrupt.Load()).Msg("file damaged on disk: content does not match its name's CRC32, not served")
	return proto.Errf(proto.StatusEIO, "download %s: content CRC32 %08X, name says %08X", remote, got, want)
}
