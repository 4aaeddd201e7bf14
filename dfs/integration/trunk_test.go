package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// trunkTracker is tracker.conf with trunk storage on and small trunk files,
// so a few uploads fill one and start the next.
var trunkTracker = map[string]string{
	"use_trunk_file":  "true",
	"slot_min_size":   "256",
	"slot_max_size":   "16KB",
	"trunk_file_size": "4MB",
	"store_lookup":    "2",
}

type trunkCluster struct {
	tr    *cluster.Proc
	sts   []*cluster.Proc
	https map[*cluster.Proc]int // http.server_port of each storage
	conf  string
	c     *client.Client
}

// startTrunkCluster starts a trunk-mode tracker and n storages of group1.
func startTrunkCluster(t *testing.T, trIP string, stIPs ...string) *trunkCluster {
	tc := &trunkCluster{tr: cluster.StartTracker(t, trIP, trunkTracker), https: map[*cluster.Proc]int{}}
	port := cluster.SharedPort(t, stIPs...)
	for _, ip := range stIPs {
		hp := cluster.FreePort(t, ip)
		st := cluster.StartStorage(t, ip, "group1", []*cluster.Proc{tc.tr},
			map[string]string{"port": strconv.Itoa(port), "http.server_port": strconv.Itoa(hp)})
		tc.sts = append(tc.sts, st)
		tc.https[st] = hp
	}
	for _, st := range tc.sts {
		cluster.WaitStatus(t, tc.tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	tc.conf = cluster.ClientConf(t, []*cluster.Proc{tc.tr}, nil)
	cfg, err := conf.LoadClient(tc.conf)
	require.NoError(t, err)
	tc.c, err = client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(tc.c.Close)
	return tc
}

// trunkServer waits until the tracker names a trunk server other than not
// and returns it.
func (tc *trunkCluster) trunkServer(t *testing.T, not *cluster.Proc) *cluster.Proc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := tc.c.ListStorage(tctx(t), tc.tr.Addr(), "group1", "")
		if err == nil {
			for _, s := range list {
				if !s.IfTrunkServer || s.Status != proto.StatusActive {
					continue
				}
				for _, st := range tc.sts {
					if st.IP == s.ID && st != not {
						return st
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no trunk server elected\n%s", tc.tr.Log())
	return nil
}

// fetchFrom downloads a file from one storage; ENOENT gives nil, nil.
func fetchFrom(addr, fileID string) ([]byte, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	body := (&proto.Buf{}).I64(0).I64(0).Fixed(group, proto.GroupNameLen).String(remote).B
	if err := proto.WritePacket(c, proto.CmdDownloadFile, 0, body); err != nil {
		return nil, err
	}
	h, err := proto.ReadHeader(c)
	if err != nil {
		return nil, err
	}
	b := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, err
	}
	if h.Status == proto.StatusENOENT {
		return nil, nil
	}
	if h.Status != 0 {
		return nil, fmt.Errorf("download %s from %s: status %d", fileID, addr, h.Status)
	}
	return b, nil
}

// waitContent polls a storage until it serves want for fileID (want nil:
// until it answers ENOENT).
func waitContent(t *testing.T, st *cluster.Proc, fileID string, want []byte) {
	t.Helper()
	waitContentAt(t, st.Addr(), st.Log, fileID, want)
}

func waitContentAt(t *testing.T, addr string, log func() string, fileID string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second) // a C storage replicates at its own pace, slower under load
	var got []byte
	var err error
	for time.Now().Before(deadline) {
		got, err = fetchFrom(addr, fileID)
		if err == nil && (want == nil && got == nil || want != nil && bytes.Equal(got, want)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s on %s: got %d bytes (err %v), want %d bytes\n%s", fileID, addr, len(got), err, len(want), log())
}

// isTrunkID reports whether a file ID names a trunk-resident file.
func isTrunkID(id string) (fileid.TrunkInfo, bool) {
	_, remote, err := fileid.Split(id)
	if err != nil {
		return fileid.TrunkInfo{}, false
	}
	_, ti, err := fileid.ParseTrunk(remote)
	return ti, err == nil
}

func TestTrunkUploadReadDeleteReuse(t *testing.T) {
	tc := startTrunkCluster(t, "127.0.0.200", "127.0.0.201", "127.0.0.202")
	ts := tc.trunkServer(t, nil)
	ctx := tctx(t)

	// Small files go into trunk slots, a large one is a normal file.
	files := map[string][]byte{}
	var ids []string
	for i := range 12 {
		b := randBytes(1000 + i*700)
		id, err := tc.c.UploadBuffer(ctx, b, "txt")
		require.NoError(t, err)
		ti, ok := isTrunkID(id)
		require.True(t, ok, "%s is not a trunk name", id)
		require.GreaterOrEqual(t, int64(ti.SlotSize), int64(len(b)+24))
		files[id] = b
		ids = append(ids, id)
	}
	big := randBytes(40 << 10)
	bigID, err := tc.c.UploadBuffer(ctx, big, "bin")
	require.NoError(t, err)
	_, ok := isTrunkID(bigID)
	require.False(t, ok)
	require.Len(t, strings.SplitN(bigID, "/", 2)[1], fileid.NormalRemoteLen)
	files[bigID] = big

	// Every file is readable from both storages (the other one got it by
	// the normal sync), through the tracker and with the CLI tools.
	for id, b := range files {
		for _, st := range tc.sts {
			waitContent(t, st, id, b)
		}
		got, _ := download(t, tc.conf, id)
		require.Equal(t, b, got)
	}
	// The storages' HTTP endpoint serves trunk-resident files, ranges too.
	for _, st := range tc.sts {
		url := fmt.Sprintf("http://%s:%d/%s", st.IP, tc.https[st], ids[2])
		resp, err := http.Get(url)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, url)
		require.Equal(t, files[ids[2]], body)
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", "bytes=10-19")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 206, resp.StatusCode)
		require.Equal(t, files[ids[2]][10:20], body)
	}
	// A slave of a trunk-resident master is a normal file beside it.
	slaveContent := randBytes(3000)
	slaveID, err := tc.c.UploadSlaveBuffer(ctx, ids[4], "_s", "txt", slaveContent)
	require.NoError(t, err)
	require.Equal(t, strings.TrimSuffix(ids[4], ".txt")+"_s.txt", slaveID)
	for _, st := range tc.sts {
		waitContent(t, st, slaveID, slaveContent)
	}

	out, errOut, code := run(t, "fdfs_file_info", tc.conf, ids[3])
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "file type: normal\n") // trunk files are normal to the tools
	require.Contains(t, out, fmt.Sprintf("file size: %d\n", len(files[ids[3]])))
	require.NoError(t, tc.c.SetMetadata(ctx, ids[3], []proto.Meta{{Name: "k", Value: "v"}}, 'O'))
	meta, err := tc.c.GetMetadata(ctx, ids[3])
	require.NoError(t, err)
	require.Equal(t, []proto.Meta{{Name: "k", Value: "v"}}, meta)

	// The trunk binlog reached the other storage.
	other := tc.sts[0]
	if other == ts {
		other = tc.sts[1]
	}
	tsLog := filepath.Join(ts.Base, "data", "trunk", "binlog")
	otherLog := filepath.Join(other.Base, "data", "trunk", "binlog")
	require.Eventually(t, func() bool {
		a, err1 := os.ReadFile(tsLog)
		b, err2 := os.ReadFile(otherLog)
		return err1 == nil && err2 == nil && len(a) > 0 && bytes.Equal(a, b)
	}, 10*time.Second, 50*time.Millisecond, "trunk binlog not copied")

	// Deletes free the slots on both storages; new uploads reuse them.
	freed := map[[2]int32]bool{}
	for _, id := range ids[:6] {
		require.NoError(t, tc.c.Delete(ctx, id))
		ti, _ := isTrunkID(id)
		freed[[2]int32{ti.TrunkID, ti.Offset}] = true
		for _, st := range tc.sts {
			waitContent(t, st, id, nil)
		}
		_, err := tc.c.GetMetadata(ctx, id)
		require.Error(t, err)
	}
	reused := 0
	for range 6 {
		b := randBytes(900)
		id, err := tc.c.UploadBuffer(ctx, b, "txt")
		require.NoError(t, err)
		ti, ok := isTrunkID(id)
		require.True(t, ok)
		if freed[[2]int32{ti.TrunkID, ti.Offset}] {
			reused++
		}
		files[id] = b
	}
	require.Positive(t, reused, "no freed slot was reused")
	// The files that were kept are intact.
	for _, id := range ids[6:] {
		for _, st := range tc.sts {
			waitContent(t, st, id, files[id])
		}
	}
}

// Killing the trunk server (kill -9) while another storage uploads through
// it loses no acknowledged file: the slots it confirmed are known to its
// successor (the trunk binlog reaches the members before a confirmation is
// answered), so none is handed out twice.
func TestTrunkServerCrash(t *testing.T) {
	tc := startTrunkCluster(t, "127.0.0.203", "127.0.0.204", "127.0.0.205")
	ts := tc.trunkServer(t, nil)
	w := tc.sts[0]
	if w == ts {
		w = tc.sts[1]
	}
	ctx := tctx(t)

	var afterKill []string
	killed := false
	load := startUploadLoad(ctx, tc, w.Addr(), 4, 500, 6000, func(id string) {
		if _, ok := isTrunkID(id); ok && killed {
			afterKill = append(afterKill, id)
		}
	})
	trunkCount := func() int {
		n := 0
		for id := range load.snapshot() {
			if _, ok := isTrunkID(id); ok {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return trunkCount() >= 100 }, 20*time.Second, 5*time.Millisecond)
	ts.Kill()
	load.locked(func() { killed = true })
	require.Equal(t, w, tc.trunkServer(t, ts))
	require.Eventually(t, func() bool { n := 0; load.locked(func() { n = len(afterKill) }); return n >= 50 }, 30*time.Second, 10*time.Millisecond,
		"trunk uploads did not resume after the trunk server died\n%s", w.Log())
	acked := load.end()

	// Every acknowledged file is intact on the writer, which now allocates
	// itself; then the killed storage comes back and has them all too.
	for id, b := range acked {
		waitContent(t, w, id, b)
	}
	ts.Start(t)
	cluster.WaitStatus(t, tc.tr, "group1", ts, proto.StatusActive, 30*time.Second)
	for id, b := range acked {
		waitContent(t, ts, id, b)
	}
}

// trunkCheck runs fdfs_trunk_check with a storage's config and returns its
// key=value lines.
func trunkCheck(t *testing.T, st *cluster.Proc, args ...string) map[string]string {
	t.Helper()
	out, errOut, code := run(t, "fdfs_trunk_check", append([]string{st.Conf}, args...)...)
	require.Equal(t, 0, code, out+errOut)
	kv := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		kv[k] = v
	}
	return kv
}

// A writer killed (kill -9) during uploads loses no acknowledged file, and
// the space a writer confirmed but never used (here: one that confirmed a
// slot and died before naming a file in it) is found and freed by
// fdfs_trunk_check, without touching any live file.
func TestTrunkWriterCrashAndCheck(t *testing.T) {
	tc := startTrunkCluster(t, "127.0.0.206", "127.0.0.207", "127.0.0.208")
	ts := tc.trunkServer(t, nil)
	w := tc.sts[0]
	if w == ts {
		w = tc.sts[1]
	}
	ctx := tctx(t)

	// A writer that allocates and confirms a slot, then vanishes.
	c, err := net.DialTimeout("tcp", ts.Addr(), 5*time.Second)
	require.NoError(t, err)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	call := func(cmd, status byte, body []byte) []byte {
		require.NoError(t, proto.WritePacket(c, cmd, status, body))
		h, err := proto.ReadHeader(c)
		require.NoError(t, err)
		b := make([]byte, h.PkgLen)
		_, err = io.ReadFull(c, b)
		require.NoError(t, err)
		require.Zero(t, h.Status)
		return b
	}
	slot := call(proto.CmdTrunkAllocSpace, 0, (&proto.Buf{}).Fixed("group1", proto.GroupNameLen).I32(1000+24).U8(0).B)
	require.Len(t, slot, 15)
	call(proto.CmdTrunkAllocConfirm, 0, append((&proto.Buf{}).Fixed("group1", proto.GroupNameLen).B, slot...))
	c.Close()

	load := startUploadLoad(ctx, tc, w.Addr(), 3, 300, 7000, nil)
	require.Eventually(t, func() bool { return len(load.snapshot()) >= 80 }, 20*time.Second, 5*time.Millisecond)
	w.Kill()
	acked := load.end()
	w.Start(t)
	cluster.WaitStatus(t, tc.tr, "group1", w, proto.StatusActive, 30*time.Second)
	for id, b := range acked {
		_, ok := isTrunkID(id)
		require.True(t, ok, id)
		waitContent(t, w, id, b)
		waitContent(t, ts, id, b)
	}

	// The check finds at least the vanished writer's slot; the repair
	// frees it; a second check finds nothing.
	kv := trunkCheck(t, w, "0")
	unref, _ := strconv.Atoi(kv["unreferenced_bytes"])
	require.GreaterOrEqual(t, unref, 1024, kv)
	require.Equal(t, "0", kv["freed_bytes"])
	require.Equal(t, ts.Addr(), kv["trunk_server"])
	kv = trunkCheck(t, w, "repair", "0")
	require.Equal(t, strconv.Itoa(unref), kv["freed_bytes"], kv)
	kv = trunkCheck(t, w, "0")
	require.Equal(t, "0", kv["unreferenced_bytes"], kv)
	live, _ := strconv.Atoi(kv["live_files"])
	require.GreaterOrEqual(t, live, len(acked)) // plus any the kill cut off before its answer
	// With the default grace nothing recent is freed.
	kv = trunkCheck(t, w)
	require.Equal(t, "3600", kv["grace_seconds"])

	// New uploads take the freed space, never a live file's: every
	// acknowledged file is still intact.
	for range 5 {
		b := randBytes(700)
		id, err := tc.c.UploadTo(ctx, w.Addr(), -1, bytes.NewReader(b), int64(len(b)), "txt")
		require.NoError(t, err)
		acked[id] = b
	}
	for id, b := range acked {
		waitContent(t, w, id, b)
		waitContent(t, ts, id, b)
	}
}

// --- Both ways with the reference C FastDFS (skipped without it) ---

// cFastDFS returns the folder of the reference C FastDFS programs: env
// FASTDFS_BIN, else /usr/bin when its fdfs_storaged is the C one. Without
// them the test is skipped.
func cFastDFS(t *testing.T) string {
	t.Helper()
	dir := cFastDFSIfPresent()
	if dir == "" {
		t.Skipf("reference C FastDFS not found in %s (set FASTDFS_BIN to the folder with its fdfs_trackerd, fdfs_storaged and tools): C interoperability not checked", cFastDFSDir())
	}
	return dir
}

// cFastDFSDir is where the reference C FastDFS is looked for.
func cFastDFSDir() string {
	if dir := os.Getenv("FASTDFS_BIN"); dir != "" {
		return dir
	}
	return "/usr/bin"
}

// cFastDFSIfPresent is cFastDFS for a test that goes on without it: "".
func cFastDFSIfPresent() string {
	dir := cFastDFSDir()
	b, err := os.ReadFile(filepath.Join(dir, "fdfs_storaged"))
	if err != nil || bytes.Contains(b, []byte("yunpan/dfs")) {
		return ""
	}
	return dir
}

// cDaemon is a C fdfs_trackerd or fdfs_storaged started by a test.
type cDaemon struct {
	name, base, conf, addr string
	once                   sync.Once
}

func (d *cDaemon) pid() int {
	b, err := os.ReadFile(filepath.Join(d.base, "data", d.name+".pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (d *cDaemon) stop() {
	d.once.Do(d.stopNow)
}

func (d *cDaemon) stopNow() {
	if pid := d.pid(); pid > 0 {
		p, err := os.FindProcess(pid)
		if err == nil {
			p.Signal(syscall.SIGTERM)
			deadline := time.Now().Add(15 * time.Second)
			for p.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			p.Signal(syscall.SIGKILL)
		}
	}
}

func (d *cDaemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.base, "logs", strings.TrimPrefix(d.name, "fdfs_")+".log"))
	return string(b)
}

// startC starts a C daemon (it forks into the background) with kv as its
// config (absolute paths: it changes to /), and stops it at cleanup.
func startC(t *testing.T, bin, name, ip string, port int, kv [][2]string) *cDaemon {
	t.Helper()
	base := t.TempDir()
	d := &cDaemon{name: name, base: base, conf: filepath.Join(base, name+".conf"), addr: net.JoinHostPort(ip, strconv.Itoa(port))}
	kv = append(kv, [2]string{"base_path", base}, [2]string{"bind_addr", ip}, [2]string{"port", strconv.Itoa(port)},
		[2]string{"log_level", "info"}, [2]string{"connect_timeout", "5"}, [2]string{"network_timeout", "30"})
	if name == "fdfs_storaged" {
		kv = append(kv, [2]string{"store_path_count", "1"}, [2]string{"store_path0", base},
			[2]string{"subdir_count_per_path", "16"}, [2]string{"heart_beat_interval", "1"},
			[2]string{"stat_report_interval", "1"}, [2]string{"sync_binlog_buff_interval", "1"},
			[2]string{"thread_stack_size", "512KB"})
	}
	var b strings.Builder
	for _, e := range kv {
		fmt.Fprintf(&b, "%s = %s\n", e[0], e[1])
	}
	require.NoError(t, os.WriteFile(d.conf, []byte(b.String()), 0o644))
	out, err := exec.Command(filepath.Join(bin, name), d.conf, "start").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(d.stop)
	require.NoError(t, cluster.WaitTCP(d.addr, 60*time.Second, nil), d.log())
	return d
}

// cTrunkTrackerKV is trunkTracker for a C tracker.
func cTrunkTrackerKV() [][2]string {
	var kv [][2]string
	for k, v := range trunkTracker {
		kv = append(kv, [2]string{k, v})
	}
	return append(kv, [2]string{"check_active_interval", "5"})
}

// runC runs a C tool and returns its output and exit code.
func runC(t *testing.T, bin, tool string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, tool), args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return string(out), code
}

// The C tools against our trunk cluster, and our storage with a C storage
// in one trunk group, each of the two the trunk server in turn (the one
// ACTIVE first is elected): files written on either side are read on both.
func TestTrunkWithCStorageAndTools(t *testing.T) {
	cbin := cFastDFS(t)
	for _, tc := range []struct {
		name             string
		trIP, ourIP, cIP string
		cTrunk           bool
	}{
		{"our trunk server", "127.0.0.209", "127.0.0.210", "127.0.0.211", false},
		{"C trunk server", "127.0.0.215", "127.0.0.216", "127.0.0.217", true},
	} {
		t.Run(tc.name, func(t *testing.T) { trunkMixedGroup(t, cbin, tc.trIP, tc.ourIP, tc.cIP, tc.cTrunk) })
	}
}

func trunkMixedGroup(t *testing.T, cbin, trIP, ourIP, cIP string, cTrunk bool) {
	tr := cluster.StartTracker(t, trIP, trunkTracker)
	port := cluster.SharedPort(t, ourIP, cIP)
	confPath := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)
	cfg, err := conf.LoadClient(confPath)
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx := tctx(t)
	active := func(n int, trunk string) func() bool {
		return func() bool {
			list, err := c.ListStorage(ctx, tr.Addr(), "group1", "")
			k, ts := 0, ""
			for _, s := range list {
				if s.Status == proto.StatusActive {
					k++
				}
				if s.IfTrunkServer {
					ts = s.ID
				}
			}
			return err == nil && k == n && ts == trunk
		}
	}
	startOurs := func() *cluster.Proc {
		return cluster.StartStorage(t, ourIP, "group1", []*cluster.Proc{tr}, map[string]string{"port": strconv.Itoa(port)})
	}
	startCSt := func() *cDaemon {
		return startC(t, cbin, "fdfs_storaged", cIP, port, [][2]string{{"tracker_server", tr.Addr()}, {"group_name", "group1"}})
	}
	var ours *cluster.Proc
	var cst *cDaemon
	first := ourIP
	if cTrunk {
		first = cIP
		cst = startCSt()
		require.Eventually(t, active(1, first), 60*time.Second, 100*time.Millisecond, "C storage not ACTIVE\n%s", cst.log())
		ours = startOurs()
		t.Cleanup(cst.stop) // before our storage is checked for leftover connections
	} else {
		ours = startOurs()
		require.Eventually(t, active(1, first), 60*time.Second, 100*time.Millisecond, "our storage not ACTIVE\n%s", ours.Log())
		cst = startCSt()
	}
	require.Eventually(t, active(2, first), 60*time.Second, 100*time.Millisecond, "group not ACTIVE\n%s\n%s", cst.log(), ours.Log())
	// The C monitor asks our tracker (94): the trunk server stays.
	out, code := runC(t, cbin, "fdfs_monitor", confPath, "set_trunk_server", "group1")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "new trunk server: "+first)
	other := ourIP
	if !cTrunk {
		other = cIP
	}
	out, _ = runC(t, cbin, "fdfs_monitor", confPath, "set_trunk_server", "group1", other)
	require.NotContains(t, out, "new trunk server: "+other)

	files := map[string][]byte{}
	for i, addr := range []string{ours.Addr(), cst.addr, ours.Addr(), cst.addr} {
		b := randBytes(1500 + i*100)
		id, err := c.UploadTo(ctx, addr, -1, bytes.NewReader(b), int64(len(b)), "txt")
		require.NoError(t, err, "upload to %s", addr)
		_, ok := isTrunkID(id)
		require.True(t, ok, "%s from %s is not trunk-resident\n%s", id, addr, ours.Log())
		files[id] = b
	}
	// The C upload tool into our cluster.
	src := filepath.Join(t.TempDir(), "c.txt")
	cb := randBytes(2500)
	require.NoError(t, os.WriteFile(src, cb, 0o644))
	out, code = runC(t, cbin, "fdfs_upload_file", confPath, src)
	require.Equal(t, 0, code, out)
	files[strings.TrimSpace(out)] = cb
	for id, b := range files {
		waitContent(t, ours, id, b)
		waitContentAt(t, cst.addr, cst.log, id, b)
		dst := filepath.Join(t.TempDir(), "dl")
		out, code := runC(t, cbin, "fdfs_download_file", confPath, id, dst)
		require.Equal(t, 0, code, out)
		got, _ := os.ReadFile(dst)
		require.Equal(t, b, got)
		out, code = runC(t, cbin, "fdfs_file_info", confPath, id)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, fmt.Sprintf("file size: %d", len(b)))
	}
	for id := range files {
		out, code := runC(t, cbin, "fdfs_delete_file", confPath, id)
		require.Equal(t, 0, code, out)
		waitContent(t, ours, id, nil)
		waitContentAt(t, cst.addr, cst.log, id, nil)
	}
	if !cTrunk {
		// Ours dies: the C storage takes over from the binlog ours pushed.
		trunkTakeover(t, c, ours.Addr(), cst.addr, ours.Kill, active(1, cIP), func(id string, b []byte) {
			waitContentAt(t, cst.addr, cst.log, id, b)
		}, ours.Log)
		return
	}

	// The C trunk server dies (kill -9): ours takes over from the trunk
	// binlog the C one pushed to it, and hands out no slot that a file
	// written before holds.
	killC := func() {
		p, err := os.FindProcess(cst.pid())
		require.NoError(t, err)
		require.NoError(t, p.Signal(syscall.SIGKILL))
	}
	trunkTakeover(t, c, cst.addr, ours.Addr(), killC, active(1, ourIP), func(id string, b []byte) {
		waitContent(t, ours, id, b)
	}, ours.Log)
}

