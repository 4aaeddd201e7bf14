package storage

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

func rpRand(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestReplicationOps: two ACTIVE storages; every kind of change made on one
// (upload, appender upload, append, modify, truncate, regenerate, slave,
// metadata, delete) arrives on the other, which logs it with the lower-case
// op and does not send it back; the mark file follows.
func TestReplicationOps(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	a := c.node("127.0.0.3", nil)
	b := c.node("127.0.0.4", nil)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)

	// Upload on a, and on b (both directions), a large one too.
	d1, d2, big := rpRand(1000), rpRand(10), rpRand(3<<20+5)
	f1 := rpUpload(t, a.addr(), proto.CmdUploadFile, d1)
	f2 := rpUpload(t, b.addr(), proto.CmdUploadFile, d2)
	f3 := rpUpload(t, a.addr(), proto.CmdUploadFile, big)
	empty := rpUpload(t, a.addr(), proto.CmdUploadFile, nil)
	rpWaitContent(t, b.addr(), f1, d1, 10*time.Second)
	rpWaitContent(t, a.addr(), f2, d2, 10*time.Second)
	rpWaitContent(t, b.addr(), f3, big, 10*time.Second)
	rpWaitContent(t, b.addr(), empty, []byte{}, 10*time.Second)
	// The replica keeps the source's mtime (= the name's timestamp).
	_, pa, _ := a.s.parseRemote(f1)
	_, pb, _ := b.s.parseRemote(f1)
	fa, _ := os.Stat(pa)
	fb, _ := os.Stat(pb)
	require.Equal(t, fa.ModTime().Unix(), fb.ModTime().Unix())

	// Metadata: set, merge.
	st, _ := rpCall(t, a.addr(), proto.CmdSetMetadata, setMetaBody("group1", f1, 'O', []byte("w\x02640")))
	require.Equal(t, byte(0), st)
	waitFor(t, 10*time.Second, "metadata on b", func() bool {
		st, m := rpCall(t, b.addr(), proto.CmdGetMetadata, groupBody("group1", f1))
		return st == 0 && string(m) == "w\x02640"
	})
	st, _ = rpCall(t, a.addr(), proto.CmdSetMetadata, setMetaBody("group1", f1, 'M', []byte("h\x02480")))
	require.Equal(t, byte(0), st)
	waitFor(t, 10*time.Second, "merged metadata on b", func() bool {
		st, m := rpCall(t, b.addr(), proto.CmdGetMetadata, groupBody("group1", f1))
		return st == 0 && string(m) == "h\x02480\x01w\x02640"
	})

	// Appender file: upload, append, modify, truncate, regenerate.
	app := rpUpload(t, a.addr(), proto.CmdUploadAppenderFile, []byte("hello "))
	want := []byte("hello ")
	rpWaitContent(t, b.addr(), app, want, 10*time.Second)
	st, _ = rpCall(t, a.addr(), proto.CmdAppendFile, (&proto.Buf{}).I64(int64(len(app))).I64(6).String(app).String("world!").B)
	require.Equal(t, byte(0), st)
	want = []byte("hello world!")
	rpWaitContent(t, b.addr(), app, want, 10*time.Second)
	st, _ = rpCall(t, a.addr(), proto.CmdModifyFile, (&proto.Buf{}).I64(int64(len(app))).I64(0).I64(5).String(app).String("HELLO").B)
	require.Equal(t, byte(0), st)
	want = []byte("HELLO world!")
	rpWaitContent(t, b.addr(), app, want, 10*time.Second)
	st, _ = rpCall(t, a.addr(), proto.CmdTruncateFile, (&proto.Buf{}).I64(int64(len(app))).I64(5).String(app).B)
	require.Equal(t, byte(0), st)
	want = []byte("HELLO")
	rpWaitContent(t, b.addr(), app, want, 10*time.Second)
	st, resp := rpCall(t, a.addr(), proto.CmdRegenerateAppenderFilename, []byte(app))
	require.Equal(t, byte(0), st, proto.StrError(st))
	regen := string(resp[16:])
	rpWaitContent(t, b.addr(), regen, want, 10*time.Second)
	rpWaitContent(t, b.addr(), app, nil, 10*time.Second)

	// Slave file of f1.
	slaveData := rpRand(77)
	st, resp = rpCall(t, a.addr(), proto.CmdUploadSlaveFile, (&proto.Buf{}).I64(int64(len(f1))).I64(77).
		Fixed("_s", 16).Fixed("bin", 6).String(f1).Bytes(slaveData).B)
	require.Equal(t, byte(0), st, proto.StrError(st))
	slave := string(resp[16:])
	rpWaitContent(t, b.addr(), slave, slaveData, 10*time.Second)

	// Delete (with its metadata) on a: gone on b.
	st, _ = rpCall(t, a.addr(), proto.CmdDeleteFile, groupBody("group1", f1))
	require.Equal(t, byte(0), st)
	rpWaitContent(t, b.addr(), f1, nil, 10*time.Second)
	waitFor(t, 10*time.Second, "metadata gone on b", func() bool { return !rpExists(b.s, f1+metaSuffix) })
	st, _ = rpCall(t, b.addr(), proto.CmdDeleteFile, groupBody("group1", f2))
	require.Equal(t, byte(0), st)
	rpWaitContent(t, a.addr(), f2, nil, 10*time.Second)

	// b logged the replicas in lower case with a's timestamps; a's own
	// records of b's file are lower case too (nothing echoes back).
	blog := rpBinlog(t, b.s)
	alog := rpBinlog(t, a.s)
	for _, want := range []string{" c " + f1 + "\n", " c " + f3 + "\n", " c " + f1 + "-m\n", " u " + f1 + "-m\n",
		" a " + app + " 6 6\n", " m " + app + " 0 5\n", " t " + app + " 12 5\n", " r " + regen + " " + app + "\n",
		" c " + slave + "\n", " d " + f1 + "\n", " C " + f2 + "\n", " D " + f2 + "\n"} {
		require.Contains(t, blog, want)
	}
	require.Contains(t, alog, " c "+f2+"\n")
	require.Contains(t, alog, " d "+f2+"\n")
	for _, line := range strings.Split(alog, "\n") {
		if strings.HasSuffix(line, " "+f1) {
			require.Regexp(t, `^\d+ [CD] `, line, "a only has its own records of f1")
		}
	}

	// The mark files: 7 keys; a's cursor reaches the end of its binlog.
	waitFor(t, 10*time.Second, "a's mark at the end", func() bool {
		m, err := loadMark(filepath.Join(a.s.dataDir, "sync", markFileName(false, "", "127.0.0.4", c.port)))
		if err != nil || m == nil {
			return false
		}
		a.s.binlog.Flush()
		fi, err := os.Stat(filepath.Join(a.s.dataDir, "sync", "binlog.000"))
		return err == nil && m.BinlogOffset == fi.Size() && m.SyncRowCount > 0
	})
	text, err := os.ReadFile(filepath.Join(a.s.dataDir, "sync", "127.0.0.4_"+fmt.Sprint(c.port)+".mark"))
	require.NoError(t, err)
	require.Regexp(t, `^binlog_index=0\nbinlog_offset=\d+\nneed_sync_old=[01]\nsync_old_done=[01]\nuntil_timestamp=\d+\nscan_row_count=\d+\nsync_row_count=\d+\n$`, string(text))
}

