package fileid

import (
	"strings"
	"testing"
)

// canonicalBlock reports whether block is 27 alphabet characters whose last
// one carries no stray low bits, i.e. the only spelling of its 20 bytes.
func canonicalBlock(block string) bool {
	if len(block) != B64Len {
		return false
	}
	for i := 0; i < len(block); i++ {
		if decodeMap[block[i]] == 0xFF {
			return false
		}
	}
	return decodeMap[block[B64Len-1]]&3 == 0
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"group1/M00/0B/00/fwAAAWsG8OeAfHbWAAAADT1Q9pE363.txt",
		"group1/M00/0B/00/fwAAAWsG8PGEbDYcAAAAAD1Q9pE766.txt",
		"group1/M00/0B/00/fwAAAWsG8POAIyZwAAAAG8oghjw766.txt",
		"group1/M00/0B/00/fwAAAWsG8PeAULFrAAABLBtDLRM052_big.txt",
		"M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg",
		"M00/00/2A/oYYBAGVT8QCAABI0AAAwOd6tvu84071934",
		"M00/00/2A/wKgBZGVT8QCEAAd3AAAAAN6tvu8.tar.gz",
		"0A/1B/abcdef",
		"M00/00/00/../../etc/passwd",
		"M0a/00/00/abc",
		"g/M00/00/00/" + strings.Repeat("!", 40),
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if g, r, err := Split(s); err == nil {
			if !ValidGroup(g) || r == "" || Join(g, r) != s {
				t.Fatalf("Split(%q) = %q, %q", s, g, r)
			}
			s = r // go on with the remote part
		}
		if r, err := ParseRemote(s, 256); err == nil {
			want := s
			if s[0] != 'M' {
				want = "M00/" + s
			}
			if r.String() != want || strings.ContainsAny(r.Name, "/\\\x00") || strings.Contains(s, "..") || len(s) >= MaxRemoteLen {
				t.Fatalf("ParseRemote(%q) = %+v", s, r)
			}
		}
		i, k, err := Decode(s)
		if err != nil {
			return
		}
		if k != KindOf(i, len(s)) {
			t.Fatalf("Decode(%q) kind %v", s, k)
		}
		if block := s[LogicPrefixLen : LogicPrefixLen+B64Len]; canonicalBlock(block) {
			if got := EncodeBlock(i); got != block {
				t.Fatalf("Decode(%q) = %+v, re-encoded %q", s, i, got)
			}
		}
		_, _ = DecodeTrunk(s)
		if sl, err := SlaveRemote(s, "_x", "jpg"); err == nil {
			if _, err := ParseRemote(sl, 256); err != nil {
				t.Fatalf("SlaveRemote(%q) = %q: %v", s, sl, err)
			}
		}
	})
}

func FuzzBase64(f *testing.F) {
	f.Add([]byte("hello"), "wKgBZGVT8QCAABI0AAAwOd6tvu8")
	f.Add([]byte{0, 0xFF, 0x10}, "oYYBAG..~~")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		for _, pad := range []bool{false, true} {
			enc := Base64Encode(b, pad)
			if got := Base64Decode(enc); string(got) != string(b) {
				t.Fatalf("round trip %x pad=%v: %q → %x", b, pad, enc, got)
			}
		}
		if got := Base64Decode(s); len(got) > len(s)*6/8 {
			t.Fatalf("Base64Decode(%q) too long", s)
		}
		_ = ExtFromFilename(s)
		if e := FormatExt(s, nil); len(e) != ExtPartLen {
			t.Fatalf("FormatExt(%q) = %q", s, e)
		}
	})
}