// trunkTakeover writes files through both storages, kills the trunk server
// (kill -9), waits for the other to be elected (elected) and to allocate
// in trunk file 1 from the binlog the dead one pushed to it, then checks
// that every file is intact on the survivor.
func trunkTakeover(t *testing.T, c *client.Client, deadAddr, liveAddr string, kill func(), elected func() bool,
	check func(id string, b []byte), log func() string) {
	t.Helper()
	ctx := tctx(t)
	files := map[string][]byte{}
	for i := range 20 {
		addr := deadAddr
		if i%2 == 0 {
			addr = liveAddr
		}
		b := randBytes(400 + i*53)
		id, err := c.UploadTo(ctx, addr, -1, bytes.NewReader(b), int64(len(b)), "dat")
		require.NoError(t, err)
		files[id] = b
	}
	for id, b := range files {
		check(id, b)
	}
	kill()
	require.Eventually(t, elected, 60*time.Second, 100*time.Millisecond, "no new trunk server\n%s", log())
	require.Eventually(t, func() bool {
		b := randBytes(500)
		id, err := c.UploadTo(ctx, liveAddr, -1, bytes.NewReader(b), int64(len(b)), "dat")
		if err != nil {
			return false
		}
		files[id] = b
		ti, ok := isTrunkID(id)
		return ok && ti.TrunkID == 1
	}, 60*time.Second, 50*time.Millisecond, "no upload into trunk file 1 after the takeover")
	for i := range 30 {
		b := randBytes(300 + i*71)
		id, err := c.UploadTo(ctx, liveAddr, -1, bytes.NewReader(b), int64(len(b)), "dat")
		require.NoError(t, err)
		ti, ok := isTrunkID(id)
		require.True(t, ok && ti.TrunkID == 1, id)
		files[id] = b
	}
	for id, b := range files {
		check(id, b)
	}
}

