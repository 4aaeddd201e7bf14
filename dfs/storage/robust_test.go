package storage

import (
	"bytes"
	"fmt"
	"math"
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

func twoPaths(t *testing.T) *conf.Storage {
	o := testOpts(t)
	o.StorePaths = append(o.StorePaths, filepath.Join(o.BasePath, "store1"))
	o.StorePathReadonly = []bool{false, false}
	return o
}

// TestStorePaths: M00/M01 by index, −1 lets the storage choose (round
// robin), a read-only path is skipped, an index out of range is EINVAL.
func TestStorePaths(t *testing.T) {
	o := twoPaths(t)
	s := start(t, o)
	c := dial(t, s)
	r1 := upload(t, c, 1, "a", []byte("one"))
	require.True(t, hasPrefix(r1, "M01/"), r1)
	require.Len(t, storeFiles(t, s, 1), 1)
	r0 := upload(t, c, 0, "a", []byte("zero"))
	require.True(t, hasPrefix(r0, "M00/"), r0)

	seen := map[string]bool{}
	for range 4 {
		seen[upload(t, c, -1, "a", []byte("x"))[:3]] = true
	}
	require.Equal(t, map[string]bool{"M00": true, "M01": true}, seen)

	// Both paths serve downloads.
	for _, r := range []string{r0, r1} {
		h, _ := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", r, 0, 0))
		require.Equal(t, byte(0), h.Status)
	}
	h, _ := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(2, "a", []byte("x")))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	requireClosed(t, c)
	c = dial(t, s)
	h, _ = roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(-2, "a", []byte("x")))
	require.Equal(t, proto.StatusEINVAL, h.Status)
	requireClosed(t, c)
	// M02 names do not exist here.
	c = dial(t, s)
	h, _ = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", "M02"+r0[3:], 0, 0))
	require.Equal(t, proto.StatusEINVAL, h.Status)
}

func TestReadonlyPath(t *testing.T) {
	o := twoPaths(t)
	o.StorePathReadonly = []bool{true, false}
	s := start(t, o)
	c := dial(t, s)
	for _, idx := range []int8{0, -1, 1} {
		r := upload(t, c, idx, "a", []byte("x"))
		require.True(t, hasPrefix(r, "M01/"), "index %d gave %s", idx, r)
	}
	require.Empty(t, storeFiles(t, s, 0))

	o = testOpts(t)
	o.StorePathReadonly = []bool{true}
	s = start(t, o)
	c = dial(t, s)
	h, _ := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(0, "a", []byte("x")))
	require.Equal(t, proto.StatusENOSPC, h.Status)
	// ENOSPC keeps the connection.
	h, _ = roundTrip(t, c, proto.CmdActiveTest, 0, nil)
	require.Equal(t, byte(0), h.Status)
}

// TestReservedSpace: the tracker's reserved_storage_space is enforced at
// upload, as an absolute MB amount and as a ratio.
func TestReservedSpace(t *testing.T) {
	s := start(t, twoPaths(t))
	c := dial(t, s)
	upload(t, c, 0, "a", []byte("fits"))

	for _, text := range []string{"1000000000G", "99.99%"} {
		p, err := parseParams([]byte("use_storage_id=0\nreserved_storage_space=" + text + "\n"))
		require.NoError(t, err)
		s.params.Store(p)
		for _, idx := range []int8{0, 1, -1} {
			h, _ := roundTrip(t, c, proto.CmdUploadFile, 0, uploadBody(idx, "a", []byte("too much")))
			require.Equal(t, proto.StatusENOSPC, h.Status, "reserve %s index %d", text, idx)
		}
	}
	p, err := parseParams([]byte("reserved_storage_space=1%\n"))
	require.NoError(t, err)
	s.params.Store(p)
	upload(t, c, -1, "a", []byte("fits again"))
	require.Len(t, append(storeFiles(t, s, 0), storeFiles(t, s, 1)...), 2)
}

