package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Several trackers, several groups, storage IDs and the cluster secret,
// with real daemons and tools: the tracker side of docs/protocol.md §4.

// trCall makes one request to a daemon on a fresh connection.
func trCall(addr string, cmd byte, body []byte) (byte, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := proto.WritePacket(c, cmd, 0, body); err != nil {
		return 0, nil, err
	}
	h, err := proto.ReadHeader(c)
	if err != nil {
		return 0, nil, err
	}
	b := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, nil, err
	}
	return h.Status, b, nil
}

// trLeader is GET_LEADER's answer from a tracker ("" on error).
func trLeader(addr string) string {
	st, b, err := trCall(addr, proto.CmdServerGetLeader, nil)
	if err != nil || st != 0 {
		return ""
	}
	return string(b)
}

// trWait polls cond until it holds or d passes.
func trWait(t *testing.T, d time.Duration, what string, cond func() bool, logs ...*cluster.Proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, p := range logs {
				fmt.Fprintf(&b, "\n--- %s %s log:\n%s", p.Name, p.Addr(), p.Log())
			}
			t.Fatalf("%s: not within %s%s", what, d, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trWaitLeader waits until every tracker names want as leader.
func trWaitLeader(t *testing.T, want *cluster.Proc, trackers ...*cluster.Proc) {
	t.Helper()
	trWait(t, 30*time.Second, "leader "+want.Addr(), func() bool {
		for _, tr := range trackers {
			if trLeader(tr.Addr()) != want.Addr() {
				return false
			}
		}
		return true
	}, trackers...)
}

// trStorages is LIST_STORAGE of a group on one tracker.
func trStorages(addr, group string) []proto.StorageStat {
	st, b, err := trCall(addr, proto.CmdServerListStorage, (&proto.Buf{}).Fixed(group, proto.GroupNameLen).B)
	if err != nil || st != 0 {
		return nil
	}
	recs, _ := proto.DecodeStorageStats(b)
	return recs
}

// trAllActive reports whether each tracker lists every storage of groups
// as ACTIVE (storages by IP: the ID without storage IDs).
func trAllActive(trackers []*cluster.Proc, groups map[string][]*cluster.Proc) bool {
	for _, tr := range trackers {
		for g, sts := range groups {
			recs := trStorages(tr.Addr(), g)
			for _, s := range sts {
				ok := false
				for _, r := range recs {
					ok = ok || r.ID == s.IP && r.Status == proto.StatusActive
				}
				if !ok {
					return false
				}
			}
		}
	}
	return true
}

// trFetchAll asks one tracker QUERY_FETCH_ALL (105) for fileID.
func trFetchAll(addr, fileID string) ([]string, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, err
	}
	st, b, err := trCall(addr, proto.CmdQueryFetchAll, (&proto.Buf{}).Fixed(group, proto.GroupNameLen).String(remote).B)
	if err != nil {
		return nil, err
	}
	if st != 0 {
		return nil, proto.StatusError(st)
	}
	r, err := proto.DecodeFetchResp(b)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range r.Storages {
		out = append(out, net.JoinHostPort(s.IP, fmt.Sprint(s.Port)))
	}
	return out, nil
}

// trDownload reads a whole file from one storage (DOWNLOAD_FILE, 14).
func trDownload(addr, fileID string) ([]byte, byte, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, 0, err
	}
	st, b, err := trCall(addr, proto.CmdDownloadFile, (&proto.Buf{}).I64(0).I64(0).Fixed(group, proto.GroupNameLen).String(remote).B)
	return b, st, err
}

func trRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Acceptance (1): 2 trackers, 2 groups × 2 storages. 500 uploads spread
// over both groups; both trackers agree on one leader; every file is
// listed by QUERY_FETCH_ALL on both trackers with both replicas of its
// group and reads back identical from each within the sync delay; deletes
// replicate; fdfs_monitor -h works against each tracker.
func TestTwoTrackersTwoGroups(t *testing.T) {
	// A file from the last second before the storages went idle counts as
	// synced on a replica once storage_sync_file_max_time has passed (§2.2
	// rule 4); 2 s keeps "within the sync delay" short here.
	over := map[string]string{"storage_sync_file_max_time": "2"}
	t1 := cluster.StartTracker(t, "127.0.0.41", over)
	t2 := cluster.StartTracker(t, "127.0.0.42", over)
	trackers := []*cluster.Proc{t1, t2}
	groups := map[string][]*cluster.Proc{}
	ports := map[string]string{
		"group1": fmt.Sprint(cluster.SharedPort(t, "127.0.0.43", "127.0.0.44")),
		"group2": fmt.Sprint(cluster.SharedPort(t, "127.0.0.45", "127.0.0.46")),
	}
	for i, g := range []string{"group1", "group1", "group2", "group2"} {
		groups[g] = append(groups[g], cluster.StartStorage(t, fmt.Sprintf("127.0.0.%d", 43+i), g, trackers,
			map[string]string{"port": ports[g]})) // a group's storages share one port
	}
	procs := append([]*cluster.Proc{t1, t2}, append(groups["group1"], groups["group2"]...)...)
	trWait(t, 60*time.Second, "every storage ACTIVE on both trackers", func() bool { return trAllActive(trackers, groups) }, procs...)
	// Both started alone and led; the larger IP (equal running times) leads.
	trWaitLeader(t, t2, t1, t2)

	confPath := cluster.ClientConf(t, trackers, nil)
	cfg, err := conf.LoadClient(confPath)
	require.NoError(t, err)
	cl, err := client.New(cfg)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const n = 500
	ids := make([]string, n)
	contents := make([][]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		contents[i] = trRandom(512 + i*7)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := cl.UploadBuffer(ctx, contents[i], "bin")
			ids[i] = id
			if err != nil {
				errs <- fmt.Errorf("upload %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	perGroup := map[string]int{}
	for _, id := range ids {
		g, _, err := fileid.Split(id)
		require.NoError(t, err)
		perGroup[g]++
	}
	t.Logf("spread: %v", perGroup)
	require.Len(t, perGroup, 2)
	require.GreaterOrEqual(t, perGroup["group1"], n/4, "round robin over both groups")
	require.GreaterOrEqual(t, perGroup["group2"], n/4, "round robin over both groups")

	// Every file: both trackers list both replicas (QUERY_FETCH_ALL), and
	// each replica serves the same bytes, within the sync delay.
	replicas := func(id string) []string {
		g, _, _ := fileid.Split(id)
		var out []string
		for _, s := range groups[g] {
			out = append(out, s.Addr())
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for i, id := range ids {
		want := replicas(id)
		for _, tr := range trackers {
			var got []string
			for {
				got, err = trFetchAll(tr.Addr(), id)
				if err == nil && len(got) == len(want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			require.NoError(t, err, "file %d %s on %s", i, id, tr.Addr())
			require.ElementsMatch(t, want, got, "file %d %s: replicas listed by %s", i, id, tr.Addr())
		}
		for _, addr := range want {
			var b []byte
			var st byte
			for {
				b, st, err = trDownload(addr, id)
				if err == nil && st == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			require.NoError(t, err)
			require.Zero(t, st, "file %d %s on %s", i, id, addr)
			require.True(t, bytes.Equal(contents[i], b), "file %d %s differs on %s", i, id, addr)
		}
	}

	// Deletes replicate: gone from both replicas.
	for _, id := range ids[:50] {
		require.NoError(t, cl.Delete(ctx, id))
	}
	for _, id := range ids[:50] {
		for _, addr := range replicas(id) {
			trWait(t, 30*time.Second, "delete of "+id+" reaches "+addr, func() bool {
				_, st, err := trDownload(addr, id)
				return err == nil && st == proto.StatusENOENT
			}, procs...)
		}
	}

	// fdfs_monitor -h <tracker> against each tracker.
	for _, tr := range trackers {
		out, errOut, code := run(t, "fdfs_monitor", confPath, "-h", tr.Addr())
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "tracker server is "+tr.Addr()+"\n")
		require.Contains(t, out, "group count: 2\n")
		require.Len(t, regexp.MustCompile(`host = 127\.0\.0\.\d+:\d+  ACTIVE`).FindAllString(out, -1), 4, out)
	}
}

// Acceptance (4): kill the leader; clients and storages carry on with the
// other tracker, which takes the lead; restarted, the killed tracker
// follows it and learns the storages again.
func TestTrackerFailover(t *testing.T) {
	t1 := cluster.StartTracker(t, "127.0.0.51", nil)
	t2 := cluster.StartTracker(t, "127.0.0.52", nil)
	trackers := []*cluster.Proc{t1, t2}
	s1 := cluster.StartStorage(t, "127.0.0.53", "group1", trackers, nil)
	s2 := cluster.StartStorage(t, "127.0.0.54", "group2", trackers, nil)
	groups := map[string][]*cluster.Proc{"group1": {s1}, "group2": {s2}}
	procs := []*cluster.Proc{t1, t2, s1, s2}
	trWait(t, 30*time.Second, "storages ACTIVE on both trackers", func() bool { return trAllActive(trackers, groups) }, procs...)
	trWaitLeader(t, t2, t1, t2)
	confPath := cluster.ClientConf(t, trackers, nil)
	dir := t.TempDir()

	upDown := func(what string) {
		t.Helper()
		for i := range 10 {
			content := trRandom(1000 + i)
			src := filepath.Join(dir, fmt.Sprintf("%s-%d.bin", what, i))
			require.NoError(t, os.WriteFile(src, content, 0o644))
			out, errOut, code := run(t, "fdfs_upload_file", confPath, src)
			require.Equal(t, 0, code, "%s upload %d: %s%s", what, i, out, errOut)
			id := strings.TrimSpace(out)
			dst := src + ".back"
			out, errOut, code = run(t, "fdfs_download_file", confPath, id, dst)
			require.Equal(t, 0, code, out+errOut)
			got, err := os.ReadFile(dst)
			require.NoError(t, err, "%s download %d: %s", what, i, out)
			require.Equal(t, content, got)
		}
	}
	upDown("before")

	t2.Kill()
	upDown("leader-killed") // the client fails over to t1
	trWaitLeader(t, t1, t1)
	// The storages keep beating t1: ACTIVE, with heartbeats that go on.
	for g := range groups {
		recs := trStorages(t1.Addr(), g)
		require.Len(t, recs, 1)
		hb := recs[0].Stat.Counters[proto.StatLastHeartBeatTime]
		trWait(t, 10*time.Second, "heartbeats to t1 go on in "+g, func() bool {
			recs := trStorages(t1.Addr(), g)
			return len(recs) == 1 && recs[0].Status == proto.StatusActive &&
				recs[0].Stat.Counters[proto.StatLastHeartBeatTime] >= hb+2
		}, procs...)
	}
	out, _, code := run(t, "fdfs_monitor", confPath, "-h", t1.Addr())
	require.Equal(t, 0, code)
	require.Contains(t, out, "tracker server is "+t1.Addr()+"\n")
	require.Len(t, regexp.MustCompile(`  ACTIVE\n`).FindAllString(out, -1), 2, out)

	// Back: t2 follows the leader it finds and learns the storages again.
	t2.Start(t)
	trWaitLeader(t, t1, t1, t2)
	trWait(t, 30*time.Second, "storages ACTIVE on the restarted tracker", func() bool { return trAllActive(trackers, groups) }, procs...)
	out, _, code = run(t, "fdfs_monitor", confPath, "-h", t2.Addr())
	require.Equal(t, 0, code)
	require.Contains(t, out, "tracker server is "+t2.Addr()+"\n")
	require.Len(t, regexp.MustCompile(`  ACTIVE\n`).FindAllString(out, -1), 2, out)
	upDown("after-restart")
}

// Acceptance (6), tracker side: with cluster_secret on the trackers, a
// storage without the secret, or with a wrong one, is refused JOIN and
// never listed; one with the secret joins. The trackers prove it to each
// other and still agree on a leader.
func TestClusterSecretRefusesStrangers(t *testing.T) {
	sec := map[string]string{"cluster_secret": "correct horse"}
	t1 := cluster.StartTracker(t, "127.0.0.61", sec)
	t2 := cluster.StartTracker(t, "127.0.0.62", sec)
	trackers := []*cluster.Proc{t1, t2}
	good := cluster.StartStorage(t, "127.0.0.63", "group1", trackers, sec)
	none := cluster.StartStorage(t, "127.0.0.64", "group1", trackers, nil)
	wrong := cluster.StartStorage(t, "127.0.0.65", "group2", trackers, map[string]string{"cluster_secret": "battery staple"})
	procs := []*cluster.Proc{t1, t2, good, none, wrong}
	trWait(t, 30*time.Second, "the storage with the secret ACTIVE", func() bool {
		return trAllActive(trackers, map[string][]*cluster.Proc{"group1": {good}})
	}, procs...)
	trWaitLeader(t, t2, t1, t2)
	// Both strangers tried and were refused (EACCES is "Permission denied").
	for _, s := range []*cluster.Proc{none, wrong} {
		trWait(t, 20*time.Second, s.Addr()+" refused", func() bool {
			return strings.Count(s.Log(), "Permission denied") >= 2
		}, procs...)
	}
	for _, tr := range trackers {
		recs := trStorages(tr.Addr(), "group1")
		require.Len(t, recs, 1, "only the storage with the secret is listed on %s", tr.Addr())
		require.Equal(t, good.IP, recs[0].ID)
		st, _, err := trCall(tr.Addr(), proto.CmdServerListStorage, (&proto.Buf{}).Fixed("group2", proto.GroupNameLen).B)
		require.NoError(t, err)
		require.Equal(t, proto.StatusENOENT, st, "group2 exists only through the wrong-secret storage")
		require.Contains(t, tr.Log(), "cluster auth refused")
	}
	// Clients need no secret.
	out, errOut, code := run(t, "fdfs_monitor", cluster.ClientConf(t, trackers, nil), "-h", t1.Addr())
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "group count: 1\n")
}

// Storage IDs: a storage restarted on another address keeps its ID, its
// status and its files; names carry the ID (id_type_in_filename=id).
func TestStorageKeepsIDAcrossIPChange(t *testing.T) {
	dir := t.TempDir()
	idsPath := filepath.Join(dir, "storage_ids.conf")
	require.NoError(t, os.WriteFile(idsPath, []byte("100001 group1 127.0.0.71\n"), 0o644))
	tr := cluster.StartTracker(t, "127.0.0.70", map[string]string{
		"use_storage_id": "true", "storage_ids_filename": idsPath,
		"id_type_in_filename": "id", "trust_storage_server_id": "true",
	})
	st := cluster.StartStorage(t, "127.0.0.71", "group1", []*cluster.Proc{tr}, map[string]string{"server_id": "100001"})
	byID := func(ip string) func() bool {
		return func() bool {
			for _, r := range trStorages(tr.Addr(), "group1") {
				if r.ID == "100001" && r.IP == ip && r.Status == proto.StatusActive {
					return true
				}
			}
			return false
		}
	}
	trWait(t, 30*time.Second, "100001 ACTIVE on 127.0.0.71", byID("127.0.0.71"), tr, st)
	confPath := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)

	content := trRandom(20000)
	src := filepath.Join(dir, "f.bin")
	require.NoError(t, os.WriteFile(src, content, 0o644))
	out, errOut, code := run(t, "fdfs_upload_file", confPath, src)
	require.Equal(t, 0, code, out+errOut)
	id := strings.TrimSpace(out)
	out, _, _ = run(t, "fdfs_file_info", confPath, id)
	require.Contains(t, out, "source storage id: 100001\n")
	// The storage answers QUERY_FILE_INFO with the address storage_ids.conf
	// gives that ID, as C FastDFS does (not an empty one).
	cfg, err := conf.LoadClient(confPath)
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fi, err := c.QueryFileInfo(ctx, id, 0)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.71", fi.SourceIP)
	require.Equal(t, int64(len(content)), fi.Size)

	// Move the storage to 127.0.0.72 on another port, same data.
	st.Stop()
	b, err := os.ReadFile(st.Conf)
	require.NoError(t, err)
	port := cluster.FreePort(t, "127.0.0.72")
	text := regexp.MustCompile(`(?m)^bind_addr = .*$`).ReplaceAllString(string(b), "bind_addr = 127.0.0.72")
	text = regexp.MustCompile(`(?m)^port = .*$`).ReplaceAllString(text, fmt.Sprintf("port = %d", port))
	require.NoError(t, os.WriteFile(st.Conf, []byte(text), 0o644))
	st.IP, st.Port = "127.0.0.72", port
	st.Start(t)
	trWait(t, 30*time.Second, "100001 ACTIVE on 127.0.0.72", byID("127.0.0.72"), tr, st)
	require.Len(t, trStorages(tr.Addr(), "group1"), 1, "still one storage: the same ID")

	dst := filepath.Join(dir, "back.bin")
	out, errOut, code = run(t, "fdfs_download_file", confPath, id, dst)
	require.Equal(t, 0, code, out+errOut)
	got, err := os.ReadFile(dst)
	require.NoError(t, err, out)
	require.True(t, bytes.Equal(content, got), "old file served from the new address")
	out, _, code = run(t, "fdfs_monitor", confPath, "list", "group1")
	require.Equal(t, 0, code)
	require.Contains(t, out, "id = 100001\n")
	require.Regexp(t, `host = 127\.0\.0\.72:\d+  ACTIVE`, out)
}
