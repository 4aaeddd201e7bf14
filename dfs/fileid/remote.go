package fileid

import (
	"strings"

	"yunpan/dfs/proto"
)

const upperHex = "0123456789ABCDEF"

// Split splits a file ID at the first '/' into group and remote filename. The
// group must be [A-Za-z0-9]{1,16} and the remote non-empty; else EINVAL.
func Split(fileID string) (group, remote string, err error) {
	group, remote, ok := strings.Cut(fileID, "/")
	if !ok {
		return "", "", proto.Errf(proto.StatusEINVAL, "file id %q: no '/'", clip(fileID))
	}
	if !ValidGroup(group) {
		return "", "", proto.Errf(proto.StatusEINVAL, "file id %q: bad group name", clip(fileID))
	}
	if remote == "" {
		return "", "", proto.Errf(proto.StatusEINVAL, "file id %q: empty remote filename", clip(fileID))
	}
	return group, remote, nil
}

// Join is the file ID group + "/" + remote.
func Join(group, remote string) string { return group + "/" + remote }

// Remote is a validated remote filename.
type Remote struct {
	StorePath, High, Low int
	Name                 string // last path element
}

// RelPath is "HH/HH/<name>", relative to <store_path>/data.
func (r Remote) RelPath() string {
	return hex2(r.High) + "/" + hex2(r.Low) + "/" + r.Name
}

// String is the logic remote filename "Mxx/HH/HH/<name>".
func (r Remote) String() string { return "M" + hex2(r.StorePath) + "/" + r.RelPath() }

func hex2(v int) string {
	return string([]byte{upperHex[v>>4&0xF], upperHex[v&0xF]})
}

// parseHex2 reads two upper-case hex digits.
func parseHex2(s string) (int, bool) {
	hi := strings.IndexByte(upperHex, s[0])
	lo := strings.IndexByte(upperHex, s[1])
	if hi < 0 || lo < 0 {
		return 0, false
	}
	return hi<<4 | lo, true
}

// ParseRemote validates a remote filename as a storage does (§3): length > 10;
// "Mxx/" with upper-case hex xx < storePathCount (a name without the leading
// 'M' is pre-V1.12 style and means store path 0); then "HH/HH/<name>" with
// upper-case hex and a non-empty name without '/'. As hardening it also
// refuses names of 128 bytes or more, NUL bytes, backslashes, ".." anywhere
// and the name ".". Every failure is EINVAL.
func ParseRemote(remote string, storePathCount int) (Remote, error) {
	bad := func(why string) (Remote, error) {
		return Remote{}, proto.Errf(proto.StatusEINVAL, "remote filename %q: %s", clip(remote), why)
	}
	switch {
	case len(remote) <= LogicPrefixLen:
		return bad("too short")
	case len(remote) >= MaxRemoteLen:
		return bad("too long")
	case strings.ContainsAny(remote, "\x00\\"):
		return bad("NUL or backslash")
	case strings.Contains(remote, ".."):
		return bad(`contains ".."`)
	}
	var r Remote
	rest := remote
	if remote[0] == 'M' {
		idx, ok := parseHex2(remote[1:3])
		if !ok || remote[3] != '/' {
			return bad("bad store path part")
		}
		r.StorePath = idx
		rest = remote[4:]
	}
	if r.StorePath >= storePathCount {
		return bad("store path index out of range")
	}
	if len(rest) <= TruePrefixLen || rest[2] != '/' || rest[5] != '/' {
		return bad("bad HH/HH/ part")
	}
	var ok1, ok2 bool
	r.High, ok1 = parseHex2(rest[0:2])
	r.Low, ok2 = parseHex2(rest[3:5])
	if !ok1 || !ok2 {
		return bad("bad HH/HH/ part")
	}
	r.Name = rest[TruePrefixLen:]
	if strings.IndexByte(r.Name, '/') >= 0 || r.Name == "." {
		return bad("bad file name part")
	}
	return r, nil
}

// RemoteName is "Mxx/HH/HH/<b64><ext7>".
func RemoteName(storePath, high, low int, i Info, ext7 string) string {
	return "M" + hex2(storePath) + "/" + hex2(high) + "/" + hex2(low) + "/" + EncodeBlock(i) + ext7
}

// ValidGroup reports whether s is a group name: [A-Za-z0-9]{1,16}.
func ValidGroup(s string) bool {
	if len(s) == 0 || len(s) > MaxGroupLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// ValidExt reports whether s is a file extension as sent in requests
// (without the leading dot): at most 6 of [A-Za-z0-9._-], no "..". The empty
// string (no extension) is valid.
func ValidExt(s string) bool {
	return len(s) <= MaxExtLen && validChars(s)
}

// ValidPrefix reports whether s is a slave prefix: 1..16 of [A-Za-z0-9._-],
// no "..".
func ValidPrefix(s string) bool {
	return len(s) > 0 && len(s) <= MaxPrefixLen && validChars(s)
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return !strings.Contains(s, "..")
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// clip bounds untrusted text quoted in error messages.
func clip(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}
