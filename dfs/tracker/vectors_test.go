package tracker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// Replays of the captures in internal/vectors/testdata against our tracker.

func loadVector(t *testing.T, name string) *vectors.Scenario {
	t.Helper()
	sc, err := vectors.Load(name)
	require.NoError(t, err)
	return sc
}

func conn(t *testing.T, sc *vectors.Scenario, client string) vectors.Conn {
	t.Helper()
	for _, c := range sc.Conns {
		if c.Client == client {
			return c
		}
	}
	t.Fatalf("%s: no connection from %s", sc.Name, client)
	return vectors.Conn{}
}

// firstC returns the first client packet with cmd in conn.
func firstC(t *testing.T, c vectors.Conn, cmd byte) vectors.Packet {
	t.Helper()
	for _, p := range c.Packets {
		if p.FromClient && p.Header.Cmd == cmd {
			return p
		}
	}
	t.Fatalf("no cmd %d packet", cmd)
	return vectors.Packet{}
}

// registerFromVector makes 127.0.0.1 an ACTIVE storage of group1 (port
// 23000, one path) with scenario 20's own JOIN, BEAT and DISK_USAGE
// packets, and returns its (open) reporting connection.
func registerFromVector(t *testing.T, tr *Tracker) *client {
	t.Helper()
	st := conn(t, loadVector(t, "20"), "127.0.0.3:43255")
	c := dialFrom(t, tr, "127.0.0.1")
	resp := c.ok(proto.CmdStorageJoin, firstC(t, st, proto.CmdStorageJoin).Body)
	require.Equal(t, append([]byte{proto.StatusInit}, make([]byte, 16)...), resp)
	// Alone in its group, the storage needs no sync and goes ONLINE.
	require.Empty(t, c.ok(proto.CmdStorageSyncDestReq, nil))
	resp = c.ok(proto.CmdStorageBeat, firstC(t, st, proto.CmdStorageBeat).Body)
	require.Len(t, resp, 1+2*proto.StorageBriefSize) // leader + the group's one member
	require.Equal(t, proto.BeatFlagLeader|proto.BeatFlagGroupServer, resp[0])
	require.Equal(t, []byte{0}, c.ok(proto.CmdStorageReportDiskUsage, firstC(t, st, proto.CmdStorageReportDiskUsage).Body))
	return c
}

// storageCmd: commands a storage sends on its reporting connection.
func storageCmd(cmd byte) bool {
	return cmd == proto.CmdStorageBeat || cmd == proto.CmdStorageReportDiskUsage || cmd == proto.CmdStorageChangelogReq
}

// checkSameLayout compares our answer with the captured one: status and
// length always, and the fields that do not depend on time or disks.
func checkSameLayout(t *testing.T, what string, cmd byte, want vectors.Packet, status byte, got []byte) {
	t.Helper()
	require.Equal(t, want.Header.Status, status, "%s: status", what)
	require.Len(t, got, len(want.Body), "%s: body length", what)
	switch cmd {
	case proto.CmdQueryStoreWithoutGroupOne, proto.CmdQueryStoreWithGroupOne,
		proto.CmdQueryStoreWithoutGroupAll, proto.CmdQueryStoreWithGroupAll,
		proto.CmdQueryFetchOne, proto.CmdQueryUpdate, proto.CmdQueryFetchAll:
		// group1, 127.0.0.1, 23000 (and path 0): all deterministic.
		require.Equal(t, want.Body, got, "%s", what)
	case proto.CmdServerListAllGroups, proto.CmdServerListOneGroup:
		for off := 0; off < len(got); off += proto.GroupStatSize {
			var w, g proto.GroupStat
			w.Read(&proto.Reader{B: want.Body[off:]})
			g.Read(&proto.Reader{B: got[off:]})
			w.FreeMB = g.FreeMB // the disk filled between the captures
			require.Equal(t, w, g, "%s", what)
		}
	case proto.CmdServerListStorage:
		ws, err := proto.DecodeStorageStats(want.Body)
		require.NoError(t, err)
		gs, err := proto.DecodeStorageStats(got)
		require.NoError(t, err)
		for i := range gs {
			w, g := ws[i], gs[i]
			require.Equal(t, proto.StatusActive, g.Status)
			require.Equal(t, []any{w.Status, w.RWMode, w.ID, w.IP, w.SrcID, w.Version, w.TotalMB, w.ReservedMB,
				w.UploadPriority, w.StorePathCount, w.SubdirCount, w.CurrentWritePath, w.StoragePort, w.IfTrunkServer},
				[]any{g.Status, g.RWMode, g.ID, g.IP, g.SrcID, g.Version, g.TotalMB, g.ReservedMB,
					g.UploadPriority, g.StorePathCount, g.SubdirCount, g.CurrentWritePath, g.StoragePort, g.IfTrunkServer}, what)
			require.NotZero(t, g.Stat.Counters[proto.StatLastHeartBeatTime])
		}
	case proto.CmdStorageBeat, proto.CmdStorageReportDiskUsage, proto.CmdStorageSyncReport:
		require.Equal(t, want.Body[0], got[0], "%s: flags", what)
	}
}

