package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
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

// Replication inside a group with real daemons: the storage side of
// docs/protocol.md §5.

// clGroup starts storages of group1 on ips, all on one port (a group's
// members share it), reporting to tr; extra config in over.
func clGroup(t *testing.T, tr *cluster.Proc, ips []string, over map[string]string) []*cluster.Proc {
	t.Helper()
	port := cluster.SharedPort(t, ips...)
	var out []*cluster.Proc
	for _, ip := range ips {
		o := map[string]string{"port": fmt.Sprint(port)}
		for k, v := range over {
			o[k] = v
		}
		out = append(out, cluster.StartStorage(t, ip, "group1", []*cluster.Proc{tr}, o))
	}
	return out
}

// clActiveGroup starts a tracker on trIP and a group of storages on ips,
// and waits until every storage is ACTIVE.
func clActiveGroup(t *testing.T, trIP string, ips []string, over map[string]string) (*cluster.Proc, []*cluster.Proc) {
	t.Helper()
	tr := cluster.StartTracker(t, trIP, nil)
	sts := clGroup(t, tr, ips, over)
	for _, st := range sts {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	return tr, sts
}

func clClient(t *testing.T, tr *cluster.Proc) *client.Client {
	t.Helper()
	cfg, err := conf.LoadClient(cluster.ClientConf(t, []*cluster.Proc{tr}, nil))
	require.NoError(t, err)
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// clRemote is the remote filename of a file ID.
func clRemote(t *testing.T, id string) string {
	t.Helper()
	_, remote, err := fileid.Split(id)
	require.NoError(t, err)
	return remote
}

// clOnDisk reports whether the storage's store_path0 (= its base) holds
// remote; it works while the daemon is down.
func clOnDisk(st *cluster.Proc, remote string) bool {
	r, err := fileid.ParseRemote(remote, 1)
	if err != nil {
		return false
	}
	_, err = os.Lstat(filepath.Join(st.Base, "data", filepath.FromSlash(r.RelPath())))
	return err == nil
}

// clFetch downloads remote straight from one storage.
func clFetch(st *cluster.Proc, remote string) ([]byte, byte, error) {
	return trDownload(st.Addr(), "group1/"+remote)
}

// clWaitSame waits until every storage serves remote with exactly want
// (want nil: until every one answers ENOENT).
func clWaitSame(t *testing.T, remote string, want []byte, d time.Duration, sts ...*cluster.Proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for _, st := range sts {
		for {
			got, status, err := clFetch(st, remote)
			if err == nil && (want == nil && status == proto.StatusENOENT || want != nil && status == 0 && bytes.Equal(got, want)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on %s: status %d, %d bytes (err %v), want %d bytes\n%s", remote, st.Addr(), status, len(got), err, len(want), st.Log())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// clStatuses polls LIST_STORAGE until st is ACTIVE and returns the
// distinct statuses seen, in order.
func clStatuses(t *testing.T, tr *cluster.Proc, st *cluster.Proc, d time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s, err := cluster.StorageStatus(tr.Addr(), "group1", st.IP)
		if err == nil {
			name := proto.StorageStatusName(s)
			if s == 0xFF {
				name = "unlisted"
			}
			if len(seen) == 0 || seen[len(seen)-1] != name {
				seen = append(seen, name)
			}
			if s == proto.StatusActive {
				return seen
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s not ACTIVE after %v (seen %v)\n%s", st.Addr(), d, seen, st.Log())
	return nil
}

// clStatusLog is the way of storage id through the states, from the
// tracker's "storage status" log events: the first state it left, then
// every state it entered.
func clStatusLog(t *testing.T, tr *cluster.Proc, id string) []string {
	t.Helper()
	var seq []string
	for _, line := range strings.Split(tr.Log(), "\n") {
		var ev struct{ Message, Storage, From, To string }
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Message != "storage status" || ev.Storage != id {
			continue
		}
		if len(seq) == 0 {
			seq = append(seq, ev.From)
		}
		seq = append(seq, ev.To)
	}
	return seq
}

// Acceptance (1): 1 tracker, 1 group × 2 storages. Uploads (through the
// tracker, so on both), metadata, appender changes and deletes replicate;
// each replica serves byte-identical content when asked directly.
func TestGroupReplication(t *testing.T) {
	tr, sts := clActiveGroup(t, "127.0.0.71", []string{"127.0.0.72", "127.0.0.73"}, nil)
	c := clClient(t, tr)
	ctx := tctx(t)

	files := map[string][]byte{}
	sources := map[string]bool{}
	for i := range 20 {
		d := trRandom(i * 9973)
		id, err := c.UploadBuffer(ctx, d, "bin")
		require.NoError(t, err)
		files[id] = d
		info, _, err := fileid.Decode(clRemote(t, id))
		require.NoError(t, err)
		sources[info.SourceIP] = true
	}
	require.Len(t, sources, 2, "the tracker spread the uploads over both storages")
	for id, d := range files {
		clWaitSame(t, clRemote(t, id), d, 20*time.Second, sts...)
	}

	// Metadata, set on the source (QUERY_UPDATE), read from each storage.
	var metaID string
	for id := range files {
		metaID = id
		break
	}
	require.NoError(t, c.SetMetadata(ctx, metaID, []proto.Meta{{Name: "width", Value: "640"}}, 'O'))
	require.NoError(t, c.SetMetadata(ctx, metaID, []proto.Meta{{Name: "height", Value: "480"}}, 'M'))
	for _, st := range sts {
		trWait(t, 20*time.Second, "metadata on "+st.Addr(), func() bool {
			status, b, err := trCall(st.Addr(), proto.CmdGetMetadata, (&proto.Buf{}).Fixed("group1", 16).String(clRemote(t, metaID)).B)
			return err == nil && status == 0 && string(b) == "height\x02480\x01width\x02640"
		}, st)
	}

	// Appender file: append, modify, truncate.
	app, err := c.UploadWith(ctx, strings.NewReader("0123456789"), 10, "log", client.UploadOptions{Appender: true})
	require.NoError(t, err)
	require.NoError(t, c.AppendBuffer(ctx, app, []byte("abcdef")))
	require.NoError(t, c.ModifyBuffer(ctx, app, 2, []byte("XY")))
	require.NoError(t, c.TruncateFile(ctx, app, 12))
	clWaitSame(t, clRemote(t, app), []byte("01XY456789ab"), 20*time.Second, sts...)

	// Deletes.
	n := 0
	for id := range files {
		if n++; n > 10 {
			break
		}
		require.NoError(t, c.Delete(ctx, id))
		clWaitSame(t, clRemote(t, id), nil, 20*time.Second, sts...)
		delete(files, id)
	}
	for id, d := range files {
		clWaitSame(t, clRemote(t, id), d, 5*time.Second, sts...)
	}
}

// clUploadStream uploads random files through c until stop is closed (or n
// acknowledged), calling check after each acknowledgement; it returns the
// acknowledged files and how many uploads failed.
func clUploadStream(ctx context.Context, c *client.Client, stop <-chan struct{}, n int, check func(id string)) (map[string][]byte, int) {
	acked := map[string][]byte{}
	failed := 0
	for len(acked) < n {
		select {
		case <-stop:
			return acked, failed
		default:
		}
		d := trRandom(1000 + len(acked)*37)
		uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		id, err := c.UploadBuffer(uctx, d, "dat")
		cancel()
		if err != nil {
			failed++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		acked[id] = d
		if check != nil {
			check(id)
		}
	}
	return acked, failed
}

// Acceptance (2): kill -9 one storage during a stream of uploads; uploads go
// on to the other; restarted, the killed one catches up and serves every
// acknowledged file.
func TestStorageKilledDuringUploads(t *testing.T) {
	tr, sts := clActiveGroup(t, "127.0.0.74", []string{"127.0.0.75", "127.0.0.76"}, nil)
	c := clClient(t, tr)
	ctx := tctx(t)
	a, b := sts[0], sts[1]

	all := map[string][]byte{}
	before, _ := clUploadStream(ctx, c, nil, 40, nil)
	b.Kill()
	during, failed := clUploadStream(ctx, c, nil, 60, nil)
	t.Logf("uploads failing around the kill: %d", failed)
	for id := range during {
		info, _, _ := fileid.Decode(clRemote(t, id))
		require.Equal(t, a.IP, info.SourceIP, "while b is down every upload lands on a")
	}
	b.Start(t)
	cluster.WaitStatus(t, tr, "group1", b, proto.StatusActive, 30*time.Second)
	after, _ := clUploadStream(ctx, c, nil, 20, nil)
	for _, m := range []map[string][]byte{before, during, after} {
		for id, d := range m {
			all[id] = d
		}
	}
	for id, d := range all {
		clWaitSame(t, clRemote(t, id), d, 30*time.Second, b)
		got, err := c.DownloadBytes(ctx, id, 0, 0)
		require.NoError(t, err)
		require.True(t, bytes.Equal(d, got))
	}
}

// Acceptance (2), durability: with sync_ack_replicas=2 no acknowledged
// upload is on fewer than 2 storages when the client gets the answer (the
// disks are checked right after each upload returns, also while a storage
// is killed); while one is down uploads fail instead.
func TestSyncAckReplicasRealDaemons(t *testing.T) {
	tr, sts := clActiveGroup(t, "127.0.0.77", []string{"127.0.0.78", "127.0.0.79"}, map[string]string{"sync_ack_replicas": "2"})
	c := clClient(t, tr)
	ctx := tctx(t)
	a, b := sts[0], sts[1]
	onBoth := func(id string) {
		remote := clRemote(t, id)
		require.True(t, clOnDisk(a, remote) && clOnDisk(b, remote), "%s acknowledged but not on both storages", id)
	}
	// Wait until both storages list each other ACTIVE (a beat apart).
	probe := func() {
		for _, st := range sts {
			trWait(t, 20*time.Second, "uploads accepted by "+st.Addr(), func() bool {
				id, err := c.UploadTo(ctx, st.Addr(), -1, strings.NewReader("probe"), 5, "txt")
				if err == nil {
					onBoth(id)
				}
				return err == nil
			}, a, b)
		}
	}
	probe()

	// Kill b in the middle of a stream; the stream goes on meanwhile.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked map[string][]byte
	var failed int
	wg.Add(1)
	go func() {
		defer wg.Done()
		acked, failed = clUploadStream(ctx, c, stop, 1<<30, func(id string) {
			remote := clRemote(t, id)
			if !clOnDisk(a, remote) || !clOnDisk(b, remote) {
				t.Errorf("%s acknowledged but not on both storages", id)
			}
		})
	}()
	time.Sleep(500 * time.Millisecond)
	b.Kill()
	time.Sleep(2 * time.Second) // uploads keep trying; none may be acknowledged alone
	close(stop)
	wg.Wait()
	require.NotEmpty(t, acked)
	require.NotZero(t, failed, "with b down, uploads must fail")
	t.Logf("acknowledged %d, refused %d", len(acked), failed)
	require.Contains(t, a.Log(), "sync_ack_replicas not reached")

	b.Start(t)
	cluster.WaitStatus(t, tr, "group1", b, proto.StatusActive, 30*time.Second)
	probe()
	more, failed := clUploadStream(ctx, c, nil, 20, onBoth)
	require.Len(t, more, 20)
	require.Zero(t, failed, "both storages up: every upload is accepted")
}

// Acceptance (3): a third storage added to a group holding many files goes
// WAIT_SYNC → SYNCING → ACTIVE (seen through LIST_STORAGE) and then holds
// every file: size and CRC32 by QUERY_FILE_INFO match the names, and a
// sample downloads byte-identical.
func TestThirdStorageCatchesUp(t *testing.T) {
	const files = 1000
	tr := cluster.StartTracker(t, "127.0.0.81", nil)
	ips := []string{"127.0.0.82", "127.0.0.83", "127.0.0.84"}
	port := cluster.SharedPort(t, ips...)
	// sync_interval (ms after each pushed file) keeps SYNCING visible.
	over := map[string]string{"port": fmt.Sprint(port), "sync_interval": "1"}
	a := cluster.StartStorage(t, ips[0], "group1", []*cluster.Proc{tr}, over)
	b := cluster.StartStorage(t, ips[1], "group1", []*cluster.Proc{tr}, over)
	cluster.WaitStatus(t, tr, "group1", a, proto.StatusActive, 30*time.Second)
	cluster.WaitStatus(t, tr, "group1", b, proto.StatusActive, 30*time.Second)
	c := clClient(t, tr)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	ids := make([]string, files)
	data := make([][]byte, files)
	var wg sync.WaitGroup
	errs := make(chan error, files)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < files; i += 4 {
				data[i] = trRandom(512 + i*7)
				id, err := c.UploadBuffer(ctx, data[i], "bin")
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(t, <-errs)

	t0 := time.Now()
	cs := cluster.StartStorage(t, ips[2], "group1", []*cluster.Proc{tr}, over)
	polled := clStatuses(t, tr, cs, 90*time.Second)
	// The tracker's own record of every change: WAIT_SYNC can last less
	// than a poll.
	seen := clStatusLog(t, tr, cs.IP)
	t.Logf("new storage: %v (polled: %v) in %v", seen, polled, time.Since(t0))
	order := map[string]int{"unlisted": 0, "INIT": 1, "WAIT_SYNC": 2, "SYNCING": 3, "OFFLINE": 4, "ONLINE": 5, "ACTIVE": 6}
	for _, seq := range [][]string{seen, polled} {
		for i := 1; i < len(seq); i++ {
			require.Less(t, order[seq[i-1]], order[seq[i]], "status went backwards: %v", seq)
		}
	}
	require.Contains(t, seen, "WAIT_SYNC", "%v", seen)
	require.Contains(t, seen, "SYNCING", "%v", seen)
	require.Equal(t, "ACTIVE", seen[len(seen)-1], "%v", seen)

	conn, err := net.DialTimeout("tcp", cs.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	for i, id := range ids {
		remote := clRemote(t, id)
		info, _, err := fileid.Decode(remote)
		require.NoError(t, err)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		require.NoError(t, proto.WritePacket(conn, proto.CmdQueryFileInfo, 0, (&proto.Buf{}).Fixed("group1", 16).String(remote).B))
		body, err := proto.ReadResponse(conn, 1024)
		require.NoError(t, err, "file %d %s on the new storage", i, id)
		size, crc := proto.I64(body[0:8]), uint32(proto.I64(body[16:24]))
		require.Equal(t, info.Size(), size, id)
		require.Equal(t, info.CRC32, crc, id)
		require.Equal(t, int64(len(data[i])), size)
		if i%20 == 0 {
			got, st, err := clFetch(cs, remote)
			require.NoError(t, err)
			require.Equal(t, byte(0), st)
			require.True(t, bytes.Equal(data[i], got))
			require.Equal(t, info.CRC32, crc32.ChecksumIEEE(got))
		}
	}
}

// Acceptance (5): upload, then at once download through the client
// library, 1,000 times across a 2-storage group: never "not found".
func TestReadYourWrites(t *testing.T) {
	tr, _ := clActiveGroup(t, "127.0.0.85", []string{"127.0.0.86", "127.0.0.87"}, nil)
	c := clClient(t, tr)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	notFound, other := 0, 0
	check := func(id string, d []byte) {
		got, err := c.DownloadBytes(ctx, id, 0, 0)
		switch {
		case proto.StatusOf(err) == proto.StatusENOENT:
			notFound++
		case err != nil || !bytes.Equal(d, got):
			other++
			t.Logf("download %s: %v", id, err)
		}
	}
	var prevID string
	var prev []byte
	for i := range 1000 {
		d := trRandom(100 + i)
		id, err := c.UploadBuffer(ctx, d, "txt")
		require.NoError(t, err)
		// The tracker's upload and download cursors both alternate; an
		// extra read now and then shifts them, so fresh files are asked
		// of the replica as well as of their source.
		if prevID != "" && d[0]&1 == 0 {
			check(prevID, prev)
		}
		check(id, d)
		prevID, prev = id, d
	}
	require.Zero(t, notFound, "downloads right after upload said not found")
	require.Zero(t, other)
}

// Acceptance (6), storage side: with cluster_secret, a storage with the
// wrong secret is refused by the tracker, gets no file from the group and
// the members refuse replication from anyone who cannot prove the secret.
func TestWrongSecretStorageGetsNothing(t *testing.T) {
	sec := map[string]string{"cluster_secret": "group secret"}
	tr := cluster.StartTracker(t, "127.0.0.88", sec)
	ips := []string{"127.0.0.89", "127.0.0.90", "127.0.0.91"}
	port := cluster.SharedPort(t, ips...)
	withPort := func(secret string) map[string]string {
		return map[string]string{"port": fmt.Sprint(port), "cluster_secret": secret}
	}
	a := cluster.StartStorage(t, ips[0], "group1", []*cluster.Proc{tr}, withPort("group secret"))
	b := cluster.StartStorage(t, ips[1], "group1", []*cluster.Proc{tr}, withPort("group secret"))
	x := cluster.StartStorage(t, ips[2], "group1", []*cluster.Proc{tr}, withPort("a guess"))
	cluster.WaitStatus(t, tr, "group1", a, proto.StatusActive, 30*time.Second)
	cluster.WaitStatus(t, tr, "group1", b, proto.StatusActive, 30*time.Second)
	c := clClient(t, tr)
	ctx := tctx(t)
	var ids []string
	for i := range 10 {
		d := trRandom(500 + i)
		id, err := c.UploadBuffer(ctx, d, "bin")
		require.NoError(t, err)
		clWaitSame(t, clRemote(t, id), d, 20*time.Second, a, b)
		ids = append(ids, id)
	}

	// The members refuse replication without the proof or with a wrong one.
	remote := clRemote(t, ids[0])
	for _, proof := range [][]byte{nil, proto.ClusterAuthBody("a guess", time.Now())} {
		conn, err := net.DialTimeout("tcp", a.Addr(), 5*time.Second)
		require.NoError(t, err)
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if proof != nil {
			require.NoError(t, proto.WritePacket(conn, proto.CmdClusterAuth, 0, proof))
		} else {
			require.NoError(t, proto.WritePacket(conn, proto.CmdSyncDeleteFile, 0, (&proto.Buf{}).I32(1).Fixed("group1", 16).String(remote).B))
		}
		_, err = proto.ReadResponse(conn, 0)
		require.Equal(t, proto.StatusEACCES, proto.StatusOf(err))
		_, err = conn.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF, "connection closed after EACCES")
		conn.Close()
	}
	require.True(t, clOnDisk(a, remote), "the refused delete changed nothing")

	st, err := cluster.StorageStatus(tr.Addr(), "group1", x.IP)
	require.NoError(t, err)
	require.Equal(t, byte(0xFF), st, "the stranger is not listed")
	require.Contains(t, tr.Log(), "cluster auth refused")
	var got []string
	filepath.WalkDir(filepath.Join(x.Base, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if r, _ := filepath.Rel(filepath.Join(x.Base, "data"), p); strings.Count(r, "/") == 2 && !strings.HasPrefix(filepath.Base(r), ".") {
				got = append(got, r)
			}
		}
		return nil
	})
	require.Empty(t, got, "the stranger received files")
	for _, id := range ids {
		_, status, err := clFetch(x, clRemote(t, id))
		require.NoError(t, err)
		require.Equal(t, proto.StatusENOENT, status)
	}
	require.False(t, errors.Is(ctx.Err(), context.DeadlineExceeded))
}

// An appender file changed several times while its replica was down: when
// the replica comes back, the source replays the append, modify and
// truncate records against a file that has moved on since (the appended
// range is partly truncated away). The replica must end up identical, not
// with the first version.
func TestAppenderChangesReplayedAfterLag(t *testing.T) {
	tr, sts := clActiveGroup(t, "127.0.0.92", []string{"127.0.0.93", "127.0.0.94"}, nil)
	c := clClient(t, tr)
	ctx := tctx(t)
	src, replica := sts[0], sts[1]
	app, err := c.UploadWith(ctx, strings.NewReader("0123456789"), 10, "log",
		client.UploadOptions{Appender: true, Storage: src.Addr(), PathIndex: -1})
	require.NoError(t, err)
	clWaitSame(t, clRemote(t, app), []byte("0123456789"), 20*time.Second, sts...)

	replica.Stop()
	require.NoError(t, c.AppendBuffer(ctx, app, []byte("abcdef")))
	require.NoError(t, c.ModifyBuffer(ctx, app, 2, []byte("XY")))
	require.NoError(t, c.TruncateFile(ctx, app, 12))
	replica.Start(t)
	clWaitSame(t, clRemote(t, app), []byte("01XY456789ab"), 30*time.Second, sts...)
}
