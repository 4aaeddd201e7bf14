package fileid

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// workedExample is §6.11.
var workedExample = Info{
	SourceIP:  "192.168.1.100",
	Timestamp: 1700000000,
	SizeField: SizeField(12345, false, 0x80001234),
	CRC32:     0xDEADBEEF,
}

func TestWorkedExample(t *testing.T) {
	i := workedExample
	rec := i.Record()
	require.Equal(t, "c0a801646553f1008000123400003039deadbeef", hex.EncodeToString(rec[:]))
	require.Equal(t, "wKgBZGVT8QCAABI0AAAwOd6tvu8", EncodeBlock(i))

	// The example name often given for these inputs, "wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg" (random
	// digits "12") is one character short: "jpg" takes 3 random digits, so the
	// 7-character extension part is "812.jpg" and the name ends "tvu8812.jpg".
	require.Len(t, "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu812.jpg", NormalRemoteLen-1)
	digits := []uint32{8, 1, 2}
	ext := FormatExt("jpg", func() uint32 { d := digits[0]; digits = digits[1:]; return d })
	require.Equal(t, "812.jpg", ext)
	name := RemoteName(0, 0, 0x2A, i, ext)
	require.Equal(t, "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg", name)

	got, kind, err := Decode(name)
	require.NoError(t, err)
	require.Equal(t, KindNormal, kind)
	require.Equal(t, i, got)
	require.EqualValues(t, 12345, got.Size())

	// server ID variant
	id := i
	id.SourceIP, id.SourceID = "", 100001
	require.Equal(t, [4]byte{0xA1, 0x86, 0x01, 0x00}, SourceSlot("", 100001))
	require.Equal(t, "oYYBAGVT8QCAABI0AAAwOd6tvu8", EncodeBlock(id))
	got, _, err = Decode("M00/00/2A/oYYBAGVT8QCAABI0AAAwOd6tvu8812.jpg")
	require.NoError(t, err)
	require.Equal(t, id, got)

	// appender variant
	ap := i
	ap.SizeField = SizeField(12345, true, 0x80000777)
	require.Equal(t, uint64(0x8400077700000000), uint64(ap.SizeField))
	require.Equal(t, "wKgBZGVT8QCEAAd3AAAAAN6tvu8", EncodeBlock(ap))
	got, kind, err = Decode("M00/00/2A/wKgBZGVT8QCEAAd3AAAAAN6tvu8812.jpg")
	require.NoError(t, err)
	require.Equal(t, KindAppender, kind)
	require.True(t, got.IsAppender())
	require.False(t, got.IsTrunk())
	require.EqualValues(t, 0, got.Size())
}

func TestSizeField(t *testing.T) {
	for _, tc := range []struct {
		size     int64
		appender bool
		rnd      uint32
		want     uint64
		trueSize int64
	}{
		{0, false, 0, 0x8000000000000000, 0},
		{13, false, 0xFFFFFFFF, 0x807FFFFF0000000D, 13},
		{1<<32 - 1, false, 0x7C76D6, 0x807C76D6FFFFFFFF, 1<<32 - 1},
		{1 << 32, false, 0x1234, 1 << 32, 1 << 32},
		{5 << 40, false, 0x1234, 5 << 40, 5 << 40},
		{99, true, 0x6C361C, 0x846C361C00000000, 0},
	} {
		v := SizeField(tc.size, tc.appender, tc.rnd)
		require.Equal(t, tc.want, uint64(v), "size %d", tc.size)
		i := Info{SizeField: v}
		require.Equal(t, tc.trueSize, i.Size())
		require.Equal(t, tc.appender, i.IsAppender())
		require.False(t, i.IsTrunk())
	}
	tr := Info{SizeField: TrunkSizeField(1<<32+77, 0x12)}
	require.Equal(t, uint64(0x880000120000004D), uint64(tr.SizeField))
	require.True(t, tr.IsTrunk())
	require.EqualValues(t, 77, tr.Size())
	// trunk flag without bit 63 still masks to 32 bits
	require.EqualValues(t, 5, Info{SizeField: FlagTrunk | 1<<40 | 5}.Size())
}