// TestNewStorageCatchesUp: a storage joining a group whose member holds
// files goes WAIT_SYNC → SYNCING → OFFLINE → ACTIVE, driven by that member
// (SYNC_SRC_REQ, REPORT_STATUS), and ends with every file, while a third
// member that is not the source pushes only what is newer.
func TestNewStorageCatchesUp(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	a := c.node("127.0.0.3", func(o *conf.Storage) { o.SyncInterval = 20 * time.Millisecond })
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	files := map[string][]byte{}
	for i := range 40 {
		d := rpRand(100 + i)
		files[rpUpload(t, a.addr(), proto.CmdUploadFile, d)] = d
	}
	gone := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("short-lived"))
	st, _ := rpCall(t, a.addr(), proto.CmdDeleteFile, groupBody("group1", gone))
	require.Equal(t, byte(0), st)

	b := c.node("127.0.0.4", nil)
	var seen []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := c.status("127.0.0.4")
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		if s == proto.StatusActive {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var names []string
	for _, s := range seen {
		names = append(names, proto.StorageStatusName(s))
	}
	require.Equal(t, byte(proto.StatusActive), seen[len(seen)-1], "%v", names)
	require.Contains(t, names, "WAIT_SYNC", "%v", names)
	require.Contains(t, names, "SYNCING", "%v", names)
	order := map[string]int{"UNKNOWN": 0, "INIT": 1, "WAIT_SYNC": 2, "SYNCING": 3, "OFFLINE": 4, "ONLINE": 5, "ACTIVE": 6}
	for i := 1; i < len(names); i++ {
		require.Less(t, order[names[i-1]], order[names[i]], "status went backwards: %v", names)
	}
	for name, d := range files {
		got, st := rpFetch(t, b.addr(), name)
		require.Equal(t, byte(0), st, name)
		require.True(t, bytes.Equal(d, got), name)
	}
	_, st = rpFetch(t, b.addr(), gone)
	require.Equal(t, proto.StatusENOENT, st)
	m := rpMark(t, a.s, "127.0.0.4", c.port)
	require.True(t, m.NeedSyncOld)
	require.True(t, m.SyncOldDone)
	require.NotZero(t, m.UntilTimestamp)
	_, done, src, until := b.s.flag.snapshot()
	require.True(t, done)
	require.Equal(t, "127.0.0.3", src)
	require.Equal(t, m.UntilTimestamp, until)

	// New uploads on either side reach the other; a third member joins
	// and gets everything from a (the source of the group's old data).
	nb := rpUpload(t, b.addr(), proto.CmdUploadFile, []byte("from b"))
	rpWaitContent(t, a.addr(), nb, []byte("from b"), 10*time.Second)
	files[nb] = []byte("from b")
	c3 := c.node("127.0.0.5", nil)
	c.waitStatus("127.0.0.5", proto.StatusActive, 30*time.Second)
	for name, d := range files {
		rpWaitContent(t, c3.addr(), name, d, 10*time.Second)
	}
	// b was not the source for 127.0.0.5: its cursor skipped the old data.
	mb := rpMark(t, b.s, "127.0.0.5", c.port)
	require.False(t, mb.NeedSyncOld)
	require.NotZero(t, mb.UntilTimestamp)
	nc := rpUpload(t, c3.addr(), proto.CmdUploadFile, []byte("from c"))
	rpWaitContent(t, a.addr(), nc, []byte("from c"), 10*time.Second)
	rpWaitContent(t, b.addr(), nc, []byte("from c"), 10*time.Second)
}

