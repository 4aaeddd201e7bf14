package tracker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

func storeResp(t *testing.T, b []byte) *proto.StoreResp {
	t.Helper()
	r, err := proto.DecodeStoreResp(b)
	require.NoError(t, err)
	return r
}

func fetchResp(t *testing.T, b []byte) *proto.FetchResp {
	t.Helper()
	r, err := proto.DecodeFetchResp(b)
	require.NoError(t, err)
	return r
}

func TestNoGroupsENOENT(t *testing.T) {
	tr := startTracker(t, nil)
	c := dial(t, tr)
	for _, cmd := range []byte{proto.CmdQueryStoreWithoutGroupOne, proto.CmdQueryStoreWithoutGroupAll} {
		st, body := c.call(cmd, nil)
		require.Equal(t, proto.StatusENOENT, st)
		require.Empty(t, body)
	}
	st, _ := c.call(proto.CmdQueryStoreWithGroupOne, groupField("group1"))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdQueryFetchOne, fetchBody("group1", remoteName("127.0.0.1", time.Now().Unix(), false)))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdServerListOneGroup, groupField("group1"))
	require.Equal(t, proto.StatusENOENT, st)
	require.Empty(t, c.ok(proto.CmdServerListAllGroups, nil))
	st, _ = c.call(proto.CmdServerListStorage, groupField("group1"))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdServerDeleteGroup, groupField("group1"))
	require.Equal(t, proto.StatusENOENT, st)
}

func TestENOENTCases(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1")
	c := dial(t, tr)
	st, _ := c.call(proto.CmdQueryStoreWithGroupOne, groupField("nosuch"))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdQueryStoreWithGroupAll, groupField("nosuch"))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdQueryFetchOne, fetchBody("nosuch", remoteName("127.0.0.11", 1, false)))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdServerListStorage, append(groupField("group1"), "127.0.0.99"...))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdServerDeleteStorage, append(groupField("group1"), "127.0.0.99"...))
	require.Equal(t, proto.StatusENOENT, st)
	recs := listStorages(t, tr, "group1")
	require.Len(t, recs, 1)
	one := c.ok(proto.CmdServerListStorage, append(groupField("group1"), "127.0.0.11"...))
	require.Len(t, one, proto.StorageStatSize(proto.IPv4Size))

	// A group whose only storage is not ACTIVE has nothing writable/readable.
	c2 := dialFrom(t, tr, "127.0.0.21")
	c2.ok(proto.CmdStorageJoin, joinBody("group2", 23000, 1))
	st, _ = c.call(proto.CmdQueryStoreWithGroupOne, groupField("group2"))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdQueryFetchOne, fetchBody("group2", remoteName("127.0.0.21", 1, false)))
	require.Equal(t, proto.StatusENOENT, st)
	st, _ = c.call(proto.CmdQueryUpdate, fetchBody("group2", remoteName("127.0.0.21", 1, false)))
	require.Equal(t, proto.StatusENOENT, st)
}

func TestStoreLookupPolicies(t *testing.T) {
	setup := func(t *testing.T, mod func(o *conf.Tracker)) *Tracker {
		tr := startTracker(t, mod)
		storageConn(t, tr, "127.0.0.11", "groupA", [2]int64{100000, 50000})
		storageConn(t, tr, "127.0.0.12", "groupB", [2]int64{100000, 90000})
		storageConn(t, tr, "127.0.0.13", "groupC", [2]int64{100000, 70000})
		return tr
	}
	groups := func(t *testing.T, tr *Tracker, n int) []string {
		c := dial(t, tr)
		var out []string
		for range n {
			out = append(out, storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)).Group)
		}
		return out
	}
	t.Run("round robin", func(t *testing.T) {
		tr := setup(t, func(o *conf.Tracker) { o.StoreLookup = 0 })
		require.Equal(t, []string{"groupA", "groupB", "groupC", "groupA"}, groups(t, tr, 4))
	})
	t.Run("fixed group", func(t *testing.T) {
		tr := setup(t, func(o *conf.Tracker) { o.StoreLookup = 1; o.StoreGroup = "groupC" })
		require.Equal(t, []string{"groupC", "groupC"}, groups(t, tr, 2))
	})
	t.Run("load balance", func(t *testing.T) {
		tr := setup(t, func(o *conf.Tracker) { o.StoreLookup = 2 })
		require.Equal(t, []string{"groupB", "groupB"}, groups(t, tr, 2))
		// groupB fills up below the 20% reserve: the emptiest is groupC now.
		b := dialFrom(t, tr, "127.0.0.12")
		b.ok(proto.CmdStorageJoin, joinBody("groupB", 23000, 1))
		b.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 1000}))
		require.Equal(t, []string{"groupC"}, groups(t, tr, 1))
		// groupC full too: the round-robin scan (cursor at the start) finds groupA.
		c := dialFrom(t, tr, "127.0.0.13")
		c.ok(proto.CmdStorageJoin, joinBody("groupC", 23000, 1))
		c.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{100000, 1000}))
		require.Equal(t, []string{"groupA"}, groups(t, tr, 1))
	})
	t.Run("explicit group", func(t *testing.T) {
		tr := setup(t, nil)
		c := dial(t, tr)
		r := storeResp(t, c.ok(proto.CmdQueryStoreWithGroupOne, groupField("groupC")))
		require.Equal(t, "groupC", r.Group)
		require.Equal(t, []proto.StorageAddr{{IP: "127.0.0.13", Port: 23000}}, r.Storages)
	})
}