func TestSourceSlot(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		id     uint32
		slot   [4]byte
		wantIP string
		wantID uint32
	}{
		{"127.0.0.1", 0, [4]byte{127, 0, 0, 1}, "127.0.0.1", 0},
		{"10.1.2.3", 0, [4]byte{10, 1, 2, 3}, "10.1.2.3", 0},
		{"", 1, [4]byte{1, 0, 0, 0}, "", 1},
		{"", 0xFFFFFF, [4]byte{0xFF, 0xFF, 0xFF, 0}, "", 0xFFFFFF},
		// an ID > 0xFFFFFF cannot be told from an IP (FastDFS has the same limit)
		{"", 0x1000000, [4]byte{0, 0, 0, 1}, "0.0.0.1", 0},
		// IPs ending in .0 read back as server IDs
		{"10.1.2.0", 0, [4]byte{10, 1, 2, 0}, "", 0x0002010A},
		{"0.0.0.0", 0, [4]byte{}, "0.0.0.0", 0},
		{"", 0, [4]byte{}, "0.0.0.0", 0},
		{"not an ip", 0, [4]byte{}, "0.0.0.0", 0},
		{"2001:db8::c0a8:164:0:1", 0, [4]byte{0xC0, 0xA8, 1, 0x64}, "192.168.1.100", 0},
		{"fe80::1:2:3:4", 0, [4]byte{0, 1, 0, 2}, "0.1.0.2", 0},
	} {
		s := SourceSlot(tc.ip, tc.id)
		require.Equal(t, tc.slot, s, "%q/%d", tc.ip, tc.id)
		ip, id := sourceFromSlot(s[:])
		require.Equal(t, tc.wantIP, ip, "%q/%d", tc.ip, tc.id)
		require.Equal(t, tc.wantID, id, "%q/%d", tc.ip, tc.id)
	}
}

func TestBase64(t *testing.T) {
	for n := 0; n < 40; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n*11)
		}
		raw := Base64Encode(b, false)
		require.Equal(t, base64.RawURLEncoding.EncodeToString(b), raw)
		padded := Base64Encode(b, true)
		require.Equal(t, strings.ReplaceAll(base64.URLEncoding.EncodeToString(b), "=", "."), padded)
		require.Equal(t, b, Base64Decode(raw))
		require.Equal(t, b, Base64Decode(padded))
	}
	// characters outside the alphabet are ignored
	require.Equal(t, []byte("hello"), Base64Decode("aG*V\nsb!G8"))
	require.Equal(t, []byte{}, Base64Decode("....~~"))
	require.Len(t, Base64Decode(strings.Repeat("A", 27)), 20)
}

func TestIPv6ShortCode(t *testing.T) {
	for _, a := range []string{"::1", "fe80::1", "2001:db8::1"} {
		code := IPv6ShortCode(a)
		require.Len(t, code, 12)
		require.Equal(t, byte('.'), code[11])
		b := Base64Decode(code)
		require.Len(t, b, 8)
		require.Equal(t, ^crc32.ChecksumIEEE([]byte(a)), binary.LittleEndian.Uint32(b))
		require.Zero(t, binary.LittleEndian.Uint32(b[4:]))
	}
	// CRC register of "::1" computed by hand-rolled bitwise CRC (no final XOR)
	reg := uint32(0xFFFFFFFF)
	for _, c := range []byte("::1") {
		reg ^= uint32(c)
		for range 8 {
			if reg&1 != 0 {
				reg = reg>>1 ^ 0xEDB88320
			} else {
				reg >>= 1
			}
		}
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], reg)
	require.Equal(t, strings.ReplaceAll(base64.URLEncoding.EncodeToString(b[:]), "=", "."), IPv6ShortCode("::1"))
}

func TestFormatExt(t *testing.T) {
	seq := func(d ...uint32) func() uint32 {
		return func() uint32 { v := d[0]; d = d[1:]; return v }
	}
	require.Equal(t, "812.jpg", FormatExt("jpg", seq(8, 1, 2)))
	require.Equal(t, "70.jpeg", FormatExt("jpeg", seq(17, 20)))
	require.Equal(t, ".tar.gz", FormatExt("tar.gz", seq()))
	require.Equal(t, "4071934", FormatExt("", seq(4, 0, 7, 1, 9, 3, 4)))
	require.Equal(t, "9.abcdefg"[0:0]+".abcdef", FormatExt("abcdefgh", seq()))
	for _, e := range []string{"", "a", "jpg", "tar.gz", "xxxxxxxxx"} {
		s := FormatExt(e, nil)
		require.Len(t, s, ExtPartLen)
	}
}

