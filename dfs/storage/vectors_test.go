package storage

import (
	"hash/crc32"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// storagePackets returns the packets of the scenario's connections to the
// storage (port 23000).
func storagePackets(t *testing.T, name string) []vectors.Packet {
	t.Helper()
	sc, err := vectors.Load(name)
	require.NoError(t, err)
	var out []vectors.Packet
	for _, c := range sc.Conns {
		if strings.HasSuffix(c.Server, ":23000") {
			out = append(out, c.Packets...)
		}
	}
	return out
}

var hello = []byte("hello yunpan\n")

// TestVectorReplay sends the captured client packets of scenarios 01–07
// (with our own remote filename substituted) and checks that each answer
// has the captured status and layout.
func TestVectorReplay(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)

	// 01: upload, answered with group(16) + 44-byte name.
	ps := storagePackets(t, "01")
	require.Len(t, ps, 2)
	req, want := ps[0], ps[1]
	require.True(t, req.FromClient)
	h, b := roundTrip(t, c, req.Header.Cmd, req.Header.Status, req.Body)
	require.Equal(t, want.Header.Status, h.Status)
	require.Equal(t, want.Header.PkgLen, h.PkgLen)
	require.Equal(t, want.Body[:16], b[:16])
	remote := string(b[16:])
	require.Regexp(t, regexp.MustCompile(`^M00/0[0-3]/0[0-3]/[A-Za-z0-9_-]{27}[0-9]{3}\.txt$`), remote)
	capturedRemote := string(want.Body[16:])

	subst := func(body []byte) []byte {
		i := strings.Index(string(body), capturedRemote)
		require.GreaterOrEqual(t, i, 0)
		return append(append([]byte{}, body[:i]...), remote...)
	}
	for _, tc := range []struct {
		scenario string
		body     []byte // expected answer body when status is 0
	}{
		{"02", hello},
		{"03", hello[6:11]},
		{"05", nil},
		{"06", nil},
		{"07", nil},
	} {
		ps := storagePackets(t, tc.scenario)
		require.Len(t, ps, 2, tc.scenario)
		req, want := ps[0], ps[1]
		h, b := roundTrip(t, c, req.Header.Cmd, req.Header.Status, subst(req.Body))
		require.Equal(t, want.Header.Status, h.Status, tc.scenario)
		require.Equal(t, want.Header.PkgLen, h.PkgLen, tc.scenario)
		require.Equal(t, want.Body, b, tc.scenario)
		if h.Status == 0 && tc.body != nil {
			require.Equal(t, tc.body, b, tc.scenario)
		}
	}
}

// TestVectorFileInfo is scenario 04 against the storage: QUERY_FILE_INFO
// answers 40 bytes with size, mtime, CRC32 and the source IP.
func TestVectorFileInfo(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	remote := upload(t, c, 0, "txt", hello)
	h, b := roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 40)
	r := &proto.Reader{B: b}
	require.Equal(t, int64(13), r.I64())
	require.Greater(t, r.I64(), int64(0))
	crc := r.I64()
	require.Equal(t, int64(int32(0x3d50f691)), crc)
	require.Equal(t, uint32(0x3d50f691), crc32.ChecksumIEEE(hello))
	require.Equal(t, "127.0.0.1", r.Fixed(16))
}

// TestVectorBadCommandAndActiveTest: scenario 13 (unknown command → EINVAL,
// connection closed) and 14 (ACTIVE_TEST, QUIT) against the storage.
func TestVectorBadCommandAndActiveTest(t *testing.T) {
	s := start(t, testOpts(t))
	sc, err := vectors.Load("13")
	require.NoError(t, err)
	req, want := sc.Conns[0].Packets[0], sc.Conns[0].Packets[1]
	c := dial(t, s)
	h, b := roundTrip(t, c, req.Header.Cmd, req.Header.Status, req.Body)
	require.Equal(t, want.Header, h)
	require.Empty(t, b)
	requireClosed(t, c)

	sc, err = vectors.Load("14")
	require.NoError(t, err)
	ps := sc.Conns[0].Packets
	c = dial(t, s)
	h, b = roundTrip(t, c, ps[0].Header.Cmd, 0, ps[0].Body)
	require.Equal(t, ps[1].Header, h)
	require.Empty(t, b)
	require.NoError(t, proto.WritePacket(c, ps[2].Header.Cmd, 0, nil))
	requireClosed(t, c)

	// ACTIVE_TEST with a body is EINVAL (§11 item 2), and closes.
	c = dial(t, s)
	h, _ = roundTrip(t, c, proto.CmdActiveTest, 0, []byte{1})
	require.Equal(t, proto.StatusEINVAL, h.Status)
	requireClosed(t, c)
	activeOK(t, s)
}
