package storage

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// TestUploadNaming covers §11 items 19, 20, 21 and 32.
func TestUploadNaming(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := bytes.Repeat([]byte("yunpan-jpg-"), 1000)
	before := time.Now().Unix()
	remote := upload(t, c, 0, "jpg", data)
	require.Regexp(t, regexp.MustCompile(`^M[0-9A-F]{2}/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_-]{27}([0-9]{3}\.jpg)$`), remote)

	info, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind)
	require.Equal(t, "127.0.0.1", info.SourceIP)
	require.InDelta(t, before, info.Timestamp, 3)
	require.Equal(t, int64(len(data)), info.SizeField&0xFFFFFFFF)
	require.NotZero(t, uint64(info.SizeField)&(1<<63))
	require.Equal(t, crc32.ChecksumIEEE(data), info.CRC32)

	// The file is where the name says, with the same content and mtime.
	r, err := fileid.ParseRemote(remote, 1)
	require.NoError(t, err)
	p := filepath.Join(s.paths[0].dataDir, r.RelPath())
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, data, got)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, info.Timestamp, fi.ModTime().Unix())

	// Item 32: the binlog ends with "<ts> C <remote>", ts = the name's.
	lines := binlogLines(t, s)
	require.Equal(t, fmt.Sprintf("%d C %s", info.Timestamp, remote), lines[len(lines)-1])

	// Item 21: an empty file.
	empty := upload(t, c, 0, "", nil)
	require.Regexp(t, regexp.MustCompile(`^M00/[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9_-]{27}[0-9]{7}$`), empty)
	info, _, err = fileid.Decode(empty)
	require.NoError(t, err)
	require.Zero(t, info.SizeField&0xFFFFFFFF)
	require.Zero(t, info.CRC32)

	// Only the two data files exist: no temp files are left.
	require.Len(t, storeFiles(t, s, 0), 2)
	require.Equal(t, int64(2), s.stats.get(statSuccessUpload))
}

// TestUploadAppender: cmd 23 gives a name with the appender flag.
func TestUploadAppender(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	h, b := roundTrip(t, c, proto.CmdUploadAppenderFile, 0, uploadBody(0, "log", []byte("abc")))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 60)
	remote := string(b[16:])
	info, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindAppender, kind)
	require.Zero(t, info.SizeField&0xFFFFFFFF)

	// QUERY_FILE_INFO computes the CRC of an appender file, unless flag 1.
	h, b = roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	r := &proto.Reader{B: b}
	require.Equal(t, int64(3), r.I64())
	r.I64()
	require.Equal(t, int64(int32(crc32.ChecksumIEEE([]byte("abc")))), r.I64())
	h, b = roundTrip(t, c, proto.CmdQueryFileInfo, infoFlagNoCRC, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, int64(0), proto.I64(b[16:24]))
}

// TestDownloadRanges covers §11 item 24 (current rules) and the empty-file advice.
func TestDownloadRanges(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := []byte("0123456789")
	remote := upload(t, c, 0, "bin", data)
	for _, tc := range []struct {
		off, n int64
		want   string
	}{
		{0, 0, "0123456789"},
		{2, 3, "234"},
		{7, 100, "789"},
		{9, 0, "9"},
	} {
		h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, tc.off, tc.n))
		require.Equal(t, byte(0), h.Status)
		require.Equal(t, tc.want, string(b), "off %d n %d", tc.off, tc.n)
	}
	h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 10, 0))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	requireClosed(t, c)

	c = dial(t, s)
	empty := upload(t, c, 0, "", nil)
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", empty, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Empty(t, b)
	h, _ = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", empty, 1, 0))
	require.Equal(t, proto.StatusEINVAL, h.Status)

	// A larger file streams intact.
	c = dial(t, s)
	big := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 300000)
	remote = upload(t, c, 0, "bin", big)
	sent := s.stats.get(statSuccessDownloadBytes)
	h, b = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.True(t, bytes.Equal(big, b))
	// The server counts the bytes after sending them.
	waitFor(t, 5*time.Second, "download bytes counted", func() bool {
		return s.stats.get(statSuccessDownloadBytes)-sent == int64(len(big))
	})
}

