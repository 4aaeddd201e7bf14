package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/dfs/storage"
	"yunpan/dfs/tracker"
)

// liveCluster runs a real tracker and storage in process and returns a
// client of them once the storage takes uploads.
func liveCluster(t *testing.T) *Client {
	t.Helper()
	to := conf.DefaultTracker()
	to.BindAddr, to.Port, to.BasePath = "127.0.0.1", 0, t.TempDir()
	to.NetworkTimeout = 5 * time.Second
	to.ReservedSpace = conf.Reserved{}
	tr, err := tracker.New(to, zerolog.Nop())
	require.NoError(t, err)
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Main() }()

	so := conf.DefaultStorage()
	base := t.TempDir()
	so.GroupName, so.BindAddr, so.Port, so.BasePath = "group1", "127.0.0.1", 0, base
	so.StorePaths, so.StorePathReadonly = []string{base}, []bool{false}
	so.SubdirCountPerPath = 4
	so.TrackerServers = []string{tr.Addr().String()}
	so.NetworkTimeout, so.ConnectTimeout = 5*time.Second, time.Second
	so.HeartBeatInterval, so.StatReportInterval = time.Second, time.Second
	so.SyncBinlogBuffInterval, so.SyncStatFileInterval = time.Second, time.Second
	st, err := storage.New(so, zerolog.Nop())
	require.NoError(t, err)
	stDone := make(chan error, 1)
	go func() { stDone <- st.Main() }()
	t.Cleanup(func() {
		st.Exit()
		<-stDone
		tr.Exit()
		<-trDone
	})

	c := newClient(t, tr.Addr().String())
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.QueryStore(context.Background(), "")
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("storage never became writable: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func longCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func randomFile(t *testing.T, size int) (string, []byte) {
	data := make([]byte, size)
	rand.Read(data)
	p := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	return p, data
}

// interrupt runs UploadResumable and cancels it once progress passes frac
// of the file; it returns the progress values seen.
func interrupt(t *testing.T, c *Client, path string, o ResumableOptions, frac float64) {
	t.Helper()
	ctx, cancel := context.WithCancel(longCtx(t))
	defer cancel()
	o.Progress = func(done, total int64) {
		if float64(done) >= frac*float64(total) {
			cancel()
		}
	}
	_, err := c.UploadResumable(ctx, path, "", o)
	require.Error(t, err)
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
}

// checkResult requires id to be an ordinary file holding data.
func checkResult(t *testing.T, c *Client, id string, data []byte) {
	t.Helper()
	_, remote, err := fileid.Split(id)
	require.NoError(t, err)
	require.Len(t, remote, fileid.NormalRemoteLen)
	_, kind, err := fileid.Decode(remote)
	require.NoError(t, err)
	require.Equal(t, fileid.KindNormal, kind)
	got, err := c.DownloadBytes(longCtx(t), id, 0, 0)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "downloaded content differs")
}

