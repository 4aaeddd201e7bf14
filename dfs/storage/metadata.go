package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// metaSuffix names the metadata file next to its data file (docs/protocol.md §6.12).
const metaSuffix = "-m"

// setMetaFixedLen is filename_len + meta_size + flag + group (docs/protocol.md §3.8).
const setMetaFixedLen = 8 + 8 + 1 + proto.GroupNameLen

// Metadata op flags.
const (
	metaOverwrite = 'O'
	metaMerge     = 'M'
)

// setMetadata serves SET_METADATA (13): overwrite (O) or merge (M) the
// sorted `-m` file of an existing data file and log C/U/D for it.
func (sess *session) setMetadata(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalSetMeta, 1)
	if len(body) < setMetaFixedLen {
		return nil, proto.Errf(proto.StatusEINVAL, "set metadata: body %d bytes", len(body))
	}
	r := &proto.Reader{B: body}
	nameLen, metaSize := r.I64(), r.I64()
	flag := r.U8()
	group := r.Fixed(proto.GroupNameLen)
	if nameLen <= 0 || nameLen >= fileid.MaxRemoteLen {
		return nil, proto.Errf(proto.StatusEINVAL, "set metadata: filename length %d", nameLen)
	}
	if metaSize < 0 || metaSize != int64(len(body))-setMetaFixedLen-nameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "set metadata: meta size %d does not match body %d", metaSize, len(body))
	}
	if flag != metaOverwrite && flag != metaMerge {
		return nil, proto.Errf(proto.StatusEINVAL, "set metadata: op flag %q", flag)
	}
	if err := s.checkGroup(group); err != nil {
		return nil, err
	}
	remote := string(r.Raw(int(nameLen)))
	recs := proto.DecodeMetadata(r.Rest())
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	mu := s.fileLock(remote)
	mu.Lock()
	defer mu.Unlock()
	if err := s.storedExists(remote, path); err != nil {
		if proto.StatusOf(err) == proto.StatusENOENT {
			return nil, proto.Errf(proto.StatusENOENT, "set metadata: %s", remote)
		}
		return nil, fmt.Errorf("set metadata %s: %w", remote, err)
	}
	metaPath, metaName := path+metaSuffix, remote+metaSuffix
	now := wallNow().Unix()
	old, rerr := os.ReadFile(metaPath)
	existed := rerr == nil
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return nil, fmt.Errorf("set metadata %s: %w", remote, rerr)
	}
	switch {
	case flag == metaOverwrite && len(recs) == 0:
		if existed {
			if err := os.Remove(metaPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("set metadata %s: %w", remote, err)
			}
			s.binlog.Write(now, opDelete, metaName, "")
		}
	case flag == metaMerge && len(recs) == 0:
		// nothing to merge
	default:
		var merged []proto.Meta
		if flag == metaOverwrite {
			merged = proto.MergeMetadata(nil, recs, true)
		} else {
			merged = proto.MergeMetadata(proto.DecodeMetadata(old), recs, false)
		}
		if err := writeFileAtomic(metaPath, proto.EncodeMetadata(merged), s.fsyncBytes > 0); err != nil {
			return nil, fmt.Errorf("set metadata %s: %w", remote, err)
		}
		op := opCreate
		if existed {
			op = opUpdate
		}
		s.binlog.Write(now, op, metaName, "")
	}
	s.stats.add(statSuccessSetMeta, 1)
	s.stats.touch(statLastSourceUpdate)
	return nil, nil
}

// getMetadata serves GET_METADATA (15): the raw `-m` file. ENOENT when the
// data file or the metadata file is missing.
func (sess *session) getMetadata(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	s.stats.add(statTotalGetMeta, 1)
	if len(body) <= proto.GroupNameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "get metadata: body %d bytes", len(body))
	}
	if err := s.checkGroup(proto.Fixed(body[:proto.GroupNameLen])); err != nil {
		return nil, err
	}
	remote := string(body[proto.GroupNameLen:])
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	if err := s.storedExists(remote, path); err != nil {
		if proto.StatusOf(err) == proto.StatusENOENT {
			return nil, proto.Errf(proto.StatusENOENT, "get metadata: %s", remote)
		}
		return nil, fmt.Errorf("get metadata %s: %w", remote, err)
	}
	b, err := os.ReadFile(path + metaSuffix)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, proto.Errf(proto.StatusENOENT, "get metadata: %s has none", remote)
		}
		return nil, fmt.Errorf("get metadata %s: %w", remote, err)
	}
	s.stats.add(statSuccessGetMeta, 1)
	return &reply{body: b}, nil
}