// TestVectorClientScenarios replays every tracker connection of the client
// scenarios: a compatible tracker answers each C packet like the S packet.
func TestVectorClientScenarios(t *testing.T) {
	tr := startTracker(t, nil)
	reg := registerFromVector(t, tr)
	for _, name := range []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14"} {
		sc := loadVector(t, name)
		for _, vc := range sc.Conns {
			if !strings.HasSuffix(vc.Server, ":22122") {
				continue
			}
			c := dial(t, tr)
			if storageCmd(vc.Packets[0].Header.Cmd) {
				c = reg // the storage's own reporting connection (joined before the capture)
			}
			for i, p := range vc.Packets {
				if !p.FromClient {
					continue
				}
				what := fmt.Sprintf("%s %s cmd %d", sc.Name, vc.Client, p.Header.Cmd)
				if p.Header.Cmd == proto.CmdQuit {
					require.NoError(t, proto.WritePacket(c.c, p.Header.Cmd, 0, p.Body))
					c.requireClosed(2 * time.Second)
					continue
				}
				require.Less(t, i+1, len(vc.Packets), what)
				status, got := c.call(p.Header.Cmd, p.Body)
				checkSameLayout(t, what, p.Header.Cmd, vc.Packets[i+1], status, got)
			}
		}
	}
}

// sampleOptions is the sample tracker.conf the capture's tracker used.
func sampleOptions(o *conf.Tracker) {
	o.SlotMaxSize = 1 << 20
	o.TrunkAllocAlignmentSize = 256
	o.TrunkCreateFileSpaceThreshold = 20 << 30
	o.TrunkFreeSpaceMerge = true
	o.TrunkCompressBinlogMinInterval = 86400 * time.Second
	o.TrunkCompressBinlogInterval = 86400 * time.Second
	o.TrunkBinlogMaxBackups = 7
}

