package tracker

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// trunkServerOf polls LIST_STORAGE until a member of group is flagged as
// trunk server and returns its ID.
func trunkServerOf(t *testing.T, tr *Tracker, group, not string) string {
	t.Helper()
	id, _ := trunkServerBeating(t, tr, group, not, nil)
	return id
}

// trunkServerBeating is trunkServerOf while alive (if not nil) beats, which
// keeps it ACTIVE (an election after a loss waits for the candidates'
// binlog copies to settle); told is the trunk server its beat answers
// named last.
func trunkServerBeating(t *testing.T, tr *Tracker, group, not string, alive *client) (id, told string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if alive != nil {
			if ts := beatTrunk(t, alive); ts != "" {
				told = ts
			}
		}
		for _, r := range listStorages(t, tr, group) {
			if r.IfTrunkServer && r.ID != not {
				if alive != nil {
					if ts := beatTrunk(t, alive); ts != "" {
						told = ts
					}
				}
				return r.ID, told
			}
		}
		require.True(t, time.Now().Before(deadline), "no trunk server elected in %s", group)
		time.Sleep(20 * time.Millisecond)
	}
}

// beatTrunk beats on c and returns the trunk-server section of the answer
// ("" when absent, "-" when it names nobody).
func beatTrunk(t *testing.T, c *client) string {
	t.Helper()
	resp := c.ok(proto.CmdStorageBeat, nil)
	require.NotEmpty(t, resp)
	flags, rest := resp[0], resp[1:]
	if flags&proto.BeatFlagLeader != 0 {
		rest = rest[proto.StorageBriefSize:]
	}
	if flags&proto.BeatFlagTrunkServer == 0 {
		return ""
	}
	var b proto.StorageBrief
	b.Read(&proto.Reader{B: rest[:proto.StorageBriefSize]})
	if b.ID == "" {
		return "-"
	}
	return b.ID
}

func TestTrunkServerElection(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) {
		o.UseTrunkFile = true
		o.CheckActiveInterval = time.Second
	})
	a := storageConn(t, tr, "127.0.0.2", "group1")
	b := storageConn(t, tr, "127.0.0.3", "group1")
	first := trunkServerOf(t, tr, "group1", "")
	conns := map[string]*client{"127.0.0.2": a, "127.0.0.3": b}
	other := "127.0.0.2"
	if first == other {
		other = "127.0.0.3"
	}
	// Both storages are told who the trunk server is, once.
	require.Equal(t, first, beatTrunk(t, conns[first]))
	require.Equal(t, first, beatTrunk(t, conns[other]))
	require.Equal(t, "", beatTrunk(t, conns[other]))

	// Only the trunk server reports the trunk file ID and free space.
	conns[first].ok(proto.CmdStorageReportTrunkFID, []byte{0, 0, 0, 42})
	conns[first].ok(proto.CmdStorageReportTrunkFree, []byte{0, 0, 0, 0, 0, 0, 0, 64})
	st, _ := conns[other].call(proto.CmdStorageReportTrunkFID, []byte{0, 0, 0, 43})
	require.Equal(t, proto.StatusEINVAL, st)
	require.Equal(t, []byte{0, 0, 0, 42}, conns[other].ok(proto.CmdStorageFetchTrunkFID, nil))
	var gs proto.GroupStat
	gs.Read(&proto.Reader{B: dial(t, tr).ok(proto.CmdServerListOneGroup, groupField("group1"))})
	require.EqualValues(t, 64, gs.TrunkFreeMB)
	require.EqualValues(t, 42, gs.CurrentTrunkFileID)

	// SET_TRUNK_SERVER (94) while one is active.
	c := dial(t, tr)
	require.Equal(t, append([]byte(first), 0), c.ok(proto.CmdServerSetTrunkServer, groupField("group1")))
	st, _ = c.call(proto.CmdServerSetTrunkServer, append(groupField("group1"), first...))
	require.Equal(t, proto.StatusEALREADY, st)
	st, _ = c.call(proto.CmdServerSetTrunkServer, append(groupField("group1"), other...))
	require.Equal(t, proto.StatusEEXIST, st)
	st, _ = c.call(proto.CmdServerSetTrunkServer, groupField("nogroup"))
	require.Equal(t, proto.StatusENOENT, st)

	// The trunk server goes away: the other one takes over and is told so.
	conns[first].c.Close()
	id, told := trunkServerBeating(t, tr, "group1", first, conns[other])
	require.Equal(t, other, id)
	require.Equal(t, other, told)
	// The trunk file ID survives the change.
	require.Equal(t, []byte{0, 0, 0, 42}, conns[other].ok(proto.CmdStorageFetchTrunkFID, nil))
}

func TestSetTrunkServerWithoutTrunkFiles(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.2", "group1")
	st, _ := dial(t, tr).call(proto.CmdServerSetTrunkServer, groupField("group1"))
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
}

// A trunk server is lost: the next one is elected only once the
// candidates' trunk binlog copies have stopped growing (a C storage's copy
// grows until its next binlog flush after it answered the pushes; elected
// before, it would hand out slots of acknowledged files again).
func TestTrunkElectionWaitsForBinlogCopies(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) {
		o.UseTrunkFile = true
		o.CheckActiveInterval = time.Second
	})
	// The candidate answers TRUNK_GET_BINLOG_SIZE (31) with a size that
	// grows at each of the first grows asks after the loss.
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	const grows = 4
	var lostAsks atomic.Int32 // asks since the trunk server was lost; -1 before
	lostAsks.Store(-1)
	go func() {
		var size int64 = 1000
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if h, err := proto.ReadHeader(c); err == nil && h.Cmd == proto.CmdTrunkGetBinlogSize {
				if n := lostAsks.Load(); n >= 0 {
					if n < grows {
						size += 100
					}
					lostAsks.Add(1)
				}
				proto.WritePacket(c, proto.CmdResp, 0, (&proto.Buf{}).I64(size).B)
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	join := func(ip string) *client {
		c := dialFrom(t, tr, ip)
		c.ok(proto.CmdStorageJoin, joinBody("group1", port, 1))
		if st, sync := c.call(proto.CmdStorageSyncDestReq, nil); st == 0 && len(sync) == proto.SyncReqSize {
			c.ok(proto.CmdStorageSyncNotify, make([]byte, proto.SyncReqSize))
		}
		c.ok(proto.CmdStorageBeat, nil)
		c.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 90000}))
		return c
	}
	a := join("127.0.0.2")
	require.Equal(t, "127.0.0.2", trunkServerOf(t, tr, "group1", ""))
	b := join("127.0.0.3")
	lostAsks.Store(0)
	a.c.Close()
	id, _ := trunkServerBeating(t, tr, "group1", "127.0.0.2", b)
	require.Equal(t, "127.0.0.3", id)
	require.Greater(t, lostAsks.Load(), int32(grows), "elected while its binlog copy was still growing")
}