// TestFsync: with fsync_after_written_bytes the content is intact and the
// directory is synced (nothing observable but success and content).
func TestFsync(t *testing.T) {
	o := testOpts(t)
	o.FsyncAfterWrittenBytes = 1000
	s := start(t, o)
	c := dial(t, s)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	remote := upload(t, c, 0, "bin", data)
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, data, b)
	h, _ = roundTrip(t, c, proto.CmdSetMetadata, 0, setMetaBody("group1", remote, 'O', []byte("a\x021")))
	require.Equal(t, byte(0), h.Status)
	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", remote))
	require.Equal(t, byte(0), h.Status)
	require.Empty(t, storeFiles(t, s, 0))
}

// TestUploadInterrupted: a client that disconnects mid-body or sends a short
// body leaves no file and no binlog record; the server keeps serving.
func TestUploadInterrupted(t *testing.T) {
	s := start(t, testOpts(t))
	for _, sent := range []int{0, 5, 300 << 10} {
		c := dial(t, s)
		body := uploadBody(0, "bin", make([]byte, 1<<20))
		_, err := c.Write(body[:uploadFixedLen+sent])
		require.NoError(t, err)
		// Header first: pkg_len says 1 MiB + 15.
		c.Close()
	}
	// Header and part of the body, then close.
	for _, sent := range []int{0, 5, 300 << 10} {
		c := dial(t, s)
		body := uploadBody(0, "bin", make([]byte, 1<<20))
		hdr := proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Bytes()
		_, err := c.Write(append(hdr, body[:uploadFixedLen+sent]...))
		require.NoError(t, err)
		c.Close()
	}
	// A client that half-closes after a short body.
	c := dial(t, s)
	body := uploadBody(0, "bin", []byte("short but promised longer"))
	hdr := proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Bytes()
	_, err := c.Write(append(hdr, body[:len(body)-10]...))
	require.NoError(t, err)
	c.(*net.TCPConn).CloseWrite()
	requireClosed(t, c)

	waitFor(t, 5*time.Second, "temp files removed", func() bool {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		return n == 0 && len(storeFiles(t, s, 0)) == 0
	})
	require.Empty(t, binlogLines(t, s))
	require.Equal(t, int64(0), s.stats.get(statSuccessUpload))
	activeOK(t, s)
}

// TestExitDuringUpload: Exit abandons an upload in progress cleanly.
func TestExitDuringUpload(t *testing.T) {
	o := testOpts(t)
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Main() }()
	c := dial(t, s)
	body := uploadBody(0, "bin", make([]byte, 1<<20))
	hdr := proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}.Bytes()
	_, err = c.Write(append(hdr, body[:1000]...))
	require.NoError(t, err)
	waitFor(t, 5*time.Second, "upload started", func() bool { return s.stats.get(statTotalUpload) == 1 })
	s.Exit()
	require.NoError(t, <-done)
	require.Empty(t, regularFiles(t, s.paths[0].dataDir, subdirMarker))
	requireClosed(t, c)
}

