package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"yunpan/dfs/proto"
)

// The receiving side of replication (docs/protocol.md §5.4): REPORT_SERVER_ID and the
// SYNC_* commands, plus yunpan's CmdClusterAuth. Every change is written
// through a temp file and rename (whole files) or in place (appends,
// modifies, truncates, links, renames) and logged in this storage's own
// binlog with the lower-case op, so it is never pushed on again except as
// old data to a new member; the source's timestamp is recorded for
// SYNC_REPORT.

// peerAuth is what the peer of a connection has established.
type peerAuth struct {
	authed bool   // proved the cluster secret (CmdClusterAuth)
	srcID  string // storage ID from REPORT_SERVER_ID
}

// The handlers are registered here rather than in server.go's table, which
// other parts of the storage edit as well.
func init() {
	handlers[proto.CmdClusterAuth] = handler{buffered: true, fn: (*session).clusterAuth}
	handlers[proto.CmdStorageReportServerID] = handler{buffered: true, fn: (*session).reportServerID}
	handlers[proto.CmdSyncCreateFile] = handler{logs: true, fn: (*session).syncCreateFile}
	handlers[proto.CmdSyncUpdateFile] = handler{logs: true, fn: (*session).syncUpdateFile}
	handlers[proto.CmdSyncDeleteFile] = handler{logs: true, buffered: true, fn: (*session).syncDeleteFile}
	handlers[proto.CmdSyncAppendFile] = handler{logs: true, fn: (*session).syncAppendFile}
	handlers[proto.CmdSyncModifyFile] = handler{logs: true, fn: (*session).syncModifyFile}
	handlers[proto.CmdSyncTruncateFile] = handler{logs: true, buffered: true, fn: (*session).syncTruncateFile}
	handlers[proto.CmdSyncCreateLink] = handler{logs: true, buffered: true, fn: (*session).syncCreateLink}
	handlers[proto.CmdSyncRenameFile] = handler{logs: true, buffered: true, fn: (*session).syncRenameFile}
}

// refuse answers EACCES and closes the connection (the unread request is
// skipped briefly so the answer is not lost to a reset).
func (sess *session) refuse(err error) error {
	s := sess.s
	s.log.Warn().Err(err).Str("peer", sess.c.RemoteAddr().String()).Msg("replication peer refused")
	sess.c.SetWriteDeadline(time.Now().Add(s.timeout))
	if proto.WriteResponse(sess.c, proto.StatusEACCES, nil) == nil {
		lingerClose(sess.c, s.timeout)
	}
	return fmt.Errorf("%w: %v", errAbort, err)
}

// clusterAuth serves CmdClusterAuth. Without a cluster secret there is
// nothing to prove and a well-formed request succeeds (as on the tracker).
func (sess *session) clusterAuth(h proto.Header, body []byte) (*reply, error) {
	r := sess.s.repl
	if r.secret == "" {
		if len(body) != proto.ClusterAuthSize {
			return nil, proto.Errf(proto.StatusEINVAL, "cluster auth: body %d bytes", len(body))
		}
		return nil, nil
	}
	if err := r.verifier.Verify(body, wallNow()); err != nil {
		if proto.StatusOf(err) == proto.StatusEINVAL {
			return nil, err
		}
		return nil, sess.refuse(err)
	}
	sess.peer.authed = true
	return nil, nil
}

// requirePeer refuses replication commands from a connection that has not
// proved the cluster secret, when one is configured.
func (sess *session) requirePeer(cmd byte) error {
	if sess.s.repl.secret == "" || sess.peer.authed {
		return nil
	}
	return sess.refuse(fmt.Errorf("cmd %d before cluster auth", cmd))
}

// reportServerID serves REPORT_SERVER_ID (9): the peer names itself.
func (sess *session) reportServerID(h proto.Header, body []byte) (*reply, error) {
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) != proto.StorageIDLen {
		return nil, proto.Errf(proto.StatusEINVAL, "report server id: body %d bytes", len(body))
	}
	id := proto.Fixed(body)
	if id == "" {
		return nil, proto.Errf(proto.StatusEINVAL, "report server id: empty id")
	}
	sess.peer.srcID = id
	return nil, nil
}