func TestStoreServerPolicies(t *testing.T) {
	setup := func(t *testing.T, policy int) *Tracker {
		tr := startTracker(t, func(o *conf.Tracker) { o.StoreServer = policy })
		for i, ip := range []string{"127.0.0.13", "127.0.0.11", "127.0.0.12"} {
			c := dialFrom(t, tr, ip)
			j := proto.JoinBody{GroupName: "group1", StoragePort: 23000, StorePathCount: 1, SubdirCount: 256,
				UploadPriority: int64(20 - i), Version: proto.Version, InitFlag: true, Trackers: []string{"x:1"}}
			c.ok(proto.CmdStorageJoin, j.Encode())
			if _, sync := c.call(proto.CmdStorageSyncDestReq, nil); len(sync) > 0 {
				c.ok(proto.CmdStorageSyncNotify, make([]byte, proto.SyncReqSize))
			}
			c.ok(proto.CmdStorageReportDiskUsage, diskBody([2]int64{1000, 900}))
		}
		return tr
	}
	ips := func(t *testing.T, tr *Tracker, n int) []string {
		c := dial(t, tr)
		var out []string
		for range n {
			out = append(out, storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)).Storages[0].IP)
		}
		return out
	}
	// Sorted by ID: .11 (priority 19), .12 (18), .13 (20).
	require.Equal(t, []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.11"}, ips(t, setup(t, 0), 4))
	require.Equal(t, []string{"127.0.0.11", "127.0.0.11"}, ips(t, setup(t, 1), 2))
	require.Equal(t, []string{"127.0.0.12", "127.0.0.12"}, ips(t, setup(t, 2), 2))

	// 106: every writable storage, sorted by ID.
	c := dial(t, setup(t, 0))
	r := storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupAll, nil))
	require.Equal(t, []proto.StorageAddr{{IP: "127.0.0.11", Port: 23000}, {IP: "127.0.0.12", Port: 23000}, {IP: "127.0.0.13", Port: 23000}}, r.Storages)
}

func TestStorePathPolicies(t *testing.T) {
	paths := func(t *testing.T, tr *Tracker, n int) []int8 {
		c := dial(t, tr)
		var out []int8
		for range n {
			out = append(out, storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)).PathIndex)
		}
		return out
	}
	disks := [][2]int64{{1000, 500}, {1000, 100}, {1000, 800}} // path 1 is below 20%
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1", disks...)
	require.Equal(t, []int8{0, 2, 0, 2}, paths(t, tr, 4))

	tr = startTracker(t, func(o *conf.Tracker) { o.StorePath = 2 })
	storageConn(t, tr, "127.0.0.11", "group1", disks...)
	require.Equal(t, []int8{2, 2}, paths(t, tr, 2))
}

