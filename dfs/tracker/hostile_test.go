package tracker

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/internal/allow"
	"yunpan/dfs/proto"
)

func rawHeader(pkgLen int64, cmd byte) []byte {
	b := make([]byte, proto.HeaderSize)
	binary.BigEndian.PutUint64(b, uint64(pkgLen))
	b[8] = cmd
	return b
}

func (c *client) write(b []byte) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.c.Write(b)
	require.NoError(c.t, err)
}

func TestHostileFraming(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) {
		o.NetworkTimeout = 400 * time.Millisecond
		o.MaxBuffSize = 64 << 10
	})
	// Other connections are served whatever happens to one.
	alive := func() {
		t.Helper()
		c := dial(t, tr)
		c.ok(proto.CmdActiveTest, nil)
		require.Empty(t, c.ok(proto.CmdServerListAllGroups, nil))
	}

	t.Run("truncated header then silence", func(t *testing.T) {
		c := dial(t, tr)
		c.write(rawHeader(0, proto.CmdActiveTest)[:5])
		c.requireClosed(3 * time.Second) // network_timeout, not forever
		alive()
	})
	t.Run("truncated header then EOF", func(t *testing.T) {
		c := dial(t, tr)
		c.write(rawHeader(0, proto.CmdActiveTest)[:5])
		require.NoError(t, c.c.(interface{ CloseWrite() error }).CloseWrite())
		c.requireClosed(300 * time.Millisecond)
	})
	t.Run("truncated body", func(t *testing.T) {
		c := dial(t, tr)
		c.write(append(rawHeader(100, proto.CmdServerListAllGroups), make([]byte, 10)...))
		c.requireClosed(3 * time.Second)
		alive()
	})
	t.Run("negative pkg_len", func(t *testing.T) {
		c := dial(t, tr)
		c.write(rawHeader(-1, proto.CmdActiveTest))
		st, body := c.read()
		require.Equal(t, proto.StatusEINVAL, st)
		require.Empty(t, body)
		c.requireClosed(time.Second)
	})
	for _, n := range []int64{64<<10 + 1, 1 << 40, 1<<63 - 1} {
		t.Run("pkg_len over max_buff_size", func(t *testing.T) {
			c := dial(t, tr)
			c.write(rawHeader(n, proto.CmdStorageJoin)) // no body follows: it must not wait for one
			st, body := c.read()
			require.Equal(t, proto.StatusEINVAL, st)
			require.Empty(t, body)
			c.requireClosed(time.Second)
		})
	}
	t.Run("body of exactly max_buff_size is read", func(t *testing.T) {
		c := dial(t, tr)
		st, _ := c.call(proto.CmdServerListAllGroups, make([]byte, 64<<10))
		require.Equal(t, proto.StatusEINVAL, st) // wrong length for 91, but served
		c.ok(proto.CmdActiveTest, nil)
	})
	t.Run("unknown command keeps the connection", func(t *testing.T) {
		c := dial(t, tr)
		for _, cmd := range []byte{0, 1, 100, 110, 200, 250, 255} {
			st, body := c.call(cmd, []byte("xyz"))
			require.Equal(t, proto.StatusEINVAL, st, "cmd %d", cmd)
			require.Empty(t, body)
		}
		c.ok(proto.CmdActiveTest, nil)
	})
	t.Run("active test with body", func(t *testing.T) {
		c := dial(t, tr)
		st, _ := c.call(proto.CmdActiveTest, []byte{1})
		require.Equal(t, proto.StatusEINVAL, st)
		c.ok(proto.CmdActiveTest, nil)
	})
	t.Run("quit", func(t *testing.T) {
		c := dial(t, tr)
		c.write(rawHeader(0, proto.CmdQuit))
		c.requireClosed(time.Second)
	})
	t.Run("idle connection is closed", func(t *testing.T) {
		c := dial(t, tr)
		c.ok(proto.CmdActiveTest, nil)
		c.requireClosed(3 * time.Second)
	})
	alive()
}