// TestBadRequests: malformed requests get EINVAL (and a closed connection)
// or are dropped, and never hurt other connections.
func TestBadRequests(t *testing.T) {
	o := testOpts(t)
	o.BuffSize = 16 << 10
	s := start(t, o)
	c := dial(t, s)
	remote := upload(t, c, 0, "txt", hello)

	einval := func(name string, raw []byte) {
		t.Helper()
		c := dial(t, s)
		_, err := c.Write(raw)
		require.NoError(t, err)
		h, b := readAnswer(t, c)
		require.Equal(t, proto.StatusEINVAL, h.Status, name)
		require.Empty(t, b, name)
		requireClosed(t, c)
		activeOK(t, s)
	}
	pkt := func(cmd byte, body []byte) []byte {
		return append(proto.Header{PkgLen: int64(len(body)), Cmd: cmd}.Bytes(), body...)
	}
	for _, name := range []string{
		"M00/../../etc/passwd", "M00/00/00/../../../x", "M00/00/00/a/b", "M00/0a/00/xxxxxxxxxxx",
		"M00/00/00/", "short", "M99/00/00/xxxxxxxxxxxxxxxxx", "M00/00/00/x\x00y", "M00\\00\\00\\xxxxxxx",
		"../../../../../etc/passwd", strings.Repeat("M00/00/00/", 20),
	} {
		einval("download "+name, pkt(proto.CmdDownloadFile, downloadBody("group1", name, 0, 0)))
		einval("delete "+name, pkt(proto.CmdDeleteFile, groupBody("group1", name)))
		einval("info "+name, pkt(proto.CmdQueryFileInfo, groupBody("group1", name)))
		einval("getmeta "+name, pkt(proto.CmdGetMetadata, groupBody("group1", name)))
	}
	einval("empty download", pkt(proto.CmdDownloadFile, nil))
	einval("group only", pkt(proto.CmdDeleteFile, groupBody("group1", "")))
	einval("negative offset", pkt(proto.CmdDownloadFile, downloadBody("group1", remote, -1, 0)))
	einval("negative length", pkt(proto.CmdDownloadFile, downloadBody("group1", remote, 0, -5)))
	einval("unknown cmd", pkt(250, nil))
	einval("sync cmd without support", pkt(proto.CmdSyncCreateFile, []byte("abc")))
	einval("upload short fixed", pkt(proto.CmdUploadFile, []byte{0, 0, 0}))
	bad := uploadBody(0, "txt", hello)
	proto.PutI64(bad[1:9], 5)
	einval("upload size mismatch", pkt(proto.CmdUploadFile, bad))
	proto.PutI64(bad[1:9], -1)
	einval("upload negative size", pkt(proto.CmdUploadFile, bad))
	einval("upload bad ext", pkt(proto.CmdUploadFile, uploadBody(0, "a/b", hello)))
	einval("upload bad ext 2", pkt(proto.CmdUploadFile, uploadBody(0, "..", hello)))
	// Negative and huge pkg_len.
	neg := proto.Header{PkgLen: -1, Cmd: proto.CmdDownloadFile}.Bytes()
	einval("negative pkg_len", neg)
	einval("huge pkg_len", proto.Header{PkgLen: math.MaxInt64, Cmd: proto.CmdDownloadFile}.Bytes())
	huge := uploadBody(0, "txt", nil)
	proto.PutI64(huge[1:9], 5)
	einval("huge upload", append(proto.Header{PkgLen: math.MaxInt64, Cmd: proto.CmdUploadFile}.Bytes(), huge...))
	// A huge but consistent upload cannot fit any disk: ENOSPC, and the
	// connection is closed as its body cannot be skipped.
	proto.PutI64(huge[1:9], math.MaxInt64-uploadFixedLen)
	c4 := dial(t, s)
	_, err := c4.Write(append(proto.Header{PkgLen: math.MaxInt64, Cmd: proto.CmdUploadFile}.Bytes(), huge...))
	require.NoError(t, err)
	h4, _ := readAnswer(t, c4)
	require.Equal(t, proto.StatusENOSPC, h4.Status)
	requireClosed(t, c4)
	einval("buffer sized", pkt(proto.CmdGetMetadata, groupBody("group1", strings.Repeat("x", 16<<10))))

	// A truncated header, then close: nothing to answer.
	c2 := dial(t, s)
	c2.Write([]byte{0, 0, 0})
	c2.Close()
	// A header with a body that never comes times out... quickly enough here:
	// the client gives up first.
	c3 := dial(t, s)
	c3.Write(proto.Header{PkgLen: 100, Cmd: proto.CmdDeleteFile}.Bytes())
	c3.Close()

	activeOK(t, s)
	// The uploaded file is intact.
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, hello, b)
	require.Len(t, storeFiles(t, s, 0), 1)
	// Nothing was created outside the store paths' data trees.
	files := regularFiles(t, o.BasePath)
	for _, f := range files {
		require.True(t, strings.HasPrefix(f, "data/") || strings.HasPrefix(f, "store0/data/"), f)
	}
}

// TestMaxConnections: connections beyond max_connections are closed.
func TestMaxConnections(t *testing.T) {
	o := testOpts(t)
	o.MaxConnections = 2
	s := start(t, o)
	c1, c2 := dial(t, s), dial(t, s)
	for _, c := range []net.Conn{c1, c2} {
		h, _ := roundTrip(t, c, proto.CmdActiveTest, 0, nil)
		require.Equal(t, byte(0), h.Status)
	}
	c3 := dial(t, s)
	requireClosed(t, c3)
	c1.Close()
	waitFor(t, 5*time.Second, "slot freed", func() bool { return s.stats.connCurrent.Load() == 1 })
	activeOK(t, s)
	require.Equal(t, int32(2), s.stats.connMax.Load())
}

