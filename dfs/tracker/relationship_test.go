package tracker

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// relTick is the relationship loop period in these tests (1 s in daemons).
const relTick = 20 * time.Millisecond

// startRel runs a tracker bound to ip with a short relationship tick.
func startRel(t *testing.T, ip string, mod func(o *conf.Tracker)) *Tracker {
	t.Helper()
	o := testOptions(t)
	o.BindAddr = ip
	if mod != nil {
		mod(o)
	}
	return startRelWith(t, o, nil)
}

// startRelWith starts a tracker from o; before runs between New and Main.
func startRelWith(t *testing.T, o *conf.Tracker, before func(tr *Tracker)) *Tracker {
	t.Helper()
	tr, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	tr.rel.tick = relTick
	if before != nil {
		before(tr)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Main() }()
	t.Cleanup(func() {
		tr.Exit()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Error("Main did not return after Exit")
		}
	})
	return tr
}

func addrs(trs ...*Tracker) []string {
	var out []string
	for _, tr := range trs {
		out = append(out, tr.Addr().String())
	}
	return out
}

// joinTo makes storageIP a storage of group on tr whose config lists
// trackers; it retries while the tracker copies system data (EAGAIN) and
// returns the joined connection after a beat and a disk report.
func joinTo(t *testing.T, tr *Tracker, storageIP, group string, trackers []string) *client {
	t.Helper()
	j := proto.JoinBody{GroupName: group, StoragePort: 23000, StorePathCount: 1, SubdirCount: 256,
		UploadPriority: 10, JoinTime: 1700000000, UpTime: 1700000100, Version: proto.Version,
		InitFlag: true, CurrentTrackerIP: hostIP(tr.Addr()), Trackers: trackers}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, tr, storageIP)
		st, resp := c.call(proto.CmdStorageJoin, j.Encode())
		if st == proto.StatusEAGAIN && time.Now().Before(deadline) {
			c.c.Close()
			time.Sleep(relTick)
			continue
		}
		require.Zero(t, st, "join %s to %s", storageIP, tr.Addr())
		require.Len(t, resp, proto.JoinRespSize)
		if _, sync := c.call(proto.CmdStorageSyncDestReq, nil); len(sync) == proto.SyncReqSize {
			c.ok(proto.CmdStorageSyncNotify, make([]byte, proto.SyncReqSize))
		}
		c.ok(proto.CmdStorageBeat, nil)
		c.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 90000}))
		return c
	}
}

// leaderOf is the tracker's view: whether it leads, and whom it follows.
func leaderOf(tr *Tracker) (self bool, leader string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.rel.leaderSelf, tr.rel.leader
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLeader waits until want leads and every other tracker follows it.
func waitLeader(t *testing.T, want *Tracker, others ...*Tracker) {
	t.Helper()
	waitFor(t, 10*time.Second, "leader "+want.Addr().String(), func() bool {
		if self, _ := leaderOf(want); !self {
			return false
		}
		for _, o := range others {
			if self, l := leaderOf(o); self || l != want.Addr().String() {
				return false
			}
		}
		return true
	})
}

func TestBetterOrdering(t *testing.T) {
	c := func(addr string, leader bool, running, restart int64) candidate {
		return candidate{addr: addr, st: trackerStatus{isLeader: leader, running: running, restart: restart}}
	}
	for _, tc := range []struct{ a, b candidate }{
		{c("10.0.0.1:1", true, 0, 900), c("10.0.0.9:9", false, 9000, 0)},   // a leader first
		{c("10.0.0.1:1", false, 600, 0), c("10.0.0.9:9", false, 300, 0)},   // longer running
		{c("10.0.0.1:1", false, 300, 0), c("10.0.0.9:9", false, 300, 300)}, // shorter restart
		{c("10.0.0.9:1", false, 0, 0), c("10.0.0.1:9", false, 0, 0)},       // larger IP text
		{c("10.0.0.1:9", false, 0, 0), c("10.0.0.1:1", false, 0, 0)},       // larger port
	} {
		require.True(t, better(tc.a, tc.b), "%+v > %+v", tc.a, tc.b)
		require.False(t, better(tc.b, tc.a), "%+v < %+v", tc.b, tc.a)
	}
}

func TestCanonTracker(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.2:22122":            "127.0.0.2:22122",
		" 127.0.0.2:22122 ":          "127.0.0.2:22122",
		"10.0.0.1,192.168.0.1:22122": "10.0.0.1:22122",
		"[::1]:22122":                "[::1]:22122",
		"tracker.example:22122":      "",
		"127.0.0.2":                  "",
		"127.0.0.2:0":                "",
	} {
		require.Equal(t, want, canonTracker(in), in)
	}
}

