package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Flags in the QUERY_FILE_INFO header status byte (docs/protocol.md §3.9).
const (
	infoFlagNoCRC  = 1 // do not compute the CRC32 of appender/slave files
	infoFlagSilent = 2 // do not log a missing file
)

// queryFileInfo serves QUERY_FILE_INFO (22): size, mtime, CRC32 and source
// IP, 40 bytes (or 70 when the tracker asks for 46-byte IPs).
func (sess *session) queryFileInfo(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if len(body) <= proto.GroupNameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "query file info: body %d bytes", len(body))
	}
	if err := s.checkGroup(proto.Fixed(body[:proto.GroupNameLen])); err != nil {
		return nil, err
	}
	remote := string(body[proto.GroupNameLen:])
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	info, kind, err := fileid.Decode(remote)
	if err != nil {
		return nil, err
	}
	if ref, ok, err := s.trunkRefOf(remote); ok {
		if err != nil {
			return nil, err
		}
		size, mtime, err := s.slotStat(ref)
		if err != nil {
			if h.Status&infoFlagSilent == 0 {
				s.log.Info().Str("file", remote).Msg("query file info: no such file")
			}
			return nil, err
		}
		w := (&proto.Buf{}).I64(size).I64(mtime).I64(int64(int32(info.CRC32))).
			Fixed(s.fileSourceIP(info), s.curParams().responseIPSize)
		return &reply{body: w.B}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if h.Status&infoFlagSilent == 0 {
				s.log.Info().Str("file", remote).Msg("query file info: no such file")
			}
			return nil, proto.Errf(proto.StatusENOENT, "query file info: %s", remote)
		}
		return nil, fmt.Errorf("query file info %s: %w", remote, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, proto.Errf(proto.StatusEINVAL, "query file info %s: not a regular file", remote)
	}
	crc := info.CRC32
	if kind == fileid.KindAppender || kind == fileid.KindSlave {
		crc = 0
		if h.Status&infoFlagNoCRC == 0 {
			if crc, err = fileCRC32(path); err != nil {
				return nil, fmt.Errorf("query file info %s: %w", remote, err)
			}
		}
	}
	w := (&proto.Buf{}).I64(fi.Size()).I64(fi.ModTime().Unix()).I64(int64(int32(crc))).
		Fixed(s.fileSourceIP(info), s.curParams().responseIPSize)
	return &reply{body: w.B}, nil
}

// fileSourceIP is the source IP QUERY_FILE_INFO answers for a name.
func (s *Storage) fileSourceIP(info fileid.Info) string {
	if info.SourceID != 0 {
		return s.idAddr(info.SourceID) // "" when the ID is not in the tracker's list
	}
	return info.SourceIP
}

// fileCRC32 is the IEEE CRC32 of a whole file.
func fileCRC32(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := crc32.NewIEEE()
	bp := copyBufs.get()
	defer copyBufs.put(bp)
	if _, err := io.CopyBuffer(h, f, *bp); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}
