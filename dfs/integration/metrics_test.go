package integration

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
	"yunpan/internal/metrics/scrape"
)

// What operators see: /metrics of real daemons after a
// small load, and fdfs_monitor's sync delay with two storages.

// mtScrape fetches and parses addr/metrics (the text format: scrape.Get
// checks the content type).
func mtScrape(t *testing.T, addr string) *scrape.Samples {
	t.Helper()
	ss, err := scrape.Get(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/metrics")
	require.NoError(t, err)
	return ss
}

// mtSum is the sum of the matching series over several scrapes; it fails
// when no scrape has one.
func mtSum(t *testing.T, name string, scrapes []*scrape.Samples, labels ...string) float64 {
	t.Helper()
	var sum float64
	found := false
	for _, ss := range scrapes {
		if v, ok := ss.Sum(name, labels...); ok {
			sum += v
			found = true
		}
	}
	require.True(t, found, "series %s%v missing", name, labels)
	return sum
}

func TestMetricsAfterLoad(t *testing.T) {
	trIP, ips := "127.0.0.131", []string{"127.0.0.132", "127.0.0.133"}
	trMetrics := net.JoinHostPort(trIP, strconv.Itoa(cluster.FreePort(t, trIP)))
	tr := cluster.StartTracker(t, trIP, map[string]string{"metrics_addr": trMetrics})
	port := cluster.SharedPort(t, ips...)
	var sts []*cluster.Proc
	var stMetrics []string
	for _, ip := range ips {
		m := net.JoinHostPort(ip, strconv.Itoa(cluster.FreePort(t, ip)))
		stMetrics = append(stMetrics, m)
		sts = append(sts, cluster.StartStorage(t, ip, "group1", []*cluster.Proc{tr},
			map[string]string{"port": fmt.Sprint(port), "metrics_addr": m}))
	}
	for _, st := range sts {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}

	// The load: uploads through the tracker (spread over both storages),
	// downloads, one download of a missing file.
	c := clClient(t, tr)
	ctx := tctx(t)
	const n = 6
	var uploaded int
	files := map[string][]byte{}
	for i := range n {
		d := trRandom(1000 + i*511)
		id, err := c.UploadBuffer(ctx, d, "bin")
		require.NoError(t, err)
		files[id] = d
		uploaded += len(d)
	}
	for id, d := range files {
		got, err := c.DownloadBytes(ctx, id, 0, 0)
		require.NoError(t, err)
		require.Equal(t, d, got)
	}
	_, status, err := trDownload(sts[0].Addr(), "group1/M00/00/00/"+strings.Repeat("A", 27)+".bin")
	require.NoError(t, err)
	require.Equal(t, byte(proto.StatusENOENT), status)
	for id, d := range files {
		clWaitSame(t, clRemote(t, id), d, 20*time.Second, sts...)
	}

	// Tracker.
	ts := []*scrape.Samples{mtScrape(t, trMetrics)}
	require.Equal(t, 1.0, mtSum(t, "dfs_tracker_groups", ts))
	require.Equal(t, 1.0, mtSum(t, "dfs_tracker_leader", ts))
	require.Equal(t, 2.0, mtSum(t, "dfs_tracker_storages", ts, "group", "group1", "status", "ACTIVE"))
	require.GreaterOrEqual(t, mtSum(t, "dfs_tracker_connections", ts), 2.0) // the storages' report connections
	require.GreaterOrEqual(t, mtSum(t, "dfs_tracker_connections_accepted_total", ts), 3.0)
	require.GreaterOrEqual(t, mtSum(t, "dfs_tracker_requests_total", ts,
		"cmd", strconv.Itoa(proto.CmdQueryStoreWithoutGroupOne), "status", "0"), float64(n))
	require.GreaterOrEqual(t, mtSum(t, "dfs_tracker_requests_total", ts, "cmd", strconv.Itoa(proto.CmdStorageBeat)), 2.0)
	require.Greater(t, mtSum(t, "dfs_tracker_storage_free_mb", ts, "storage", ips[0]), 0.0)

	// fdfs_monitor's sync delay, per storage, once both have reported.
	trWait(t, 30*time.Second, "tracker sync delay series", func() bool {
		one := mtScrape(t, trMetrics)
		return len(one.Find("dfs_tracker_storage_sync_delay_seconds", "group", "group1")) == 2
	}, sts...)
	for _, smp := range mtScrape(t, trMetrics).Find("dfs_tracker_storage_sync_delay_seconds") {
		require.GreaterOrEqual(t, smp.Value, 0.0)
		require.Less(t, smp.Value, 3600.0)
	}

	// Storages, summed over both.
	var ss []*scrape.Samples
	for _, m := range stMetrics {
		ss = append(ss, mtScrape(t, m))
	}
	up, down := strconv.Itoa(proto.CmdUploadFile), strconv.Itoa(proto.CmdDownloadFile)
	require.Equal(t, float64(n), mtSum(t, "dfs_storage_requests_total", ss, "cmd", up, "status", "0"))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_requests_total", ss, "cmd", down, "status", "0"), float64(n))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_requests_total", ss, "cmd", down, "status", strconv.Itoa(int(proto.StatusENOENT))), 1.0)
	require.Equal(t, float64(n), mtSum(t, "dfs_storage_upload_total", ss, "result", "success"))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_download_total", ss, "result", "all"), float64(n+1))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_download_total", ss, "result", "success"), float64(n))
	require.Equal(t, float64(uploaded), mtSum(t, "dfs_storage_upload_bytes_total", ss, "result", "success"))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_download_bytes_total", ss, "result", "success"), float64(uploaded))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_received_bytes_total", ss), float64(uploaded))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_sent_bytes_total", ss), float64(uploaded))
	require.GreaterOrEqual(t, mtSum(t, "dfs_storage_request_duration_seconds_count", ss, "cmd", up), float64(n))
	// Replication moved the other storage's files in, both ways.
	require.Greater(t, mtSum(t, "dfs_storage_sync_in_bytes_total", ss, "result", "success"), 0.0)
	for i, one := range ss {
		single := []*scrape.Samples{one}
		require.GreaterOrEqual(t, mtSum(t, "dfs_storage_connections", single), 0.0)
		require.GreaterOrEqual(t, mtSum(t, "dfs_storage_connections_accepted_total", single), 1.0)
		require.Greater(t, mtSum(t, "dfs_storage_store_path_free_mb", single, "path", "0"), 0.0)
		require.Greater(t, mtSum(t, "dfs_storage_store_path_total_mb", single, "path", "0"), 0.0)
		peer := ips[1-i]
		t.Logf("storage %s sees peer %s status %v", ips[i], peer, mtSum(t, "dfs_storage_sync_peer_status", single, "peer", peer))
		// The peer's status as this storage last heard it from the leader
		// (it may lag the tracker's own view): present, a known code.
		require.LessOrEqual(t, mtSum(t, "dfs_storage_sync_peer_status", single, "peer", peer), float64(proto.StatusRecovery))
		require.GreaterOrEqual(t, mtSum(t, "dfs_storage_sync_received_timestamp_seconds", single, "source", peer), float64(time.Now().Add(-time.Hour).Unix()))
	}
	// Every file is on both storages: the lag to the peer drains to 0 (the
	// mark file is saved when the push goes idle).
	for i, m := range stMetrics {
		peer := ips[1-i]
		trWait(t, 20*time.Second, "sync lag 0 on "+m, func() bool {
			one := []*scrape.Samples{mtScrape(t, m)}
			return mtSum(t, "dfs_storage_sync_lag_bytes", one, "peer", peer) == 0 &&
				mtSum(t, "dfs_storage_sync_lag_seconds", one, "peer", peer) == 0 &&
				mtSum(t, "dfs_storage_sync_pushed_records_total", one, "peer", peer) >= 1
		}, sts[i])
	}

	// fdfs_monitor prints each storage's sync delay once the others have
	// source updates and it has reported what it received (docs/protocol.md §9.8).
	cconf := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)
	delayRe := regexp.MustCompile(`last_synced_timestamp = \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(((\d+ \w+ ?)+) delay\)\n`)
	var out string
	trWait(t, 30*time.Second, "fdfs_monitor sync delay on both storages", func() bool {
		var code int
		out, _, code = run(t, "fdfs_monitor", cconf)
		return code == 0 && len(delayRe.FindAllString(out, -1)) == 2
	}, sts...)
	for _, m := range delayRe.FindAllStringSubmatch(out, -1) {
		require.Regexp(t, `^(0 second|(\d+ (day|hour|minute|second)s? ?)+)$`, m[1])
	}
}