// §11 item 7: a reserve larger than every group's free space → ENOSPC.
func TestReservedSpaceENOSPC(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) { o.ReservedSpace = conf.Reserved{MB: 200000, Text: "200000MB"} })
	storageConn(t, tr, "127.0.0.11", "group1", [2]int64{300000, 150000})
	storageConn(t, tr, "127.0.0.12", "group2", [2]int64{300000, 199999})
	c := dial(t, tr)
	for _, cmd := range []byte{proto.CmdQueryStoreWithoutGroupOne, proto.CmdQueryStoreWithoutGroupAll} {
		st, body := c.call(cmd, nil)
		require.Equal(t, proto.StatusENOSPC, st)
		require.Empty(t, body)
	}
	st, _ := c.call(proto.CmdQueryStoreWithGroupOne, groupField("group2"))
	require.Equal(t, proto.StatusENOSPC, st)

	// The absolute reserve is split over a storage's paths (1000/2 = 500).
	tr = startTracker(t, func(o *conf.Tracker) { o.ReservedSpace = conf.Reserved{MB: 1000, Text: "1000MB"} })
	storageConn(t, tr, "127.0.0.11", "group1", [2]int64{5000, 400}, [2]int64{5000, 700})
	c = dial(t, tr)
	for range 2 {
		require.EqualValues(t, 1, storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)).PathIndex)
	}

	// The group passes (its space is the member with least free MB, .11)
	// but every path of .12 is under 20%: ENOSPC when .12 is chosen.
	tr = startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1", [2]int64{1000, 900})
	storageConn(t, tr, "127.0.0.12", "group1", [2]int64{100000, 15000}, [2]int64{100000, 15000}, [2]int64{100000, 15000})
	c = dial(t, tr)
	r := storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil))
	require.Equal(t, "127.0.0.11", r.Storages[0].IP)
	st, _ = c.call(proto.CmdQueryStoreWithoutGroupOne, nil)
	require.Equal(t, proto.StatusENOSPC, st)
}

