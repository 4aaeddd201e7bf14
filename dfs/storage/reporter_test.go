package storage

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
	"yunpan/dfs/tracker"
)

func trackerOpts(t *testing.T) *conf.Tracker {
	o := conf.DefaultTracker()
	o.BindAddr = "127.0.0.1"
	o.Port = 0
	o.BasePath = t.TempDir()
	o.NetworkTimeout = 5 * time.Second
	o.ReservedSpace = conf.Reserved{Ratio: 0.01, Text: "1.00%"}
	return o
}

// runTracker starts a real tracker; the returned stop function is also
// run at cleanup.
func runTracker(t *testing.T, o *conf.Tracker) (*tracker.Tracker, func()) {
	t.Helper()
	tr, err := tracker.New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- tr.Main() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		tr.Exit()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("tracker Main did not return")
		}
	}
	t.Cleanup(stop)
	return tr, stop
}

// listStorage asks the tracker for the group's storages (LIST_STORAGE, 92).
func listStorage(addr, group string) ([]proto.StorageStat, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := proto.WritePacket(c, proto.CmdServerListStorage, 0, (&proto.Buf{}).Fixed(group, 16).B); err != nil {
		return nil, err
	}
	body, err := proto.ReadResponse(c, 1<<20)
	if err != nil {
		return nil, err
	}
	return proto.DecodeStorageStats(body)
}

// waitStorage polls the tracker until the storage ip reports want.
func waitStorage(t *testing.T, addr, ip string, d time.Duration, what string, want func(proto.StorageStat) bool) proto.StorageStat {
	t.Helper()
	var last proto.StorageStat
	waitFor(t, d, what, func() bool {
		sts, err := listStorage(addr, "group1")
		if err != nil {
			return false
		}
		for _, st := range sts {
			if st.IP == ip {
				last = st
				return want(st)
			}
		}
		return false
	})
	return last
}

// TestReporterWithTracker runs the storage's tracker session against the
// real tracker: join, initial sync decision, beats with counters, disk
// reports, parameters, the group list, a second storage that gets a sync
// source, and reconnection after the tracker restarts.
func TestReporterWithTracker(t *testing.T) {
	topts := trackerOpts(t)
	tr, stopTracker := runTracker(t, topts)
	taddr := tr.Addr().String()

	o := testOpts(t)
	o.TrackerServers = []string{taddr}
	o.HeartBeatInterval = 200 * time.Millisecond
	o.StatReportInterval = 200 * time.Millisecond
	s1 := start(t, o)
	port := s1.Addr().(*net.TCPAddr).Port

	st := waitStorage(t, taddr, "127.0.0.1", 10*time.Second, "storage ACTIVE", func(st proto.StorageStat) bool {
		return st.Status == proto.StatusActive && st.TotalMB > 0
	})
	require.Equal(t, int64(port), st.StoragePort)
	require.Equal(t, int64(1), st.StorePathCount)
	require.Equal(t, int64(4), st.SubdirCount)
	require.Equal(t, proto.Version, st.Version)
	total, free, err := diskUsage(s1.paths[0].dataDir)
	require.NoError(t, err)
	require.Equal(t, total, st.TotalMB)
	require.InDelta(t, free, st.FreeMB, 100)

	// What the storage learned.
	p := s1.params.Load()
	require.NotNil(t, p)
	require.InDelta(t, 0.01, p.reserved.Ratio, 1e-9)
	require.Equal(t, "127.0.0.1", *s1.myIP.Load())
	_, done, src, _ := s1.flag.snapshot()
	require.True(t, done)
	require.Empty(t, src)
	waitFor(t, 5*time.Second, "group list", func() bool {
		_, members := s1.cluster.snapshot()
		return len(members) == 1 && members[0].IP == "127.0.0.1" && members[0].Port == int32(port)
	})
	require.Equal(t, int32(proto.StatusActive), s1.myStatus.Load())
	flag, err := os.ReadFile(filepath.Join(o.BasePath, "data", ".data_init_flag"))
	require.NoError(t, err)
	kv := parseKV(flag)
	require.Equal(t, "1", kv["sync_old_done"])
	require.Equal(t, "127.0.0.1", kv["last_ip_addr"])
	require.Equal(t, strconv.Itoa(port), kv["last_server_port"])

	// Counters reach the tracker with the next beat.
	c := dial(t, s1)
	upload(t, c, 0, "txt", hello)
	waitStorage(t, taddr, "127.0.0.1", 10*time.Second, "upload counted", func(st proto.StorageStat) bool {
		return st.Stat.Counters[proto.StatSuccessUpload] == 1 &&
			st.Stat.Counters[proto.StatSuccessUploadBytes] == int64(len(hello))
	})

	// A second member of the group gets the first as its sync source.
	o2 := testOpts(t)
	o2.BindAddr = "127.0.0.2"
	o2.Port = port
	o2.TrackerServers = []string{taddr}
	o2.HeartBeatInterval = 200 * time.Millisecond
	s2 := start(t, o2)
	waitStorage(t, taddr, "127.0.0.2", 10*time.Second, "second storage WAIT_SYNC", func(st proto.StorageStat) bool {
		return st.Status == proto.StatusWaitSync && st.SrcID == "127.0.0.1"
	})
	waitFor(t, 5*time.Second, "sync source saved", func() bool {
		_, done, src, until := s2.flag.snapshot()
		return done && src == "127.0.0.1" && until > 0
	})
	waitFor(t, 5*time.Second, "both in the group list", func() bool {
		_, members := s1.cluster.snapshot()
		return len(members) == 2
	})

	// The tracker restarts on the same port: the storage reconnects.
	stopTracker()
	topts.Port = tr.Addr().(*net.TCPAddr).Port
	tr2, _ := runTracker(t, topts)
	waitStorage(t, tr2.Addr().String(), "127.0.0.1", 15*time.Second, "ACTIVE after tracker restart", func(st proto.StorageStat) bool {
		return st.Status == proto.StatusActive
	})
	// Its clients were served all along.
	activeOK(t, s1)
}

// TestReporterNoTracker: with the tracker absent the storage serves clients
// and keeps retrying without blocking Exit.
func TestReporterNoTracker(t *testing.T) {
	o := testOpts(t)
	o.TrackerServers = []string{closedAddr(t), closedAddr(t)}
	o.ConnectTimeout = 200 * time.Millisecond
	s := start(t, o)
	c := dial(t, s)
	r := upload(t, c, 0, "txt", hello)
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", r, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, hello, b)
	require.Nil(t, s.params.Load())
}