func TestExtFromFilename(t *testing.T) {
	for in, want := range map[string]string{
		"hello.txt":          "txt",
		"a.tar.gz":           "tar.gz",
		"/x/y/a.tar.gz":      "tar.gz",
		"a.b.tar.gz":         "tar.gz",
		"a.jpeg.gz":          "gz", // "jpeg.gz" is 7 > 6
		"a.tarx.gz":          "gz", // same
		"a.t.gz":             "t.gz",
		"noext":              "",
		"a.toolong":          "",
		"a.abcdef":           "abcdef",
		"dir.d/file":         "",
		"dir.x/f.gz":         "gz", // "x/f.gz" contains '/'
		".bashrc":            "bashrc",
		".tar.gz":            "gz", // a leading dot is a hidden file, not an ext separator
		"x.":                 "",
		"a..gz":              ".gz",
		"archive.2024.01.gz": "01.gz",
	} {
		require.Equal(t, want, ExtFromFilename(in), in)
	}
}

func TestPJW(t *testing.T) {
	// ref restates §6.5 with unsigned arithmetic and an explicit sign extension.
	ref := func(s string) int32 {
		var h uint32
		for i := 0; i < len(s); i++ {
			h = h<<4 + uint32(s[i])
			if t := h & 0xF0000000; t != 0 {
				sh := t >> 24
				if t&0x80000000 != 0 {
					sh |= 0xFFFFFF00
				}
				h = (h ^ sh) & 0x0FFFFFFF
			}
		}
		return int32(h)
	}
	require.EqualValues(t, 0, PJW(""))
	require.EqualValues(t, 'a', PJW("a"))
	require.EqualValues(t, 'a'<<4+'b', PJW("ab"))
	signCases := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(64)]
			if n%2 == 1 {
				b[i] = byte(rng.Uint32())
			}
		}
		s := string(b)
		require.Equal(t, ref(s), PJW(s), "%q", s)
		require.GreaterOrEqual(t, PJW(s), int32(0))
		if len(s) > 0 && PJW(s[:len(s)-1]) >= 0x08000000 {
			signCases++ // the next step had bit 31 set
		}
	}
	require.Greater(t, signCases, 100)
	// a hand-checked case where t has bit 31 set: h = 0x0FFFFFF0, then
	// h<<4 + 'A' = 0xFFFFFF41, t = 0xF0000000, t>>24 = 0xFFFFFFF0,
	// h ^ that = 0x000000B1, masked = 0xB1.
	require.EqualValues(t, 0xB1, pjwStep(0x0FFFFFF0, 'A'))

	wkHash := PJW("wKgBZGVT8QCAABI0AAAwOd6tvu8")
	require.Equal(t, ref("wKgBZGVT8QCAABI0AAAwOd6tvu8"), wkHash)
	n := int(wkHash) % 65536
	hi, lo := DistributeRandom("wKgBZGVT8QCAABI0AAAwOd6tvu8", 256)
	require.Equal(t, n>>8, hi)
	require.Equal(t, n&0xFF, lo)
	hi, lo = DistributeRandom("wKgBZGVT8QCAABI0AAAwOd6tvu8", 3)
	require.Equal(t, (n>>8)%3, hi)
	require.Equal(t, (n&0xFF)%3, lo)
	hi, lo = DistributeRandom("x", 0)
	require.Zero(t, hi+lo)
}

func TestSplit(t *testing.T) {
	g, r, err := Split("group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt")
	require.NoError(t, err)
	require.Equal(t, "group1", g)
	require.Equal(t, "M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt", r)
	require.Equal(t, "group1/"+r, Join(g, r))

	g, r, err = Split("ABCDEFGHIJ123456/x")
	require.NoError(t, err)
	require.Equal(t, "ABCDEFGHIJ123456", g)
	require.Equal(t, "x", r)

	for _, bad := range []string{"", "group1", "group1/", "/M00/00/00/x", "group_1/M00/00/00/abc",
		"ABCDEFGHIJ1234567/M00/00/00/abc", "grp\x00/M00", "gr p/M00/00/00/x", "grüp/M00/00/00/x"} {
		_, _, err := Split(bad)
		requireEINVAL(t, err, bad)
	}
	require.True(t, ValidGroup("g"))
	require.False(t, ValidGroup(""))
	require.False(t, ValidGroup("g-1"))
}