func TestFetchSelection(t *testing.T) {
	tr := startTracker(t, nil)
	a := storageConn(t, tr, "127.0.0.11", "group1")
	b := storageConn(t, tr, "127.0.0.12", "group1")
	c := dial(t, tr)
	now := time.Now().Unix()
	fresh := remoteName("127.0.0.11", now, false)

	// Only the source has a file made just now (.12 has synced nothing).
	for range 3 {
		r := fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", fresh)))
		require.Equal(t, "127.0.0.11", r.Storages[0].IP)
	}
	r := fetchResp(t, c.ok(proto.CmdQueryFetchAll, fetchBody("group1", fresh)))
	require.Equal(t, []proto.StorageAddr{{IP: "127.0.0.11", Port: 23000}}, r.Storages)

	// An old file is everywhere: fetch-one takes turns, fetch-all lists both.
	old := remoteName("127.0.0.11", now-2*86400, false)
	seen := map[string]bool{}
	for range 4 {
		seen[fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", old))).Storages[0].IP] = true
	}
	require.Len(t, seen, 2)
	require.Len(t, fetchResp(t, c.ok(proto.CmdQueryFetchAll, fetchBody("group1", old))).Storages, 2)

	// .12 reports it has synced .11 up to after the file: it qualifies.
	w := &proto.Buf{}
	w.Fixed("127.0.0.11", 16).I32(int32(now + 10))
	b.ok(proto.CmdStorageSyncReport, w.B)
	require.Len(t, fetchResp(t, c.ok(proto.CmdQueryFetchAll, fetchBody("group1", fresh))).Storages, 2)

	// Appender files stay with their source; so does update.
	app := remoteName("127.0.0.12", now-2*86400, true)
	for range 3 {
		require.Equal(t, "127.0.0.12", fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", app))).Storages[0].IP)
		require.Equal(t, "127.0.0.12", fetchResp(t, c.ok(proto.CmdQueryUpdate, fetchBody("group1", app))).Storages[0].IP)
	}
	require.Equal(t, []proto.StorageAddr{{IP: "127.0.0.12", Port: 23000}},
		fetchResp(t, c.ok(proto.CmdQueryFetchAll, fetchBody("group1", app))).Storages)

	// Update of a file whose source is gone: any writable storage.
	a.c.Close()
	waitStatus(t, tr, "group1", "127.0.0.11", proto.StatusOffline, 2*time.Second)
	require.Equal(t, "127.0.0.12", fetchResp(t, c.ok(proto.CmdQueryUpdate, fetchBody("group1", fresh))).Storages[0].IP)
	// Fetch falls back to the preferred server.
	require.Equal(t, "127.0.0.12", fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", fresh))).Storages[0].IP)

	// A name too short to decode is EINVAL.
	st, _ := c.call(proto.CmdQueryFetchOne, fetchBody("group1", "M00/00/00/short-name-abcdefgh"))
	require.Equal(t, proto.StatusEINVAL, st)
}

func TestDownloadServerSourceFirst(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) { o.DownloadServer = 1 })
	storageConn(t, tr, "127.0.0.11", "group1")
	storageConn(t, tr, "127.0.0.12", "group1")
	c := dial(t, tr)
	old := remoteName("127.0.0.12", time.Now().Unix()-3*86400, false)
	for range 3 {
		require.Equal(t, "127.0.0.12", fetchResp(t, c.ok(proto.CmdQueryFetchOne, fetchBody("group1", old))).Storages[0].IP)
	}
}

func TestDeleteStorageAndGroup(t *testing.T) {
	tr := startTracker(t, nil)
	a := storageConn(t, tr, "127.0.0.11", "group1")
	b := storageConn(t, tr, "127.0.0.12", "group1")
	c := dial(t, tr)
	del := append(groupField("group1"), "127.0.0.11"...)

	st, _ := c.call(proto.CmdServerDeleteStorage, del)
	require.Equal(t, proto.StatusEBUSY, st) // ACTIVE
	st, _ = c.call(proto.CmdServerDeleteGroup, groupField("group1"))
	require.Equal(t, proto.StatusEBUSY, st)

	a.c.Close()
	waitStatus(t, tr, "group1", "127.0.0.11", proto.StatusOffline, 2*time.Second)
	require.Empty(t, c.ok(proto.CmdServerDeleteStorage, del))
	require.Equal(t, proto.StatusDeleted, statusOf(t, tr, "group1", "127.0.0.11"))
	st, _ = c.call(proto.CmdServerDeleteStorage, del)
	require.Equal(t, proto.StatusEALREADY, st)

	// The change reaches the other member through its changelog and the
	// next beat's group section.
	log := string(b.ok(proto.CmdStorageChangelogReq, nil))
	require.Regexp(t, `^\d+ group1 127\.0\.0\.11 4 \n$`, log)
	require.Empty(t, b.ok(proto.CmdStorageChangelogReq, nil))
	resp := b.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, proto.BeatFlagGroupServer, resp[0])
	require.Equal(t, proto.StatusDeleted, resp[1])

	// A deleted storage that joins again starts over as INIT.
	a = dialFrom(t, tr, "127.0.0.11")
	require.Equal(t, proto.StatusInit, a.ok(proto.CmdStorageJoin, joinBody("group1", 23000, 1))[0])
	a.c.Close()

	b.c.Close()
	waitStatus(t, tr, "group1", "127.0.0.12", proto.StatusOffline, 2*time.Second)
	c.ok(proto.CmdServerDeleteStorage, append(groupField("group1"), "127.0.0.12"...))
	st, _ = c.call(proto.CmdServerDeleteGroup, groupField("group1"))
	require.Equal(t, proto.StatusEBUSY, st) // .11 is INIT again
	c.ok(proto.CmdServerDeleteStorage, del)
	c.ok(proto.CmdServerDeleteGroup, groupField("group1"))
	require.Empty(t, c.ok(proto.CmdServerListAllGroups, nil))
}

// §11 item 14.
func TestStorageCommandsNeedJoin(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1")
	c := dialFrom(t, tr, "127.0.0.11") // same IP, another connection, no JOIN
	for cmd, body := range map[byte][]byte{
		proto.CmdStorageBeat:            nil,
		proto.CmdStorageReportDiskUsage: diskBody([2]int64{1, 1}),
		proto.CmdStorageSyncReport:      make([]byte, 20),
		proto.CmdStorageSyncDestReq:     nil,
		proto.CmdStorageSyncNotify:      make([]byte, 24),
		proto.CmdStorageSyncDestQuery:   nil,
		proto.CmdStorageChangeStatus:    {proto.StatusOffline},
		proto.CmdStorageReplicaChg:      make([]byte, 67),
		proto.CmdStorageChangelogReq:    nil,
	} {
		st, resp := c.call(cmd, body)
		require.Equal(t, proto.StatusEACCES, st, "cmd %d", cmd)
		require.Empty(t, resp)
	}
	c.ok(proto.CmdActiveTest, nil) // still served
}

