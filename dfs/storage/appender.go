package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Appender commands (docs/protocol.md §3.4, §3.5): APPEND_FILE (24), MODIFY_FILE (34)
// and TRUNCATE_FILE (36) change an appender file in place, as FastDFS does.
//
// Concurrency and visibility:
//   - Writers of one file name are serialized by appLocks (held for the
//     whole request, body included), so two appends never interleave and a
//     regenerate never renames a file under an append.
//   - Lock order: appLocks first, then the striped fileLock, never the
//     other way round.
//   - Delete and set-metadata only take the short striped fileLock; the
//     binlog record of a change is written under that lock after checking
//     that the name still denotes the file we wrote, so a change to a file
//     deleted meanwhile is never logged after its `D`.
//   - The body is read a chunk (256 KiB) at a time before the chunk is
//     written, so a short body of up to one chunk changes nothing at all.
//   - APPEND: on a short body or a write error the file is truncated back to
//     its old size; nothing of a failed append stays and nothing is logged.
//   - MODIFY: bytes already written at the offset stay (as in FastDFS, which
//     writes in place; undoing would mean saving the old bytes first). So
//     that replicas converge on the same content, the part that was written
//     is logged as an `M` for exactly those bytes.

// appendFixedLen is appender_filename_len + file_size (APPEND) or
// appender_filename_len + truncated_file_size (TRUNCATE).
const appendFixedLen = 8 + 8

// modifyFixedLen is appender_filename_len + file_offset + file_size.
const modifyFixedLen = 8 + 8 + 8

// appenderLocks serializes the writers of one appender file. An entry lives
// only while somebody holds or waits for it, so the map never holds more
// names than there are connections: max_connections bounds it.
type appenderLocks struct {
	mu sync.Mutex
	m  map[string]*appenderLockEntry
}

type appenderLockEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks name and returns the unlock function.
func (l *appenderLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*appenderLockEntry{}
	}
	e := l.m[name]
	if e == nil {
		e = &appenderLockEntry{}
		l.m[name] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}

// size is how many names are locked or waited for (tests).
func (l *appenderLocks) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// LockAppender serializes a writer of the appender file remote with the
// client commands APPEND/MODIFY/TRUNCATE/REGENERATE (for the replication
// side applying the same operations). Take it before fileLock, never while
// holding it. Call the returned func to unlock.
func (s *Storage) LockAppender(remote string) (unlock func()) { return s.appLocks.lock(remote) }

// isSlaveRemote applies the length rule of §6.7 without looking at the
// appender flag: a slave of an appender master still carries that flag.
func isSlaveRemote(remote string, i fileid.Info) bool {
	n := len(remote)
	return n > fileid.TrunkRemoteLen || n > fileid.NormalRemoteLen && !i.IsTrunk()
}

// appenderFile is an appender file opened for writing under its lock.
type appenderFile struct {
	sp     *storePath
	remote string
	path   string
	f      *os.File
	fi     fs.FileInfo // of the open file, at open time
	unlock func()
}

// size is the file size when it was opened.
func (a *appenderFile) size() int64 { return a.fi.Size() }

func (a *appenderFile) close() {
	a.f.Close()
	a.unlock()
}

// openAppender validates remote, takes its writer lock and opens the file:
// EINVAL for a bad name, ENOENT when missing, EINVAL when it is not a
// regular file or its name lacks the appender flag (§3.4).
func (s *Storage) openAppender(op, remote string) (*appenderFile, error) {
	r, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	unlock := s.appLocks.lock(remote)
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()
	lfi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, proto.Errf(proto.StatusENOENT, "%s %s", op, remote)
		}
		return nil, fmt.Errorf("%s %s: %w", op, remote, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, proto.Errf(proto.StatusEINVAL, "%s %s: not a regular file", op, remote)
	}
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !info.IsAppender() || isSlaveRemote(remote, info) {
		return nil, proto.Errf(proto.StatusEINVAL, "%s %s: not an appender file", op, remote)
	}
	s.stats.add(statTotalFileOpen, 1)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, proto.Errf(proto.StatusENOENT, "%s %s", op, remote)
		}
		return nil, fmt.Errorf("%s %s: %w", op, remote, err)
	}
	s.stats.add(statSuccessFileOpen, 1)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s %s: %w", op, remote, err)
	}
	ok = true
	return &appenderFile{sp: s.paths[r.StorePath], remote: remote, path: path, f: f, fi: fi, unlock: unlock}, nil
}

