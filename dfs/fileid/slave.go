package fileid

import (
	"strings"

	"yunpan/dfs/proto"
)

// SlaveRemote names a slave file (§6.8): the master remote filename up to the
// first '.' within its last 7 characters (all of it if none), then prefix,
// then ext with a leading '.' added if missing (empty ext = no extension).
// EINVAL when the master's true name (without "Mxx/") is shorter than 34, the
// prefix is empty or invalid, the ext is invalid, the prefix is "-m" with no
// ext, or the result is not a valid remote filename.
func SlaveRemote(masterRemote, prefix, ext string) (string, error) {
	bad := func(why string) (string, error) {
		return "", proto.Errf(proto.StatusEINVAL, "slave of %q prefix %q ext %q: %s", clip(masterRemote), clip(prefix), clip(ext), why)
	}
	trueName := masterRemote
	if strings.HasPrefix(trueName, "M") && len(trueName) >= 4 && trueName[3] == '/' {
		trueName = trueName[4:]
	}
	if len(trueName) < MinSlaveMasterLen {
		return bad("master name too short")
	}
	if !ValidPrefix(prefix) {
		return bad("bad prefix")
	}
	ext = strings.TrimPrefix(ext, ".")
	if !ValidExt(ext) {
		return bad("bad extension")
	}
	if ext == "" && prefix == "-m" {
		return bad(`prefix "-m" without extension clashes with the metadata file`)
	}
	base := masterRemote
	tail := len(masterRemote) - ExtPartLen
	if p := strings.IndexByte(masterRemote[tail:], '.'); p >= 0 {
		base = masterRemote[:tail+p]
	}
	s := base + prefix
	if ext != "" {
		s += "." + ext
	}
	if _, err := ParseRemote(s, 256); err != nil {
		return bad(err.Error())
	}
	return s, nil
}
