package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"yunpan/dfs/proto"
)

// deleteFile serves DELETE_FILE (12): remove the data file (for a symlinked
// slave also its target), its `-m` metadata file, and log `D` for each.
func (sess *session) deleteFile(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalDelete, 1)
	if len(body) <= proto.GroupNameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "delete: body %d bytes", len(body))
	}
	if err := s.checkGroup(proto.Fixed(body[:proto.GroupNameLen])); err != nil {
		return nil, err
	}
	remote := string(body[proto.GroupNameLen:])
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := s.trunkRefOf(remote); ok {
		if err != nil {
			return nil, err
		}
		return nil, s.deleteTrunk(ref) // trunk_writer.go
	}
	mu := s.fileLock(remote)
	mu.Lock()
	defer mu.Unlock()
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.noteDeleteOfMissing(remote)
			return nil, proto.Errf(proto.StatusENOENT, "delete %s", remote)
		}
		return nil, fmt.Errorf("delete %s: %w", remote, err)
	}
	now := wallNow().Unix()
	switch {
	case fi.Mode().IsRegular():
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("delete %s: %w", remote, err)
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("delete %s: %w", remote, err)
		}
		// A slave stored as a link also takes its data file along, but only
		// when that file is one of ours.
		if logic, tpath, ok := s.logicName(path, target); ok {
			if err := os.Remove(tpath); err == nil {
				s.binlog.Write(now, opDelete, logic, "")
			}
		}
	default:
		return nil, proto.Errf(proto.StatusEINVAL, "delete %s: not a regular file or link", remote)
	}
	s.binlog.Write(now, opDelete, remote, "")
	if err := os.Remove(path + metaSuffix); err == nil {
		s.binlog.Write(now, opDelete, remote+metaSuffix, "")
	}
	if s.fsyncBytes > 0 {
		syncDir(filepath.Dir(path))
	}
	s.stats.add(statSuccessDelete, 1)
	s.stats.touch(statLastSourceUpdate)
	return nil, nil
}

// noteDeleteOfMissing logs D for a file a client deleted that is not here.
// A replica answers so when the file has not reached it yet (the tracker
// sends deletes to a replica while the file's source is away): without the
// record the create that arrives later would store it here, and the
// source, which never heard of the delete, would keep its copy too. The D
// record leaves a tombstone that turns that create away (tombstone.go),
// and the sync carries the delete to the other members, so the delete wins
// in whatever order the records meet. The answer stays ENOENT. A name
// already deleted here lately is not logged again (clients retry deletes).
func (s *Storage) noteDeleteOfMissing(remote string) {
	now := wallNow().Unix()
	if s.binlog.tombs.covers(remote, now) {
		return
	}
	s.binlog.Write(now, opDelete, remote, "")
}

// logicName maps a symlink target (relative to the link's directory or
// absolute) to "Mxx/HH/HH/name" when it lies in one of our store paths.
func (s *Storage) logicName(link, target string) (logic, path string, ok bool) {
	if target == "" {
		return "", "", false
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(link), target)
	}
	target = filepath.Clean(target)
	for _, sp := range s.paths {
		rel, err := filepath.Rel(sp.dataDir, target)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		logic = "M" + hex2(sp.index) + "/" + filepath.ToSlash(rel)
		if r, err := s.parseRemoteOnly(logic); err == nil && r == sp.index {
			return logic, target, true
		}
	}
	return "", "", false
}

func (s *Storage) parseRemoteOnly(logic string) (int, error) {
	r, _, err := s.parseRemote(logic)
	return r.StorePath, err
}
