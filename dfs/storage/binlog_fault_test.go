package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// binlogFaultVars makes rotation, retries and the memory bound small for
// one test.
func binlogFaultVars(t *testing.T, maxSize int64, pendingMax int) {
	oldSize, oldPending, oldMin, oldMax := binlogMaxSize, binlogPendingMax, binlogRetryMin, binlogRetryMax
	binlogMaxSize, binlogPendingMax = maxSize, pendingMax
	binlogRetryMin, binlogRetryMax = 10*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() {
		binlogMaxSize, binlogPendingMax, binlogRetryMin, binlogRetryMax = oldSize, oldPending, oldMin, oldMax
	})
}

// binlogRecords writes n records of the form "<ts> C <name>" numbered from
// first, a few milliseconds apart (some come after a retry's back-off), and
// returns their lines.
func binlogRecords(b *binlog, first, n int) string {
	var out strings.Builder
	for i := first; i < first+n; i++ {
		name := fmt.Sprintf("M00/00/00/wKgBZGVT8QCAABI0AAAwOd6tvu8%02d.jpg", i)
		b.Write(int64(1700000000+i), opCreate, name, "")
		fmt.Fprintf(&out, "%d C %s\n", 1700000000+i, name)
		time.Sleep(3 * time.Millisecond)
	}
	return out.String()
}

// A rotation that cannot create the next binlog file (a directory stands
// where it goes): the failure is logged once, records go on to the current
// file (durable, replicated), and once the obstacle is gone a retry
// rotates.
func TestBinlogRotationFailure(t *testing.T) {
	binlogFaultVars(t, 100, 300)
	dir := t.TempDir()
	obstacle := filepath.Join(dir, binlogName(1))
	require.NoError(t, os.Mkdir(obstacle, 0o755))
	var logBuf lockedBuffer
	b, err := openBinlog(dir, time.Hour, zerolog.New(&logBuf))
	require.NoError(t, err)
	defer b.Close()

	want := binlogRecords(b, 0, 12)
	data, err := os.ReadFile(filepath.Join(dir, binlogName(0)))
	require.NoError(t, err)
	require.Equal(t, want, string(data), "records go on to binlog.000")
	failing, pending, errs := b.health()
	require.True(t, failing)
	require.Zero(t, pending)
	require.GreaterOrEqual(t, errs, int64(1))
	require.False(t, b.full())
	require.Zero(t, b.currentIndex())
	require.Equal(t, 1, strings.Count(logBuf.String(), rotateFailed), logBuf.String())
	require.Contains(t, logBuf.String(), `"level":"error"`)

	require.NoError(t, os.Remove(obstacle))
	deadline := time.Now().Add(10 * time.Second)
	for b.currentIndex() != 1 {
		require.True(t, time.Now().Before(deadline), "no rotation after the obstacle went")
		time.Sleep(5 * time.Millisecond)
		b.Flush()
	}
	after := binlogRecords(b, 12, 1)
	data, err = os.ReadFile(obstacle)
	require.NoError(t, err)
	require.Equal(t, after, string(data))
	failing, _, _ = b.health()
	require.False(t, failing)
	require.Equal(t, 1, strings.Count(logBuf.String(), rotateFailed))
	require.Equal(t, 1, strings.Count(logBuf.String(), rotateOK))
}

// breakBinlog makes the binlog file unwritable: the open descriptor fails
// (closed underneath, as a failed device would) and opening the file again
// finds a directory in its place. The returned func clears the fault.
func breakBinlog(t *testing.T, b *binlog) (clear func()) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := filepath.Join(b.dir, binlogName(b.index))
	require.NoError(t, os.Rename(p, p+".away"))
	require.NoError(t, os.Mkdir(p, 0o755))
	require.NoError(t, b.f.Close())
	return func() {
		require.NoError(t, os.Remove(p))
		require.NoError(t, os.Rename(p+".away", p))
	}
}