// Every command answers EINVAL to a body of the wrong size and the
// connection goes on serving.
func TestWrongBodyLengths(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.12", "group1")
	c := storageConn(t, tr, "127.0.0.11", "group1")
	cases := map[byte][]int{
		proto.CmdQueryStoreWithoutGroupOne: {1, 16},
		proto.CmdQueryStoreWithGroupOne:    {0, 15, 17},
		proto.CmdQueryStoreWithoutGroupAll: {1},
		proto.CmdQueryStoreWithGroupAll:    {0, 15, 17},
		proto.CmdQueryFetchOne:             {0, 16, 37, 144, 200},
		proto.CmdQueryUpdate:               {0, 37, 144},
		proto.CmdQueryFetchAll:             {0, 37, 144},
		proto.CmdServerListOneGroup:        {0, 15, 17},
		proto.CmdServerListAllGroups:       {1},
		proto.CmdServerListStorage:         {0, 15, 32},
		proto.CmdServerDeleteStorage:       {0, 16, 32},
		proto.CmdServerDeleteGroup:         {0, 15, 17},
		proto.CmdServerSetTrunkServer:      {15, 32},
		proto.CmdServerGetLeader:           {1},
		proto.CmdActiveTest:                {1},
		proto.CmdStorageJoin:               {0, 144, 145, 145 + 1701},
		proto.CmdStorageBeat:               {1, 347, 349},
		proto.CmdStorageReportDiskUsage:    {0, 15, 17, 32},
		proto.CmdStorageSyncReport:         {0, 19, 21},
		proto.CmdStorageSyncDestReq:        {1},
		proto.CmdStorageSyncNotify:         {0, 23, 25},
		proto.CmdStorageSyncDestQuery:      {1},
		proto.CmdStorageSyncSrcReq:         {0, 31, 33},
		proto.CmdStorageReportStatus:       {0, 82, 84},
		proto.CmdStorageChangeStatus:       {0, 2},
		proto.CmdStorageReplicaChg:         {0, 66, 68, 33 * 67},
		proto.CmdStorageChangelogReq:       {1, 31, 33},
		proto.CmdStorageParameterReq:       {1},
		proto.CmdStorageGetMyIP:            {0, 20, 22},
		proto.CmdStorageFetchStorageIDs:    {0, 4, 6},
		proto.CmdStorageGetServerID:        {0, 16, 69},
		proto.CmdStorageGetStatus:          {0, 16, 69},
		proto.CmdStorageGetGroupName:       {0, 3},
		proto.CmdStorageFetchTrunkFID:      {1},
		proto.CmdStorageReportTrunkFID:     {0, 3, 5},
		proto.CmdStorageReportTrunkFree:    {0, 7, 9},
		// tracker ↔ tracker and the cluster secret (leader.go, syscopy.go, clusterauth.go)
		proto.CmdTrackerJoinLeader:           {0, 23, 25},
		proto.CmdTrackerGetSysFilesStart:     {1},
		proto.CmdTrackerGetSysFilesEnd:       {1},
		proto.CmdTrackerGetOneSysFile:        {0, 8, 10},
		proto.CmdTrackerGetStatus:            {1},
		proto.CmdTrackerPingLeader:           {0, 11, 13},
		proto.CmdTrackerNotifyNextLeader:     {0, 53},
		proto.CmdTrackerCommitNextLeader:     {0, 53},
		proto.CmdTrackerNotifyReselectLeader: {1},
		proto.CmdServerTrackerClusterStat:    {0, 2, 4},
		proto.CmdClusterAuth:                 {0, proto.ClusterAuthSize - 1, proto.ClusterAuthSize + 1},
	}
	for cmd := range handlers {
		require.Contains(t, cases, cmd, "no wrong-length case for cmd %d", cmd)
	}
	for cmd, lens := range cases {
		for _, n := range lens {
			st, body := c.call(cmd, make([]byte, n))
			require.Equal(t, proto.StatusEINVAL, st, "cmd %d, %d bytes", cmd, n)
			require.Empty(t, body)
		}
	}
	c.ok(proto.CmdActiveTest, nil)
	// Still joined and ACTIVE: nothing above changed the registry.
	require.Equal(t, []byte{0}, c.ok(proto.CmdStorageBeat, nil)[:1])
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.11"))
	require.Equal(t, proto.StatusActive, statusOf(t, tr, "group1", "127.0.0.12"))
}

func TestAllowHosts(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) {
		o.AllowHosts = []string{"127.0.0.5", "127.0.0.8/30", "127.0.0.[20-22,30]"}
	})
	for ip, ok := range map[string]bool{
		"127.0.0.1": false, "127.0.0.5": true, "127.0.0.9": true, "127.0.0.12": false,
		"127.0.0.21": true, "127.0.0.23": false, "127.0.0.30": true,
	} {
		c := dialFrom(t, tr, ip)
		if ok {
			c.ok(proto.CmdActiveTest, nil)
		} else {
			c.requireClosed(2 * time.Second)
		}
	}
	for _, bad := range [][]string{{"not-an-ip"}, {"10.0.0.0/99"}, {"10.0.[1-2].1"}, {"10.0.0.[5-1]"}, {"10.0.0.[1-300]"}} {
		_, err := allow.Parse(bad)
		require.Error(t, err, "%v", bad)
	}
}

func TestMaxConnections(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) { o.MaxConnections = 2 })
	a, b := dial(t, tr), dial(t, tr)
	a.ok(proto.CmdActiveTest, nil)
	b.ok(proto.CmdActiveTest, nil)
	dial(t, tr).requireClosed(2 * time.Second)
	a.c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c := dial(t, tr)
		c.c.SetDeadline(time.Now().Add(time.Second))
		if proto.WritePacket(c.c, proto.CmdActiveTest, 0, nil) == nil {
			if _, err := proto.ReadHeader(c.c); err == nil {
				return
			}
		}
		require.True(t, time.Now().Before(deadline), "a slot never freed up")
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(o *conf.Tracker){
		"no base path":   func(o *conf.Tracker) { o.BasePath = "" },
		"disabled":       func(o *conf.Tracker) { o.Disabled = true },
		"storage ids":    func(o *conf.Tracker) { o.UseStorageID = true },
		"store lookup 3": func(o *conf.Tracker) { o.StoreLookup = 3 },
		"bad allow":      func(o *conf.Tracker) { o.AllowHosts = []string{"nope"} },
		"port in use":    func(o *conf.Tracker) { o.Port = -1 },
	} {
		o := testOptions(t)
		mod(o)
		_, err := New(o, nopLog())
		require.Error(t, err, name)
	}
	// Exit without Main, twice.
	tr, err := New(testOptions(t), nopLog())
	require.NoError(t, err)
	tr.Exit()
	tr.Exit()
	require.NoError(t, tr.Main())
}