// checkAppendGrowth applies the reserved-space rule (§7.4) to a change that makes
// a file grow by n bytes: a sparse truncate or a big append must not fill
// the disk past the reserve any more than an upload may.
func (s *Storage) checkAppendGrowth(a *appenderFile, n int64) error {
	if n > 0 && !s.spaceOK(a.sp, n) {
		return proto.Errf(proto.StatusENOSPC, "%s: growing by %d bytes would eat into the reserved space", a.remote, n)
	}
	return nil
}

// commitAppend logs a change of a: under the file's striped lock it checks that
// the name still denotes the file that was changed (a delete may have run
// meanwhile: then ENOENT and no record), then writes the record with the
// file's mtime as timestamp.
func (s *Storage) commitAppend(a *appenderFile, op byte, extra string) error {
	if s.fsyncBytes > 0 {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", a.remote, err)
		}
	}
	st, err := a.f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", a.remote, err)
	}
	mu := s.fileLock(a.remote)
	mu.Lock()
	defer mu.Unlock()
	cur, err := os.Stat(a.path)
	if err != nil || !os.SameFile(cur, st) {
		return proto.Errf(proto.StatusENOENT, "%s was deleted while being changed", a.remote)
	}
	s.binlog.Write(st.ModTime().Unix(), op, a.remote, extra)
	return nil
}

// readAppName reads the n-byte remote filename that follows a fixed part.
func (sess *session) readAppName(op string, n int64) (string, error) {
	name := make([]byte, n)
	if _, err := io.ReadFull(sess.body, name); err != nil {
		return "", fmt.Errorf("%s: read file name: %w: %v", op, errAbort, err)
	}
	return string(name), nil
}

// checkAppenderNameLen is the name length rule of cmds 24, 34, 36 and 38:
// at least 44 bytes and less than 128.
func checkAppenderNameLen(op string, n int64) error {
	if n < fileid.NormalRemoteLen || n >= fileid.MaxRemoteLen {
		return proto.Errf(proto.StatusEINVAL, "%s: file name length %d not in [%d,%d)", op, n, fileid.NormalRemoteLen, fileid.MaxRemoteLen)
	}
	return nil
}

// receiveAtOffset writes n bytes of the request body into f from offset off. Each
// chunk is read completely before it is written. It returns how many bytes
// were written; a read failure is errAbort, a write failure keeps its errno.
func (sess *session) receiveAtOffset(f *os.File, off, n int64, totalBytes int) (int64, error) {
	s := sess.s
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	buf := *bp
	var written, unsynced int64
	for written < n {
		chunk := buf[:min(int64(len(buf)), n-written)]
		k, rerr := io.ReadFull(sess.body, chunk)
		s.stats.add(totalBytes, int64(k))
		if rerr != nil {
			return written, fmt.Errorf("receive body (%d of %d bytes): %w: %v", written+int64(k), n, errAbort, rerr)
		}
		s.stats.add(statTotalFileWrite, 1)
		if _, err := f.WriteAt(chunk, off+written); err != nil {
			return written, fmt.Errorf("write: %w", err)
		}
		s.stats.add(statSuccessFileWrite, 1)
		written += int64(k)
		if s.fsyncBytes > 0 {
			if unsynced += int64(k); unsynced >= s.fsyncBytes {
				if err := f.Sync(); err != nil {
					return written, fmt.Errorf("fsync: %w", err)
				}
				unsynced = 0
			}
		}
	}
	return written, nil
}