// TestSyncResumesFromMark: a stopped peer misses records; on restart the
// source resumes from the mark file, and a restarted source does too.
func TestSyncResumesFromMark(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	a := c.node("127.0.0.3", func(o *conf.Storage) { o.WriteMarkFileFreq = 3 })
	b := c.node("127.0.0.4", nil)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	first := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("one"))
	rpWaitContent(t, b.addr(), first, []byte("one"), 10*time.Second)

	b.stop()
	var later []string
	for i := range 10 {
		later = append(later, rpUpload(t, a.addr(), proto.CmdUploadFile, []byte(fmt.Sprint("later ", i))))
	}
	b.start()
	for i, name := range later {
		rpWaitContent(t, b.addr(), name, []byte(fmt.Sprint("later ", i)), 15*time.Second)
	}
	m1 := rpMark(t, a.s, "127.0.0.4", c.port)

	// Restart the source: it continues from its mark (no repeats needed).
	a.stop()
	m2 := rpMark(t, a.s0(), "127.0.0.4", c.port)
	require.GreaterOrEqual(t, m2.BinlogOffset, m1.BinlogOffset)
	a.start()
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	last := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("last"))
	rpWaitContent(t, b.addr(), last, []byte("last"), 15*time.Second)
	var m3 *mark
	waitFor(t, 10*time.Second, "mark saved", func() bool {
		m3 = rpMark(t, a.s, "127.0.0.4", c.port)
		return m3.SyncRowCount > m2.SyncRowCount
	})
	require.Equal(t, m2.SyncRowCount+1, m3.SyncRowCount, "only the new record was pushed after the restart")
}

// s0 is a stopped node's storage for reading its files (a fresh handle on
// its base path is not needed: the paths are what matters).
func (n *rpNode) s0() *Storage {
	return &Storage{dataDir: filepath.Join(n.o.BasePath, "data")}
}

