package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// trunkParams switches a storage with no tracker to trunk mode.
func trunkParams(s *Storage) {
	p := *s.curParams()
	p.useTrunkFile = true
	p.trunk = trunkAllocConfig{fileSize: 4 << 20, slotMin: 256, slotMax: 16 << 10}
	s.params.Store(&p)
}

// The trunk commands of a storage that is not the trunk server, and one
// that is: allocation, confirmation, free, the binlog copy commands, and
// a trunk-resident file written, read, stat'ed and deleted here.
func TestTrunkCommands(t *testing.T) {
	s := start(t, testOpts(t))
	group := (&proto.Buf{}).Fixed("group1", proto.GroupNameLen).B
	// A new connection each: an error answer may close one.
	call := func(cmd, status byte, body []byte) (byte, []byte) {
		h, b := roundTrip(t, dial(t, s), cmd, status, body)
		return h.Status, b
	}
	alloc := append(append([]byte{}, group...), (&proto.Buf{}).I32(1024).U8(0).B...)

	// Not the trunk server: refused; a member keeps a copy of the binlog.
	st, _ := call(proto.CmdTrunkAllocSpace, 0, alloc)
	require.Equal(t, proto.StatusEINVAL, st)
	st, b := call(proto.CmdTrunkGetBinlogSize, 0, nil)
	require.Zero(t, st)
	require.Equal(t, make([]byte, 8), b)
	line := "1700000000 A 0 0 0 1 0 4194304\n"
	st, _ = call(proto.CmdTrunkSyncBinlog, 0, []byte(line))
	require.Zero(t, st)
	st, b = call(proto.CmdTrunkGetBinlogSize, 0, nil)
	require.Zero(t, st)
	require.EqualValues(t, len(line), proto.I64(b))
	st, _ = call(proto.CmdTrunkDeleteBinlogMarks, 0, nil)
	require.Zero(t, st)
	// Wrong lengths.
	for cmd, body := range map[byte][]byte{
		proto.CmdTrunkAllocSpace:        alloc[:20],
		proto.CmdTrunkAllocConfirm:      group,
		proto.CmdTrunkFreeSpace:         append(group, 1),
		proto.CmdTrunkGetBinlogSize:     {1},
		proto.CmdTrunkDeleteBinlogMarks: {1},
		proto.CmdTrunkTruncateBinlog:    {1},
		proto.CmdTrunkCheck:             {1},
	} {
		st, _ := call(cmd, 0, body)
		require.Equal(t, proto.StatusEINVAL, st, "cmd %d", cmd)
	}

	// Elected: the allocator starts from the copy received.
	trunkParams(s)
	s.trunk.setServer(s.myID(), "127.0.0.1", 23000)
	require.NotNil(t, s.trunk.allocator())
	st, _ = call(proto.CmdTrunkSyncBinlog, 0, []byte(line))
	require.Equal(t, proto.StatusEINVAL, st, "the trunk server takes no binlog from others")
	st, b = call(proto.CmdTrunkAllocSpace, 0, alloc)
	require.Zero(t, st)
	si := decodeSlotInfo(b)
	require.Equal(t, slotInfo{id: 1, off: 0, size: 1024}, si, "in the trunk file the binlog copy named")
	st, _ = call(proto.CmdTrunkAllocConfirm, 0, append(append([]byte{}, group...), si.append(&proto.Buf{}).B...))
	require.Zero(t, st)
	st, _ = call(proto.CmdTrunkFreeSpace, 0, append(append([]byte{}, group...), si.append(&proto.Buf{}).B...))
	require.Zero(t, st)
	st, _ = call(proto.CmdTrunkTruncateBinlog, 0, nil)
	require.Equal(t, proto.StatusEINVAL, st, "the trunk server keeps its binlog")
	c := dial(t, s)

	// An upload here goes into a slot: 60-character name, served from the
	// slot, stat'ed from its header, deleted by zeroing it.
	content := []byte("small file in a trunk")
	h, b := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "txt", content))
	require.Zero(t, h.Status)
	require.Len(t, b, proto.GroupNameLen+fileid.TrunkRemoteLen)
	remote := string(b[proto.GroupNameLen:])
	_, ti, err := fileid.ParseTrunk(remote)
	require.NoError(t, err)
	_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, content, got)
	_, got = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 6, 4))
	require.Equal(t, content[6:10], got)
	var info []byte
	h, info = roundTrip(t, c, proto.CmdQueryFileInfo, 0, append(append([]byte{}, group...), remote...))
	require.Zero(t, h.Status)
	require.EqualValues(t, len(content), proto.I64(info))
	r, _, err := s.parseRemote(remote)
	require.NoError(t, err)
	trunkFile := filepath.Join(s.paths[0].dataDir, filepath.FromSlash(fileid.TrunkFileRelPath(r.High, r.Low, ti.TrunkID)))
	raw, err := os.ReadFile(trunkFile)
	require.NoError(t, err)
	hdr := decodeSlotHeader(raw[ti.Offset:])
	require.Equal(t, byte(slotTypeFile), hdr.typ)
	require.EqualValues(t, len(content), hdr.fileSize)
	require.Equal(t, remote[len(remote)-7:], hdr.ext)
	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, append(append([]byte{}, group...), remote...))
	require.Zero(t, h.Status)
	h, _ = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, proto.StatusENOENT, h.Status)
	raw, err = os.ReadFile(trunkFile)
	require.NoError(t, err)
	require.Equal(t, make([]byte, trunkHeaderLen), raw[ti.Offset:ti.Offset+trunkHeaderLen])

	// The check finds nothing unreferenced once the grace is over.
	rep, err := s.checkTrunk(0, true)
	require.NoError(t, err)
	require.Zero(t, rep.unrefBytes, rep.String())

	// Resigning.
	s.trunk.setServer("other", "127.0.0.9", 23000)
	require.Nil(t, s.trunk.allocator())
}