// drainFor reads the rest of the request body after a failure the
// connection survives (any status but EINVAL, which closes it), so that a
// client still streaming a big body gets to read the status instead of a
// broken pipe. A failed skip is errAbort.
func (sess *session) drainFor(err error) error {
	if err == nil || errors.Is(err, errAbort) || proto.StatusOf(err) == proto.StatusEINVAL || sess.body == nil || sess.body.N == 0 {
		return err
	}
	if _, derr := io.Copy(io.Discard, sess.body); derr != nil || sess.body.N > 0 {
		return fmt.Errorf("%w: skipping the rest of the body: %v (after: %v)", errAbort, derr, err)
	}
	return err
}

// appendFile serves APPEND_FILE (24).
func (sess *session) appendFile(h proto.Header, _ []byte) (*reply, error) {
	rep, err := sess.appendFileBody(h)
	return rep, sess.drainFor(err)
}

func (sess *session) appendFileBody(h proto.Header) (*reply, error) {
	s := sess.s
	s.stats.add(proto.StatTotalAppend, 1)
	if h.PkgLen < appendFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "append: body %d bytes", h.PkgLen)
	}
	var fixed [appendFixedLen]byte
	if _, err := io.ReadFull(sess.body, fixed[:]); err != nil {
		return nil, fmt.Errorf("append: read fixed part: %w: %v", errAbort, err)
	}
	nameLen, size := proto.I64(fixed[0:8]), proto.I64(fixed[8:16])
	if err := checkAppenderNameLen("append", nameLen); err != nil {
		return nil, err
	}
	if size < 0 || h.PkgLen-appendFixedLen-nameLen != size {
		return nil, proto.Errf(proto.StatusEINVAL, "append: file size %d does not match body length %d", size, h.PkgLen)
	}
	remote, err := sess.readAppName("append", nameLen)
	if err != nil {
		return nil, err
	}
	a, err := s.openAppender("append", remote)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if size == 0 {
		s.stats.add(proto.StatSuccessAppend, 1)
		return nil, nil
	}
	old := a.size()
	if err := s.checkAppendGrowth(a, size); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if _, err := sess.receiveAtOffset(a.f, old, size, proto.StatTotalAppendBytes); err != nil {
		// Nothing of a failed append stays visible.
		if terr := a.f.Truncate(old); terr != nil {
			s.log.Error().Err(terr).Str("file", remote).Int64("size", old).Msg("append failed and the file could not be cut back")
		}
		return nil, fmt.Errorf("append %s: %w", remote, err)
	}
	if err := s.commitAppend(a, opAppend, strconv.FormatInt(old, 10)+" "+strconv.FormatInt(size, 10)); err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	s.stats.add(proto.StatSuccessAppend, 1)
	s.stats.add(proto.StatSuccessAppendBytes, size)
	s.stats.touch(statLastSourceUpdate)
	return nil, nil
}

// modifyFile serves MODIFY_FILE (34): write at an offset ≤ the current size;
// the file may grow.
func (sess *session) modifyFile(h proto.Header, _ []byte) (*reply, error) {
	rep, err := sess.modifyFileBody(h)
	return rep, sess.drainFor(err)
}