// A tracker alone leads at once; so does each of two that started alone,
// until their storages make them meet: the lesser by the election order
// (here the smaller IP) steps down and follows. Followers answer reports
// with 0x00; the leader with its sections.
func TestTwoTrackersAgreeOnALeader(t *testing.T) {
	t1 := startRel(t, "127.0.0.21", nil)
	t2 := startRel(t, "127.0.0.22", nil)
	for _, tr := range []*Tracker{t1, t2} {
		self, _ := leaderOf(tr)
		require.True(t, self, "alone, %s leads", tr.Addr())
	}
	all := addrs(t1, t2)
	c1 := joinTo(t, t1, "127.0.0.31", "group1", all)
	c2 := joinTo(t, t2, "127.0.0.31", "group1", all)
	waitLeader(t, t2, t1)

	for _, tr := range []*Tracker{t1, t2} {
		c := dial(t, tr)
		require.Equal(t, t2.Addr().String(), string(c.ok(proto.CmdServerGetLeader, nil)))
	}
	require.Equal(t, []byte{0}, c1.ok(proto.CmdStorageBeat, nil), "a follower answers 0x00")
	waitFor(t, 5*time.Second, "follower joined", func() bool {
		t2.mu.Lock()
		defer t2.mu.Unlock()
		return t2.rel.followers[t1.Addr().String()] != nil
	})
	resp := c2.ok(proto.CmdStorageBeat, nil)
	require.NotZero(t, resp[0]&proto.BeatFlagLeader, "the leader sends the leader section after a follower joined")
	var b proto.StorageBrief
	b.Read(&proto.Reader{B: resp[1:]})
	require.Equal(t, hostIP(t2.Addr()), b.IP)
	require.EqualValues(t, t2.port(), b.Port)

	// TRACKER_CLUSTER_STAT: the leader lists both, the follower refuses.
	waitFor(t, 5*time.Second, "follower active", func() bool {
		recs := clusterStat(t, t2)
		return len(recs) == 2 && recs[1].active
	})
	recs := clusterStat(t, t2)
	require.Equal(t, t2.Addr().String(), recs[0].host)
	require.True(t, recs[0].leader)
	require.Equal(t, t1.Addr().String(), recs[1].host)
	require.False(t, recs[1].leader)
	st, _ := dial(t, t1).call(proto.CmdServerTrackerClusterStat, []byte{0, 0, 0})
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	// Filtered on is_leader=1: only the leader.
	b2 := dial(t, t2).ok(proto.CmdServerTrackerClusterStat, []byte{2, 0, 1})
	require.Equal(t, byte(1), b2[0])
	require.Len(t, b2, 1+clusterStatRecSize)

	// Membership agreement: a follower takes the leader's view of a storage
	// from CHANGE_STATUS and merges REPLICA_CHG; the leader, the reference,
	// ignores REPLICA_CHG.
	x := dialFrom(t, t1, "127.0.0.32")
	x.ok(proto.CmdStorageJoin, (&proto.JoinBody{GroupName: "group1", StoragePort: 23000, StorePathCount: 1,
		SubdirCount: 256, Version: proto.Version, InitFlag: true, CurrentTrackerIP: "127.0.0.21", Trackers: all}).Encode())
	require.Equal(t, proto.StatusInit, statusOf(t, t1, "group1", "127.0.0.32"))
	x.ok(proto.CmdStorageChangeStatus, []byte{proto.StatusWaitSync})
	require.Equal(t, proto.StatusWaitSync, statusOf(t, t1, "group1", "127.0.0.32"))
	w := &proto.Buf{}
	(&proto.StorageBrief{Status: proto.StatusOffline, Port: 23000, ID: "127.0.0.33", IP: "127.0.0.33"}).Append(w)
	c1.ok(proto.CmdStorageReplicaChg, w.B)
	c2.ok(proto.CmdStorageReplicaChg, w.B)
	require.Equal(t, proto.StatusOffline, statusOf(t, t1, "group1", "127.0.0.33"))
	for _, r := range listStorages(t, t2, "group1") {
		require.NotEqual(t, "127.0.0.33", r.ID, "the leader ignores REPLICA_CHG")
	}
}

