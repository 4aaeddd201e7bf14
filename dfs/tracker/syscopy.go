package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"yunpan/dfs/proto"
)

// System-data copy (docs/protocol.md §4.9): a new tracker, or one that was down for
// more than 600 s, copies the registry and the changelog from a peer before
// it accepts storage joins. The command framing is FastDFS's (61, 63, 62);
// the files are ours (Appendix B): index 0 is the registry snapshot in the
// format of persist.go, 1 and 2 are empty (their content lives in our
// snapshot), 3 is storage_changelog.dat.

const (
	sysFileCount = 4
	// sysChunk bounds one GET_ONE_SYS_FILE answer (FastDFS's 8 KiB package).
	sysChunk = 8 << 10
	// maxSysFile bounds what a copy accepts for one file.
	maxSysFile = 256 << 20
)

// cmdSysFilesStart answers GET_SYS_FILES_START (61): take the copy lock
// and freeze the files this connection will read.
func (t *Tracker) cmdSysFilesStart(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("get sys files start", len(body), "0")
	}
	if len(t.reg.groups) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "get sys files start: no groups")
	}
	if l := t.rel.sysLock; l != nil && l != sess {
		return nil, proto.Errf(proto.StatusEBUSY, "get sys files start: another copy is running")
	}
	reg, err := json.Marshal(snapshot{Format: snapshotFormat, SavedAt: time.Now().Unix(),
		CurrentWriteGroup: t.reg.currentWriteGroup, Groups: t.reg.groups})
	if err != nil {
		return nil, proto.Errf(proto.StatusEIO, "get sys files start: %v", err)
	}
	cl, err := os.ReadFile(t.changelog.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, proto.Errf(proto.StatusEIO, "get sys files start: %v", err)
	}
	t.rel.sysLock = sess
	sess.sysFiles = [][]byte{reg, nil, nil, cl}
	return nil, nil
}

// cmdGetOneSysFile answers GET_ONE_SYS_FILE (63): u8 index, i64 offset →
// i64 total size + the next chunk.
func (t *Tracker) cmdGetOneSysFile(sess *session, body []byte) ([]byte, error) {
	if len(body) != 9 {
		return nil, badLen("get one sys file", len(body), "9")
	}
	if sess.sysFiles == nil {
		return nil, proto.Errf(proto.StatusEINVAL, "get one sys file: GET_SYS_FILES_START first")
	}
	idx, off := int(body[0]), proto.I64(body[1:])
	if idx >= sysFileCount {
		return nil, proto.Errf(proto.StatusEINVAL, "get one sys file: index %d", idx)
	}
	f := sess.sysFiles[idx]
	if off < 0 || off > int64(len(f)) {
		return nil, proto.Errf(proto.StatusEINVAL, "get one sys file: offset %d of %d", off, len(f))
	}
	n := min(int64(len(f))-off, sysChunk, t.opts.MaxBuffSize-8)
	return (&proto.Buf{}).I64(int64(len(f))).Bytes(f[off : off+n]).B, nil
}

// cmdSysFilesEnd answers GET_SYS_FILES_END (62).
func (t *Tracker) cmdSysFilesEnd(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("get sys files end", len(body), "0")
	}
	t.releaseSysLockLocked(sess)
	return nil, nil
}

func (t *Tracker) releaseSysLockLocked(sess *session) {
	if t.rel.sysLock == sess {
		t.rel.sysLock = nil
	}
	sess.sysFiles = nil
}