func TestUploadResumableLive(t *testing.T) {
	c := liveCluster(t)

	t.Run("sequential, resumed after an interruption", func(t *testing.T) {
		path, data := randomFile(t, 3<<20+12345)
		o := ResumableOptions{PartSize: 256 << 10}
		interrupt(t, c, path, o, 0.3)
		sp, err := StatePath(path, "")
		require.NoError(t, err)
		st := loadState(sp)
		require.NotNil(t, st, "state kept for the next run")
		fi, err := c.QueryFileInfo(longCtx(t), st.Appender, FileInfoNoCRC)
		require.NoError(t, err)
		require.Positive(t, fi.Size)
		require.Less(t, fi.Size, int64(len(data)))

		var first, last int64 = -1, 0
		o.Progress = func(done, total int64) {
			if first < 0 {
				first = done
			}
			require.GreaterOrEqual(t, done, last)
			require.Equal(t, int64(len(data)), total)
			last = done
		}
		id, err := c.UploadResumable(longCtx(t), path, "", o)
		require.NoError(t, err)
		// An append whose body was already sent may still complete after
		// the query above: the run resumes from what the storage holds then.
		require.GreaterOrEqual(t, first, fi.Size, "resumed from what the storage holds")
		require.Zero(t, first%o.PartSize)
		require.Less(t, first, int64(len(data)))
		require.Equal(t, int64(len(data)), last)
		checkResult(t, c, id, data)
		require.NoFileExists(t, sp)
		require.NoFileExists(t, sp+".lock")
		_, err = c.QueryFileInfo(longCtx(t), st.Appender, FileInfoSilent)
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "the appender name is gone")
	})

	t.Run("parallel, resumed, state in a directory", func(t *testing.T) {
		path, data := randomFile(t, 5<<20+777)
		dir := filepath.Join(t.TempDir(), "state")
		o := ResumableOptions{PartSize: 256 << 10, Parallel: 4, StateDir: dir}
		interrupt(t, c, path, o, 0.4)
		sp, err := StatePath(path, dir)
		require.NoError(t, err)
		st := loadState(sp)
		require.NotNil(t, st)
		require.True(t, st.Parallel)
		require.True(t, st.Truncated)
		fi, err := c.QueryFileInfo(longCtx(t), st.Appender, FileInfoNoCRC)
		require.NoError(t, err)
		require.Equal(t, int64(len(data)), fi.Size, "truncated to the full size first")

		var mu sync.Mutex
		var first int64 = -1
		o.Progress = func(done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if first < 0 {
				first = done
			}
		}
		id, err := c.UploadResumable(longCtx(t), path, "", o)
		require.NoError(t, err)
		require.Positive(t, first, "parts finished before are not sent again")
		checkResult(t, c, id, data)
		require.NoFileExists(t, sp)
	})

	t.Run("source changed: starts over", func(t *testing.T) {
		path, _ := randomFile(t, 1<<20)
		o := ResumableOptions{PartSize: 128 << 10}
		interrupt(t, c, path, o, 0.5)
		sp, _ := StatePath(path, "")
		old := loadState(sp)
		require.NotNil(t, old)
		data := make([]byte, 1<<20+5)
		rand.Read(data)
		require.NoError(t, os.WriteFile(path, data, 0o644))
		id, err := c.UploadResumable(longCtx(t), path, "bin", o)
		require.NoError(t, err)
		checkResult(t, c, id, data)
		_, err = c.QueryFileInfo(longCtx(t), old.Appender, FileInfoSilent)
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "the stale appender file was deleted")
	})

	t.Run("stored bytes corrupted: verification fails, next run starts over", func(t *testing.T) {
		path, data := randomFile(t, 1<<20)
		o := ResumableOptions{PartSize: 128 << 10}
		interrupt(t, c, path, o, 0.5)
		sp, _ := StatePath(path, "")
		st := loadState(sp)
		require.NoError(t, c.ModifyBuffer(longCtx(t), st.Appender, 10, []byte("garbage")))
		_, err := c.UploadResumable(longCtx(t), path, "", o)
		require.Equal(t, proto.StatusEIO, proto.StatusOf(err), "%v", err)
		require.NoFileExists(t, sp)
		id, err := c.UploadResumable(longCtx(t), path, "", o)
		require.NoError(t, err)
		checkResult(t, c, id, data)
	})

	t.Run("a second run for the same file at once is EBUSY", func(t *testing.T) {
		path, _ := randomFile(t, 10)
		sp, _ := StatePath(path, "")
		unlock, err := lockState(sp)
		require.NoError(t, err)
		defer unlock()
		_, err = c.UploadResumable(longCtx(t), path, "", ResumableOptions{})
		require.Equal(t, proto.StatusEBUSY, proto.StatusOf(err), "%v", err)
	})

	t.Run("empty file, rate limited", func(t *testing.T) {
		path, data := randomFile(t, 0)
		id, err := c.UploadResumable(longCtx(t), path, "", ResumableOptions{RateLimit: 1})
		require.NoError(t, err)
		checkResult(t, c, id, data)
		path, data = randomFile(t, 200<<10)
		start := time.Now()
		id, err = c.UploadResumable(longCtx(t), path, "", ResumableOptions{PartSize: 64 << 10, RateLimit: 1 << 20})
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond, "200 KiB at 1 MiB/s")
		checkResult(t, c, id, data)
	})
}