// readExact reads n bytes of the request body; a short body aborts.
func (sess *session) readExact(n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(sess.body, b); err != nil {
		return nil, fmt.Errorf("read request: %w: %v", errAbort, err)
	}
	return b, nil
}

// discard skips the rest of the request body (content the peer sent for a
// file this storage already has); a short body aborts.
func (sess *session) discard() error {
	if _, err := io.Copy(io.Discard, sess.body); err != nil || sess.body.N > 0 {
		return fmt.Errorf("skip request content: %w", errAbort)
	}
	return nil
}

// syncTarget validates the group and a logic filename of a sync request.
func (s *Storage) syncTarget(group, name string) (*storePath, string, error) {
	if err := s.checkGroup(group); err != nil {
		return nil, "", err
	}
	r, path, err := s.parseRemote(name)
	if err != nil {
		return nil, "", err
	}
	// Names made here never start with '.' (temp files do) and stay in
	// the group's sub directories.
	if r.Name[0] == '.' || r.High >= s.subdirs || r.Low >= s.subdirs {
		return nil, "", proto.Errf(proto.StatusEINVAL, "sync: file name %q not acceptable", name)
	}
	return s.paths[r.StorePath], path, nil
}

func validNameLen(n int64) bool { return n > 0 && n < proto.MaxFilenameLen }

// syncDone logs the replica record and credits the source's timestamp.
func (sess *session) syncDone(ts int64, op byte, name, extra string) {
	s := sess.s
	s.binlog.Write(ts, op, name, extra)
	s.repl.noteSynced(sess.peer.srcID, ts)
}

func (sess *session) syncCreateFile(h proto.Header, _ []byte) (*reply, error) {
	return sess.syncFile(h, false)
}

func (sess *session) syncUpdateFile(h proto.Header, _ []byte) (*reply, error) {
	return sess.syncFile(h, true)
}

// syncFile serves SYNC_CREATE_FILE (16) and SYNC_UPDATE_FILE (18). A
// header status other than 0 means "no content": the record is only logged
// and the answer is EEXIST. A create of a file already present with the same
// size is EEXIST too (the content is skipped).
func (sess *session) syncFile(h proto.Header, update bool) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if h.PkgLen < syncFileFixed {
		return nil, proto.Errf(proto.StatusEINVAL, "sync file: body %d bytes", h.PkgLen)
	}
	fixed, err := sess.readExact(syncFileFixed)
	if err != nil {
		return nil, err
	}
	rd := &proto.Reader{B: fixed}
	nameLen, size, ts, group := rd.I64(), rd.I64(), int64(rd.I32()), rd.Fixed(proto.GroupNameLen)
	withContent := h.Status == 0
	want := syncFileFixed + nameLen
	if withContent {
		want += size
	}
	if !validNameLen(nameLen) || size < 0 || h.PkgLen != want {
		return nil, proto.Errf(proto.StatusEINVAL, "sync file: name length %d, size %d, body %d bytes", nameLen, size, h.PkgLen)
	}
	nb, err := sess.readExact(nameLen)
	if err != nil {
		return nil, err
	}
	name := string(nb)
	sp, path, err := s.syncTarget(group, name)
	if err != nil {
		return nil, err
	}
	op := byte('c')
	if update {
		op = 'u'
	}
	if sess.deletedHere(name, ts) { // a replay (tombstone.go): done, nothing stored
		return nil, sess.discard()
	}
	if !withContent {
		sess.syncDone(ts, op, name, "")
		return nil, proto.Errf(proto.StatusEEXIST, "sync file %s: no content sent", name)
	}
	if ref, ok, err := s.trunkRefOf(name); ok {
		if err != nil {
			return nil, err
		}
		return nil, sess.syncTrunkFile(ref, size, ts, update) // trunk_writer.go
	}
	if !update {
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
			if err := sess.discard(); err != nil {
				return nil, err
			}
			return nil, proto.Errf(proto.StatusEEXIST, "sync create %s: already here", name)
		}
	}
	tmp, err := sess.receiveSyncTemp(sp, size, ts)
	if err != nil {
		return nil, fmt.Errorf("sync file %s: %w", name, err)
	}
	defer os.Remove(tmp) // a no-op once renamed
	unlockApp := s.LockAppender(name)
	mu := s.fileLock(name)
	mu.Lock()
	deleted := sess.deletedHere(name, ts) // while the content came
	if !deleted {
		err = renameInto(tmp, path)
	}
	if err == nil && !deleted {
		sess.syncDone(ts, op, name, "")
	}
	mu.Unlock()
	unlockApp()
	if err != nil {
		return nil, fmt.Errorf("sync file %s: %w", name, err)
	}
	s.stats.add(proto.StatSuccessSyncInBytes, size)
	return nil, nil
}