func TestOfflineOnClose(t *testing.T) {
	tr := startTracker(t, nil)
	a := storageConn(t, tr, "127.0.0.11", "group1")
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.11"))
	recs := listStorages(t, tr, "group1")
	require.EqualValues(t, 1700000100, recs[0].UpTime)
	a.c.Close()
	waitStatus(t, tr, "group1", "127.0.0.11", proto.StatusOffline, 2*time.Second)
	require.Zero(t, listStorages(t, tr, "group1")[0].UpTime)

	// Rejoin → ONLINE → ACTIVE.
	a = dialFrom(t, tr, "127.0.0.11")
	require.Equal(t, proto.StatusOnline, a.ok(proto.CmdStorageJoin, joinBody("group1", 23000, 1))[0])
	require.Equal(t, proto.StatusOnline, statusOf(t, tr, "group1", "127.0.0.11"))
	a.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.11"))
}

func TestOfflineAfterCheckActiveInterval(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) { o.CheckActiveInterval = 500 * time.Millisecond })
	a := storageConn(t, tr, "127.0.0.11", "group1")
	// Beating keeps it ACTIVE.
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		a.ok(proto.CmdStorageBeat, nil)
		require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.11"))
	}
	start := time.Now()
	waitStatus(t, tr, "group1", "127.0.0.11", proto.StatusOffline, 3*time.Second)
	require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
	// Still connected: the next beat brings it back.
	a.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.11"))
}

func TestPersistenceAcrossRestart(t *testing.T) {
	o := testOptions(t)
	tr, err := New(o, nopLog())
	require.NoError(t, err)
	go tr.Main()
	a := storageConn(t, tr, "127.0.0.11", "group1", [2]int64{1000, 600}, [2]int64{1000, 700})
	storageConn(t, tr, "127.0.0.12", "group1", [2]int64{1000, 600}, [2]int64{1000, 700})
	w := &proto.Buf{}
	w.Fixed("127.0.0.12", 16).I32(1234567)
	a.ok(proto.CmdStorageSyncReport, w.B)
	before := listStorages(t, tr, "group1")
	tr.Exit()
	_, err = os.Stat(filepath.Join(o.BasePath, "data", registryFile))
	require.NoError(t, err)

	tr = startWith(t, o)
	after := listStorages(t, tr, "group1")
	require.Len(t, after, 2)
	for i := range after {
		require.Equal(t, proto.StatusOffline, after[i].Status)
		b := before[i]
		b.Status, b.UpTime = proto.StatusOffline, 0
		require.Equal(t, b, after[i])
	}
	require.EqualValues(t, 1234567, after[0].Stat.Counters[proto.StatLastSyncedTimestamp])
	c := dial(t, tr)
	st, _ := c.call(proto.CmdQueryStoreWithoutGroupOne, nil)
	require.Equal(t, proto.StatusENOENT, st) // nobody ACTIVE until they join again
	a = dialFrom(t, tr, "127.0.0.11")
	require.Equal(t, proto.StatusOnline, a.ok(proto.CmdStorageJoin, joinBody("group1", 23000, 2))[0])
	a.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, "127.0.0.11", storeResp(t, c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)).Storages[0].IP)

	// A corrupt registry stops the start instead of being overwritten.
	tr.Exit()
	require.NoError(t, os.WriteFile(filepath.Join(o.BasePath, "data", registryFile), []byte("{not json"), 0o644))
	_, err = New(o, nopLog())
	require.Error(t, err)
}

