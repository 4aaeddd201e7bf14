// Package fileid builds, parses and validates FastDFS file IDs
// ("group/Mxx/HH/HH/<name>", §6) and remote filenames (§3). Section numbers
// (§) refer to docs/protocol.md.
package fileid

import (
	"encoding/binary"
	"net/netip"
	"strconv"

	"yunpan/dfs/proto"
)

// Length constants of §6.1.
const (
	NormalRemoteLen = 44 // "Mxx/HH/HH/" + B64Len + ExtPartLen
	TrunkRemoteLen  = 60 // NormalRemoteLen + TrunkB64Len
	LogicPrefixLen  = 10 // "Mxx/HH/HH/"
	TruePrefixLen   = 6  // "HH/HH/"
	B64Len          = 27 // base64 of the 20-byte record
	TrunkB64Len     = 16 // base64 of the 12-byte trunk info
	ExtPartLen      = 7  // §6.4
	RecordLen       = 20 // the binary record inside the name
	MaxGroupLen     = 16
	MaxExtLen       = 6
	MaxPrefixLen    = 16
	// MaxRemoteLen is our hardening bound: remote filenames of this length or
	// more are refused (FastDFS builds paths in 128-byte buffers).
	MaxRemoteLen = 128
	// MinSlaveMasterLen is the minimum master true-name length for a slave (§6.8).
	MinSlaveMasterLen = 34
)

// Size-field flags (§6.2).
const (
	FlagAppender int64 = 1 << 58
	FlagTrunk    int64 = 1 << 59
)

// Kind is what a remote filename names (§6.7).
type Kind int

const (
	KindNormal Kind = iota
	KindAppender
	KindSlave
	KindTrunk
)

func (k Kind) String() string {
	switch k {
	case KindNormal:
		return "normal"
	case KindAppender:
		return "appender"
	case KindSlave:
		return "slave"
	case KindTrunk:
		return "trunk"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Info is the content of the 20-byte record (§6.2).
type Info struct {
	SourceIP  string // dotted IPv4, "" when the slot holds a server ID
	SourceID  uint32 // server ID, 0 when the slot holds an IP
	Timestamp int64  // create time, Unix seconds (stored as i32)
	SizeField int64  // raw size field with flags (§6.2)
	CRC32     uint32
}

// IsAppender reports the appender flag 2^58.
func (i Info) IsAppender() bool { return i.SizeField&FlagAppender != 0 }

// IsTrunk reports the trunk flag 2^59.
func (i Info) IsTrunk() bool { return i.SizeField&FlagTrunk != 0 }

// Size is the true size encoded in the size field (§6.2). For appender files
// it is 0; their real size only comes from the storage.
func (i Info) Size() int64 {
	v := uint64(i.SizeField)
	if v&(1<<63) != 0 || i.IsTrunk() {
		return int64(v & 0xFFFFFFFF)
	}
	return i.SizeField
}

// SizeField builds the size field of a normal (or appender) file (§6.2) with
// r = 0x80000000 | (rnd & 0x7FFFFF).
func SizeField(size int64, appender bool, rnd uint32) int64 {
	r := uint64(0x80000000 | rnd&0x7FFFFF)
	switch {
	case appender:
		return int64(r<<32) | FlagAppender
	case size >= 0 && size < 1<<32:
		return int64(r<<32 | uint64(size))
	default:
		return size
	}
}

// TrunkSizeField builds the size field of a trunk-resident file (§6.2).
func TrunkSizeField(size int64, rnd uint32) int64 {
	r := uint64(0x80000000 | rnd&0x7FFFFF)
	return int64(r<<32|uint64(size)&0xFFFFFFFF) | FlagTrunk
}

// SourceSlot is the 4-byte source slot of the record: a non-zero id as a
// little-endian uint32; else the IPv4 octets in order; for an IPv6 address
// bytes 8–11 of its 16 bytes. Unparsable or empty addresses give zeros.
func SourceSlot(ip string, id uint32) [4]byte {
	var s [4]byte
	if id != 0 {
		binary.LittleEndian.PutUint32(s[:], id)
		return s
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return s
	}
	if a.Is4() {
		return a.As4()
	}
	b := a.As16()
	copy(s[:], b[8:12])
	return s
}

// sourceFromSlot classifies the slot (§6.2): 0 < int32(LE) ≤ 0xFFFFFF is a
// server ID, anything else an IPv4 address.
func sourceFromSlot(s []byte) (ip string, id uint32) {
	u := binary.LittleEndian.Uint32(s)
	if v := int32(u); v > 0 && v <= 0xFFFFFF {
		return "", u
	}
	return netip.AddrFrom4([4]byte{s[0], s[1], s[2], s[3]}).String(), 0
}

// Record returns the 20-byte binary record of i.
func (i Info) Record() [RecordLen]byte {
	var b [RecordLen]byte
	s := SourceSlot(i.SourceIP, i.SourceID)
	copy(b[0:4], s[:])
	binary.BigEndian.PutUint32(b[4:8], uint32(i.Timestamp))
	binary.BigEndian.PutUint64(b[8:16], uint64(i.SizeField))
	binary.BigEndian.PutUint32(b[16:20], i.CRC32)
	return b
}

// InfoFromRecord parses a 20-byte record (§6.2).
func InfoFromRecord(b [RecordLen]byte) Info {
	var i Info
	i.SourceIP, i.SourceID = sourceFromSlot(b[0:4])
	i.Timestamp = int64(int32(binary.BigEndian.Uint32(b[4:8])))
	i.SizeField = int64(binary.BigEndian.Uint64(b[8:16]))
	i.CRC32 = binary.BigEndian.Uint32(b[16:20])
	return i
}

// EncodeBlock is the 27-character base64 block of i.
func EncodeBlock(i Info) string {
	b := i.Record()
	return Base64Encode(b[:], false)
}

// DecodeBlock decodes a 27-character block. Characters outside the alphabet
// are skipped (§6.3); if fewer than 20 bytes remain it fails with EINVAL.
func DecodeBlock(block string) (Info, error) {
	var buf [48]byte
	b := AppendBase64Decode(buf[:0], block)
	if len(b) < RecordLen {
		return Info{}, proto.Errf(proto.StatusEINVAL, "file id block %q decodes to %d bytes", clip(block), len(b))
	}
	return InfoFromRecord([RecordLen]byte(b[:RecordLen])), nil
}

// Decode decodes the block at offset 10 of a remote filename (§6.10) and
// classifies the name (§6.7). It does not validate the path part; use
// ParseRemote for that. Names shorter than 44 bytes are EINVAL.
func Decode(remote string) (Info, Kind, error) {
	if len(remote) < NormalRemoteLen {
		return Info{}, 0, proto.Errf(proto.StatusEINVAL, "remote filename %q: length %d < %d", clip(remote), len(remote), NormalRemoteLen)
	}
	i, err := DecodeBlock(remote[LogicPrefixLen : LogicPrefixLen+B64Len])
	if err != nil {
		return Info{}, 0, proto.Errf(proto.StatusEINVAL, "remote filename %q: bad base64 block", clip(remote))
	}
	return i, KindOf(i, len(remote)), nil
}

// KindOf classifies a name of length remoteLen whose record is i (§6.7).
func KindOf(i Info, remoteLen int) Kind {
	switch {
	case i.IsAppender():
		return KindAppender
	case remoteLen > TrunkRemoteLen || remoteLen > NormalRemoteLen && !i.IsTrunk():
		return KindSlave
	case i.IsTrunk() && remoteLen == TrunkRemoteLen:
		return KindTrunk
	}
	return KindNormal
}

// TrunkInfo is the 12-byte trunk location inside a trunk-resident name (§6.7).
type TrunkInfo struct {
	TrunkID  int32
	Offset   int32
	SlotSize int32
}

// EncodeTrunk is the 16-character base64 of t.
func EncodeTrunk(t TrunkInfo) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(t.TrunkID))
	binary.BigEndian.PutUint32(b[4:8], uint32(t.Offset))
	binary.BigEndian.PutUint32(b[8:12], uint32(t.SlotSize))
	return Base64Encode(b[:], false)
}

