package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// regenerate serves REGENERATE_APPENDER_FILENAME (38, §3.10): an appender
// file becomes a normal file by getting a new name — this storage as
// source, the current time, the real size and the CRC32 of the content —
// in the same store path and HH/HH with the same 7-character extension
// part. The binlog gets `R <new> <old>`. A metadata file follows its data
// file (our choice: FastDFS leaves it behind) and is logged the same way,
// so a replica renames it too.
func (sess *session) regenerate(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := checkAppenderNameLen("regenerate", int64(len(body))); err != nil {
		return nil, err
	}
	remote := string(body)
	a, err := s.openAppender("regenerate", remote)
	if err != nil {
		return nil, err
	}
	defer a.close()
	crc, size, err := appenderCRC(a.f)
	if err != nil {
		return nil, fmt.Errorf("regenerate %s: %w", remote, err)
	}
	info := fileid.Info{SourceIP: s.sourceIP(sess.c), SourceID: s.sourceID(), Timestamp: wallNow().Unix(), CRC32: crc}
	ext7 := remote[len(remote)-fileid.ExtPartLen:]
	dir := filepath.Dir(a.path)

	// The striped lock keeps delete and set-metadata of the old name out
	// while it changes.
	mu := s.fileLock(remote)
	mu.Lock()
	defer mu.Unlock()
	if cur, err := os.Stat(a.path); err != nil || !os.SameFile(cur, a.fi) {
		return nil, proto.Errf(proto.StatusENOENT, "regenerate %s: deleted meanwhile", remote)
	}
	name, err := renameUnique(a.path, dir, func(int) string {
		info.SizeField = fileid.SizeField(size, false, rand.Uint32())
		return fileid.EncodeBlock(info)
	}, ext7)
	if err != nil {
		return nil, fmt.Errorf("regenerate %s: %w", remote, err)
	}
	newRemote := remote[:fileid.LogicPrefixLen] + name
	now := wallNow().Unix()
	s.binlog.Write(now, opRename, newRemote, remote)
	if err := os.Rename(a.path+metaSuffix, filepath.Join(dir, name)+metaSuffix); err == nil {
		s.binlog.Write(now, opRename, newRemote+metaSuffix, remote+metaSuffix)
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn().Err(err).Str("file", remote).Msg("regenerate: metadata file not moved")
	}
	if s.fsyncBytes > 0 {
		if err := syncDir(dir); err != nil {
			s.log.Warn().Err(err).Str("dir", dir).Msg("fsync directory")
		}
	}
	s.stats.touch(statLastSourceUpdate)
	s.log.Debug().Str("file", remote).Str("new", newRemote).Msg("appender file renamed")
	return &reply{body: (&proto.Buf{}).Fixed(s.group, proto.GroupNameLen).String(newRemote).B}, nil
}

// renameUnique gives the file at path a new name in dir: block(try)+ext7, up to
// 10 tries. The new name never replaces an existing file (a hard link,
// then the old name is removed; a plain check-and-rename where hard links
// are not supported). EBUSY when no free name was found.
func renameUnique(path, dir string, block func(try int) string, ext7 string) (string, error) {
	for try := range maxNameTries {
		name := block(try) + ext7
		final := filepath.Join(dir, name)
		err := os.Link(path, final)
		if err == nil {
			if err := os.Remove(path); err != nil {
				os.Remove(final)
				return "", fmt.Errorf("remove old name: %w", err)
			}
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if _, serr := os.Lstat(final); serr == nil {
			continue
		}
		if rerr := os.Rename(path, final); rerr != nil {
			return "", fmt.Errorf("rename to %s: %w", name, rerr)
		}
		return name, nil
	}
	return "", proto.Errf(proto.StatusEBUSY, "no unique file name after %d tries", maxNameTries)
}

// appenderCRC is the IEEE CRC32 and length of the whole of f.
func appenderCRC(f *os.File) (uint32, int64, error) {
	h := crc32.NewIEEE()
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	n, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), *bp)
	if err != nil {
		return 0, 0, err
	}
	return h.Sum32(), n, nil
}