func TestSaveIsPeriodic(t *testing.T) {
	o := testOptions(t)
	tr := startWith(t, o)
	storageConn(t, tr, "127.0.0.11", "group1")
	path := filepath.Join(o.BasePath, "data", registryFile)
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), `"127.0.0.11"`) {
			return
		}
		require.True(t, time.Now().Before(deadline), "registry not saved within 3s")
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJoinRules(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1")
	c := dialFrom(t, tr, "127.0.0.12")
	st, _ := c.call(proto.CmdStorageJoin, joinBody("group1", 23001, 1))
	require.Equal(t, proto.StatusEINVAL, st, "port differs from the group's")
	j := proto.JoinBody{GroupName: "group1", StoragePort: 23000, StorePathCount: 1, SubdirCount: 128,
		Version: proto.Version, InitFlag: true, Trackers: []string{"a:1"}}
	st, _ = c.call(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusEINVAL, st, "subdir count differs")
	j.SubdirCount, j.StorePathCount = 256, 0
	st, _ = c.call(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusEINVAL, st, "no store paths")
	j.StorePathCount, j.GroupName = 1, "bad-name"
	st, _ = c.call(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusEINVAL, st, "group name")
	j.GroupName, j.InitFlag, j.Status = "group1", false, int8(proto.StatusDeleted)
	st, _ = c.call(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusEFAULT, st, "unknown storage claiming DELETED")
	j.Status = -1
	st, _ = c.call(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusEFAULT, st)
	j.Status = int8(proto.StatusActive)
	resp := c.ok(proto.CmdStorageJoin, j.Encode())
	require.Equal(t, proto.StatusOnline, resp[0], "known to other trackers: ACTIVE becomes ONLINE")
	// Nothing the failed joins said was kept.
	require.Len(t, listStorages(t, tr, "group1"), 2)
	require.Equal(t, proto.StatusOnline, statusOf(t, tr, "group1", "127.0.0.12"))
	// A second storage that is the only one of its group moves ports freely.
	d := dialFrom(t, tr, "127.0.0.21")
	d.ok(proto.CmdStorageJoin, joinBody("group2", 23000, 1))
	d.ok(proto.CmdStorageJoin, joinBody("group2", 23002, 1))
	c2 := dial(t, tr)
	var gs proto.GroupStat
	gs.Read(&proto.Reader{B: c2.ok(proto.CmdServerListOneGroup, groupField("group2"))})
	require.EqualValues(t, 23002, gs.StoragePort)
}

func TestSyncCoordination(t *testing.T) {
	tr := startTracker(t, nil)
	src := storageConn(t, tr, "127.0.0.11", "group1")
	_ = src
	dst := dialFrom(t, tr, "127.0.0.12")
	dst.ok(proto.CmdStorageJoin, joinBody("group1", 23000, 1))
	require.Empty(t, dst.ok(proto.CmdStorageSyncDestQuery, nil))
	req, err := proto.DecodeSyncReq(dst.ok(proto.CmdStorageSyncDestReq, nil))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.11", req.SrcID)
	require.Equal(t, proto.StatusWaitSync, statusOf(t, tr, "group1", "127.0.0.12"))
	got, err := proto.DecodeSyncReq(dst.ok(proto.CmdStorageSyncDestQuery, nil))
	require.NoError(t, err)
	require.Equal(t, req, got)

	// The source asks about the destination, then reports progress.
	c := dialFrom(t, tr, "127.0.0.11")
	got, err = proto.DecodeSyncReq(c.ok(proto.CmdStorageSyncSrcReq, append(groupField("group1"), fixed16("127.0.0.12")...)))
	require.NoError(t, err)
	require.Equal(t, req, got)
	report := func(st byte) {
		w := &proto.Buf{}
		w.Fixed("group1", 16)
		b := proto.StorageBrief{Status: st, Port: 23000, ID: "127.0.0.12", IP: "127.0.0.12"}
		b.Append(w)
		c.ok(proto.CmdStorageReportStatus, w.B)
	}
	report(proto.StatusSyncing)
	require.Equal(t, proto.StatusSyncing, statusOf(t, tr, "group1", "127.0.0.12"))
	report(proto.StatusWaitSync) // lower: ignored
	require.Equal(t, proto.StatusSyncing, statusOf(t, tr, "group1", "127.0.0.12"))
	report(proto.StatusOffline)
	require.Equal(t, proto.StatusOffline, statusOf(t, tr, "group1", "127.0.0.12"))
	dst.ok(proto.CmdStorageBeat, nil)
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.12"))
	report(proto.StatusOffline) // ACTIVE is not overridden by a report
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.12"))

	// SYNC_SRC_REQ for unknown destinations, and SYNC_NOTIFY with an
	// unknown source.
	st, _ := c.call(proto.CmdStorageSyncSrcReq, append(groupField("group1"), fixed16("127.0.0.99")...))
	require.Equal(t, proto.StatusENOENT, st)
	n := dialFrom(t, tr, "127.0.0.13")
	n.ok(proto.CmdStorageJoin, joinBody("group1", 23000, 1))
	st, _ = n.call(proto.CmdStorageSyncNotify, (&proto.SyncReq{SrcID: "127.0.0.99", Until: 5}).Encode())
	require.Equal(t, proto.StatusENOENT, st)
	n.ok(proto.CmdStorageSyncNotify, (&proto.SyncReq{SrcID: "127.0.0.11", Until: 5}).Encode())
	require.Equal(t, proto.StatusWaitSync, statusOf(t, tr, "group1", "127.0.0.13"))
	n.ok(proto.CmdStorageSyncNotify, make([]byte, 24))
	require.Equal(t, proto.StatusOnline, statusOf(t, tr, "group1", "127.0.0.13"))

	// REPORT_STATUS may add an unknown storage in a sync state.
	w := &proto.Buf{}
	w.Fixed("group1", 16)
	b := proto.StorageBrief{Status: proto.StatusOffline, Port: 23000, ID: "127.0.0.14", IP: "127.0.0.14"}
	b.Append(w)
	c.ok(proto.CmdStorageReportStatus, w.B)
	require.Equal(t, proto.StatusOffline, statusOf(t, tr, "group1", "127.0.0.14"))
	// ... but never makes one ACTIVE: only its own beats do.
	w.B[16] = proto.StatusActive
	c.ok(proto.CmdStorageReportStatus, w.B)
	require.Equal(t, proto.StatusOffline, statusOf(t, tr, "group1", "127.0.0.14"))
	// ... and a report naming an unknown group is ENOENT.
	copy(w.B, fixed16("nosuch"))
	st, _ = c.call(proto.CmdStorageReportStatus, w.B)
	require.Equal(t, proto.StatusENOENT, st)

	// CHANGELOG_REQ by group and ID works without a JOIN.
	require.Empty(t, c.ok(proto.CmdStorageChangelogReq, append(groupField("group1"), fixed16("127.0.0.14")...)))
	st, _ = c.call(proto.CmdStorageChangelogReq, append(groupField("group1"), fixed16("127.0.0.99")...))
	require.Equal(t, proto.StatusENOENT, st)
}

