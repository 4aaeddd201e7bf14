package storage

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/metrics/scrape"
)

func scrapeMetrics(t *testing.T, s *Storage) *scrape.Samples {
	t.Helper()
	require.NotNil(t, s.MetricsAddr())
	ss, err := scrape.Get(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+s.MetricsAddr().String()+"/metrics")
	require.NoError(t, err)
	return ss
}

func TestMetricsAndAccessLog(t *testing.T) {
	o := testOpts(t)
	o.MetricsAddr = "127.0.0.1:0"
	o.AccessLogEnabled = true
	s := start(t, o)

	c := dial(t, s)
	defer c.Close()
	data := []byte("metrics test payload")
	remote := upload(t, c, 0, "txt", data)
	h, b := roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", remote, 0, 0))
	require.Zero(t, h.Status)
	require.Equal(t, data, b)
	h, _ = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", "M00/00/00/"+strings.Repeat("A", 27)+".txt", 0, 0))
	require.Equal(t, byte(proto.StatusENOENT), h.Status)

	ss := scrapeMetrics(t, s)
	one := func(name string, labels ...string) float64 {
		t.Helper()
		v, ok := ss.Sum(name, labels...)
		require.True(t, ok, "%s %v missing", name, labels)
		return v
	}
	up, down := strconv.Itoa(proto.CmdUploadFile), strconv.Itoa(proto.CmdDownloadFile)
	require.Equal(t, 1.0, one("dfs_storage_requests_total", "cmd", up, "status", "0"))
	require.Equal(t, 1.0, one("dfs_storage_requests_total", "cmd", down, "status", "0"))
	require.Equal(t, 1.0, one("dfs_storage_requests_total", "cmd", down, "status", strconv.Itoa(int(proto.StatusENOENT))))
	require.Equal(t, 2.0, one("dfs_storage_request_duration_seconds_count", "cmd", down))
	require.Equal(t, 2.0, one("dfs_storage_request_duration_seconds_bucket", "cmd", down, "le", "+Inf"))
	require.Equal(t, "histogram", ss.Types["dfs_storage_request_duration_seconds"])
	require.Equal(t, 1.0, one("dfs_storage_upload_total", "result", "all"))
	require.Equal(t, 1.0, one("dfs_storage_upload_total", "result", "success"))
	require.Equal(t, 2.0, one("dfs_storage_download_total", "result", "all"))
	require.Equal(t, 1.0, one("dfs_storage_download_total", "result", "success"))
	require.Equal(t, float64(len(data)), one("dfs_storage_upload_bytes_total", "result", "success"))
	require.Equal(t, float64(len(data)), one("dfs_storage_download_bytes_total", "result", "success"))
	require.GreaterOrEqual(t, one("dfs_storage_received_bytes_total"), float64(len(data)+3*proto.HeaderSize))
	require.GreaterOrEqual(t, one("dfs_storage_sent_bytes_total"), float64(len(data)+3*proto.HeaderSize))
	require.Equal(t, 1.0, one("dfs_storage_connections"))
	require.Equal(t, 1.0, one("dfs_storage_connections_accepted_total"))
	require.Greater(t, one("dfs_storage_store_path_free_mb", "path", "0"), 0.0)
	require.GreaterOrEqual(t, one("dfs_storage_store_path_total_mb", "path", "0"), one("dfs_storage_store_path_free_mb", "path", "0"))
	require.Greater(t, one("dfs_storage_binlog_offset_bytes"), 0.0)
	require.Greater(t, one("dfs_storage_last_source_update_timestamp_seconds"), 0.0)

	// One access log line per request, written as it ends.
	path := filepath.Join(o.BasePath, "logs", accessLogName)
	var lines []map[string]any
	waitFor(t, 5*time.Second, "access log", func() bool {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		lines = nil
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
			lines = append(lines, ev)
		}
		return len(lines) >= 3
	})
	require.Len(t, lines, 3)
	require.Equal(t, "upload", lines[0]["op"])
	require.Equal(t, "0", lines[0]["status"])
	require.Equal(t, "download", lines[1]["op"])
	require.Equal(t, float64(proto.HeaderSize+len(data)), lines[1]["out"])
	require.Equal(t, strconv.Itoa(int(proto.StatusENOENT)), lines[2]["status"])
	for _, ev := range lines {
		require.Contains(t, ev["peer"], "127.0.0.1:")
		require.Contains(t, ev, "ms")
		require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, ev["time"])
	}
}

func TestMetricsOff(t *testing.T) {
	o := testOpts(t)
	s := start(t, o)
	require.Nil(t, s.MetricsAddr())
	activeOK(t, s)
	_, err := os.Stat(filepath.Join(o.BasePath, "logs", accessLogName))
	require.ErrorIs(t, err, os.ErrNotExist)

	// A metrics address that cannot be bound fails the start and frees the port.
	o2 := testOpts(t)
	o2.MetricsAddr = s.Addr().String()
	_, err = New(o2, testLogger(t))
	require.Error(t, err)
	o2.MetricsAddr = ""
	s2, err := New(o2, testLogger(t))
	require.NoError(t, err)
	s2.Exit()
}

func TestBinlogLag(t *testing.T) {
	o := testOpts(t)
	s, err := New(o, testLogger(t))
	require.NoError(t, err)
	defer s.Exit()
	now := time.Now()
	behind, age := s.binlogLag(0, 0, now)
	require.Zero(t, behind)
	require.Zero(t, age)

	s.binlog.Write(now.Unix()-100, opCreate, "M00/00/00/a.txt", "")
	require.NoError(t, s.binlog.Flush())
	s.binlog.Write(now.Unix()-10, opCreate, "M00/00/00/b.txt", "") // written through, not yet fsynced
	require.False(t, s.binlog.pending())
	_, end := s.binlogEnd()
	first := int64(len(strconv.FormatInt(now.Unix()-100, 10) + " C M00/00/00/a.txt\n"))

	behind, age = s.binlogLag(0, 0, now)
	require.Equal(t, end, behind)
	require.InDelta(t, 100, age, 1)
	behind, age = s.binlogLag(0, first, now) // the last record
	require.Equal(t, end-first, behind)
	require.InDelta(t, 10, age, 1)
	require.Len(t, binlogLines(t, s), 2) // flushed: now read from the file
	behind, age = s.binlogLag(0, first, now)
	require.Equal(t, end-first, behind)
	require.InDelta(t, 10, age, 1)
	behind, age = s.binlogLag(0, end, now)
	require.Zero(t, behind)
	require.Zero(t, age)
	behind, _ = s.binlogLag(5, 0, now) // a mark from the future is no lag
	require.Zero(t, behind)
}