// Our tools against a C trunk cluster: upload, download, file info and
// delete of trunk-resident files, and our storage joining the C group.
func TestTrunkOurToolsAndStorageWithCCluster(t *testing.T) {
	cbin := cFastDFS(t)
	trPort := cluster.FreePort(t, "127.0.0.212")
	ctr := startC(t, cbin, "fdfs_trackerd", "127.0.0.212", trPort, cTrunkTrackerKV())
	trAddr := ctr.addr
	port := cluster.SharedPort(t, "127.0.0.213", "127.0.0.214")
	cst := startC(t, cbin, "fdfs_storaged", "127.0.0.213", port, [][2]string{{"tracker_server", trAddr}, {"group_name", "group1"}})
	dir := t.TempDir()
	confPath := filepath.Join(dir, "client.conf")
	require.NoError(t, os.WriteFile(confPath, []byte("connect_timeout = 5\nnetwork_timeout = 30\nbase_path = "+dir+"\ntracker_server = "+trAddr+"\n"), 0o644))
	src := filepath.Join(dir, "a.txt")
	content := randBytes(3000)
	require.NoError(t, os.WriteFile(src, content, 0o644))
	var id string
	require.Eventually(t, func() bool {
		out, _, code := run(t, "fdfs_upload_file", confPath, src)
		id = strings.TrimSpace(out)
		return code == 0
	}, 60*time.Second, 200*time.Millisecond, "C cluster takes no upload\n%s", cst.log())
	_, ok := isTrunkID(id)
	require.True(t, ok, "%s is not trunk-resident", id)
	got, _ := download(t, confPath, id)
	require.Equal(t, content, got)
	out, _, code := run(t, "fdfs_file_info", confPath, id)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("file size: %d", len(content)))

	// Our storage joins the C group and gets the C storage's trunk files.
	trProc := &cluster.Proc{IP: "127.0.0.212", Port: trPort}
	ours := cluster.StartStorage(t, "127.0.0.214", "group1", []*cluster.Proc{trProc}, map[string]string{"port": strconv.Itoa(port)})
	// The C daemons stop before our storage is checked for leftover
	// connections (cleanups run last first).
	t.Cleanup(cst.stop)
	t.Cleanup(ctr.stop)
	waitContent(t, ours, id, content)
	b := randBytes(1800)
	cfg, err := conf.LoadClient(confPath)
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	var id2 string
	require.Eventually(t, func() bool {
		id2, err = c.UploadTo(tctx(t), ours.Addr(), -1, bytes.NewReader(b), int64(len(b)), "txt")
		return err == nil
	}, 60*time.Second, 200*time.Millisecond)
	_, ok = isTrunkID(id2)
	require.True(t, ok, "%s written by our storage in a C trunk group is not trunk-resident", id2)
	waitContentAt(t, cst.addr, cst.log, id2, b)
	_, _, code = run(t, "fdfs_delete_file", confPath, id)
	require.Equal(t, 0, code)
	waitContent(t, ours, id, nil)

	// The C trunk server dies (kill -9): the C tracker makes ours the trunk
	// server, which goes on from the binlog the C one pushed to it.
	kept := map[string][]byte{id2: b}
	for i := range 10 {
		b := randBytes(600 + 37*i)
		id, err := c.UploadTo(tctx(t), cst.addr, -1, bytes.NewReader(b), int64(len(b)), "dat")
		require.NoError(t, err)
		kept[id] = b
	}
	for id, b := range kept {
		waitContent(t, ours, id, b)
	}
	p, err := os.FindProcess(cst.pid())
	require.NoError(t, err)
	require.NoError(t, p.Signal(syscall.SIGKILL))
	var ids []string
	require.Eventually(t, func() bool {
		b := randBytes(700)
		id, err := c.UploadTo(tctx(t), ours.Addr(), -1, bytes.NewReader(b), int64(len(b)), "dat")
		if err != nil {
			return false
		}
		kept[id] = b
		ti, ok := isTrunkID(id)
		if ok {
			ids = append(ids, id)
		}
		return ok && ti.TrunkID == 1
	}, 60*time.Second, 100*time.Millisecond, "our storage did not take over as trunk server in trunk file 1\n%s\n%s", ours.Log(), ctr.log())
	for range 20 {
		b := randBytes(500)
		id, err := c.UploadTo(tctx(t), ours.Addr(), -1, bytes.NewReader(b), int64(len(b)), "dat")
		require.NoError(t, err)
		kept[id] = b
	}
	for id, b := range kept {
		waitContent(t, ours, id, b)
	}
}