func requireEINVAL(t *testing.T, err error, msg ...any) {
	t.Helper()
	require.Error(t, err, msg...)
	require.Equal(t, proto.StatusEINVAL, proto.StatusOf(err), msg...)
	require.True(t, errors.Is(err, syscall.EINVAL), msg...)
}

func TestParseRemote(t *testing.T) {
	r, err := ParseRemote("M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt", 1)
	require.NoError(t, err)
	require.Equal(t, Remote{StorePath: 0, High: 0x0B, Low: 0, Name: "fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt"}, r)
	require.Equal(t, "0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt", r.RelPath())
	require.Equal(t, "M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt", r.String())

	r, err = ParseRemote("MFE/FF/A0/x.jpg", 255)
	require.NoError(t, err)
	require.Equal(t, Remote{StorePath: 0xFE, High: 0xFF, Low: 0xA0, Name: "x.jpg"}, r)

	// pre-V1.12 name without "Mxx/" means store path 0
	r, err = ParseRemote("0A/1B/abcdef", 1)
	require.NoError(t, err)
	require.Equal(t, Remote{StorePath: 0, High: 0x0A, Low: 0x1B, Name: "abcdef"}, r)
	require.Equal(t, "M00/0A/1B/abcdef", r.String())

	// exactly 11 bytes is the shortest accepted
	_, err = ParseRemote("M00/00/00/a", 1)
	require.NoError(t, err)
	_, err = ParseRemote("M00/00/00/"+strings.Repeat("a", MaxRemoteLen-11), 1)
	require.NoError(t, err)

	for _, bad := range []struct {
		s string
		n int
	}{
		{"", 1},
		{"M00/00/00/", 1},
		{"M00/00/00", 1},
		{"M01/00/00/abc.txt", 1},    // index out of range
		{"M00/00/00/abc.txt", 0},    // no store paths at all
		{"00/00/abcdef", 0},         // pre-V1.12 with no store paths
		{"M0a/00/00/abc.txt", 16},   // lower-case store index
		{"M00/0b/00/abc.txt", 1},    // lower-case HH
		{"M00/00/0f/abc.txt", 1},    // lower-case HH
		{"M00/0G/00/abc.txt", 1},    // not hex
		{"M00-00/00/abc.txt", 1},    // byte 3 not '/'
		{"M00/000/00/abc.txt", 1},   // HH too long
		{"M00/00/00/a/b.txt", 1},    // '/' in the name
		{"M00/00/00/../../etc", 1},  // traversal
		{"M00/00/00/..", 1},         // traversal
		{"M00/00/00/a..b", 1},       // ".." anywhere
		{"M00/00/00/.", 1},          // the directory itself
		{"M00/00/00/a\x00b.txt", 1}, // NUL
		{"M00/00/00/a\\b.txt", 1},   // backslash
		{"M00/00/00/" + strings.Repeat("a", MaxRemoteLen-10), 1}, // 128 bytes
		{"X00/00/00/abc.txt", 1},                                 // not M: then "X0" is not HH/
		{"00/00/", 1},
		{"/00/00/abcdefgh", 1},
	} {
		_, err := ParseRemote(bad.s, bad.n)
		requireEINVAL(t, err, bad.s)
	}
}