// receiveSyncTemp streams size bytes of the request into a temp file of sp
// whose mtime becomes ts, and returns its path.
func (sess *session) receiveSyncTemp(sp *storePath, size, ts int64) (string, error) {
	s := sess.s
	tmpDir := sp.tempDir(sess.slot)
	f, err := createTemp(tmpDir, "sync")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(tmpDir, 0o755); err == nil {
			f, err = createTemp(tmpDir, "sync")
		}
	}
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := sess.copyContent(f, size); err != nil {
		return "", err
	}
	if s.fsyncBytes > 0 {
		if err := f.Sync(); err != nil {
			return "", fmt.Errorf("fsync: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	mt := time.Unix(ts, 0)
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		return "", err
	}
	ok = true
	return tmp, nil
}

// copyContent copies n bytes of the request body to w (at its current
// offset) through a pooled buffer, counting sync-in bytes. A read failure
// aborts the connection; a write failure carries the errno.
func (sess *session) copyContent(w io.Writer, n int64) error {
	s := sess.s
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	buf := *bp
	var done int64
	for done < n {
		k, rerr := sess.body.Read(buf[:min(int64(len(buf)), n-done)])
		if k > 0 {
			s.stats.add(proto.StatTotalSyncInBytes, int64(k))
			if _, err := w.Write(buf[:k]); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			done += int64(k)
		}
		if rerr != nil && done < n {
			return fmt.Errorf("receive content (%d of %d bytes): %w: %v", done, n, errAbort, rerr)
		}
	}
	return nil
}

// renameInto moves a finished temp file onto path, creating the HH/HH
// directory if it went missing.
func renameInto(tmp, path string) error {
	err := os.Rename(tmp, path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(tmp); serr == nil {
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				err = os.Rename(tmp, path)
			}
		}
	}
	return err
}

// syncDeleteFile serves SYNC_DELETE_FILE (17): ENOENT when already gone
// or not here yet.
func (sess *session) syncDeleteFile(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) <= syncDeleteFixed {
		return nil, proto.Errf(proto.StatusEINVAL, "sync delete: body %d bytes", len(body))
	}
	rd := &proto.Reader{B: body}
	ts, group := int64(rd.I32()), rd.Fixed(proto.GroupNameLen)
	name := string(rd.Rest())
	_, path, err := s.syncTarget(group, name)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := s.trunkRefOf(name); ok {
		if err != nil {
			return nil, err
		}
		return nil, sess.syncDeleteTrunk(ref, ts) // trunk_writer.go
	}
	mu := s.fileLock(name)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		// The delete came before the file (from a member that is not the
		// file's source): the d record keeps the tombstone that turns the
		// create away when it arrives (tombstone.go).
		if !s.binlog.tombs.covers(name, ts) {
			sess.syncDone(ts, 'd', name, "")
		}
		return nil, proto.Errf(proto.StatusENOENT, "sync delete %s", name)
	}
	if err != nil {
		return nil, fmt.Errorf("sync delete %s: %w", name, err)
	}
	if fi.IsDir() {
		return nil, proto.Errf(proto.StatusEINVAL, "sync delete %s: a directory", name)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("sync delete %s: %w", name, err)
	}
	sess.syncDone(ts, 'd', name, "")
	return nil, nil
}

func (sess *session) syncAppendFile(h proto.Header, _ []byte) (*reply, error) {
	return sess.syncPart(h, false)
}

func (sess *session) syncModifyFile(h proto.Header, _ []byte) (*reply, error) {
	return sess.syncPart(h, true)
}

