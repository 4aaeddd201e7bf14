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

// A rotation that cannot create the next binlog file (a directory stands
// where it goes): the failure is logged once, records wait in memory, the
// memory bound is reported by full, and once the obstacle is gone a retry
// writes every waiting record, in order, to the new file.
func TestBinlogReopenFailure(t *testing.T) {
	binlogFaultVars(t, 100, 300)
	dir := t.TempDir()
	obstacle := filepath.Join(dir, binlogName(1))
	require.NoError(t, os.Mkdir(obstacle, 0o755))
	var logBuf lockedBuffer
	b, err := openBinlog(dir, time.Hour, zerolog.New(&logBuf))
	require.NoError(t, err)
	defer b.Close()

	name := func(i int) string { return fmt.Sprintf("M00/00/00/wKgBZGVT8QCAABI0AAAwOd6tvu8%02d.jpg", i) }
	var want strings.Builder
	for i := range 12 {
		b.Write(int64(1700000000+i), opCreate, name(i), "")
		if i >= 2 { // the first two fill binlog.000 and start the rotation
			fmt.Fprintf(&want, "%d C %s\n", 1700000000+i, name(i))
		}
		time.Sleep(3 * time.Millisecond) // some writes come after a back-off
	}
	failing, pending, errs := b.health()
	require.True(t, failing)
	require.Equal(t, int64(want.Len()), pending)
	require.GreaterOrEqual(t, errs, int64(1))
	require.True(t, b.full(), "%d bytes wait, more than binlogPendingMax", pending)
	require.Equal(t, 1, strings.Count(logBuf.String(), "binlog cannot be written"), logBuf.String())
	require.Contains(t, logBuf.String(), `"level":"error"`)
	require.Equal(t, 1, b.currentIndex())

	require.NoError(t, os.Remove(obstacle))
	deadline := time.Now().Add(10 * time.Second)
	for b.Flush() != nil {
		require.True(t, time.Now().Before(deadline), "binlog not written again after the obstacle went")
		time.Sleep(5 * time.Millisecond)
	}
	data, err := os.ReadFile(obstacle)
	require.NoError(t, err)
	require.Equal(t, want.String(), string(data))
	failing, pending, _ = b.health()
	require.False(t, failing)
	require.Zero(t, pending)
	require.False(t, b.full())
	require.Equal(t, 1, strings.Count(logBuf.String(), "binlog cannot be written"))
	require.Equal(t, 1, strings.Count(logBuf.String(), "binlog writable again"))
}

// With real storages: while A cannot create its next binlog file, /metrics
// shows it, updates are refused once the waiting records reach the bound,
// and the uploads A accepted meanwhile reach B once the fault is cleared.
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

	obstacle := filepath.Join(a.s.dataDir, "sync", binlogName(1))
	require.NoError(t, os.Mkdir(obstacle, 0o755))
	files := map[string][]byte{}
	for i := 0; metric("dfs_storage_binlog_write_failing") == 0; i++ {
		require.Less(t, i, 200, "binlog.001 never due")
		d := rpRand(100 + i)
		files[rpUpload(t, a.addr(), proto.CmdUploadFile, d)] = d
	}
	// Accepted while the binlog cannot take their records, until the bound.
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
	require.GreaterOrEqual(t, metric("dfs_storage_binlog_write_errors_total"), 1.0)
	for _, name := range during {
		require.False(t, rpExists(b.s, name), "%s replicated without a binlog record", name)
	}

	require.NoError(t, os.Remove(obstacle))
	waitFor(t, 20*time.Second, "binlog written again", func() bool { return metric("dfs_storage_binlog_write_failing") == 0 })
	require.Zero(t, metric("dfs_storage_binlog_pending_bytes"))
	for name, d := range files {
		rpWaitContent(t, b.addr(), name, d, 20*time.Second)
	}
	after := rpRand(999)
	name := rpUpload(t, a.addr(), proto.CmdUploadFile, after)
	rpWaitContent(t, b.addr(), name, after, 20*time.Second)
}