// TestIdleTimeout: an idle connection is closed after network_timeout.
func TestIdleTimeout(t *testing.T) {
	o := testOpts(t)
	o.NetworkTimeout = 200 * time.Millisecond
	s := start(t, o)
	c := dial(t, s)
	requireClosed(t, c)
}

// TestRestart: sub directories, counters, round-robin position, init flag
// and binlog survive a restart.
func TestRestart(t *testing.T) {
	o := testOpts(t)
	o.FileDistributeRotateCount = 2
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	go s.Main()
	c := dial(t, s)
	var names []string
	for range 3 {
		names = append(names, upload(t, c, 0, "x", []byte("data")))
	}
	s.Exit()
	require.Equal(t, "M00/00/00", names[0][:9])
	require.Equal(t, "M00/00/00", names[1][:9])
	require.Equal(t, "M00/00/01", names[2][:9])
	for hi := range 4 {
		for lo := range 4 {
			require.DirExists(t, filepath.Join(s.paths[0].dataDir, hex2(hi), hex2(lo)))
		}
	}
	require.NoDirExists(t, filepath.Join(s.paths[0].dataDir, "04"))

	flag, err := os.ReadFile(filepath.Join(o.BasePath, "data", ".data_init_flag"))
	require.NoError(t, err)
	kv := parseKV(flag)
	for _, k := range []string{"storage_join_time", "sync_old_done", "sync_src_server", "sync_until_timestamp", "last_ip_addr", "last_server_port"} {
		require.Contains(t, kv, k)
	}
	require.Equal(t, "0", kv["sync_old_done"])
	stat, err := os.ReadFile(filepath.Join(o.BasePath, "data", "storage_stat.dat"))
	require.NoError(t, err)
	kv = parseKV(stat)
	require.Equal(t, "3", kv["success_upload_count"])
	require.Equal(t, "1", kv[keyDistLow])
	require.Equal(t, "1", kv[keyDistCount])
	idx, err := os.ReadFile(filepath.Join(o.BasePath, "data", "sync", "binlog_index.dat"))
	require.NoError(t, err)
	require.Equal(t, "current_write=0\ncurrent_compress=0\n", string(idx))

	s2 := start(t, o)
	require.Equal(t, int64(3), s2.stats.get(statSuccessUpload))
	jt, _, _, _ := s2.flag.snapshot()
	require.Equal(t, parseKV(flag)["storage_join_time"], fmt.Sprint(jt))
	c = dial(t, s2)
	r := upload(t, c, 0, "x", []byte("data"))
	require.Equal(t, "M00/00/01", r[:9])
	lines := binlogLines(t, s2)
	require.Len(t, lines, 4)
	require.True(t, strings.HasSuffix(lines[3], " C "+r))
}

// TestNewErrors: invalid options are refused.
func TestNewErrors(t *testing.T) {
	o := testOpts(t)
	o.GroupName = "bad group"
	_, err := New(o, testLogger(t))
	require.Error(t, err)
	o = testOpts(t)
	o.BasePath = ""
	_, err = New(o, testLogger(t))
	require.Error(t, err)
	o = testOpts(t)
	o.SubdirCountPerPath = 300
	_, err = New(o, testLogger(t))
	require.Error(t, err)
	// Exit before Main, then Main returns at once.
	s, err := New(testOpts(t), testLogger(t))
	require.NoError(t, err)
	s.Exit()
	require.NoError(t, s.Main())
}

// TestRandomDistribution: file_distribute_path_mode=1 spreads files over
// HH/HH within range.
func TestRandomDistribution(t *testing.T) {
	o := testOpts(t)
	o.FileDistributePathMode = 1
	s := start(t, o)
	c := dial(t, s)
	dirs := map[string]bool{}
	for range 40 {
		r := upload(t, c, 0, "x", []byte("d"))
		dirs[r[4:9]] = true
	}
	require.Greater(t, len(dirs), 3)
	for d := range dirs {
		require.Regexp(t, `^0[0-3]/0[0-3]$`, d)
	}
}