func TestKinds(t *testing.T) {
	block := EncodeBlock(workedExample)
	normal := "M00/00/2A/" + block + "812.jpg"
	require.Len(t, normal, NormalRemoteLen)
	_, k, err := Decode(normal)
	require.NoError(t, err)
	require.Equal(t, KindNormal, k)

	_, k, err = Decode(normal[:len(normal)-4] + "_150x150.jpg")
	require.NoError(t, err)
	require.Equal(t, KindSlave, k)

	tr := workedExample
	tr.SizeField = TrunkSizeField(12345, 0x1234)
	trunk := "M00/00/2A/" + EncodeBlock(tr) + EncodeTrunk(TrunkInfo{TrunkID: 7, Offset: 4096, SlotSize: 12345 + 24}) + "812.jpg"
	require.Len(t, trunk, TrunkRemoteLen)
	got, k, err := Decode(trunk)
	require.NoError(t, err)
	require.Equal(t, KindTrunk, k)
	require.EqualValues(t, 12345, got.Size())
	ti, err := DecodeTrunk(trunk)
	require.NoError(t, err)
	require.Equal(t, TrunkInfo{TrunkID: 7, Offset: 4096, SlotSize: 12369}, ti)
	_, err = DecodeTrunk(normal)
	requireEINVAL(t, err)

	// trunk flag, length between 44 and 60: neither slave nor trunk
	_, k, err = Decode("M00/00/2A/" + EncodeBlock(tr) + "812.jpg_x")
	require.NoError(t, err)
	require.Equal(t, KindNormal, k)
	// trunk flag, longer than 60: slave of a trunk file
	_, k, err = Decode(trunk[:len(trunk)-4] + "_big.jpg")
	require.NoError(t, err)
	require.Equal(t, KindSlave, k)
	// appender wins over length
	_, k, err = Decode("M00/00/2A/wKgBZGVT8QCEAAd3AAAAAN6tvu812.jpg_whatever_long_suffix_here")
	require.NoError(t, err)
	require.Equal(t, KindAppender, k)

	_, _, err = Decode(normal[:43])
	requireEINVAL(t, err)
	_, _, err = Decode("M00/00/2A/" + strings.Repeat("!", 27) + "812.jpg")
	requireEINVAL(t, err)

	for k, s := range map[Kind]string{KindNormal: "normal", KindAppender: "appender", KindSlave: "slave", KindTrunk: "trunk", 9: "Kind(9)"} {
		require.Equal(t, s, k.String())
	}
}

func TestSlaveRemote(t *testing.T) {
	master := "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg"
	for _, tc := range []struct{ prefix, ext, want string }{
		{"_150x150", "jpg", "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812_150x150.jpg"},
		{"_150x150", ".jpg", "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812_150x150.jpg"},
		{"_s", "", "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812_s"},
		{"-m", "txt", "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812-m.txt"},
		{"_x", "tar.gz", "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812_x.tar.gz"},
	} {
		s, err := SlaveRemote(master, tc.prefix, tc.ext)
		require.NoError(t, err, tc)
		require.Equal(t, tc.want, s)
	}
	// no '.' in the last 7 characters: the whole name is kept
	s, err := SlaveRemote("M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu84071934", "_a", "png")
	require.NoError(t, err)
	require.Equal(t, "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu84071934_a.png", s)
	// a '.' further left than the last 7 characters is not used
	s, err = SlaveRemote("M00/00/2A/wKgBZGVT8QCAABI0AAAw.d6tvu84071934", "_a", "")
	require.NoError(t, err)
	require.Equal(t, "M00/00/2A/wKgBZGVT8QCAABI0AAAw.d6tvu84071934_a", s)
	// first '.' inside the last 7: ".tar.gz"
	s, err = SlaveRemote("M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8.tar.gz", "_b", "gz")
	require.NoError(t, err)
	require.Equal(t, "M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8_b.gz", s)
	// pre-V1.12 master name (no Mxx/)
	s, err = SlaveRemote("00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg", "_b", "jpg")
	require.NoError(t, err)
	require.Equal(t, "00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812_b.jpg", s)
	// true name exactly 34 characters is accepted, 33 is not
	s, err = SlaveRemote("M00/00/2A/"+strings.Repeat("a", 28), "_b", "")
	require.NoError(t, err)
	require.Equal(t, "M00/00/2A/"+strings.Repeat("a", 28)+"_b", s)

	for _, bad := range []struct{ master, prefix, ext string }{
		{master, "-m", ""},  // clashes with metadata file
		{master, "", "jpg"}, // empty prefix
		{master, "", ""},    // empty prefix
		{"M00/00/2A/" + strings.Repeat("a", 27), "_b", ""}, // true name 33
		{"M00/00/2A/short.jpg", "_b", "jpg"},
		{master, "a/b", "jpg"},                   // bad prefix
		{master, "..", "jpg"},                    // bad prefix
		{master, strings.Repeat("p", 17), "jpg"}, // prefix too long
		{master, "_b", "toolong"},                // ext too long
		{master, "_b", "j/g"},                    // bad ext
		{"M00/00/2A/" + strings.Repeat("a", 100) + "12.jpg", "_bbbbbbbbbbbbbbb", "jpg"}, // result ≥ 128
		{"M00/0a/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg", "_b", "jpg"},                   // bad master path
	} {
		_, err := SlaveRemote(bad.master, bad.prefix, bad.ext)
		requireEINVAL(t, err, bad)
	}
}

