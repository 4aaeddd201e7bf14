package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// scDiskPath is where st (one store path, its base) keeps remote.
func scDiskPath(t *testing.T, st *cluster.Proc, remote string) string {
	t.Helper()
	r, err := fileid.ParseRemote(remote, 1)
	require.NoError(t, err)
	return filepath.Join(st.Base, "data", filepath.FromSlash(r.RelPath()))
}

// scOnDisk reports whether st's disk holds exactly want for remote.
func scOnDisk(t *testing.T, st *cluster.Proc, remote string, want []byte) bool {
	b, err := os.ReadFile(scDiskPath(t, st, remote))
	return err == nil && bytes.Equal(b, want)
}

// TestCorruptFileNeverServedAndScrubHeals: a byte flipped on disk in one
// replica of a small file (one buffer) and of a large one (streamed) is
// never delivered as a successful download, whole or by range, through the
// client library, the storage protocol and fdfs_download_file: each either
// fails or returns the right bytes. The scrubber finds both damaged files
// and replaces them with verified copies from the other replica; Nginx then
// serves the right bytes. With every replica damaged the scrubber moves the
// files away and Nginx answers no 200.
func TestCorruptFileNeverServedAndScrubHeals(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.141", map[string]string{"storage_sync_file_max_delay": "2"})
	port := cluster.SharedPort(t, "127.0.0.142", "127.0.0.143")
	var sts []*cluster.Proc
	for _, ip := range []string{"127.0.0.142", "127.0.0.143"} {
		sts = append(sts, cluster.StartStorage(t, ip, "group1", []*cluster.Proc{tr}, map[string]string{
			"port":             strconv.Itoa(port),
			"http.server_port": strconv.Itoa(cluster.FreePort(t, ip)),
			// The first pass starts at once; the next only after the test.
			"scrub_period": "1h",
		}))
	}
	for _, st := range sts {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	c := clClient(t, tr)
	small, large := randBytes(100<<10), randBytes(3<<20+17)
	ids := map[string][]byte{}
	for _, data := range [][]byte{small, large} {
		id, err := ftUpload(c, data)
		require.NoError(t, err)
		ids[id] = data
		clWaitSame(t, clRemote(t, id), data, 20*time.Second, sts...)
	}
	trWait(t, 30*time.Second, "both replicas listed", func() bool {
		for id := range ids {
			if addrs, err := trFetchAll(tr.Addr(), id); err != nil || len(addrs) != 2 {
				return false
			}
		}
		return true
	}, tr)

	// Damage the bad storage's copies.
	bad := sts[0]
	for id := range ids {
		ftFlip(t, bad, clRemote(t, id))
	}
	confPath := cluster.ClientConf(t, []*cluster.Proc{tr}, nil)
	dir := t.TempDir()
	cbin := cFastDFSIfPresent()
	if cbin == "" {
		t.Log("reference C FastDFS not found (FASTDFS_BIN or /usr/bin): its fdfs_download_file not tried")
	}
	for id, data := range ids {
		remote := clRemote(t, id)
		// Straight from the damaged storage, whole and by range: an error
		// status or a connection cut short, or (healed by now) right bytes.
		got, status, err := clFetch(bad, remote)
		require.True(t, err != nil || status != 0 || bytes.Equal(data, got), "damaged %s served whole (%d bytes)", remote, len(data))
		st, b, err := trCall(bad.Addr(), proto.CmdDownloadFile, (&proto.Buf{}).I64(100).I64(1000).Fixed("group1", proto.GroupNameLen).String(remote).B)
		require.True(t, err != nil || st != 0 || bytes.Equal(data[100:1100], b), "damaged %s served by range", remote)
		// Through the client library and the C-compatible tool.
		for range 4 {
			got, err := ftDownload(c, id)
			if len(data) <= 200<<10 {
				require.NoError(t, err, "the other replica serves a damaged small file")
			}
			require.True(t, err != nil || bytes.Equal(data, got), "wrong bytes for %s", id)
			dst := filepath.Join(dir, "dl.bin")
			os.Remove(dst)
			_, _, code := run(t, "fdfs_download_file", confPath, id, dst)
			if code == 0 {
				b, err := os.ReadFile(dst)
				require.NoError(t, err)
				require.True(t, bytes.Equal(data, b), "fdfs_download_file reported success with wrong bytes for %s", id)
			}
			// FastDFS's own tool, where the reference build is present,
			// straight from the damaged storage too (fdfs_test asks the
			// tracker, which may name either).
			if cbin != "" {
				os.Remove(dst)
				if _, code := runC(t, cbin, "fdfs_download_file", confPath, id, dst); code == 0 {
					b, err := os.ReadFile(dst)
					require.NoError(t, err)
					require.True(t, bytes.Equal(data, b), "C fdfs_download_file reported success with wrong bytes for %s", id)
				}
			}
		}
	}

	// The damaged copies are replaced from the good replica.
	deadline := time.Now().Add(60 * time.Second)
	for id, data := range ids {
		remote := clRemote(t, id)
		for !scOnDisk(t, bad, remote, data) {
			if time.Now().After(deadline) {
				t.Fatalf("%s not healed on %s:\n%s", remote, bad.Addr(), bad.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Contains(t, bad.Log(), "damaged file replaced by a verified copy")
	ng := startNginx(t, bad, bad.IP)
	for id, data := range ids {
		r := fetch(t, ng.Base, "/"+id)
		require.Equal(t, 200, r.code, ng.errorLog())
		require.True(t, bytes.Equal(data, r.body))
		r = fetch(t, ng.Base, "/"+id, "Range", "bytes=10-99")
		require.Equal(t, 206, r.code)
		require.Equal(t, data[10:100], r.body)
	}

	// Every replica damaged: no good copy anywhere. A download finds the
	// damage, the scrubber moves the file away, Nginx has nothing to serve.
	var smallID string
	for id, data := range ids {
		if len(data) == len(small) {
			smallID = id
		}
	}
	remote := clRemote(t, smallID)
	for _, st := range sts {
		ftFlip(t, st, remote)
	}
	_, err := ftDownload(c, smallID)
	require.Error(t, err)
	deadline = time.Now().Add(60 * time.Second)
	for _, st := range sts {
		for clOnDisk(st, remote) {
			if time.Now().After(deadline) {
				t.Fatalf("damaged %s still in place on %s:\n%s", remote, st.Addr(), st.Log())
			}
			if _, _, err := clFetch(st, remote); err != nil { // each storage finds its own damage
				t.Logf("fetch: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.Contains(t, st.Log(), "damaged file moved away")
		q, err := filepath.Glob(filepath.Join(st.Base, "quarantine", "*"))
		require.NoError(t, err)
		require.Len(t, q, 1)
		require.True(t, strings.HasSuffix(q[0], strings.ReplaceAll(remote, "/", "_")))
	}
	r := fetch(t, ng.Base, "/"+smallID)
	require.NotEqual(t, 200, r.code)
	_, err = ftDownload(c, smallID)
	require.Error(t, err)
}