func (sess *session) modifyFileBody(h proto.Header) (*reply, error) {
	s := sess.s
	s.stats.add(proto.StatTotalModify, 1)
	if h.PkgLen < modifyFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "modify: body %d bytes", h.PkgLen)
	}
	var fixed [modifyFixedLen]byte
	if _, err := io.ReadFull(sess.body, fixed[:]); err != nil {
		return nil, fmt.Errorf("modify: read fixed part: %w: %v", errAbort, err)
	}
	nameLen, off, size := proto.I64(fixed[0:8]), proto.I64(fixed[8:16]), proto.I64(fixed[16:24])
	if err := checkAppenderNameLen("modify", nameLen); err != nil {
		return nil, err
	}
	if off < 0 || size < 0 || h.PkgLen-modifyFixedLen-nameLen != size {
		return nil, proto.Errf(proto.StatusEINVAL, "modify: offset %d, size %d, body length %d", off, size, h.PkgLen)
	}
	remote, err := sess.readAppName("modify", nameLen)
	if err != nil {
		return nil, err
	}
	a, err := s.openAppender("modify", remote)
	if err != nil {
		return nil, err
	}
	defer a.close()
	if off > a.size() {
		return nil, proto.Errf(proto.StatusEINVAL, "modify %s: offset %d > file size %d", remote, off, a.size())
	}
	if size == 0 {
		s.stats.add(proto.StatSuccessModify, 1)
		return nil, nil
	}
	if err := s.checkAppendGrowth(a, off+size-a.size()); err != nil {
		return nil, fmt.Errorf("modify: %w", err)
	}
	written, err := sess.receiveAtOffset(a.f, off, size, proto.StatTotalModifyBytes)
	if err != nil {
		if written > 0 {
			// The bytes written stay (in place, as FastDFS); log exactly
			// them so replicas hold the same content.
			if cerr := s.commitAppend(a, opModify, strconv.FormatInt(off, 10)+" "+strconv.FormatInt(written, 10)); cerr != nil {
				s.log.Warn().Err(cerr).Str("file", remote).Msg("partial modify not logged")
			}
		}
		return nil, fmt.Errorf("modify %s: %w", remote, err)
	}
	if err := s.commitAppend(a, opModify, strconv.FormatInt(off, 10)+" "+strconv.FormatInt(size, 10)); err != nil {
		return nil, fmt.Errorf("modify: %w", err)
	}
	s.stats.add(proto.StatSuccessModify, 1)
	s.stats.add(proto.StatSuccessModifyBytes, size)
	s.stats.touch(statLastSourceUpdate)
	return nil, nil
}

// truncateFile serves TRUNCATE_FILE (36): set the size (larger extends
// with zeros, equal is a no-op).
func (sess *session) truncateFile(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	s.stats.add(proto.StatTotalTruncate, 1)
	if len(body) < appendFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "truncate: body %d bytes", len(body))
	}
	nameLen, newSize := proto.I64(body[0:8]), proto.I64(body[8:16])
	if err := checkAppenderNameLen("truncate", nameLen); err != nil {
		return nil, err
	}
	if int64(len(body))-appendFixedLen != nameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "truncate: file name length %d does not match body length %d", nameLen, len(body))
	}
	if newSize < 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "truncate: negative size %d", newSize)
	}
	remote := string(body[appendFixedLen:])
	a, err := s.openAppender("truncate", remote)
	if err != nil {
		return nil, err
	}
	defer a.close()
	old := a.size()
	if newSize == old {
		s.stats.add(proto.StatSuccessTruncate, 1)
		return nil, nil
	}
	if err := s.checkAppendGrowth(a, newSize-old); err != nil {
		return nil, fmt.Errorf("truncate: %w", err)
	}
	if newSize > old {
		s.log.Warn().Str("file", remote).Int64("size", old).Int64("new_size", newSize).Msg("truncate extends the file")
	}
	if err := a.f.Truncate(newSize); err != nil {
		return nil, fmt.Errorf("truncate %s to %d: %w", remote, newSize, err)
	}
	if err := s.commitAppend(a, opTruncate, strconv.FormatInt(old, 10)+" "+strconv.FormatInt(newSize, 10)); err != nil {
		return nil, fmt.Errorf("truncate: %w", err)
	}
	s.stats.add(proto.StatSuccessTruncate, 1)
	s.stats.touch(statLastSourceUpdate)
	return nil, nil
}