// TestSyncAckReplicas: with sync_ack_replicas=2 an acknowledged upload is
// already on the peer; without an ACTIVE peer uploads fail with EAGAIN and
// leave nothing behind.
func TestSyncAckReplicas(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	two := func(o *conf.Storage) { o.Cluster.SyncAckReplicas = 2 }
	a := c.node("127.0.0.3", two)
	b := c.node("127.0.0.4", two)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	waitFor(t, 10*time.Second, "a sees b ACTIVE", func() bool { return len(a.s.repl.activePeersForTest()) == 1 })
	for i := range 20 {
		d := rpRand(i * 1000)
		name := rpUpload(t, a.addr(), proto.CmdUploadFile, d)
		got, st := rpFetch(t, b.addr(), name) // no waiting: it must be there
		require.Equal(t, byte(0), st, "upload %d not on b when acknowledged", i)
		require.True(t, bytes.Equal(d, got))
	}

	b.stop()
	c.waitStatus("127.0.0.4", proto.StatusOffline, 10*time.Second)
	waitFor(t, 10*time.Second, "a sees b gone", func() bool { return len(a.s.repl.activePeersForTest()) == 0 })
	before := len(storeFiles(t, a.s, 0))
	conn := rpConn(t, a.addr())
	h, _ := roundTrip(t, conn, proto.CmdUploadFile, 0, uploadBody(-1, "bin", []byte("lonely")))
	require.Equal(t, proto.StatusEAGAIN, h.Status)
	require.Len(t, storeFiles(t, a.s, 0), before, "nothing stored")
	log := rpBinlog(t, a.s)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	require.Regexp(t, ` D M00/`, lines[len(lines)-1])
	require.Regexp(t, ` C M00/`, lines[len(lines)-2])
}

// activePeersForTest lists the ACTIVE peers in the last group list.
func (r *replication) activePeersForTest() []string {
	var out []string
	for _, b := range r.peers() {
		if b.Status == proto.StatusActive {
			out = append(out, b.ID)
		}
	}
	return out
}

// TestClusterSecret: with a cluster secret replication works; a connection
// without the proof, or with a wrong one, gets EACCES and is closed; a
// storage with the wrong secret is refused by the tracker and gets nothing.
func TestClusterSecret(t *testing.T) {
	c := rpNewCluster(t, "s3cret", nil)
	a := c.node("127.0.0.3", nil)
	b := c.node("127.0.0.4", nil)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	name := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("secret data"))
	rpWaitContent(t, b.addr(), name, []byte("secret data"), 10*time.Second)

	// A sync command without the proof.
	conn := rpConn(t, b.addr())
	body := (&proto.Buf{}).I32(1).Fixed("group1", 16).String(name).B
	h, _ := roundTrip(t, conn, proto.CmdSyncDeleteFile, 0, body)
	require.Equal(t, proto.StatusEACCES, h.Status)
	requireClosed(t, conn)
	require.True(t, rpExists(b.s, name))
	// A wrong proof.
	conn = rpConn(t, b.addr())
	h, _ = roundTrip(t, conn, proto.CmdClusterAuth, 0, proto.ClusterAuthBody("guess", time.Now()))
	require.Equal(t, proto.StatusEACCES, h.Status)
	requireClosed(t, conn)
	// The right proof, then the command works; a replayed proof does not.
	conn = rpConn(t, b.addr())
	proof := proto.ClusterAuthBody("s3cret", time.Now())
	h, _ = roundTrip(t, conn, proto.CmdClusterAuth, 0, proof)
	require.Equal(t, byte(0), h.Status)
	h, _ = roundTrip(t, conn, proto.CmdStorageReportServerID, 0, (&proto.Buf{}).Fixed("127.0.0.9", 16).B)
	require.Equal(t, byte(0), h.Status)
	conn2 := rpConn(t, b.addr())
	h, _ = roundTrip(t, conn2, proto.CmdClusterAuth, 0, proof)
	require.Equal(t, proto.StatusEACCES, h.Status)
	// Client commands need no proof.
	got, st := rpFetch(t, b.addr(), name)
	require.Equal(t, byte(0), st)
	require.Equal(t, "secret data", string(got))

	// A storage with the wrong secret never joins and receives nothing.
	x := c.node("127.0.0.5", func(o *conf.Storage) { o.Cluster.ClusterSecret = "wrong" })
	more := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("more"))
	rpWaitContent(t, b.addr(), more, []byte("more"), 10*time.Second)
	time.Sleep(500 * time.Millisecond) // several beats
	require.Equal(t, byte(0xFF), c.status("127.0.0.5"))
	require.Empty(t, storeFiles(t, x.s, 0))
	require.Empty(t, a.s.repl.syncerIDsForTest(), "")
}