// DecodeTrunk decodes the trunk block (characters 37..52) of a 60-character
// trunk remote filename.
func DecodeTrunk(remote string) (TrunkInfo, error) {
	if len(remote) < TrunkRemoteLen {
		return TrunkInfo{}, proto.Errf(proto.StatusEINVAL, "trunk remote filename %q: length %d < %d", clip(remote), len(remote), TrunkRemoteLen)
	}
	off := LogicPrefixLen + B64Len
	var buf [24]byte
	b := AppendBase64Decode(buf[:0], remote[off:off+TrunkB64Len])
	if len(b) < 12 {
		return TrunkInfo{}, proto.Errf(proto.StatusEINVAL, "trunk remote filename %q: bad trunk block", clip(remote))
	}
	return TrunkInfo{
		TrunkID:  int32(binary.BigEndian.Uint32(b[0:4])),
		Offset:   int32(binary.BigEndian.Uint32(b[4:8])),
		SlotSize: int32(binary.BigEndian.Uint32(b[8:12])),
	}, nil
}

// TrunkRemoteName is the 60-character remote filename of a trunk-resident
// file: "Mxx/HH/HH/" + the 27-character block of i (whose size field must
// carry FlagTrunk) + the 16-character block of t + the 7-character extension
// part (§6.9). HH/HH is the trunk file's directory.
func TrunkRemoteName(storePath, high, low int, i Info, t TrunkInfo, ext7 string) string {
	return "M" + hex2(storePath) + "/" + hex2(high) + "/" + hex2(low) + "/" + EncodeBlock(i) + EncodeTrunk(t) + ext7
}

// Valid reports whether t can name a slot: a non-negative trunk ID and
// offset and a slot large enough for the 24-byte slot header, the slot
// ending inside the signed 32-bit offsets trunk files use.
func (t TrunkInfo) Valid() bool {
	return t.TrunkID >= 0 && t.Offset >= 0 && t.SlotSize >= TrunkHeaderLen &&
		int64(t.Offset)+int64(t.SlotSize) <= 1<<31-1
}

// TrunkHeaderLen is the size of the header at the start of every trunk slot
// (§5.8).
const TrunkHeaderLen = 24

// ParseTrunk decodes a trunk-resident remote filename: its record (which
// must carry the trunk flag) and its slot. Any other name is EINVAL.
func ParseTrunk(remote string) (Info, TrunkInfo, error) {
	i, k, err := Decode(remote)
	if err != nil {
		return Info{}, TrunkInfo{}, err
	}
	if k != KindTrunk {
		return Info{}, TrunkInfo{}, proto.Errf(proto.StatusEINVAL, "remote filename %q is %v, not trunk-resident", clip(remote), k)
	}
	t, err := DecodeTrunk(remote)
	if err != nil {
		return Info{}, TrunkInfo{}, err
	}
	if !t.Valid() || int64(t.SlotSize) < TrunkHeaderLen+i.Size() {
		return Info{}, TrunkInfo{}, proto.Errf(proto.StatusEINVAL, "remote filename %q: bad trunk slot %+v for size %d", clip(remote), t, i.Size())
	}
	return i, t, nil
}
