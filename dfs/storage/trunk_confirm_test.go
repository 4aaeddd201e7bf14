package storage

import (
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// fakeMember plays a group member receiving the trunk binlog
// (TRUNK_SYNC_BINLOG, 30): it refuses the pushes (EIO) until accept is
// set, and keeps what it accepted.
type fakeMember struct {
	ln     net.Listener
	accept atomic.Bool
	mu     sync.Mutex
	got    strings.Builder
}

func startFakeMember(t *testing.T) *fakeMember {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := &fakeMember{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(c)
		}
	}()
	return m
}

func (m *fakeMember) serve(c net.Conn) {
	defer c.Close()
	for {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		h, err := proto.ReadHeader(c)
		if err != nil {
			return
		}
		b := make([]byte, h.PkgLen)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		if h.Cmd != proto.CmdTrunkSyncBinlog || !m.accept.Load() {
			proto.WritePacket(c, proto.CmdResp, proto.StatusEIO, nil)
			continue
		}
		m.mu.Lock()
		m.got.Write(b)
		m.mu.Unlock()
		proto.WritePacket(c, proto.CmdResp, 0, nil)
	}
}

func (m *fakeMember) received() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got.String()
}

func (m *fakeMember) brief(status byte) proto.StorageBrief {
	host, port, _ := net.SplitHostPort(m.ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return proto.StorageBrief{ID: "127.0.0.99", IP: host, Port: int32(p), Status: status}
}

// A trunk upload is acknowledged only once the ACTIVE members have the
// binlog line of its confirmation (the next trunk server is elected among
// them and must not hand its slot out again); a member not ACTIVE does not
// hold it up.
func TestTrunkConfirmWaitsForActiveMembers(t *testing.T) {
	wait, pause := trunkConfirmWait, trunkConfirmPause
	trunkConfirmWait, trunkConfirmPause = time.Second, 50*time.Millisecond
	t.Cleanup(func() { trunkConfirmWait, trunkConfirmPause = wait, pause })
	s := start(t, testOpts(t))
	trunkParams(s)
	s.trunk.setServer(s.myID(), "127.0.0.1", 23000)
	require.NotNil(t, s.trunk.allocator())
	m := startFakeMember(t)
	setMembers := func(status byte) {
		s.cluster.mu.Lock()
		s.cluster.members = []proto.StorageBrief{m.brief(status)}
		s.cluster.mu.Unlock()
	}
	upload := func() (byte, string) {
		h, b := roundTrip(t, dial(t, s), proto.CmdUploadFile, 0, uploadBody(0, "txt", []byte("confirmed on the members")))
		if h.Status != 0 {
			return h.Status, ""
		}
		return 0, string(b[proto.GroupNameLen:])
	}
	// The slot's confirmation line as the members must get it.
	usedLine := func(remote string) string {
		r, _, err := s.parseRemote(remote)
		require.NoError(t, err)
		_, ti, err := fileid.ParseTrunk(remote)
		require.NoError(t, err)
		return formatTrunkLine(0, trunkOpUsed, slotInfo{path: r.StorePath, high: r.High, low: r.Low,
			id: ti.TrunkID, off: ti.Offset, size: ti.SlotSize})[2:]
	}

	setMembers(proto.StatusActive)
	st, _ := upload()
	require.NotZero(t, st, "acknowledged while an ACTIVE member lacked the confirmation")

	m.accept.Store(true)
	st, remote := upload()
	require.Zero(t, st)
	require.Contains(t, m.received(), usedLine(remote))

	// A member still syncing gets a try, and does not hold uploads up.
	m.accept.Store(false)
	setMembers(proto.StatusSyncing)
	st, _ = upload()
	require.Zero(t, st)

	// An ACTIVE member that is down (connections refused) neither.
	setMembers(proto.StatusActive)
	m.ln.Close()
	st, _ = upload()
	require.Zero(t, st)
}

// A slot the trunk server thinks free while this storage's copy of the
// trunk file holds a file there (its confirmation was lost) is neither
// handed out (TRUNK_ALLOC_SPACE) nor written over by our writer: it is
// marked used and another slot is taken.
func TestTrunkOccupiedSlotNotReused(t *testing.T) {
	s := start(t, testOpts(t))
	trunkParams(s)
	s.trunk.setServer(s.myID(), "127.0.0.1", 23000)
	a := s.trunk.allocator()
	require.NotNil(t, a)
	c := dial(t, s)
	content := []byte("a file whose slot the trunk server forgot")
	_, ref := trunkUpload(t, s, c, content)
	forget := func() {
		require.NoError(t, a.free(ref.slot, time.Now()))
		a.mu.Lock()
		f, _ := a.findLocked(ref.slot.path, ref.slot.size)
		a.mu.Unlock()
		require.NotNil(t, f)
	}

	// Another writer (a C storage) asks for the same size: not that slot.
	forget()
	group := (&proto.Buf{}).Fixed("group1", proto.GroupNameLen).B
	size := int32(len(content) + trunkHeaderLen)
	h, b := roundTrip(t, dial(t, s), proto.CmdTrunkAllocSpace, 0, append(append([]byte{}, group...), (&proto.Buf{}).I32(size).U8(0).B...))
	require.Zero(t, h.Status)
	got := decodeSlotInfo(b)
	require.False(t, got.id == ref.slot.id && got.off == ref.slot.off, "slot of a live file handed out: %v", got)
	h, _ = roundTrip(t, dial(t, s), proto.CmdTrunkAllocConfirm, proto.StatusEIO, append(append([]byte{}, group...), got.append(&proto.Buf{}).B...))
	require.Zero(t, h.Status)

	// Two files side by side, the last ones of the trunk file, forgotten
	// with the free rest of the file as one block (as a binlog lacking
	// their confirmations has it): slots asked for, smaller or larger than
	// the first file, must not start inside a file (the first's header
	// says how far it goes).
	for _, asks := range [][]int32{{300, 300, 300}, {2000, 1000, 1000}} {
		twoForgotten(t, s, c, a, asks)
	}
}

func twoForgotten(t *testing.T, s *Storage, c net.Conn, a *trunkAlloc, asks []int32) {
	group := (&proto.Buf{}).Fixed("group1", proto.GroupNameLen).B
	var refs []*trunkRef
	for _, n := range []int{1500, 700} {
		h, b := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "txt", make([]byte, n)))
		require.Zero(t, h.Status)
		ref, _, err := s.trunkRefOf(string(b[proto.GroupNameLen:]))
		require.NoError(t, err)
		refs = append(refs, ref)
	}
	first := refs[0].slot
	require.Equal(t, first.off+first.size, refs[1].slot.off, "side by side")
	a.mu.Lock()
	f := a.files[first.id]
	require.Equal(t, refs[1].slot.off+refs[1].slot.size, f.blocks()[len(f.blocks())-1].off, "the last ones")
	f.addFree(extent{first.off, a.cfg.fileSize - first.off})
	a.mu.Unlock()
	for _, ask := range asks {
		h, b := roundTrip(t, dial(t, s), proto.CmdTrunkAllocSpace, 0, append(append([]byte{}, group...), (&proto.Buf{}).I32(ask).U8(0).B...))
		require.Zero(t, h.Status)
		got := decodeSlotInfo(b)
		for _, ref := range refs {
			require.False(t, got.id == ref.slot.id && got.off < ref.slot.off+ref.slot.size && ref.slot.off < got.off+got.size,
				"slot %v overlaps the file in %v", got, ref.slot)
		}
	}
	for _, ref := range refs {
		_, err := s.slotExists(ref)
		require.NoError(t, err)
	}
}