type clusterStatRec struct {
	host           string
	leader, active bool
}

func clusterStat(t *testing.T, tr *Tracker) []clusterStatRec {
	t.Helper()
	b := dial(t, tr).ok(proto.CmdServerTrackerClusterStat, []byte{0, 0, 0})
	require.Len(t, b, 1+int(b[0])*clusterStatRecSize)
	var out []clusterStatRec
	for i := 0; i < int(b[0]); i++ {
		r := b[1+i*clusterStatRecSize:]
		out = append(out, clusterStatRec{host: proto.Fixed(r[:proto.HostPortLen]),
			leader: r[proto.HostPortLen] == 1, active: r[proto.HostPortLen+1] == 1})
	}
	return out
}

// Three trackers: the one running longest wins although its IP is the
// smallest; when it dies the others elect the next by the order (larger
// IP) within a bounded time, and the survivor follows it.
func TestThreeTrackersElectAndReelect(t *testing.T) {
	t1 := startRelWith(t, relOptions(t, "127.0.0.21"), func(tr *Tracker) {
		tr.rel.startTime = tr.rel.startTime.Add(-10 * time.Minute) // running_time 600
	})
	t2 := startRel(t, "127.0.0.22", nil)
	t3 := startRel(t, "127.0.0.23", nil)
	all := addrs(t1, t2, t3)
	for _, tr := range []*Tracker{t1, t2, t3} {
		joinTo(t, tr, "127.0.0.31", "group1", all)
	}
	waitLeader(t, t1, t2, t3)

	t1.Exit()
	start := time.Now()
	waitLeader(t, t3, t2)
	t.Logf("re-elected in %s (tick %s)", time.Since(start), relTick)
	c := dial(t, t2)
	require.Equal(t, t3.Addr().String(), string(c.ok(proto.CmdServerGetLeader, nil)))
}

func relOptions(t *testing.T, ip string) *conf.Tracker {
	o := testOptions(t)
	o.BindAddr = ip
	return o
}

// NOTIFY_RESELECT_LEADER makes the leader step down and the trackers elect
// again; a follower refuses it.
func TestNotifyReselectLeader(t *testing.T) {
	t1 := startRel(t, "127.0.0.21", nil)
	t2 := startRel(t, "127.0.0.22", nil)
	all := addrs(t1, t2)
	joinTo(t, t1, "127.0.0.31", "group1", all)
	joinTo(t, t2, "127.0.0.31", "group1", all)
	waitLeader(t, t2, t1)

	st, _ := dial(t, t1).call(proto.CmdTrackerNotifyReselectLeader, nil)
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	t2.mu.Lock()
	chg := t2.reg.leaderChg
	t2.mu.Unlock()
	dial(t, t2).ok(proto.CmdTrackerNotifyReselectLeader, nil)
	waitFor(t, 5*time.Second, "step down and elect again", func() bool {
		t2.mu.Lock()
		defer t2.mu.Unlock()
		return t2.reg.leaderChg >= chg+2 && t2.rel.leaderSelf // lost it, won it again
	})
	waitLeader(t, t2, t1)
}

