package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// tbMarkOffset reads binlog_offset from st's mark file for peer (storage
// IDs off: "<ip>_<port>.mark"); -1 when there is none yet.
func tbMarkOffset(t *testing.T, st, peer *cluster.Proc) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(st.Base, "data", "sync", fmt.Sprintf("%s_%d.mark", peer.IP, peer.Port)))
	if os.IsNotExist(err) {
		return -1
	}
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "binlog_offset="); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no binlog_offset in %s's mark for %s: %q", st.Addr(), peer.Addr(), b)
	return 0
}

// tbPair starts a tracker on prefix+"1" and a two-storage group1 on
// prefix+"2" and prefix+"3" (127.0.0.15 → .151, .152, .153; with aOver and bOver on top of the defaults), waits until
// both are ACTIVE and each has a sync cursor for the other (the mark file
// is written when its syncer starts), and returns them with the procs
// whose logs explain a failure.
func tbPair(t *testing.T, prefix string, aOver, bOver map[string]string) (tr, a, b *cluster.Proc, logs []*cluster.Proc) {
	t.Helper()
	tr = cluster.StartTracker(t, prefix+"1", nil)
	ips := []string{prefix + "2", prefix + "3"}
	port := fmt.Sprint(cluster.SharedPort(t, ips...))
	with := func(over map[string]string) map[string]string {
		m := map[string]string{"port": port}
		for k, v := range over {
			m[k] = v
		}
		return m
	}
	a = cluster.StartStorage(t, ips[0], "group1", []*cluster.Proc{tr}, with(aOver))
	b = cluster.StartStorage(t, ips[1], "group1", []*cluster.Proc{tr}, with(bOver))
	logs = []*cluster.Proc{tr, a, b}
	for _, st := range []*cluster.Proc{a, b} {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	trWait(t, 20*time.Second, "sync cursors", func() bool {
		return tbMarkOffset(t, a, b) >= 0 && tbMarkOffset(t, b, a) >= 0
	}, logs...)
	return tr, a, b, logs
}

// tbBinlog is st's binlog.000 (both runs here stay far below 1 GiB).
func tbBinlog(t *testing.T, st *cluster.Proc) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(st.Base, "data", "sync", "binlog.000"))
	require.NoError(t, err)
	return string(b)
}

// A delete acknowledged while the file's source was down must not be undone
// when the source comes back and pushes again records it had pushed before
// its crash (its mark file lags behind: it is written every
// write_mark_file_freq records or when idle, and a SIGKILL keeps the old one).
//
//  1. F is uploaded to A and replicated to B. A's sync_interval holds A's
//     syncer for 4 s after each pushed record, before it goes idle and saves
//     its mark: the window of a busy syncer, made deterministic. A is killed
//     inside it, so its mark for B still points before "C F".
//  2. With A OFFLINE the tracker routes the delete of F to B: B deletes it
//     and logs D F for A. X is uploaded to B first, and B's sync_interval
//     (3 s) keeps D F waiting behind it when A is back.
//  3. A restarts and replays "C F" to B before B's D F reaches A. Without
//     tombstones B stored F again, then A deleted its copy: F was gone on A
//     but back on B, referenced by nothing.
func TestDeleteSurvivesSourceReplay(t *testing.T) {
	tr, a, b, logs := tbPair(t, "127.0.0.15", map[string]string{"sync_interval": "4000"}, map[string]string{"sync_interval": "3000"})
	c := clClient(t, tr)
	ctx := tctx(t)

	dataF := trRandom(3000)
	idF, err := c.UploadTo(ctx, a.Addr(), -1, bytes.NewReader(dataF), int64(len(dataF)), "bin")
	require.NoError(t, err)
	remoteF := clRemote(t, idF)
	trWait(t, 20*time.Second, "F replicated to B", func() bool { return clOnDisk(b, remoteF) }, logs...)
	a.Kill()

	// A's persisted cursor for B is still before "C F": the restart pushes
	// it again.
	binA := tbBinlog(t, a)
	createAt := strings.Index(binA, " C "+remoteF+"\n")
	require.GreaterOrEqual(t, createAt, 0, "A's binlog:\n%s", binA)
	require.LessOrEqual(t, tbMarkOffset(t, a, b), int64(createAt), "A saved its mark past C F before the kill; the replay would not happen")

	cluster.WaitStatus(t, tr, "group1", a, proto.StatusOffline, 30*time.Second)
	dataX := trRandom(2000)
	idX, err := c.UploadTo(ctx, b.Addr(), -1, bytes.NewReader(dataX), int64(len(dataX)), "bin")
	require.NoError(t, err)
	remoteX := clRemote(t, idX)
	require.NoError(t, c.Delete(ctx, idF))
	require.False(t, clOnDisk(b, remoteF), "the delete went to B")
	require.True(t, clOnDisk(a, remoteF), "A was down: its copy waits for B's delete")

	a.Start(t)
	cluster.WaitStatus(t, tr, "group1", a, proto.StatusActive, 30*time.Second)

	// Settled: X reached A, and both cursors stand at the end of their
	// binlogs twice in a row (a pushed record is followed by a pause).
	trWait(t, 60*time.Second, "X replicated to A", func() bool { return clOnDisk(a, remoteX) }, logs...)
	doSettled(t, tr, a, b)

	for _, st := range []*cluster.Proc{a, b} {
		require.False(t, clOnDisk(st, remoteF), "deleted F is on %s's disk\nA binlog:\n%s\nB binlog:\n%s", st.Addr(), tbBinlog(t, a), tbBinlog(t, b))
		_, status, err := clFetch(st, remoteF)
		require.NoError(t, err)
		require.Equal(t, proto.StatusENOENT, status, "download of deleted F from %s", st.Addr())
		got, status, err := clFetch(st, remoteX)
		require.NoError(t, err)
		require.Zero(t, status, "X on %s", st.Addr())
		require.True(t, bytes.Equal(dataX, got))
	}
	_, err = c.DownloadBytes(ctx, idF, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "download of deleted F through the tracker: %v", err)
}