// uploadLoad uploads files of base to base+span bytes to one storage from
// several goroutines until end, keeping what was acknowledged.
type uploadLoad struct {
	mu    sync.Mutex
	acked map[string][]byte
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startUploadLoad starts workers uploaders to addr; onAck (may be nil) sees
// each acknowledged ID, under the load's lock.
func startUploadLoad(ctx context.Context, tc *trunkCluster, addr string, workers, base, span int, onAck func(id string)) *uploadLoad {
	l := &uploadLoad{acked: map[string][]byte{}, stop: make(chan struct{})}
	for n := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				b := randBytes(base + (n*131+i*97)%span)
				id, err := tc.c.UploadTo(ctx, addr, -1, bytes.NewReader(b), int64(len(b)), "dat")
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				l.locked(func() {
					l.acked[id] = b
					if onAck != nil {
						onAck(id)
					}
				})
			}
		}()
	}
	return l
}

// locked runs f under the load's lock.
func (l *uploadLoad) locked(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// snapshot is a copy of what was acknowledged so far.
func (l *uploadLoad) snapshot() map[string][]byte {
	var m map[string][]byte
	l.locked(func() { m = maps.Clone(l.acked) })
	return m
}

// end stops the uploaders and returns what was acknowledged.
func (l *uploadLoad) end() map[string][]byte {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// With trunk_create_file_advance the trunk server creates trunk files
// ahead of need (at the time base, then every interval) until the free
// trunk space reaches the threshold: three 4 MB trunk files here before any
// upload, and uploads go into them without a new one being made.
func TestTrunkCreateFileAdvance(t *testing.T) {
	kv := maps.Clone(trunkTracker)
	kv["trunk_create_file_advance"] = "true"
	kv["trunk_create_file_time_base"] = time.Now().Format("15:04")
	kv["trunk_create_file_interval"] = "1"
	kv["trunk_create_file_space_threshold"] = "12MB"
	tr := cluster.StartTracker(t, "127.0.0.221", kv)
	st := cluster.StartStorage(t, "127.0.0.222", "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	// The trunk files on disk: data/HH/HH/NNNNNN (six digits).
	trunkFiles := func() map[int32]int64 {
		out := map[int32]int64{}
		filepath.WalkDir(filepath.Join(st.Base, "data"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || len(d.Name()) != 6 || strings.Trim(d.Name(), "0123456789") != "" {
				return nil
			}
			id, _ := strconv.Atoi(d.Name())
			if fi, err := d.Info(); err == nil {
				out[int32(id)] = fi.Size()
			}
			return nil
		})
		return out
	}
	require.Eventually(t, func() bool { return len(trunkFiles()) >= 3 }, 30*time.Second, 100*time.Millisecond,
		"no trunk files created ahead\n%s", st.Log())
	ahead := trunkFiles()
	require.Len(t, ahead, 3, "more than the threshold needs")
	for id, size := range ahead {
		require.EqualValues(t, 4<<20, size, "trunk file %d", id)
	}

	cfg, err := conf.LoadClient(cluster.ClientConf(t, []*cluster.Proc{tr}, nil))
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx := tctx(t)
	for i := range 10 {
		b := randBytes(1000 + i*300)
		id, err := c.UploadTo(ctx, st.Addr(), -1, bytes.NewReader(b), int64(len(b)), "txt")
		require.NoError(t, err)
		ti, ok := isTrunkID(id)
		require.True(t, ok, id)
		require.Contains(t, ahead, ti.TrunkID, "%s not in a trunk file created ahead", id)
	}
	require.Equal(t, ahead, trunkFiles(), "a trunk file made for an upload")
}