func TestValidExtPrefix(t *testing.T) {
	for _, s := range []string{"", "jpg", "tar.gz", "a-b_c", "ABCDEF"} {
		require.True(t, ValidExt(s), s)
	}
	for _, s := range []string{"abcdefg", "a/b", "a b", "..", "a\x00"} {
		require.False(t, ValidExt(s), s)
	}
	for _, s := range []string{"_big", "-m", "_150x150", "a.b", strings.Repeat("x", 16)} {
		require.True(t, ValidPrefix(s), s)
	}
	for _, s := range []string{"", strings.Repeat("x", 17), "a/b", "a..b", "ä"} {
		require.False(t, ValidPrefix(s), s)
	}
}

func TestRoundTrip(t *testing.T) {
	infos := []Info{
		workedExample,
		{SourceIP: "127.0.0.1", Timestamp: 1795616999, SizeField: SizeField(13, false, 0x7C76D6), CRC32: 0x3D50F691},
		{SourceID: 100001, Timestamp: 0, SizeField: SizeField(0, true, 0), CRC32: 0},
		{SourceIP: "255.255.255.255", Timestamp: -1, SizeField: -1, CRC32: 0xFFFFFFFF},
		{SourceIP: "1.2.3.4", Timestamp: 1<<31 - 1, SizeField: SizeField(1<<40, false, 99), CRC32: 1},
		{SourceIP: "10.0.0.1", Timestamp: -1 << 31, SizeField: TrunkSizeField(4096, 5), CRC32: 7},
	}
	for _, i := range infos {
		for _, ext := range []string{"", "jpg", "tar.gz"} {
			name := RemoteName(3, 0xAB, 0x0C, i, FormatExt(ext, nil))
			r, err := ParseRemote(name, 4)
			require.NoError(t, err)
			require.Equal(t, Remote{StorePath: 3, High: 0xAB, Low: 0x0C, Name: name[LogicPrefixLen:]}, r)
			require.Equal(t, name, r.String())
			got, k, err := Decode(name)
			require.NoError(t, err)
			require.Equal(t, i, got)
			if i.IsAppender() {
				require.Equal(t, KindAppender, k)
			} else {
				require.Equal(t, KindNormal, k)
			}
			require.Equal(t, EncodeBlock(i), EncodeBlock(got))
		}
	}
}

func BenchmarkRemoteNameDecode(b *testing.B) {
	i := workedExample
	ext := FormatExt("jpg", nil)
	b.ReportAllocs()
	for b.Loop() {
		name := RemoteName(0, 0x0B, 0, i, ext)
		if _, _, err := Decode(name); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	var r RoundRobin
	var got [][2]int
	for range 2 * 2 * 3 {
		h, l := r.Next(3, 2)
		got = append(got, [2]int{h, l})
	}
	require.Equal(t, [][2]int{
		{0, 0}, {0, 0}, {0, 0}, {0, 1}, {0, 1}, {0, 1},
		{1, 0}, {1, 0}, {1, 0}, {1, 1}, {1, 1}, {1, 1},
	}, got)
	require.Equal(t, RoundRobin{}, r) // wrapped around completely
	r = RoundRobin{High: 300, Low: -1, Count: 0}
	h, l := r.Next(100, 256)
	require.Zero(t, h+l)
	require.Equal(t, RoundRobin{Count: 1}, r)
	h, l = r.Next(0, 0)
	require.Zero(t, h+l)
}

func TestTrunkFileRelPath(t *testing.T) {
	require.Equal(t, "0A/FF/000007", TrunkFileRelPath(10, 255, 7))
	require.Equal(t, "00/00/1234567", TrunkFileRelPath(0, 0, 1234567))
}

func TestErrorTextBounded(t *testing.T) {
	_, err := ParseRemote(strings.Repeat("x", 1<<20), 1)
	requireEINVAL(t, err)
	require.Less(t, len(err.Error()), 400)
	_, _, err = Decode(strings.Repeat("!", 1<<20))
	requireEINVAL(t, err)
	require.Less(t, len(err.Error()), 400)
}