func (r *replication) syncerIDsForTest() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := range r.syncers {
		if id == "127.0.0.5" {
			out = append(out, id)
		}
	}
	return out
}

// TestAllowHosts: the storage listener drops peers allow_hosts does not
// list, at once.
func TestAllowHosts(t *testing.T) {
	o := testOpts(t)
	o.AllowHosts = []string{"127.0.0.[7-8]", "10.0.0.0/8"}
	s := start(t, o)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: time.Second}
	c, err := d.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	proto.WritePacket(c, proto.CmdActiveTest, 0, nil)
	requireClosed(t, c)

	d.LocalAddr = &net.TCPAddr{IP: net.ParseIP("127.0.0.8")}
	c2, err := d.Dial("tcp", s.Addr().String())
	require.NoError(t, err)
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	h, _ := roundTrip(t, c2, proto.CmdActiveTest, 0, nil)
	require.Equal(t, byte(0), h.Status)

	o2 := testOpts(t)
	o2.AllowHosts = []string{"not-an-address"}
	_, err = New(o2, testLogger(t))
	require.Error(t, err)
}

// TestDeletedPeerMarkRemoved: when an administrator deletes a member, the
// others end their sync goroutine for it and the tracker changelog makes
// them remove its mark file (§4.6).
func TestDeletedPeerMarkRemoved(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	a := c.node("127.0.0.3", nil)
	b := c.node("127.0.0.4", nil)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	name := rpUpload(t, a.addr(), proto.CmdUploadFile, []byte("x"))
	rpWaitContent(t, b.addr(), name, []byte("x"), 10*time.Second)
	markPath := filepath.Join(a.s.dataDir, "sync", markFileName(false, "", "127.0.0.4", c.port))
	waitFor(t, 10*time.Second, "mark file", func() bool { _, err := os.Stat(markPath); return err == nil })

	b.stop()
	c.waitStatus("127.0.0.4", proto.StatusOffline, 10*time.Second)
	st, _ := rpCall(t, c.taddr, proto.CmdServerDeleteStorage, (&proto.Buf{}).Fixed("group1", 16).String("127.0.0.4").B)
	require.Equal(t, byte(0), st)
	waitFor(t, 10*time.Second, "mark file removed", func() bool { _, err := os.Stat(markPath); return os.IsNotExist(err) })
	waitFor(t, 10*time.Second, "sync goroutine ended", func() bool {
		a.s.repl.mu.Lock()
		defer a.s.repl.mu.Unlock()
		return a.s.repl.syncers["127.0.0.4"] == nil
	})
}

// TestAckPoolPruned: the idle connections sync_ack_replicas keeps to a peer
// are closed once the peer would have dropped them, uploads or not.
func TestAckPoolPruned(t *testing.T) {
	c := rpNewCluster(t, "", nil)
	two := func(o *conf.Storage) { o.Cluster.SyncAckReplicas = 2; o.NetworkTimeout = 2 * time.Second }
	a := c.node("127.0.0.3", two)
	c.node("127.0.0.4", two)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	waitFor(t, 10*time.Second, "a sees b ACTIVE", func() bool { return len(a.s.repl.activePeersForTest()) == 1 })
	idle := func() int {
		p := &a.s.repl.acks
		p.mu.Lock()
		defer p.mu.Unlock()
		n := 0
		for _, q := range p.idle {
			n += len(q)
		}
		return n
	}
	rpUpload(t, a.addr(), proto.CmdUploadFile, rpRand(1000))
	require.Equal(t, 1, idle(), "the push's connection is kept for the next upload")
	waitFor(t, 10*time.Second, "idle push connection closed", func() bool { return idle() == 0 })
}
