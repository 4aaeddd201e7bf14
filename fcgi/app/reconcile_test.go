package app

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
	"yunpan/store"
)

func gcRows(t testing.TB, e *env, fileID string) []string {
	t.Helper()
	rows, err := e.a.st.DB().Query("SELECT reason FROM dfs_gc WHERE file_id = ?", fileID)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func dfsExists(t testing.TB, ctx context.Context, e *env, fileID string) bool {
	t.Helper()
	_, err := e.a.dfs.DownloadBytes(ctx, fileID, 0, 1)
	if err == nil {
		return true
	}
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	return false
}

// TestReconcileOrphans: a file stored in the DFS with no row (made for
// real with the client) is queued and then deleted by the collector; a
// referenced file, young files, a file already in dfs_gc and malformed IDs
// are left alone; a dry run changes nothing; the collector never deletes a
// referenced file, whatever queued it.
func TestReconcileOrphans(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tok := e.user("rec")
	r := e.uploadMP("rec", tok, "kept.txt", []byte("a file the database knows"))
	expect(t, r, http.StatusOK, CodeUploadOK)
	var referenced string
	require.NoError(t, e.a.st.DB().QueryRow("SELECT file_id FROM file_info").Scan(&referenced))
	orphan, err := e.a.dfs.UploadBuffer(ctx, randBytes(300), "bin")
	require.NoError(t, err)
	queuedAlready, err := e.a.dfs.UploadBuffer(ctx, randBytes(200), "bin")
	require.NoError(t, err)
	_, err = e.a.st.QueueGC(ctx, queuedAlready, "delete")
	require.NoError(t, err)
	malformed := []string{"", "garbage", "group1/M00/00/00/short.txt", orphan + "-m", "bad group/" + orphan[7:],
		strings.Replace(orphan, "/M00/", "/M00/../", 1)}
	ids := append([]string{referenced, orphan, queuedAlready, orphan}, malformed...)

	// Just created: too young for the default grace, nothing happens.
	st, err := e.a.Reconcile(ctx, ids, ReconcileOptions{Grace: DefaultReconcileGrace})
	require.NoError(t, err)
	require.Equal(t, ReconcileStats{Seen: 3 + len(malformed), Malformed: len(malformed), TooYoung: 3}, st)
	require.Empty(t, gcRows(t, e, orphan))

	// Two hours later, a dry run: counts, changes nothing.
	later := ReconcileOptions{Grace: DefaultReconcileGrace, Now: time.Now().Add(2 * time.Hour)}
	dry := later
	dry.DryRun = true
	want := ReconcileStats{Seen: 3 + len(malformed), Malformed: len(malformed), Referenced: 1, InGC: 1, Queued: 1,
		QueuedIDs: []string{orphan}}
	st, err = e.a.Reconcile(ctx, ids, dry)
	require.NoError(t, err)
	require.Equal(t, want, st)
	require.Empty(t, gcRows(t, e, orphan))

	// For real: only the orphan is queued, once, even when run twice.
	st, err = e.a.Reconcile(ctx, ids, later)
	require.NoError(t, err)
	require.Equal(t, want, st)
	require.Equal(t, []string{store.OrphanReason}, gcRows(t, e, orphan))
	require.Equal(t, []string{"delete"}, gcRows(t, e, queuedAlready))
	require.Empty(t, gcRows(t, e, referenced))
	st, err = e.a.Reconcile(ctx, []string{orphan}, later)
	require.NoError(t, err)
	require.Equal(t, ReconcileStats{Seen: 1, InGC: 1}, st)

	// The collector deletes the queued files and keeps the referenced one.
	n, err := e.a.GCPass(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.False(t, dfsExists(t, ctx, e, orphan))
	require.False(t, dfsExists(t, ctx, e, queuedAlready))
	require.True(t, dfsExists(t, ctx, e, referenced))
	require.Empty(t, gcRows(t, e, orphan))

	// Last guard: a referenced file queued anyway is kept, its row dropped.
	_, err = e.a.st.QueueGC(ctx, referenced, store.OrphanReason)
	require.NoError(t, err)
	_, err = e.a.GCPass(ctx)
	require.NoError(t, err)
	require.Empty(t, gcRows(t, e, referenced))
	require.True(t, dfsExists(t, ctx, e, referenced))
	r = e.download("rec", tok, sum([]byte("a file the database knows")), "kept.txt")
	require.Equal(t, http.StatusOK, r.status, "%s", r)
}

// TestReconcileWaitsForCommittingUpload: a file_info row for the file ID
// written but not committed (an upload committing at that moment) makes
// the queueing transaction wait, and then it sees the row: not queued.
func TestReconcileWaitsForCommittingUpload(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := e.a.dfs.UploadBuffer(ctx, randBytes(100), "bin")
	require.NoError(t, err)

	tx, err := e.a.st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (?, ?, '', 100, 'bin', 1)",
		strings.Repeat("ab", 16), id)
	require.NoError(t, err)
	type result struct {
		st  ReconcileStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := e.a.Reconcile(ctx, []string{id}, ReconcileOptions{Now: time.Now().Add(2 * time.Hour), Grace: time.Hour})
		done <- result{st, err}
	}()
	// The plain first pass does not see the uncommitted row; the locking
	// re-check must wait for it: poll until its statement is running (it
	// stays there until the commit; done must still be empty then).
	require.Eventually(t, func() bool {
		var n int
		e.a.st.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE DB = DATABASE() AND INFO LIKE 'SELECT id FROM file_info WHERE file_id = % FOR UPDATE'`).Scan(&n)
		return n > 0
	}, 20*time.Second, 10*time.Millisecond, "the queueing transaction never reached its locking read")
	select {
	case res := <-done:
		t.Fatalf("reconcile did not wait: %+v %v", res.st, res.err)
	default:
	}
	require.NoError(t, tx.Commit())
	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, ReconcileStats{Seen: 1, Referenced: 1}, res.st)
	require.Empty(t, gcRows(t, e, id))
}

// TestReconcileCommand runs the command's main: IDs on stdin, the summary
// and the queued IDs on stdout, -dry-run, -gc.
func TestReconcileCommand(t *testing.T) {
	cfg := testConfig(t, config.UploadInProcess)
	path := writeCfg(t, cfg)
	e := newEnv(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	orphan, err := e.a.dfs.UploadBuffer(ctx, randBytes(100), "bin")
	require.NoError(t, err)
	in := "\n" + orphan + "\nnot-an-id\n"

	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := ReconcileMain(args, strings.NewReader(in), &out, &errb)
		return code, out.String(), errb.String()
	}
	t.Setenv("YUNPAN_MYSQL_PASSWORD", mdb.Password) // writeCfg leaves it out
	code, out, errText := run("-conf", path)
	require.Equal(t, 0, code, errText)
	require.Equal(t, "reconcile: seen 2, malformed 1, too young 1 (grace 1h0m0s), referenced 0, already queued 0, queued 0\n", out)

	code, out, errText = run("-conf", path, "-grace", "0", "-dry-run", "-gc")
	require.Equal(t, 0, code, errText)
	require.Equal(t, "would queue "+orphan+"\nreconcile: seen 2, malformed 1, too young 0 (grace 0s), referenced 0, already queued 0, would queue 1\n", out)
	require.Empty(t, gcRows(t, e, orphan))

	code, out, errText = run("-conf", path, "-grace", "0", "-gc")
	require.Equal(t, 0, code, errText)
	require.Equal(t, "queued "+orphan+"\nreconcile: seen 2, malformed 1, too young 0 (grace 0s), referenced 0, already queued 0, queued 1, gc deleted 1\n", out)
	require.False(t, dfsExists(t, ctx, e, orphan))
	require.Empty(t, gcRows(t, e, orphan))

	code, _, _ = run("-conf", path, "extra")
	require.Equal(t, 2, code)
}
