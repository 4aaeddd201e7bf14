package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Fault: the clock of one storage jumps. Storage A's
// wall clock is moved +2h and then −2h relative to real time (the test-only
// hook of dfs/storage/clock.go; the machine's clock is untouched) while
// files are uploaded through both storages of the group.
//
// What is right, and why:
//   - A names its files with its own clock and logs them with it; nothing
//     in replication compares a record's time with the receiver's clock
//     (records are pushed in binlog order, whatever their timestamps), so
//     every file reaches both replicas and every delete propagates.
//   - B reports for A the HIGHEST timestamp it received (docs/protocol.md §4.4). After
//     A's jump back, that value stays in the future, so the tracker may name
//     B for a fresh file of A that B has not received yet (§2.2). That is
//     FastDFS's design; the client library retries such an ENOENT on the
//     file's source (dfs/client/readyourwrites.go), so downloads succeed.
//   - Without cluster_secret (the FastDFS default) nothing the tracker
//     checks depends on a storage's clock: A stays ACTIVE and its beats,
//     carrying its skewed last_source_update, are taken. (With a secret,
//     CmdClusterAuth refuses a clock more than 5 minutes off on every NEW
//     connection, by design of its replay window: established connections
//     go on, but a storage that must reconnect stays out until its clock is
//     right; the refusal is logged on both sides.)
func TestStorageClockJumps(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.141", nil)
	ips := []string{"127.0.0.142", "127.0.0.143"}
	port := fmt.Sprint(cluster.SharedPort(t, ips...))
	skewFile := filepath.Join(t.TempDir(), "skew")
	setSkew := func(d time.Duration) { require.NoError(t, os.WriteFile(skewFile, []byte(d.String()+"\n"), 0o644)) }
	setSkew(0)
	// Only A's process sees the variable (the daemons inherit the test's
	// environment when they start).
	t.Setenv("YUNPAN_TEST_CLOCK_SKEW_FILE", skewFile)
	// A pauses after each record it pushes, so B lags behind A's uploads
	// and fresh files of A are often not on B yet.
	a := cluster.StartStorage(t, ips[0], "group1", []*cluster.Proc{tr}, map[string]string{"port": port, "sync_interval": "200"})
	os.Unsetenv("YUNPAN_TEST_CLOCK_SKEW_FILE")
	b := cluster.StartStorage(t, ips[1], "group1", []*cluster.Proc{tr}, map[string]string{"port": port})
	for _, st := range []*cluster.Proc{a, b} {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	c := clClient(t, tr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logs := []*cluster.Proc{tr, a, b}

	// A must stay ACTIVE the whole time: watch it.
	var watch sync.WaitGroup
	var notActive []string
	stopWatch := make(chan struct{})
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if s, err := cluster.StorageStatus(tr.Addr(), "group1", a.IP); err == nil && s != proto.StatusActive {
				notActive = append(notActive, fmt.Sprintf("%s at %s", proto.StorageStatusName(s), time.Now().Format(time.StampMilli)))
			}
		}
	}()
	endWatch := sync.OnceFunc(func() { close(stopWatch); watch.Wait() })
	defer endWatch()

	files := map[string][]byte{} // acknowledged and not deleted
	var deleted []string
	staleRoutes := map[string]int{} // per phase: the tracker named a replica that did not have the file yet
	upload := func(st *cluster.Proc, d []byte) string {
		t.Helper()
		uctx, ucancel := context.WithTimeout(ctx, 10*time.Second)
		defer ucancel()
		id, err := c.UploadTo(uctx, st.Addr(), -1, bytes.NewReader(d), int64(len(d)), "bin")
		require.NoError(t, err, "upload to %s", st.Addr())
		files[id] = d
		return id
	}
	stamp := func(id string) int64 {
		info, _, err := fileid.Decode(clRemote(t, id))
		require.NoError(t, err)
		return info.Timestamp
	}

	for _, ph := range []struct {
		name string
		skew time.Duration
	}{{"+2h", 2 * time.Hour}, {"-2h", -2 * time.Hour}} {
		setSkew(ph.skew)
		// A re-reads the file within a second: probe until its names carry
		// the new time.
		trWait(t, 15*time.Second, "A's clock at "+ph.name, func() bool {
			ts := stamp(upload(a, trRandom(100)))
			want := time.Now().Add(ph.skew).Unix()
			return ts >= want-5 && ts <= want+5
		}, logs...)

		var phase []string
		for i := range 20 {
			st := a
			if i%2 == 1 {
				st = b
			}
			d := trRandom(2000 + i*131)
			id := upload(st, d)
			phase = append(phase, id)
			now := time.Now()
			ts := stamp(id)
			if st == a {
				require.InDelta(t, now.Add(ph.skew).Unix(), ts, 5, "A's names carry A's clock")
			} else {
				require.InDelta(t, now.Unix(), ts, 5, "B's names carry the real time")
			}
			// Read-your-writes through the tracker. The group's read cursor
			// alternates, so two asks cover both storages.
			for range 2 {
				if fr, err := c.QueryFetch(ctx, id, false); err == nil && fr.Storages[0].IP != st.IP {
					if _, status, _ := trDownload(fr.Storages[0].String(), id); status == proto.StatusENOENT {
						staleRoutes[ph.name]++
					}
				}
			}
			for range 2 {
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				got, err := c.DownloadBytes(dctx, id, 0, 0)
				dcancel()
				require.NoError(t, err, "download %s (phase %s) right after its upload", id, ph.name)
				require.True(t, bytes.Equal(d, got))
			}
		}
		// Deletes: some of A's and some of B's.
		for _, id := range phase[:4] {
			dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
			require.NoError(t, c.Delete(dctx, id))
			dcancel()
			delete(files, id)
			deleted = append(deleted, id)
		}
		// Beats with A's skewed counters are taken: the tracker shows A's
		// last_source_update on A's clock.
		trWait(t, 15*time.Second, "A's skewed last_source_update at the tracker", func() bool {
			for _, s := range trStorages(tr.Addr(), "group1") {
				if s.IP == a.IP {
					lsu := s.Stat.Counters[proto.StatLastSourceUpdate]
					want := time.Now().Add(ph.skew).Unix()
					return lsu >= want-30 && lsu <= want+5
				}
			}
			return false
		}, logs...)
	}
	setSkew(0)

	// Every file on both replicas, byte for byte; every delete on both.
	for id, d := range files {
		clWaitSame(t, clRemote(t, id), d, 30*time.Second, a, b)
	}
	for _, id := range deleted {
		clWaitSame(t, clRemote(t, id), nil, 30*time.Second, a, b)
	}
	for id, d := range files {
		got, err := c.DownloadBytes(ctx, id, 0, 0)
		require.NoError(t, err, "download %s", id)
		require.True(t, bytes.Equal(d, got))
	}
	endWatch()
	require.Empty(t, notActive, "A left ACTIVE while its clock jumped")
	for _, s := range trStorages(tr.Addr(), "group1") {
		t.Logf("%s: last_synced_timestamp %s, last_source_update %s", s.IP,
			time.Unix(s.Stat.Counters[proto.StatLastSyncedTimestamp], 0).Format(time.TimeOnly),
			time.Unix(s.Stat.Counters[proto.StatLastSourceUpdate], 0).Format(time.TimeOnly))
	}
	t.Logf("%d files on both replicas, %d deletes propagated; the tracker named a replica without the file %v times (the client then read the source)",
		len(files), len(deleted), staleRoutes)
}