// While the binlog file cannot be written, records wait in memory, in
// order; the failure is logged once, full reports the memory bound, and
// once the fault is cleared a retry writes them all to the file.
func TestBinlogWriteFailure(t *testing.T) {
	binlogFaultVars(t, 1<<30, 300)
	dir := t.TempDir()
	var logBuf lockedBuffer
	b, err := openBinlog(dir, time.Hour, zerolog.New(&logBuf))
	require.NoError(t, err)
	defer b.Close()
	want := binlogRecords(b, 0, 1)
	clear := breakBinlog(t, b)

	during := binlogRecords(b, 1, 10)
	want += during
	failing, pending, errs := b.health()
	require.True(t, failing)
	require.Equal(t, int64(len(during)), pending)
	require.GreaterOrEqual(t, errs, int64(1))
	require.True(t, b.full(), "%d bytes wait, more than binlogPendingMax", pending)
	require.Equal(t, 1, strings.Count(logBuf.String(), writeFailed), logBuf.String())
	require.Contains(t, logBuf.String(), `"level":"error"`)

	clear()
	deadline := time.Now().Add(10 * time.Second)
	for b.Flush() != nil {
		require.True(t, time.Now().Before(deadline), "binlog not written again after the fault went")
		time.Sleep(5 * time.Millisecond)
	}
	data, err := os.ReadFile(filepath.Join(dir, binlogName(0)))
	require.NoError(t, err)
	require.Equal(t, want, string(data))
	failing, pending, _ = b.health()
	require.False(t, failing)
	require.Zero(t, pending)
	require.False(t, b.full())
	require.Equal(t, 1, strings.Count(logBuf.String(), writeFailed))
	require.Equal(t, 1, strings.Count(logBuf.String(), writeOK))
}

// With real storages, A's binlog fails twice. Its next file cannot be
// made: /metrics shows it, and uploads still replicate to B (the records
// go on to the current file) until the rotation works. Then the file cannot
// be written: uploads are refused once the waiting records reach the
// bound, and those A accepted meanwhile reach B once the fault is cleared.
func TestBinlogFailureReplicates(t *testing.T) {
	binlogFaultVars(t, 2048, 1024)
	c := rpNewCluster(t, "", nil)
	a := c.node("127.0.0.3", func(o *conf.Storage) { o.MetricsAddr = "127.0.0.3:0" })
	b := c.node("127.0.0.4", nil)
	c.waitStatus("127.0.0.3", proto.StatusActive, 10*time.Second)
	c.waitStatus("127.0.0.4", proto.StatusActive, 10*time.Second)
	metric := func(name string) float64 {
		t.Helper()
		v, ok := scrapeMetrics(t, a.s).Sum(name)
		require.True(t, ok, "%s missing", name)
		return v
	}
	require.Zero(t, metric("dfs_storage_binlog_write_failing"))
	files := map[string][]byte{}
	up := func(size int) string {
		d := rpRand(size)
		name := rpUpload(t, a.addr(), proto.CmdUploadFile, d)
		files[name] = d
		return name
	}

	// 1. The next file cannot be made.
	obstacle := filepath.Join(a.s.dataDir, "sync", binlogName(1))
	require.NoError(t, os.Mkdir(obstacle, 0o755))
	for i := 0; metric("dfs_storage_binlog_write_failing") == 0; i++ {
		require.Less(t, i, 200, "binlog.001 never due")
		up(100 + i)
	}
	for i := range 5 {
		name := up(200 + i)
		rpWaitContent(t, b.addr(), name, files[name], 20*time.Second)
	}
	require.Equal(t, 1.0, metric("dfs_storage_binlog_write_failing"))
	require.Zero(t, metric("dfs_storage_binlog_pending_bytes"))
	require.GreaterOrEqual(t, metric("dfs_storage_binlog_write_errors_total"), 1.0)
	require.NoError(t, os.Remove(obstacle))
	waitFor(t, 20*time.Second, "binlog rotated", func() bool {
		up(250)
		return metric("dfs_storage_binlog_write_failing") == 0
	})
	require.Equal(t, 1, a.s.binlog.currentIndex())

	// 2. The file cannot be written.
	errsBefore := metric("dfs_storage_binlog_write_errors_total")
	clear := breakBinlog(t, a.s.binlog)
	var during []string
	for i := 0; ; i++ {
		require.Less(t, i, 200, "uploads never refused")
		d := rpRand(300 + i)
		st, body := rpCall(t, a.addr(), proto.CmdUploadFile, uploadBody(-1, "bin", d))
		if st == proto.StatusEIO {
			break
		}
		require.Zero(t, st)
		name := string(body[16:])
		files[name] = d
		during = append(during, name)
	}
	require.NotEmpty(t, during)
	require.Equal(t, 1.0, metric("dfs_storage_binlog_write_failing"))
	require.GreaterOrEqual(t, metric("dfs_storage_binlog_pending_bytes"), float64(binlogPendingMax))
	require.Greater(t, metric("dfs_storage_binlog_write_errors_total"), errsBefore)
	for _, name := range during {
		require.False(t, rpExists(b.s, name), "%s replicated without a binlog record", name)
	}
	clear()
	waitFor(t, 20*time.Second, "binlog written again", func() bool { return metric("dfs_storage_binlog_write_failing") == 0 })
	require.Zero(t, metric("dfs_storage_binlog_pending_bytes"))
	up(999)
	for name, d := range files {
		rpWaitContent(t, b.addr(), name, d, 20*time.Second)
	}
}