// Our writer, handed a slot by a trunk server that does not know it is
// used (the header in the writer's copy of the trunk file shows a file),
// does not write over that file: it marks the slot used and asks again.
func TestTrunkWriterSkipsOccupiedSlot(t *testing.T) {
	ts := start(t, testOpts(t)) // the trunk server; its own copy holds nothing
	trunkParams(ts)
	ts.trunk.setServer(ts.myID(), "127.0.0.1", 23000)
	a := ts.trunk.allocator()
	require.NotNil(t, a)
	w := start(t, testOpts(t)) // the writer
	trunkParams(w)
	w.trunk.setServer("trunk-server", "127.0.0.1", ts.Addr().(*net.TCPAddr).Port)
	require.Nil(t, w.trunk.allocator())

	c := dial(t, w)
	content := []byte("a file whose slot the trunk server forgot")
	remote, ref := trunkUpload(t, w, c, content)
	require.NoError(t, a.free(ref.slot, time.Now())) // the confirmation lost

	second, _ := trunkUpload(t, w, c, []byte("a second file of the same size..........."))
	_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, content, got, "the first file was written over")
	ref2, _, err := w.trunkRefOf(second)
	require.NoError(t, err)
	require.NotEqual(t, ref.slot, ref2.slot)
	// The slot is used again on the trunk server.
	a.mu.Lock()
	f, x := a.findLocked(ref.slot.path, ref.slot.size)
	a.mu.Unlock()
	require.False(t, f != nil && f.id == ref.slot.id && x.off == ref.slot.off, "the slot is still free")

	// Two files side by side, the last ones, forgotten with the rest of
	// the trunk file as one block: the trunk server hands out slots that
	// start inside them (smaller than the first); none is written.
	files := map[string][]byte{}
	var last slotInfo
	for _, n := range []int{1500, 700} {
		data := bytes.Repeat([]byte{byte(n)}, n)
		h, b := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "txt", data))
		require.Zero(t, h.Status)
		remote := string(b[proto.GroupNameLen:])
		files[remote] = data
		r, _, err := w.trunkRefOf(remote)
		require.NoError(t, err)
		if last.size == 0 {
			last = r.slot
		}
	}
	a.mu.Lock()
	a.files[last.id].addFree(extent{last.off, a.cfg.fileSize - last.off})
	a.mu.Unlock()
	for range 4 {
		h, _ := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "txt", bytes.Repeat([]byte("x"), 500)))
		require.Zero(t, h.Status)
	}
	for remote, data := range files {
		_, got := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
		require.Equal(t, data, got, "%s written over", remote)
	}
}

// trunkUpload uploads data to s over c and returns its remote filename and
// trunk slot (it must land in a trunk file).
func trunkUpload(t *testing.T, s *Storage, c net.Conn, data []byte) (string, *trunkRef) {
	t.Helper()
	h, b := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "txt", data))
	require.Zero(t, h.Status)
	remote := string(b[proto.GroupNameLen:])
	ref, ok, err := s.trunkRefOf(remote)
	require.True(t, ok, remote)
	require.NoError(t, err)
	return remote, ref
}
