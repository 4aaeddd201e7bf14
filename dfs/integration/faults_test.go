package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// Faults with real processes: full and read-only store
// paths, files corrupted on disk.

// ftMountTmpfs mounts a tmpfs of size at a new directory and unmounts it
// when the test ends; it skips the test where mounting is not permitted.
func ftMountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o755))
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a size-limited tmpfs (needs root/CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() {
		// Registered after the daemon's Stop (TempDir's removal runs later
		// still), so nothing holds the mount when it goes.
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// ftDataFiles lists the regular files under a store path's data/HH/HH and
// data/.tmp (markers and sync state excluded).
func ftDataFiles(t *testing.T, storePath string) (stored, temp []string) {
	t.Helper()
	root := filepath.Join(storePath, "data")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == "sync" {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasPrefix(rel, ".tmp/"):
			temp = append(temp, rel)
		case len(rel) > 6 && rel[2] == '/' && rel[5] == '/':
			stored = append(stored, rel)
		}
		return nil
	})
	require.NoError(t, err)
	return stored, temp
}

// ftUpload uploads data with a 10 s deadline.
func ftUpload(c *client.Client, data []byte) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.UploadBuffer(ctx, data, "bin")
}

func ftDownload(c *client.Client, id string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.DownloadBytes(ctx, id, 0, 0)
}

// ftStorePathOf is the store path index in a file ID.
func ftStorePathOf(t *testing.T, id string) int {
	t.Helper()
	r, err := fileid.ParseRemote(clRemote(t, id), 256)
	require.NoError(t, err)
	return r.StorePath
}

// TestStorePathFull: store_path0 is an 8 MiB tmpfs, store_path1 a 16 MiB
// one. Uploads go on to path 1 when path 0 is full, a clear ENOSPC comes
// only when both are, and nothing half-written is left anywhere.
func TestStorePathFull(t *testing.T) {
	p0 := ftMountTmpfs(t, "8m")
	p1 := ftMountTmpfs(t, "16m")
	tr := cluster.StartTracker(t, "127.0.0.121", map[string]string{"store_path": "0"})
	st := cluster.StartStorage(t, "127.0.0.122", "group1", []*cluster.Proc{tr}, map[string]string{
		"store_path_count": "2", "store_path0": p0, "store_path1": p1, "subdir_count_per_path": "4",
	})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	c := clClient(t, tr)

	uploaded := map[string][]byte{}
	perPath := [2]int{}
	var lastErr error
	for range 40 {
		data := make([]byte, 700<<10)
		rand.Read(data)
		id, err := ftUpload(c, data)
		if err != nil {
			lastErr = err
			break
		}
		uploaded[id] = data
		perPath[ftStorePathOf(t, id)]++
	}
	t.Logf("stored per path: %v; then: %v", perPath, lastErr)
	require.Error(t, lastErr, "24 MiB of store paths took 28 MiB")
	require.Equal(t, proto.StatusENOSPC, proto.StatusOf(lastErr), "want a clear ENOSPC, got %v", lastErr)
	// Path 1 took the uploads path 0 could not: both are (nearly) full.
	require.GreaterOrEqual(t, perPath[0], 8, "path 0 should fill up")
	require.GreaterOrEqual(t, perPath[1], 18, "path 1 should take what path 0 could not")
	for _, p := range []string{p0, p1} {
		var sfs syscall.Statfs_t
		require.NoError(t, syscall.Statfs(p, &sfs))
		require.Less(t, int64(sfs.Bavail)*int64(sfs.Bsize), int64(2<<20), "%s still has room", p)
	}

	// Nothing half-written: the stored files are exactly the acknowledged
	// ones, the temp dirs are empty, and each downloads intact.
	var stored []string
	for i, p := range []string{p0, p1} {
		s, tmp := ftDataFiles(t, p)
		require.Empty(t, tmp, "temp files left in store_path%d", i)
		for _, rel := range s {
			stored = append(stored, fmt.Sprintf("M%02X/", i)+rel)
		}
	}
	var want []string
	for id := range uploaded {
		want = append(want, clRemote(t, id))
	}
	require.ElementsMatch(t, want, stored)
	for id, data := range uploaded {
		got, err := ftDownload(c, id)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "%s differs", id)
	}
	require.False(t, st.Exited())
}

