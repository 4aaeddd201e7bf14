package storage

import (
	"hash/crc32"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// TestRegenerate covers §11 item 31 and §3.10: a new normal 44-character
// name in the same HH/HH with the same extension part, carrying this
// storage, the current time, the size and the CRC32; the old name is gone;
// `R <new> <old>` is logged, and the metadata file moves along.
func TestRegenerate(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	old := uploadAppender(t, c, []byte("hello "))
	h, _ := roundTrip(t, c, proto.CmdAppendFile, 0, appendBody(old, []byte("world")))
	require.Equal(t, byte(0), h.Status)
	h, _ = roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", old, 'O', []byte("k\x02v")))
	require.Equal(t, byte(0), h.Status)

	before := time.Now().Unix()
	h, b := roundTrip(t, c, proto.CmdRegenerateAppenderFilename, 0, []byte(old))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 60)
	require.Equal(t, "group1", proto.Fixed(b[:16]))
	nu := string(b[16:])
	require.Len(t, nu, 44)
	require.Equal(t, old[:10], nu[:10], "same store path and HH/HH")
	require.Equal(t, old[37:], nu[37:], "same extension part")

	info, kind, err := fileid.Decode(nu)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind)
	require.Equal(t, "127.0.0.1", info.SourceIP)
	require.InDelta(t, before, info.Timestamp, 2)
	require.Equal(t, int64(11), info.Size())
	require.Equal(t, crc32.ChecksumIEEE([]byte("hello world")), info.CRC32)

	require.Equal(t, "hello world", string(content(t, s, nu)))
	h, _ = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", old, 0, 0))
	require.Equal(t, proto.StatusENOENT, h.Status)
	h, b = roundTrip(t, c, proto.CmdGetMetadata, 0, groupBody("group1", nu))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "k\x02v", string(b))

	lines := binlogLines(t, s)
	n := len(lines)
	require.Regexp(t, `^\d+ R `+nu+` `+old+`$`, lines[n-2])
	require.Regexp(t, `^\d+ R `+nu+`-m `+old+`-m$`, lines[n-1])

	// The new name is a normal file now: no more appends; the old one is gone.
	h, _ = roundTrip(t, c, proto.CmdRegenerateAppenderFilename, 0, []byte(old))
	require.Equal(t, proto.StatusENOENT, h.Status)
	h, _ = roundTrip(t, c, proto.CmdAppendFile, 0, appendBody(nu, []byte("x")))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	require.Equal(t, []string{mustRel(t, nu), mustRel(t, nu) + "-m"}, storeFiles(t, s, 0))
}

// TestRegenerateEmpty: an empty appender file regenerates to a name with
// size 0 and CRC 0.
func TestRegenerateEmpty(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	old := uploadAppender(t, c, nil)
	h, b := roundTrip(t, c, proto.CmdRegenerateAppenderFilename, 0, []byte(old))
	require.Equal(t, byte(0), h.Status)
	info, _, err := fileid.Decode(string(b[16:]))
	require.NoError(t, err)
	require.Zero(t, info.Size())
	require.Zero(t, info.CRC32)
}