// The follower side of the election commands, driven by hand.
func TestLeaderCommands(t *testing.T) {
	tr := startRelWith(t, relOptions(t, "127.0.0.21"), func(tr *Tracker) { tr.rel.loopOff = true })
	peer := "127.0.0.22:22122"
	joinTo(t, tr, "127.0.0.31", "group1", []string{tr.Addr().String(), peer})
	c := dial(t, tr)

	// GET_STATUS: leader (alone at start), running and restart 0.
	b := c.ok(proto.CmdTrackerGetStatus, nil)
	require.Equal(t, []byte{1}, b[:1])
	require.Len(t, b, trackerStatusSize)
	require.Zero(t, be64(b, 1))
	require.Zero(t, be64(b, 9))

	// The leader told of another leader steps down (EINVAL); an unknown
	// tracker is ENOENT; COMMIT must match the announcement.
	st, _ := c.call(proto.CmdTrackerNotifyNextLeader, []byte("127.0.0.99:1"))
	require.Equal(t, proto.StatusEINVAL, st)
	self, _ := leaderOf(tr)
	require.False(t, self)
	st, _ = c.call(proto.CmdTrackerNotifyNextLeader, []byte("127.0.0.99:1"))
	require.Equal(t, proto.StatusENOENT, st)
	c.ok(proto.CmdTrackerNotifyNextLeader, []byte(peer))
	st, _ = c.call(proto.CmdTrackerCommitNextLeader, []byte("127.0.0.31:22122"))
	require.Equal(t, proto.StatusEINVAL, st)
	c.ok(proto.CmdTrackerCommitNextLeader, []byte(peer))
	_, l := leaderOf(tr)
	require.Equal(t, peer, l)
	require.Equal(t, peer, string(c.ok(proto.CmdServerGetLeader, nil)))

	// A follower refuses JOIN_LEADER and PING_LEADER.
	jl := (&proto.Buf{}).I64(1).Fixed(proto.Version, 8).I64(22122).B
	st, _ = c.call(proto.CmdTrackerJoinLeader, jl)
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	st, _ = c.call(proto.CmdTrackerPingLeader, make([]byte, 12))
	require.Equal(t, proto.StatusEOPNOTSUPP, st)

	// Announced and committed itself, it leads again.
	c.ok(proto.CmdTrackerNotifyNextLeader, []byte(tr.Addr().String()))
	c.ok(proto.CmdTrackerCommitNextLeader, []byte(tr.Addr().String()))
	self, _ = leaderOf(tr)
	require.True(t, self)

	// As leader: JOIN_LEADER from an unknown tracker is ENOENT, from a known
	// one succeeds once per connection; PING_LEADER needs it.
	f := dialFrom(t, tr, "127.0.0.22")
	st, _ = f.call(proto.CmdTrackerPingLeader, make([]byte, 12))
	require.Equal(t, proto.StatusEACCES, st)
	st, _ = f.call(proto.CmdTrackerJoinLeader, (&proto.Buf{}).I64(1).Fixed(proto.Version, 8).I64(1).B)
	require.Equal(t, proto.StatusENOENT, st)
	f.ok(proto.CmdTrackerJoinLeader, jl)
	st, _ = f.call(proto.CmdTrackerJoinLeader, jl)
	require.Equal(t, proto.StatusEEXIST, st)
	require.Empty(t, f.ok(proto.CmdTrackerPingLeader, make([]byte, 12)))
	recs := clusterStat(t, tr)
	require.Len(t, recs, 2)
	require.Equal(t, peer, recs[1].host)
	require.True(t, recs[1].active)
}