// TestStorePathTurnsReadOnly: store_path0 is remounted read-only under a
// running storage. Uploads go to store_path1, and files already on path 0
// still download.
func TestStorePathTurnsReadOnly(t *testing.T) {
	p0 := ftMountTmpfs(t, "32m")
	p1 := filepath.Join(t.TempDir(), "p1")
	tr := cluster.StartTracker(t, "127.0.0.123", map[string]string{"store_path": "0"})
	st := cluster.StartStorage(t, "127.0.0.124", "group1", []*cluster.Proc{tr}, map[string]string{
		"store_path_count": "2", "store_path0": p0, "store_path1": p1,
		"subdir_count_per_path": "4",
	})
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	c := clClient(t, tr)

	old := map[string][]byte{}
	for len(old) < 6 {
		data := make([]byte, 50<<10)
		rand.Read(data)
		id, err := ftUpload(c, data)
		require.NoError(t, err)
		old[id] = data
	}
	onP0 := 0
	for id := range old {
		if ftStorePathOf(t, id) == 0 {
			onP0++
		}
	}
	require.Positive(t, onP0, "round robin never used path 0")

	out, err := exec.Command("mount", "-o", "remount,ro", p0).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", p0).Run() })

	for range 10 {
		data := make([]byte, 30<<10)
		rand.Read(data)
		id, err := ftUpload(c, data)
		require.NoError(t, err, "upload with store_path0 read-only\n%s", hzTail(st.Log(), 20))
		require.Equal(t, 1, ftStorePathOf(t, id))
		got, err := ftDownload(c, id)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got))
	}
	for id, data := range old {
		got, err := ftDownload(c, id)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "%s differs", id)
	}
	_, tmp := ftDataFiles(t, p1)
	require.Empty(t, tmp)
	require.False(t, st.Exited())
}

// ftFlip flips one byte in the middle of remote's file under st's
// store_path0 (its base) and returns a function that restores it.
func ftFlip(t *testing.T, st *cluster.Proc, remote string) func() {
	t.Helper()
	r, err := fileid.ParseRemote(remote, 1)
	require.NoError(t, err)
	path := filepath.Join(st.Base, "data", filepath.FromSlash(r.RelPath()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	orig := append([]byte(nil), b...)
	b[len(b)/2] ^= 0x5A
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return func() { require.NoError(t, os.WriteFile(path, orig, 0o644)) }
}

// TestCorruptReplicaNotServed: in a group of two, one replica's bytes are
// flipped on disk. That storage answers EIO instead of the damaged bytes
// (the CRC32 in the name no longer matches; the file fits one buffer, so it
// is checked before anything is sent), and the client library reads the
// other replica: every download returns the right bytes. With both
// replicas damaged the download fails rather than return wrong bytes (EIO,
// or ENOENT once a storage has moved its damaged copy away, scrub.go).
func TestCorruptReplicaNotServed(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.125", map[string]string{"storage_sync_file_max_delay": "2"})
	sts := clGroup(t, tr, []string{"127.0.0.126", "127.0.0.127"}, nil)
	for _, st := range sts {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	c := clClient(t, tr)
	data := make([]byte, 200<<10)
	rand.Read(data)
	id, err := ftUpload(c, data)
	require.NoError(t, err)
	remote := clRemote(t, id)
	clWaitSame(t, remote, data, 20*time.Second, sts...)
	// Until the tracker knows the copy is there (last_synced_timestamp),
	// it names only the source.
	trWait(t, 30*time.Second, "both replicas listed", func() bool {
		addrs, err := trFetchAll(tr.Addr(), id)
		return err == nil && len(addrs) == 2
	}, tr)

	for i, bad := range sts {
		restore := ftFlip(t, bad, remote)
		_, status, err := clFetch(bad, remote)
		require.NoError(t, err)
		require.Equal(t, proto.StatusEIO, status, "damaged copy on %s served", bad.Addr())
		// The tracker spreads reads over both members: some hit the bad one.
		for range 6 {
			got, err := ftDownload(c, id)
			require.NoError(t, err, "replica %d damaged", i)
			require.True(t, bytes.Equal(data, got), "wrong bytes with replica %d damaged", i)
		}
		good := sts[1-i]
		got, status, err := clFetch(good, remote)
		require.NoError(t, err)
		require.Zero(t, status)
		require.True(t, bytes.Equal(data, got))
		require.Contains(t, bad.Log(), "file damaged on disk")
		restore()
	}

	for _, st := range sts {
		ftFlip(t, st, remote)
	}
	_, err = ftDownload(c, id)
	require.Error(t, err)
	require.Contains(t, []byte{proto.StatusEIO, proto.StatusENOENT}, proto.StatusOf(err), "%v", err)
}