// TestGroupAndMissing covers §11 item 25 and delete (item from §3.6).
func TestGroupAndMissing(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	remote := upload(t, c, 0, "txt", hello)
	require.NoError(t, os.WriteFile(filepath.Join(s.paths[0].dataDir, mustRel(t, remote)+"-m"), []byte("a\x021"), 0o644))

	for _, cmd := range []byte{proto.CmdDownloadFile, proto.CmdDeleteFile, proto.CmdGetMetadata, proto.CmdQueryFileInfo} {
		c := dial(t, s)
		body := groupBody("group2", remote)
		if cmd == proto.CmdDownloadFile {
			body = downloadBody("group2", remote, 0, 0)
		}
		h, _ := roundTrip(t, c, cmd, 0, body)
		require.Equal(t, proto.StatusEINVAL, h.Status, "cmd %d", cmd)
		requireClosed(t, c)
	}
	missing := remote[:10] + "AAAAAAAAAAAAAAAAAAAAAAAAAAA123.txt"
	h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", missing, 0, 0))
	require.Equal(t, proto.StatusENOENT, h.Status)
	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", missing))
	require.Equal(t, proto.StatusENOENT, h.Status)
	h, _ = roundTrip(t, c, proto.CmdQueryFileInfo, infoFlagSilent, groupBody("group1", missing))
	require.Equal(t, proto.StatusENOENT, h.Status)

	// Delete removes data and metadata and logs D for both (the missing
	// file's delete is logged as well: tombstone.go).
	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Empty(t, storeFiles(t, s, 0))
	lines := binlogLines(t, s)
	require.Len(t, lines, 4)
	require.Regexp(t, `^\d+ D `+regexp.QuoteMeta(missing)+`$`, lines[1])
	require.Regexp(t, `^\d+ D `+regexp.QuoteMeta(remote)+`$`, lines[2])
	require.Regexp(t, `^\d+ D `+regexp.QuoteMeta(remote)+`-m$`, lines[3])
	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", remote))
	require.Equal(t, proto.StatusENOENT, h.Status)
}

func mustRel(t *testing.T, remote string) string {
	r, err := fileid.ParseRemote(remote, 256)
	require.NoError(t, err)
	return r.RelPath()
}

// TestMetadata covers §11 items 26–28, ignored records and oversized requests.
func TestMetadata(t *testing.T) {
	o := testOpts(t)
	o.BuffSize = 8 << 10
	s := start(t, o)
	c := dial(t, s)
	remote := upload(t, c, 0, "txt", hello)

	get := func() (byte, []byte) {
		h, b := roundTrip(t, c, proto.CmdGetMetadata, 0, groupBody("group1", remote))
		return h.Status, b
	}
	set := func(flag byte, meta []byte) byte {
		h, _ := roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", remote, flag, meta))
		return h.Status
	}
	st, _ := get()
	require.Equal(t, proto.StatusENOENT, st) // item 28, first half

	require.Equal(t, byte(0), set('O', []byte("b\x022\x01a\x021")))
	st, b := get()
	require.Equal(t, byte(0), st)
	require.Equal(t, []byte("a\x021\x01b\x022"), b) // item 26

	require.Equal(t, byte(0), set('M', []byte("a\x029")))
	_, b = get()
	require.Equal(t, []byte("a\x029\x01b\x022"), b) // item 27

	require.Equal(t, byte(0), set('M', nil)) // no-op
	_, b = get()
	require.Equal(t, []byte("a\x029\x01b\x022"), b)

	// Records without 0x02 are ignored.
	require.Equal(t, byte(0), set('O', []byte("junk\x01z\x02last\x01\x01x\x02")))
	_, b = get()
	require.Equal(t, []byte("x\x02\x01z\x02last"), b)

	require.Equal(t, byte(0), set('O', nil)) // item 28, second half
	st, _ = get()
	require.Equal(t, proto.StatusENOENT, st)

	lines := binlogLines(t, s)
	ops := []string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		require.Equal(t, remote+"-m", f[2])
		ops = append(ops, f[1])
	}
	require.Equal(t, []string{"C", "U", "U", "D"}, ops)

	// Bad flag, bad sizes, missing file.
	h, _ := roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", remote, 'X', nil))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	c = dial(t, s)
	bad := setMetaBody("group1", remote, 'O', []byte("a\x021"))
	proto.PutI64(bad[8:16], 99)
	h, _ = roundTrip(t, c, proto.CmdSetMetadata, 0, bad)
	require.Equal(t, proto.StatusEINVAL, h.Status)
	c = dial(t, s)
	missing := remote[:10] + "AAAAAAAAAAAAAAAAAAAAAAAAAAA123.txt"
	h, _ = roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", missing, 'O', []byte("a\x021")))
	require.Equal(t, proto.StatusENOENT, h.Status)

	// A request that does not fit buff_size (8 KiB) is EINVAL and closes.
	h, _ = roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", remote, 'O', bytes.Repeat([]byte("k\x02v\x01"), 3000)))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	requireClosed(t, c)
	activeOK(t, s)
}

// TestFileInfo covers §11 item 29.
func TestFileInfo(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	data := []byte("some content")
	remote := upload(t, c, 0, "dat", data)
	h, b := roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Len(t, b, 40)
	info, _, _ := fileid.Decode(remote)
	r := &proto.Reader{B: b}
	require.Equal(t, int64(len(data)), r.I64())
	require.Equal(t, info.Timestamp, r.I64())
	require.Equal(t, uint32(r.I64()), crc32.ChecksumIEEE(data))
	require.Equal(t, "127.0.0.1", r.Fixed(16))

	// With 46-byte IPs from the tracker the answer is 70 bytes.
	p := defaultParams
	p.responseIPSize = proto.IPv6Size
	s.params.Store(&p)
	_, b = roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", remote))
	require.Len(t, b, 70)
}