// A fresh tracker copies the registry and the changelog from a peer before
// it serves a JOIN, so it knows storages that are gone or deleted.
func TestSystemDataCopy(t *testing.T) {
	t1 := startRel(t, "127.0.0.21", nil)
	o2 := relOptions(t, "127.0.0.22")
	o2.Port = freePort(t, "127.0.0.22")
	all := []string{t1.Addr().String(), net.JoinHostPort("127.0.0.22", strconv.Itoa(o2.Port))}
	joinTo(t, t1, "127.0.0.31", "group1", all)
	gone := joinTo(t, t1, "127.0.0.32", "group1", all)
	gone.c.Close()
	waitStatus(t, t1, "group1", "127.0.0.32", proto.StatusOffline, 5*time.Second)
	dial(t, t1).ok(proto.CmdServerDeleteStorage, append(groupField("group1"), "127.0.0.32"...))

	// The copy protocol itself: one holder at a time, chunks, release.
	a, b := dial(t, t1), dial(t, t1)
	st, _ := a.call(proto.CmdTrackerGetOneSysFile, make([]byte, 9))
	require.Equal(t, proto.StatusEINVAL, st, "START first")
	a.ok(proto.CmdTrackerGetSysFilesStart, nil)
	st, _ = b.call(proto.CmdTrackerGetSysFilesStart, nil)
	require.Equal(t, proto.StatusEBUSY, st)
	resp := a.ok(proto.CmdTrackerGetOneSysFile, []byte{3, 0, 0, 0, 0, 0, 0, 0, 0})
	require.Contains(t, string(resp[8:]), " group1 127.0.0.32 4 \n")
	require.EqualValues(t, len(resp)-8, be64(resp, 0))
	st, _ = a.call(proto.CmdTrackerGetOneSysFile, []byte{4, 0, 0, 0, 0, 0, 0, 0, 0})
	require.Equal(t, proto.StatusEINVAL, st)
	a.ok(proto.CmdTrackerGetSysFilesEnd, nil)
	b.ok(proto.CmdTrackerGetSysFilesStart, nil)
	b.c.Close() // a dropped connection releases the lock too
	waitFor(t, 2*time.Second, "lock released", func() bool {
		c := dial(t, t1)
		defer c.c.Close()
		st, _ := c.call(proto.CmdTrackerGetSysFilesStart, nil)
		if st == 0 {
			c.ok(proto.CmdTrackerGetSysFilesEnd, nil)
		}
		return st == 0
	})

	// A fresh peer: its first JOIN copies t1's data.
	t2 := startRelWith(t, o2, nil)
	st, _ = dial(t, t2).call(proto.CmdTrackerGetSysFilesStart, nil)
	require.Equal(t, proto.StatusENOENT, st, "no groups yet")
	joinTo(t, t2, "127.0.0.31", "group1", all)
	require.Equal(t, proto.StatusDeleted, statusOf(t, t2, "group1", "127.0.0.32"))
	c := dial(t, t2)
	body := append(groupField("group1"), make([]byte, proto.StorageIDLen)...)
	copy(body[proto.GroupNameLen:], "127.0.0.31")
	require.Contains(t, string(c.ok(proto.CmdStorageChangelogReq, body)), " group1 127.0.0.32 4 \n")
}

func freePort(t *testing.T, ip string) int { return cluster.FreePort(t, ip) }

// A tracker down for more than 600 s copies again although it has data;
// one that knew peers starts without a leader.
func TestRestartState(t *testing.T) {
	o := relOptions(t, "127.0.0.21")
	tr := startRelWith(t, o, nil)
	joinTo(t, tr, "127.0.0.31", "group1", []string{tr.Addr().String(), "127.0.0.22:22122"})
	tr.Exit()

	o.Port = tr.port()
	tr2, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	self, _ := leaderOf(tr2)
	require.False(t, self, "knew a peer: asks before leading")
	require.False(t, tr2.rel.needCopy, "has data, down briefly")
	tr2.Exit()

	b, err := os.ReadFile(filepath.Join(o.BasePath, "data", statusFile))
	require.NoError(t, err)
	var st savedStatus
	require.NoError(t, json.Unmarshal(b, &st))
	require.Contains(t, st.Trackers, "127.0.0.22:22122")
	st.LastCheck -= 601
	b, _ = json.Marshal(st)
	require.NoError(t, os.WriteFile(filepath.Join(o.BasePath, "data", statusFile), b, 0o644))
	tr3, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	require.True(t, tr3.rel.needCopy, "down > 600 s")
	require.EqualValues(t, 600, tr3.ownStatusLocked(time.Now()).restart)
	tr3.Exit()
}