// syncPart serves SYNC_APPEND_FILE (25) and SYNC_MODIFY_FILE (35): an append
// needs the local size to equal the start offset, a modify at least the
// start offset. Otherwise the data is skipped and the answer is EEXIST when
// this copy already covers the range, ENOENT when the file is missing or
// shorter (the source then sends the whole file).
func (sess *session) syncPart(h proto.Header, modify bool) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if h.PkgLen < syncPartFixed {
		return nil, proto.Errf(proto.StatusEINVAL, "sync append/modify: body %d bytes", h.PkgLen)
	}
	fixed, err := sess.readExact(syncPartFixed)
	if err != nil {
		return nil, err
	}
	rd := &proto.Reader{B: fixed}
	nameLen, off, n := rd.I64(), rd.I64(), rd.I64()
	ts, group := int64(rd.I32()), rd.Fixed(proto.GroupNameLen)
	if !validNameLen(nameLen) || off < 0 || n < 0 || h.PkgLen != syncPartFixed+nameLen+n {
		return nil, proto.Errf(proto.StatusEINVAL, "sync append/modify: name length %d, offset %d, length %d, body %d", nameLen, off, n, h.PkgLen)
	}
	nb, err := sess.readExact(nameLen)
	if err != nil {
		return nil, err
	}
	name := string(nb)
	_, path, err := s.syncTarget(group, name)
	if err != nil {
		return nil, err
	}
	defer s.LockAppender(name)() // serialised with client appends (appender.go)
	mu := s.fileLock(name)
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sync append/modify %s: %w", name, err)
	}
	var size int64 = -1
	if f != nil {
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	fits := size == off || modify && size >= off
	if size < 0 || !fits {
		if err := sess.discard(); err != nil {
			return nil, err
		}
		if size >= off+n {
			return nil, proto.Errf(proto.StatusEEXIST, "sync append/modify %s: already has %d bytes", name, size)
		}
		return nil, proto.Errf(proto.StatusENOENT, "sync append/modify %s: size %d, start %d", name, size, off)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	if err := sess.copyContent(f, n); err != nil {
		if !modify {
			f.Truncate(size) // leave no half append behind
		}
		return nil, fmt.Errorf("sync append/modify %s: %w", name, err)
	}
	mt := time.Unix(ts, 0)
	os.Chtimes(path, mt, mt)
	op := byte('a')
	if modify {
		op = 'm'
	}
	sess.syncDone(ts, op, name, fmt.Sprintf("%d %d", off, n))
	s.stats.add(proto.StatSuccessSyncInBytes, n)
	return nil, nil
}

// syncTruncateFile serves SYNC_TRUNCATE_FILE (37): only a copy of the old
// size is truncated, any other size is EEXIST.
func (sess *session) syncTruncateFile(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) <= syncPartFixed {
		return nil, proto.Errf(proto.StatusEINVAL, "sync truncate: body %d bytes", len(body))
	}
	rd := &proto.Reader{B: body}
	nameLen, oldSize, newSize := rd.I64(), rd.I64(), rd.I64()
	ts, group := int64(rd.I32()), rd.Fixed(proto.GroupNameLen)
	if !validNameLen(nameLen) || oldSize < 0 || newSize < 0 || int64(rd.Len()) != nameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "sync truncate: name length %d, sizes %d→%d, body %d", nameLen, oldSize, newSize, len(body))
	}
	name := string(rd.Rest())
	_, path, err := s.syncTarget(group, name)
	if err != nil {
		return nil, err
	}
	defer s.LockAppender(name)()
	mu := s.fileLock(name)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, proto.Errf(proto.StatusENOENT, "sync truncate %s", name)
	}
	if err != nil {
		return nil, fmt.Errorf("sync truncate %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != oldSize {
		return nil, proto.Errf(proto.StatusEEXIST, "sync truncate %s: size %d, not %d", name, fi.Size(), oldSize)
	}
	if err := os.Truncate(path, newSize); err != nil {
		return nil, fmt.Errorf("sync truncate %s: %w", name, err)
	}
	mt := time.Unix(ts, 0)
	os.Chtimes(path, mt, mt)
	sess.syncDone(ts, 't', name, fmt.Sprintf("%d %d", oldSize, newSize))
	return nil, nil
}