// TestVectorStorageJoinAndSync replays scenario 20: a second storage
// (127.0.0.3) joins group1, gets 127.0.0.1 as its sync source, and is
// moved WAIT_SYNC → SYNCING → OFFLINE by the source's status reports.
func TestVectorStorageJoinAndSync(t *testing.T) {
	tr := startTracker(t, sampleOptions)
	sc := loadVector(t, "20")
	reg := registerFromVector(t, tr)

	// GET_MY_IP then QUIT.
	c := dialFrom(t, tr, "127.0.0.3")
	myIP := conn(t, sc, "127.0.0.3:58189")
	require.Equal(t, myIP.Packets[1].Body, c.ok(proto.CmdStorageGetMyIP, myIP.Packets[0].Body))
	require.NoError(t, proto.WritePacket(c.c, proto.CmdQuit, 0, nil))
	c.requireClosed(2 * time.Second)

	// PARAMETER_REQ: byte for byte, key order included.
	params := conn(t, sc, "127.0.0.3:49529")
	c = dialFrom(t, tr, "127.0.0.3")
	require.Equal(t, string(params.Packets[1].Body), string(c.ok(proto.CmdStorageParameterReq, nil)))

	side := func(client string) {
		sc := conn(t, sc, client)
		c := dialFrom(t, tr, "127.0.0.1")
		for i, p := range sc.Packets {
			if !p.FromClient {
				continue
			}
			if p.Header.Cmd == proto.CmdQuit {
				require.NoError(t, proto.WritePacket(c.c, p.Header.Cmd, 0, nil))
				c.requireClosed(2 * time.Second)
				continue
			}
			status, got := c.call(p.Header.Cmd, p.Body)
			want := sc.Packets[i+1]
			require.Equal(t, want.Header.Status, status, client)
			require.Len(t, got, len(want.Body), client)
			if len(got) == proto.SyncReqSize { // SYNC_SRC_REQ: same source, until differs
				require.Equal(t, want.Body[:16], got[:16])
			}
		}
	}

	st := conn(t, sc, "127.0.0.3:43255")
	stc := dialFrom(t, tr, "127.0.0.3")
	c = stc
	beats := 0
	for i, p := range st.Packets {
		if !p.FromClient {
			continue
		}
		want := st.Packets[i+1]
		switch {
		case p.Header.Cmd == proto.CmdStorageBeat:
			beats++
			if beats == 3 {
				// Between the 2nd and 3rd beat the source asked SYNC_SRC_REQ
				// and reported the destination SYNCING.
				side("127.0.0.1:59803")
				side("127.0.0.1:40675")
			}
		case p.Header.Cmd == proto.CmdStorageSyncReport:
			side("127.0.0.1:46995") // the source's report: OFFLINE
		}
		status, got := c.call(p.Header.Cmd, p.Body)
		what := fmt.Sprintf("scenario 20 packet %d cmd %d", i, p.Header.Cmd)
		require.Equal(t, want.Header.Status, status, what)
		require.Len(t, got, len(want.Body), what)
		switch p.Header.Cmd {
		case proto.CmdStorageJoin:
			require.Equal(t, want.Body, got) // INIT, no source yet
		case proto.CmdStorageSyncDestReq:
			require.Equal(t, want.Body[:16], got[:16]) // source 127.0.0.1
			require.InDelta(t, time.Now().Unix(), be64(got, 16), 5)
		case proto.CmdStorageBeat, proto.CmdStorageReportDiskUsage, proto.CmdStorageSyncReport:
			require.Equal(t, want.Body[0], got[0], what+": flags")
			off := 1
			if got[0]&proto.BeatFlagLeader != 0 {
				var b proto.StorageBrief
				b.Read(&proto.Reader{B: got[off:]})
				require.Equal(t, proto.StorageBrief{Status: 0, Port: int32(tr.port()), ID: "127.0.0.1", IP: "127.0.0.1"}, b)
				off += proto.StorageBriefSize
			}
			// The group section: same members and statuses as captured.
			require.Equal(t, want.Body[off:], got[off:], what+": group section")
		}
	}
	require.Equal(t, proto.StatusOffline, statusOf(t, tr, "group1", "127.0.0.3"))

	// The source's own connection: flush the changes, then DISK_USAGE
	// answers with nothing new, as captured.
	reg.ok(proto.CmdStorageBeat, nil)
	du := conn(t, sc, "127.0.0.1:50575")
	require.Equal(t, du.Packets[1].Body, reg.ok(du.Packets[0].Header.Cmd, du.Packets[0].Body))

	for _, client := range []string{"127.0.0.1:50726", "127.0.0.1:53236"} { // upload, delete
		q := conn(t, sc, client)
		c := dial(t, tr)
		require.Equal(t, q.Packets[1].Body, c.ok(q.Packets[0].Header.Cmd, q.Packets[0].Body), client)
	}

	// The destination's next beat makes it ACTIVE (rule 8).
	stc.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.3"))
}
