package tracker

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
	"yunpan/internal/metrics/scrape"
)

func scrapeMetrics(t *testing.T, addr string) *scrape.Samples {
	t.Helper()
	ss, err := scrape.Get(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics")
	require.NoError(t, err)
	return ss
}

func TestMetrics(t *testing.T) {
	tr := startTracker(t, func(o *conf.Tracker) { o.MetricsAddr = "127.0.0.1:0" })
	require.NotNil(t, tr.MetricsAddr())

	st := storageConn(t, tr, "127.0.0.1", "group1")
	defer st.c.Close()
	c := dial(t, tr)
	defer c.c.Close()
	c.ok(proto.CmdQueryStoreWithoutGroupOne, nil)
	status, _ := c.call(proto.CmdServerListOneGroup, groupField("nogroup"))
	require.NotZero(t, status)

	ss := scrapeMetrics(t, tr.MetricsAddr().String())
	for name, typ := range map[string]string{
		"dfs_tracker_requests_total": "counter", "dfs_tracker_connections_accepted_total": "counter",
		"dfs_tracker_connections": "gauge", "dfs_tracker_leader": "gauge", "dfs_tracker_groups": "gauge",
		"dfs_tracker_storages": "gauge", "dfs_tracker_storage_free_mb": "gauge",
	} {
		require.Equal(t, typ, ss.Types[name], name)
	}
	one := func(name string, labels ...string) float64 {
		t.Helper()
		v, ok := ss.Sum(name, labels...)
		require.True(t, ok, "%s %v missing", name, labels)
		return v
	}
	require.Equal(t, 1.0, one("dfs_tracker_groups"))
	require.Equal(t, 1.0, one("dfs_tracker_leader"))
	require.Equal(t, 1.0, one("dfs_tracker_storages", "group", "group1", "status", "ACTIVE"))
	require.Equal(t, 0.0, one("dfs_tracker_storages", "group", "group1", "status", "OFFLINE"))
	require.Equal(t, 90000.0, one("dfs_tracker_storage_free_mb", "group", "group1"))
	require.GreaterOrEqual(t, one("dfs_tracker_connections"), 2.0)
	require.GreaterOrEqual(t, one("dfs_tracker_connections_accepted_total"), 2.0)
	require.Equal(t, 1.0, one("dfs_tracker_requests_total", "cmd", strconv.Itoa(proto.CmdStorageJoin), "status", "0"))
	require.Equal(t, 1.0, one("dfs_tracker_requests_total", "cmd", strconv.Itoa(proto.CmdQueryStoreWithoutGroupOne), "status", "0"))
	require.Equal(t, 1.0, one("dfs_tracker_requests_total", "cmd", strconv.Itoa(proto.CmdServerListOneGroup), "status", strconv.Itoa(int(status))))
}

func TestMetricsOffAndBadAddr(t *testing.T) {
	tr := startTracker(t, nil)
	require.Nil(t, tr.MetricsAddr())

	o := testOptions(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	o.MetricsAddr = tr.Addr().String() // in use: the start fails
	_, err = New(o, zerolog.Nop())
	require.ErrorContains(t, err, "metrics")
	// The main listener was released: the same options bind again with metrics off.
	o.MetricsAddr = ""
	tr2, err := New(o, zerolog.Nop())
	require.NoError(t, err)
	tr2.Exit()
}
