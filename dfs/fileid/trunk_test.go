package fileid

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrunkRemoteName(t *testing.T) {
	i := workedExample
	i.SizeField = TrunkSizeField(12345, 0x1234)
	slot := TrunkInfo{TrunkID: 1, Offset: 512, SlotSize: 12345 + TrunkHeaderLen}
	r := TrunkRemoteName(0, 0, 0x2A, i, slot, "812.jpg")
	require.Len(t, r, TrunkRemoteLen)
	// The 12 bytes 00000001 00000200 00003051 in the base64 variant.
	require.Equal(t, "M00/00/2A/wKgBZGVT8QCIABI0AAAwOd6tvu8AAAAAQAAAgAAADBR812.jpg", r)
	gotI, gotT, err := ParseTrunk(r)
	require.NoError(t, err)
	require.Equal(t, i, gotI)
	require.Equal(t, slot, gotT)
	pr, err := ParseRemote(r, 1)
	require.NoError(t, err)
	require.Equal(t, r, pr.String())

	// A normal name, a slot too small for the size, a negative offset.
	_, _, err = ParseTrunk("M00/00/2A/" + EncodeBlock(workedExample) + "812.jpg")
	requireEINVAL(t, err)
	_, _, err = ParseTrunk(TrunkRemoteName(0, 0, 0, i, TrunkInfo{TrunkID: 1, SlotSize: 100}, "812.jpg"))
	requireEINVAL(t, err)
	_, _, err = ParseTrunk(TrunkRemoteName(0, 0, 0, i, TrunkInfo{TrunkID: 1, Offset: -1, SlotSize: 20000}, "812.jpg"))
	requireEINVAL(t, err)
	_, _, err = ParseTrunk(r[:40] + strings.Repeat("!", 20))
	requireEINVAL(t, err)

	require.False(t, TrunkInfo{SlotSize: 23}.Valid())
	require.False(t, TrunkInfo{Offset: 1<<31 - 10, SlotSize: 24}.Valid())
	require.True(t, TrunkInfo{Offset: 0, SlotSize: 24}.Valid())
}

func FuzzTrunk(f *testing.F) {
	f.Add("M00/00/2A/wKgBZGVT8QCIABI0AAAwOd6tvu8AAAAAQAAAgAAADBR812.jpg")
	f.Add("M00/00/2A/wKgBZGVT8QCAABI0AAAwOd6tvu8812.jpg")
	f.Add("M01/FF/00/fwAAAWsG8OeIfHbWAAAADT1Q9pEAAAAAAAAAAAAAACU4071934")
	f.Fuzz(func(t *testing.T, s string) {
		i, slot, err := ParseTrunk(s)
		if err != nil {
			return
		}
		if !i.IsTrunk() || !slot.Valid() || len(s) != TrunkRemoteLen || int64(slot.SlotSize) < TrunkHeaderLen+i.Size() {
			t.Fatalf("ParseTrunk(%q) = %+v %+v", s, i, slot)
		}
		// 12 bytes are exactly 16 characters: a block of alphabet characters
		// has one spelling and must re-encode to itself.
		if b := s[LogicPrefixLen+B64Len : LogicPrefixLen+B64Len+TrunkB64Len]; strings.Trim(b, alphabet) == "" && EncodeTrunk(slot) != b {
			t.Fatalf("ParseTrunk(%q): slot %+v re-encodes as %q", s, slot, EncodeTrunk(slot))
		}
	})
}
