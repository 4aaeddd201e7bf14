package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"syscall"
	"time"
)

// acceptBackoff decides what an Accept error means. Running out of
// descriptors (EMFILE, ENFILE), memory or a connection aborted before it was
// taken are transient: hostile or merely many clients must not end the
// daemon, so it logs, waits a little (without spinning on the still pending
// connection) and reports true to keep accepting. A closed listener or
// Exit reports false.
func (s *Storage) acceptBackoff(err error) bool {
	if errors.Is(err, net.ErrClosed) || s.isExiting() {
		return false
	}
	n := s.accErrs.Add(1)
	if n&(n-1) == 0 { // 1st, 2nd, 4th, 8th…: a log line per doubling, not per retry
		s.log.Warn().Err(err).Int64("count", n).Msg("accept failed, backing off")
	}
	return s.sleep(acceptRetryDelay)
}

// acceptRetryDelay is the pause after a failed Accept.
const acceptRetryDelay = 20 * time.Millisecond

// errPathUnwritable marks an upload whose temp file could not be created:
// no byte of the body has been read, so another store path can take it.
var errPathUnwritable = errors.New("store path not writable")

// pathRetryAfter is how long uploads avoid a store path where a file could
// not be created (read-only remount, EIO, full inode table) before trying
// it again.
const pathRetryAfter = 10 * time.Second

// createFailed records that a file could not be created on sp: the path is
// skipped by choosePath for pathRetryAfter and the error is marked so the
// upload moves on to another path.
func (sp *storePath) createFailed(s *Storage, err error) error {
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM) {
		return err // the process, not the path, is short of something
	}
	sp.badUntil.Store(time.Now().Add(pathRetryAfter).UnixNano())
	s.log.Warn().Err(err).Int("store_path", sp.index).Dur("retry_after", pathRetryAfter).Msg("store path not writable, uploads go elsewhere")
	return fmt.Errorf("%w: %w", errPathUnwritable, err)
}

// writable is false while sp is avoided after a failed create.
func (sp *storePath) writable() bool {
	return time.Now().UnixNano() >= sp.badUntil.Load()
}

// verifyMaxSize bounds the files whose CRC32 is checked before they are
// sent, whole or a range: that reads the whole file first, cheap while it is
// small (and then usually in the page cache), not for large ones. Larger
// whole files are checked as they stream (sendVerified); ranges of them are
// left to the scrubber.
const verifyMaxSize = 64 << 20

// verifyWhole checks, before a range of a file is downloaded, that the
// content of a normal file still has the CRC32 its name records
// (docs/protocol.md §6.10). A file damaged on disk is answered EIO and
// logged instead of being served as good; the client then reads another
// replica. Files nameCRC cannot check and files above verifyMaxSize pass.
func (s *Storage) verifyWhole(remote string, fd int, size int64) error {
	if size > verifyMaxSize {
		return nil
	}
	want, ok := nameCRC(remote, size)
	if !ok {
		return nil
	}
	got, err := crcOfFD(fd, size)
	if err != nil {
		return fmt.Errorf("download %s: verify: %w", remote, err)
	}
	if got != want {
		return s.damaged(remote, got, want)
	}
	return nil
}

// checkBufSize is the piece crcOfFD reads at a time: small enough to stay
// in the CPU's cache between the read and the CRC32.
const checkBufSize = 64 << 10

var checkBufs = newFreeList(checkBufSize, 8)

// crcOfFD is the CRC32 of the first size bytes of fd, read with pread.
func crcOfFD(fd int, size int64) (uint32, error) { return crcOfFDAt(fd, 0, size) }

// crcOfFDAt is the CRC32 of size bytes of fd from base (a trunk slot's
// content), read with pread.
func crcOfFDAt(fd int, base, size int64) (uint32, error) {
	bp := checkBufs.get()
	defer checkBufs.put(bp)
	var crc uint32
	for off := int64(0); off < size; {
		b := (*bp)[:min(int64(len(*bp)), size-off)]
		if err := preadFull(fd, b, base+off); err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, crc32.IEEETable, b)
		off += int64(len(b))
	}
	return crc, nil
}