// Storage IDs: JOIN resolves the ID (sent, or by address), FETCH_STORAGE_IDS
// pages, GET_SERVER_ID / GET_MY_IP / GET_GROUP_NAME answer from the table,
// and file names carrying IDs (or an old address) find their storage.
func TestStorageIDs(t *testing.T) {
	text := "100001 group1 127.0.0.41\n" +
		"100002 group1 127.0.0.42 rw=read\n" +
		"100003 group1 127.0.0.44,10.0.0.44:23000\n" +
		"200001 group2 127.0.0.51\n"
	for i := 0; i < 300; i++ {
		text += fmt.Sprintf("%d group3 10.9.%d.%d:23000\n", 300000+i, i/200, i%200+1)
	}
	ids, err := conf.ParseStorageIDs([]byte(text))
	require.NoError(t, err)
	tr := startRel(t, "127.0.0.21", func(o *conf.Tracker) {
		o.UseStorageID, o.StorageIDs, o.IDTypeInFilename = true, ids, "id"
		o.MaxBuffSize = 4096
		o.DownloadServer = 1 // source first, to see which storage a name decodes to
	})
	self := []string{tr.Addr().String()}
	join := func(ip, group, id string) (byte, []byte) {
		j := proto.JoinBody{GroupName: group, StoragePort: 23000, StorePathCount: 1, SubdirCount: 256,
			Version: proto.Version, InitFlag: true, StorageID: id, CurrentTrackerIP: "127.0.0.21", Trackers: self}
		return dialFrom(t, tr, ip).call(proto.CmdStorageJoin, j.Encode())
	}
	st, _ := join("127.0.0.45", "group1", "")
	require.Equal(t, proto.StatusENOENT, st, "unlisted address")
	st, _ = join("127.0.0.41", "group1", "999")
	require.Equal(t, proto.StatusENOENT, st, "unknown id")
	st, _ = join("127.0.0.41", "group1", "200001")
	require.Equal(t, proto.StatusEINVAL, st, "id of another group")

	// By address, and a trusted ID from a new address (the storage moved).
	c1 := dialFrom(t, tr, "127.0.0.41")
	c1.ok(proto.CmdStorageJoin, (&proto.JoinBody{GroupName: "group1", StoragePort: 23000, StorePathCount: 1,
		SubdirCount: 256, Version: proto.Version, InitFlag: true, CurrentTrackerIP: "127.0.0.21", Trackers: self}).Encode())
	c1.ok(proto.CmdStorageSyncDestReq, nil)
	c1.ok(proto.CmdStorageBeat, nil)
	c1.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 90000}))
	c2 := dialFrom(t, tr, "127.0.0.43")
	c2.ok(proto.CmdStorageJoin, (&proto.JoinBody{GroupName: "group1", StoragePort: 23001, StorePathCount: 1,
		SubdirCount: 256, Version: proto.Version, InitFlag: false, Status: int8(proto.StatusOnline),
		StorageID: "100002", CurrentTrackerIP: "127.0.0.21", Trackers: self}).Encode())
	c2.ok(proto.CmdStorageBeat, nil)
	c2.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 90000}))
	recs := listStorages(t, tr, "group1")
	require.Len(t, recs, 2)
	require.Equal(t, "100001", recs[0].ID)
	require.Equal(t, "127.0.0.41", recs[0].IP)
	require.Equal(t, proto.RWBoth, recs[0].RWMode)
	require.Equal(t, "100002", recs[1].ID)
	require.Equal(t, "127.0.0.43", recs[1].IP, "the address it joined from")
	require.EqualValues(t, 23001, recs[1].StoragePort, "ports may differ with IDs in names")
	require.Equal(t, proto.RWRead, recs[1].RWMode)
	require.Equal(t, proto.StatusActive, recs[1].Status)

	c := dialFrom(t, tr, "127.0.0.44")
	params := string(c.ok(proto.CmdStorageParameterReq, nil))
	require.Contains(t, params, "use_storage_id=1\nid_type_in_filename=id\n")

	// FETCH_STORAGE_IDS in pages that fit the buffer.
	var lines string
	total := -1
	for start := 0; ; {
		b := c.ok(proto.CmdStorageFetchStorageIDs, append(proto.Buf{}.B, byte(start>>24), byte(start>>16), byte(start>>8), byte(start), 0))
		require.LessOrEqual(t, len(b), 4096)
		total = int(proto.I32(b))
		n := int(proto.I32(b[4:]))
		require.Positive(t, n)
		lines += string(b[8:])
		start += n
		if start >= total {
			break
		}
	}
	require.Equal(t, 304, total)
	want := ""
	for _, e := range tr.ids.list {
		want += e.Line() + "\n"
	}
	require.Equal(t, want, lines)
	require.Contains(t, lines, "100002 group1 127.0.0.42 rw=read\n100003 group1 127.0.0.44,10.0.0.44:23000\n")
	st, _ = c.call(proto.CmdStorageFetchStorageIDs, []byte{0, 0, 1, 48, 0}) // 304
	require.Equal(t, proto.StatusEINVAL, st)

	require.Equal(t, "100001", string(c.ok(proto.CmdStorageGetServerID, append(groupField("group1"), "127.0.0.41:23000"...))))
	require.Equal(t, "100003", string(c.ok(proto.CmdStorageGetServerID, append(groupField("group1"), "10.0.0.44:23000"...))))
	st, _ = c.call(proto.CmdStorageGetServerID, append(groupField("group1"), "127.0.0.99:23000"...))
	require.Equal(t, proto.StatusENOENT, st)
	require.Equal(t, "127.0.0.44,10.0.0.44", string(c.ok(proto.CmdStorageGetMyIP, (&proto.Buf{}).Fixed("group1", 17).I32(23000).B)))
	require.Equal(t, "127.0.0.44", string(dialFrom(t, tr, "127.0.0.44").ok(proto.CmdStorageGetMyIP, (&proto.Buf{}).Fixed("group1", 17).I32(1).B)))
	require.Equal(t, groupField("group1"), c.ok(proto.CmdStorageGetGroupName, []byte{0, 0, 0x59, 0xd8}))
	require.Equal(t, groupField("group2"), c.ok(proto.CmdStorageGetGroupName, append([]byte("127.0.0.51"), 0, 0, 0x59, 0xd8)))
	st, _ = c.call(proto.CmdStorageGetGroupName, append([]byte("127.0.0.52"), 0, 0, 0x59, 0xd8))
	require.Equal(t, proto.StatusENOENT, st)
	var brief proto.StorageBrief
	brief.Read(&proto.Reader{B: c.ok(proto.CmdStorageGetStatus, append(groupField("group1"), "127.0.0.42"...))})
	require.Equal(t, "100002", brief.ID, "found by its listed address")

	// A name carrying server ID 100002 decodes to that storage wherever it
	// now is; so does a name carrying its old listed address.
	now := time.Now().Unix()
	for _, name := range []string{idRemoteName(100002, now), remoteName("127.0.0.42", now, false)} {
		r := fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", name)))
		require.Equal(t, "127.0.0.43", r.Storages[0].IP, name)
		require.EqualValues(t, 23001, r.Storages[0].Port)
	}
	// QUERY_UPDATE goes to the source when writable: 100001 is.
	r := fetchResp(t, c.ok(proto.CmdQueryUpdate, fetchBody("group1", idRemoteName(100001, now))))
	require.Equal(t, "127.0.0.41", r.Storages[0].IP)
}