// twoNames parses the body of SYNC_CREATE_LINK / SYNC_RENAME_FILE.
func (s *Storage) twoNames(what string, body []byte) (ts int64, first, second, firstPath, secondPath string, err error) {
	if len(body) <= syncLinkFixed {
		return 0, "", "", "", "", proto.Errf(proto.StatusEINVAL, "%s: body %d bytes", what, len(body))
	}
	rd := &proto.Reader{B: body}
	l1, l2 := rd.I64(), rd.I64()
	ts, group := int64(rd.I32()), rd.Fixed(proto.GroupNameLen)
	if !validNameLen(l1) || !validNameLen(l2) || int64(rd.Len()) != l1+l2 {
		return 0, "", "", "", "", proto.Errf(proto.StatusEINVAL, "%s: name lengths %d+%d, body %d", what, l1, l2, len(body))
	}
	first, second = string(rd.Raw(int(l1))), string(rd.Rest())
	if _, firstPath, err = s.syncTarget(group, first); err != nil {
		return
	}
	_, secondPath, err = s.syncTarget(group, second)
	return
}

// lockPair locks the stripes of two names, lower stripe first.
func (s *Storage) lockPair(a, b string) func() {
	ma, mb := s.fileLock(a), s.fileLock(b)
	if ma == mb {
		ma.Lock()
		return ma.Unlock
	}
	for i := range s.locks {
		if &s.locks[i] == mb { // mb comes first
			ma, mb = mb, ma
			break
		}
		if &s.locks[i] == ma {
			break
		}
	}
	ma.Lock()
	mb.Lock()
	return func() { mb.Unlock(); ma.Unlock() }
}

// syncCreateLink serves SYNC_CREATE_LINK (19): a relative symbolic link to
// the target, as a slave stored as a link is here; EEXIST when the link
// exists, ENOENT when the target does not.
func (sess *session) syncCreateLink(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	ts, link, target, linkPath, targetPath, err := s.twoNames("sync create link", body)
	if err != nil {
		return nil, err
	}
	unlock := s.lockPair(link, target)
	defer unlock()
	if sess.deletedHere(link, ts) { // a replay (tombstone.go)
		return nil, nil
	}
	if _, err := os.Lstat(linkPath); err == nil {
		return nil, proto.Errf(proto.StatusEEXIST, "sync create link %s: exists", link)
	}
	if _, err := os.Stat(targetPath); err != nil {
		return nil, proto.Errf(proto.StatusENOENT, "sync create link %s: target %s missing", link, target)
	}
	rel, err := filepath.Rel(filepath.Dir(linkPath), targetPath)
	if err != nil {
		return nil, fmt.Errorf("sync create link %s: %w", link, err)
	}
	if err := os.Symlink(rel, linkPath); err != nil {
		return nil, fmt.Errorf("sync create link %s: %w", link, err)
	}
	sess.syncDone(ts, 'l', link, target)
	return nil, nil
}

// syncRenameFile serves SYNC_RENAME_FILE (40): the appender file old gets
// its regenerated name new (its metadata file comes as a rename record of
// its own); EEXIST when new exists, ENOENT when old does not.
func (sess *session) syncRenameFile(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	ts, newName, oldName, newPath, oldPath, err := s.twoNames("sync rename", body)
	if err != nil {
		return nil, err
	}
	defer s.LockAppender(oldName)()
	unlock := s.lockPair(newName, oldName)
	defer unlock()
	if _, err := os.Lstat(newPath); err == nil {
		return nil, proto.Errf(proto.StatusEEXIST, "sync rename %s: exists", newName)
	}
	if _, err := os.Lstat(oldPath); err != nil {
		return nil, proto.Errf(proto.StatusENOENT, "sync rename: %s missing", oldName)
	}
	if err := os.Rename(oldPath, newPath); err != nil {
		return nil, fmt.Errorf("sync rename %s: %w", oldName, err)
	}
	sess.syncDone(ts, 'r', newName, oldName)
	return nil, nil
}
