package storage

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
	"yunpan/dfs/tracker"
	"yunpan/internal/cluster"
)

// A replication test cluster: a real tracker on 127.0.0.2 and in-process
// storages of group1 on 127.0.0.3, .4, … sharing one port (a group's
// members must use the same port when storage IDs are off).
type rpCluster struct {
	t      *testing.T
	tr     *tracker.Tracker
	taddr  string
	port   int
	secret string
}

func rpNewCluster(t *testing.T, secret string, modTracker func(*conf.Tracker)) *rpCluster {
	t.Helper()
	o := trackerOpts(t)
	o.BindAddr = "127.0.0.2"
	o.ClusterSecret = secret
	if modTracker != nil {
		modTracker(o)
	}
	tr, _ := runTracker(t, o)
	return &rpCluster{t: t, tr: tr, taddr: tr.Addr().String(), secret: secret,
		port: cluster.SharedPort(t, "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")}
}

// rpOpts is a fast-beating storage of the cluster on ip.
func (c *rpCluster) opts(ip string, base string) *conf.Storage {
	o := testOpts(c.t)
	if base != "" {
		o.BasePath = base
		o.StorePaths = []string{filepath.Join(base, "store0")}
	}
	o.BindAddr = ip
	o.Port = c.port
	o.TrackerServers = []string{c.taddr}
	o.HeartBeatInterval = 100 * time.Millisecond
	o.StatReportInterval = 100 * time.Millisecond
	o.SyncWait = 20 * time.Millisecond
	o.SyncBinlogBuffInterval = time.Second
	o.Cluster.ClusterSecret = c.secret
	return o
}

// rpNode is a storage that can be stopped and started again on its base.
type rpNode struct {
	c    *rpCluster
	ip   string
	o    *conf.Storage
	s    *Storage
	done chan error
}

func (c *rpCluster) node(ip string, mod func(*conf.Storage)) *rpNode {
	n := &rpNode{c: c, ip: ip, o: c.opts(ip, c.t.TempDir())}
	if mod != nil {
		mod(n.o)
	}
	n.start()
	c.t.Cleanup(n.stop)
	return n
}

func (n *rpNode) start() {
	t := n.c.t
	t.Helper()
	var err error
	for range 50 { // the port may linger a moment after a stop
		if n.s, err = New(n.o, testLogger(t)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	n.done = make(chan error, 1)
	s, done := n.s, n.done
	go func() { done <- s.Main() }()
}

func (n *rpNode) stop() {
	if n.s == nil {
		return
	}
	n.s.Exit()
	select {
	case err := <-n.done:
		require.NoError(n.c.t, err)
	case <-time.After(10 * time.Second):
		n.c.t.Error("storage Main did not return after Exit")
	}
	n.s = nil
}

func (n *rpNode) addr() string { return net.JoinHostPort(n.ip, strconv.Itoa(n.c.port)) }

// status is the node's status as the tracker lists it (0xFF: not listed).
func (c *rpCluster) status(ip string) byte {
	sts, err := listStorage(c.taddr, "group1")
	if err != nil {
		return 0xFF
	}
	for _, st := range sts {
		if st.IP == ip {
			return st.Status
		}
	}
	return 0xFF
}

func (c *rpCluster) waitStatus(ip string, want byte, d time.Duration) {
	c.t.Helper()
	waitFor(c.t, d, fmt.Sprintf("%s %s", ip, proto.StorageStatusName(want)), func() bool { return c.status(ip) == want })
}

// rpConn is a raw connection to a node, from the test's own address.
func rpConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// rpUpload stores data on the node (UPLOAD_FILE or UPLOAD_APPENDER_FILE).
func rpUpload(t testing.TB, addr string, cmd byte, data []byte) string {
	t.Helper()
	c := rpConn(t, addr)
	h, b := roundTrip(t, c, cmd, 0, uploadBody(-1, "bin", data))
	require.Equal(t, byte(0), h.Status, "upload to %s: %s", addr, proto.StrError(h.Status))
	return string(b[16:])
}

// rpFetch downloads remote from the node: its bytes, or the status.
func rpFetch(t testing.TB, addr, remote string) ([]byte, byte) {
	t.Helper()
	c := rpConn(t, addr)
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	return b, h.Status
}

// rpCall runs one buffered request and returns status and body.
func rpCall(t testing.TB, addr string, cmd byte, body []byte) (byte, []byte) {
	t.Helper()
	c := rpConn(t, addr)
	h, b := roundTrip(t, c, cmd, 0, body)
	return h.Status, b
}

// rpWaitContent waits until the node serves remote with exactly want (nil:
// until it answers ENOENT).
func rpWaitContent(t testing.TB, addr, remote string, want []byte, d time.Duration) {
	t.Helper()
	var got []byte
	var st byte
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got, st = rpFetch(t, addr, remote)
		if want == nil && st == proto.StatusENOENT || want != nil && st == 0 && bytes.Equal(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s on %s: status %d, %d bytes; want %d bytes", remote, addr, st, len(got), len(want))
}

// rpBinlog is the node's binlog.000 (flushed).
func rpBinlog(t testing.TB, s *Storage) string {
	return strings.Join(binlogLines(t, s), "\n") + "\n"
}

// rpMark reads the node's mark file for a peer.
func rpMark(t testing.TB, s *Storage, peerIP string, port int) *mark {
	t.Helper()
	m, err := loadMark(filepath.Join(s.dataDir, "sync", markFileName(false, "", peerIP, port)))
	require.NoError(t, err)
	return m
}

func rpExists(s *Storage, remote string) bool {
	_, p, err := s.parseRemote(remote)
	if err != nil {
		return false
	}
	_, err = os.Lstat(p)
	return err == nil
}