func TestStorageIDsNeedEntries(t *testing.T) {
	o := testOptions(t)
	o.UseStorageID = true
	_, err := New(o, zerolog.Nop())
	require.ErrorContains(t, err, "storage_ids.conf")
	dir := t.TempDir()
	path := filepath.Join(dir, "storage_ids.conf")
	require.NoError(t, os.WriteFile(path, []byte("7 group1 127.0.0.7\n"), 0o644))
	o.StorageIDsFilename = path
	tr, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	require.Equal(t, "7", tr.ids.list[0].ID)
	tr.Exit()
}

// With cluster_secret, storage and tracker commands need the proof first:
// without it (or with a wrong one) JOIN is EACCES, the connection closes
// and the storage never appears; client commands stay open; trackers
// prove it to each other and still elect.
func TestClusterSecret(t *testing.T) {
	secret := func(o *conf.Tracker) { o.ClusterSecret = "s3cret" }
	t1 := startRel(t, "127.0.0.21", secret)
	t2 := startRel(t, "127.0.0.22", secret)
	all := addrs(t1, t2)
	jb := joinBody("group1", 23000, 1)

	c := dialFrom(t, t1, "127.0.0.31")
	st, _ := c.call(proto.CmdStorageJoin, jb)
	require.Equal(t, proto.StatusEACCES, st)
	c.requireClosed(time.Second)

	c = dialFrom(t, t1, "127.0.0.31")
	st, _ = c.call(proto.CmdClusterAuth, proto.ClusterAuthBody("wrong", time.Now()))
	require.Equal(t, proto.StatusEACCES, st)
	c.requireClosed(time.Second)

	for _, cmd := range []byte{proto.CmdTrackerGetStatus, proto.CmdStorageBeat, proto.CmdStorageGetMyIP} {
		c = dial(t, t1)
		st, _ = c.call(cmd, nil)
		require.Equal(t, proto.StatusEACCES, st, "cmd %d", cmd)
		c.requireClosed(time.Second)
	}
	st, _ = dial(t, t1).call(proto.CmdServerListStorage, groupField("group1"))
	require.Equal(t, proto.StatusENOENT, st, "the refused storage is not listed")
	require.Empty(t, dial(t, t1).ok(proto.CmdServerListAllGroups, nil), "client commands need no proof")

	// A replayed proof is refused.
	body := proto.ClusterAuthBody("s3cret", time.Now())
	dial(t, t1).ok(proto.CmdClusterAuth, body)
	c = dial(t, t1)
	st, _ = c.call(proto.CmdClusterAuth, body)
	require.Equal(t, proto.StatusEACCES, st)

	for _, tr := range []*Tracker{t1, t2} {
		c := dialFrom(t, tr, "127.0.0.31")
		c.ok(proto.CmdClusterAuth, proto.ClusterAuthBody("s3cret", time.Now()))
		j := proto.JoinBody{GroupName: "group1", StoragePort: 23000, StorePathCount: 1, SubdirCount: 256,
			Version: proto.Version, InitFlag: true, CurrentTrackerIP: hostIP(tr.Addr()), Trackers: all}
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, _ := c.call(proto.CmdStorageJoin, j.Encode())
			if st == 0 {
				break
			}
			require.Equal(t, proto.StatusEAGAIN, st)
			require.True(t, time.Now().Before(deadline))
			time.Sleep(relTick)
		}
		c.ok(proto.CmdStorageSyncDestReq, nil)
		c.ok(proto.CmdStorageBeat, nil)
		require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.31"))
	}
	waitLeader(t, t2, t1) // their peer connections proved the secret too
}

// idRemoteName is a file name whose source slot holds a server ID.
func idRemoteName(id uint32, ts int64) string {
	info := fileid.Info{SourceID: id, Timestamp: ts, SizeField: fileid.SizeField(13, false, 7), CRC32: 1}
	return fileid.RemoteName(0, 0x0B, 0, info, fileid.FormatExt("txt", func() uint32 { return 363 }))
}