func nopLog() zerolog.Logger { return zerolog.Nop() }

func fixed16(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

func TestHelperCommands(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.11", "group1")
	c := dialFrom(t, tr, "127.0.0.11")
	require.Equal(t, "127.0.0.11", string(c.ok(proto.CmdStorageGetMyIP, make([]byte, 21))))
	require.Equal(t, make([]byte, 8), c.ok(proto.CmdStorageFetchStorageIDs, []byte{0, 0, 0, 0, 1}))
	st, _ := c.call(proto.CmdStorageFetchStorageIDs, []byte{0, 0, 0, 0, 0})
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	require.Equal(t, "127.0.0.11", string(c.ok(proto.CmdStorageGetServerID, append(groupField("group1"), "127.0.0.11:23000"...))))
	var b proto.StorageBrief
	b.Read(&proto.Reader{B: c.ok(proto.CmdStorageGetStatus, append(groupField("group1"), "127.0.0.11:23000"...))})
	require.Equal(t, proto.StorageBrief{Status: proto.StatusActive, Port: 23000, ID: "127.0.0.11", IP: "127.0.0.11"}, b)
	st, _ = c.call(proto.CmdStorageGetStatus, append(groupField("group1"), "127.0.0.99:23000"...))
	require.Equal(t, proto.StatusENOENT, st)
	require.Equal(t, tr.Addr().String(), string(c.ok(proto.CmdServerGetLeader, nil)))
	st, _ = c.call(proto.CmdServerSetTrunkServer, groupField("group1"))
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	st, _ = c.call(proto.CmdStorageGetGroupName, []byte{0, 0, 0x59, 0xd8})
	require.Equal(t, proto.StatusEOPNOTSUPP, st)
	params := string(c.ok(proto.CmdStorageParameterReq, nil))
	for _, k := range []string{"use_storage_id=0\n", "storage_sync_file_max_delay=86400\n", "reserved_storage_space=20.00%\n", "use_trunk_file=0\n"} {
		require.Contains(t, params, k)
	}
}
