package integration

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// doSettled waits until replication between a and b has nothing left to
// do: both cursors stand at the end of the other's binlog twice in a row
// (a pushed record is followed by a pause).
func doSettled(t *testing.T, tr, a, b *cluster.Proc) {
	t.Helper()
	settled := 0
	trWait(t, 90*time.Second, "replication settled", func() bool {
		done := tbMarkOffset(t, a, b) == int64(len(tbBinlog(t, a))) &&
			tbMarkOffset(t, b, a) == int64(len(tbBinlog(t, b)))
		if !done {
			settled = 0
			return false
		}
		settled++
		if settled < 2 {
			time.Sleep(500 * time.Millisecond)
			return false
		}
		return true
	}, tr, a, b)
}

// A delete that reaches a replica before the file does wins there and on
// the file's source, whatever order the records then meet in.
//
//  1. F is uploaded to A while A's syncer pauses (sync_interval 4 s after
//     it pushed X), and A is killed before it pushes F to B.
//  2. With A OFFLINE the tracker routes the delete of F to B, which has no
//     F yet: ENOENT, as a replica the file has not reached answers (the
//     cloud disk's collector then got the same answer).
//  3. A restarts and pushes "C F" to B; B's own records reach A.
//
// Before, B forgot the delete: A's push stored F on B, A kept its copy, and
// F lived on both, referenced by nothing. Now B logs the delete, turns the
// create away and carries the delete to A. It stays so after both storages
// are killed and restarted.
func TestDeleteBeforeCreateOnReplica(t *testing.T) {
	tr, a, b, logs := tbPair(t, "127.0.0.16", map[string]string{"sync_interval": "4000"}, nil)
	c := clClient(t, tr)
	ctx := tctx(t)

	dataX := trRandom(2000)
	idX, err := c.UploadTo(ctx, a.Addr(), -1, bytes.NewReader(dataX), int64(len(dataX)), "bin")
	require.NoError(t, err)
	remoteX := clRemote(t, idX)
	trWait(t, 20*time.Second, "X replicated to B", func() bool { return clOnDisk(b, remoteX) }, logs...)
	dataF := trRandom(3000)
	idF, err := c.UploadTo(ctx, a.Addr(), -1, bytes.NewReader(dataF), int64(len(dataF)), "bin")
	require.NoError(t, err)
	a.Kill()
	remoteF := clRemote(t, idF)
	require.False(t, clOnDisk(b, remoteF), "A pushed F before it was killed: the delete would not come first")

	cluster.WaitStatus(t, tr, "group1", a, proto.StatusOffline, 30*time.Second)
	err = c.Delete(ctx, idF)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "delete of F on B: %v", err)

	a.Start(t)
	cluster.WaitStatus(t, tr, "group1", a, proto.StatusActive, 30*time.Second)
	check := func(when string) {
		t.Helper()
		doSettled(t, tr, a, b)
		for _, st := range []*cluster.Proc{a, b} {
			require.False(t, clOnDisk(st, remoteF), "%s: deleted F is on %s's disk\nA binlog:\n%s\nB binlog:\n%s",
				when, st.Addr(), tbBinlog(t, a), tbBinlog(t, b))
			_, status, err := clFetch(st, remoteF)
			require.NoError(t, err)
			require.Equal(t, proto.StatusENOENT, status, "%s: download of deleted F from %s", when, st.Addr())
			got, status, err := clFetch(st, remoteX)
			require.NoError(t, err)
			require.Zero(t, status, "%s: X on %s", when, st.Addr())
			require.True(t, bytes.Equal(dataX, got))
		}
	}
	check("after the restart of A")

	// Stays gone: crashed and restarted, each storage pushes again what its
	// mark had not recorded yet, and B's tombstone comes from its binlog.
	a.Kill()
	b.Kill()
	b.Start(t)
	a.Start(t)
	for _, st := range []*cluster.Proc{a, b} {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	check("after both crashed")
	_, err = c.DownloadBytes(ctx, idF, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "download of deleted F through the tracker: %v", err)
}
