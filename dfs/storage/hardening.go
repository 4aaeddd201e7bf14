package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
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

// verifyMaxSize bounds the files whose CRC32 is checked before a whole-file
// download: reading a file twice is cheap while it is small (and then
// usually in the page cache), not for large ones.
const verifyMaxSize = 64 << 20

// verifyWhole checks, before a whole-file download, that the content of a
// normal file still has the size and CRC32 its name records (docs/protocol.md §6.10).
// A file damaged on disk is answered EIO and logged instead of being served
// as good; the client then reads another replica. Appender files (the name
// keeps the first CRC), trunk files and slave files (named after their
// master) are not checked, nor are files above verifyMaxSize. A size
// different from the name's is not taken as damage either: a slave file's
// name can have a normal file's length.
func (s *Storage) verifyWhole(remote string, f *os.File, size int64) error {
	if size > verifyMaxSize || len(remote) != fileid.NormalRemoteLen {
		return nil
	}
	info, kind, err := fileid.Decode(remote)
	if err != nil || kind != fileid.KindNormal || info.Size() != size {
		return nil
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	h := crc32.NewIEEE()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), *bp); err != nil {
		return fmt.Errorf("download %s: verify: %w", remote, err)
	}
	if got := h.Sum32(); got != info.CRC32 {
		s.corrupt.Add(1)
		s.log.Error().Str("file", remote).Uint32("crc32", got).Uint32("want", info.CRC32).
			Int64("corrupt_total", s.corrupt.Load()).Msg("file damaged on disk: content does not match its name's CRC32, not served")
		return proto.Errf(proto.StatusEIO, "download %s: content CRC32 %08X, name says %08X", remote, got, info.CRC32)
	}
	return nil
}
