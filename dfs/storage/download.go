package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"yunpan/dfs/proto"
)

// downloadFixedLen is offset + length + group (docs/protocol.md §3.7).
const downloadFixedLen = 8 + 8 + proto.GroupNameLen

// download serves DOWNLOAD_FILE (14) with the current range rules: offset ≥
// size is EINVAL, a length beyond the end is clamped, 0 means "to the end".
// As advised in §3.7, offset 0 on an empty file answers an empty body.
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
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return nil, err
	}
	s.stats.add(statTotalFileOpen, 1)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, proto.Errf(proto.StatusENOENT, "download %s", remote)
		}
		return nil, fmt.Errorf("download %s: %w", remote, err)
	}
	s.stats.add(statSuccessFileOpen, 1)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("download %s: %w", remote, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, proto.Errf(proto.StatusEISDIR, "download %s: not a regular file", remote)
	}
	size := fi.Size()
	if size == 0 && off == 0 {
		f.Close()
		s.stats.add(statSuccessDownload, 1)
		return &reply{}, nil
	}
	if off >= size {
		f.Close()
		return nil, proto.Errf(proto.StatusEINVAL, "download %s: offset %d ≥ size %d", remote, off, size)
	}
	if n == 0 || n > size-off {
		n = size - off
	}
	if off == 0 && n == size {
		if err := s.verifyWhole(remote, f, size); err != nil { // CRC32 in the name (hardening.go)
			f.Close()
			return nil, err
		}
	}
	s.stats.add(statSuccessDownload, 1)
	s.stats.add(statTotalFileRead, 1)
	s.stats.add(statSuccessFileRead, 1)
	return &reply{file: f, off: off, n: n}, nil
}