// ensureSysCopy runs before a JOIN is served (outside t.mu): when this
// tracker needs the system data, it copies it from the best reachable peer
// that has some. No peer with data means nothing to copy; a failed copy
// answers the JOIN EAGAIN and is tried again on the next one.
func (t *Tracker) ensureSysCopy(sess *session, body []byte) error {
	t.mu.Lock()
	need := t.rel.needCopy
	t.mu.Unlock()
	if !need {
		return nil
	}
	t.copyMu.Lock()
	defer t.copyMu.Unlock()
	t.mu.Lock()
	if !t.rel.needCopy {
		t.mu.Unlock()
		return nil
	}
	// Learn the list now so the peers are known for the copy; the JOIN
	// handler records it again (harmlessly) after validation.
	if j, err := proto.DecodeJoinBody(body); err == nil {
		t.learnTrackers(j.Trackers, j.CurrentTrackerIP, sess.localIP)
	}
	peers := t.peersLocked()
	t.mu.Unlock()

	ctx, cancel := t.exitContext()
	defer cancel()
	var best *candidate
	for _, p := range peers {
		st, err := t.peerStatus(ctx, p)
		if err != nil {
			continue // unreachable, or no groups (ENOENT): nothing to copy there
		}
		if c := (candidate{addr: p, st: st}); best == nil || better(c, *best) {
			best = &c
		}
	}
	if best == nil {
		t.mu.Lock()
		t.rel.needCopy = false
		t.mu.Unlock()
		t.log.Info().Int("peers", len(peers)).Msg("no peer tracker has system data: nothing to copy")
		return nil
	}
	files, err := t.fetchSysFiles(ctx, best.addr)
	if err == nil {
		err = t.applySysFiles(files)
	}
	if err != nil {
		t.log.Warn().Err(err).Str("peer", best.addr).Msg("copy system data")
		return proto.Errf(proto.StatusEAGAIN, "join: copying system data from %s: %v", best.addr, err)
	}
	t.log.Info().Str("peer", best.addr).Int("registry_bytes", len(files[0])).
		Int("changelog_bytes", len(files[3])).Msg("system data copied from peer tracker")
	return nil
}

// fetchSysFiles reads the four files from a peer.
func (t *Tracker) fetchSysFiles(ctx context.Context, addr string) ([][]byte, error) {
	c, err := t.dialPeer(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := t.peerCall(ctx, c, proto.CmdTrackerGetSysFilesStart, nil, 0); err != nil {
		return nil, err
	}
	files := make([][]byte, sysFileCount)
	for i := range files {
		for {
			off := int64(len(files[i]))
			b, err := t.peerCall(ctx, c, proto.CmdTrackerGetOneSysFile, (&proto.Buf{}).U8(byte(i)).I64(off).B, sysChunk+8)
			if err != nil {
				return nil, fmt.Errorf("file %d at %d: %w", i, off, err)
			}
			if len(b) < 8 {
				return nil, fmt.Errorf("file %d at %d: answer of %d bytes", i, off, len(b))
			}
			size := proto.I64(b)
			if size < 0 || size > maxSysFile || off+int64(len(b)-8) > size {
				return nil, fmt.Errorf("file %d: size %d, have %d+%d", i, size, off, len(b)-8)
			}
			files[i] = append(files[i], b[8:]...)
			if int64(len(files[i])) >= size {
				break
			}
			if len(b) == 8 {
				return nil, fmt.Errorf("file %d: empty chunk at %d of %d", i, off, size)
			}
		}
	}
	if _, err := t.peerCall(ctx, c, proto.CmdTrackerGetSysFilesEnd, nil, 0); err != nil {
		return nil, err
	}
	return files, nil
}

// applySysFiles validates the copied registry (through the same loader as
// a restart) and replaces ours and the changelog with it.
func (t *Tracker) applySysFiles(files [][]byte) error {
	dir := filepath.Join(t.dataDir, ".syscopy")
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, registryFile), files[0], 0o644); err != nil {
		return err
	}
	reg, err := loadRegistry(dir)
	if err != nil {
		return fmt.Errorf("copied registry: %w", err)
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := writeAtomic(t.changelog.path, files[3]); err != nil {
		return fmt.Errorf("write changelog: %w", err)
	}
	t.changelog = &changelog{path: t.changelog.path, n: int64(len(files[3]))}
	reg.leaderChg = t.reg.leaderChg + 1
	reg.dirty = true
	reg.log = t.log
	t.reg = reg
	t.applyIDsToRegistryLocked()
	t.rel.needCopy = false
	return nil
}
