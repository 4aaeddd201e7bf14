package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// trunkSlotContent is where st keeps the content of the trunk-resident
// file id: its trunk file and the content's offset in it.
func trunkSlotContent(t *testing.T, st *cluster.Proc, id string) (string, int64) {
	t.Helper()
	_, remote, err := fileid.Split(id)
	require.NoError(t, err)
	r, err := fileid.ParseRemote(remote, 1)
	require.NoError(t, err)
	_, ti, err := fileid.ParseTrunk(remote)
	require.NoError(t, err)
	path := filepath.Join(st.Base, "data", filepath.FromSlash(fileid.TrunkFileRelPath(r.High, r.Low, ti.TrunkID)))
	return path, int64(ti.Offset) + fileid.TrunkHeaderLen
}

// TestTrunkCorruptSlotNotServedAndHealed: a byte flipped in a trunk slot's
// content on one replica is never delivered as a successful download,
// whole or by range, over the storage protocol, the client library or the
// storage's HTTP server; the storage that found it rewrites the slot with
// a verified copy from the other replica.
func TestTrunkCorruptSlotNotServedAndHealed(t *testing.T) {
	tc := startTrunkCluster(t, "127.0.0.235", "127.0.0.236", "127.0.0.237")
	bad, good := tc.sts[0], tc.sts[1]
	ids := uploadReplicatedTrunk(t, tc.c, bad, good, 3000, 12000)
	for id, b := range ids {
		flipSlotByte(t, bad, id, b)
	}
	for id, b := range ids {
		_, remote, _ := fileid.Split(id)
		// Straight from the damaged storage, whole and by range.
		got, err := fetchFrom(bad.Addr(), id)
		require.True(t, err != nil || bytes.Equal(b, got), "damaged %s served whole", id)
		st, part, err := trCall(bad.Addr(), proto.CmdDownloadFile, (&proto.Buf{}).I64(100).I64(1000).Fixed("group1", proto.GroupNameLen).String(remote).B)
		require.True(t, err != nil || st != 0 || bytes.Equal(b[100:1100], part), "damaged %s served by range", id)
		// Its HTTP server.
		url := fmt.Sprintf("http://%s:%d/%s", bad.IP, tc.https[bad], id)
		resp, err := http.Get(url)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.True(t, resp.StatusCode != 200 || bytes.Equal(b, body), "damaged %s served over HTTP", id)
		// The client library reads the other replica.
		for range 4 {
			got, err := ftDownload(tc.c, id)
			require.True(t, err != nil || bytes.Equal(b, got), "wrong bytes for %s", id)
		}
	}
	waitSlotsHealed(t, bad, ids)
	require.Contains(t, bad.Log(), "damaged trunk slot rewritten from a verified copy")
}

// uploadReplicatedTrunk uploads files of the sizes to st, checks they are
// trunk-resident and waits until replica serves them.
func uploadReplicatedTrunk(t *testing.T, c *client.Client, st, replica *cluster.Proc, sizes ...int) map[string][]byte {
	t.Helper()
	ids := map[string][]byte{}
	for _, size := range sizes {
		b := randBytes(size)
		id, err := c.UploadTo(tctx(t), st.Addr(), -1, bytes.NewReader(b), int64(len(b)), "bin")
		require.NoError(t, err)
		_, ok := isTrunkID(id)
		require.True(t, ok, id)
		ids[id] = b
		waitContent(t, replica, id, b)
	}
	return ids
}

// flipSlotByte flips the middle byte of the content of the trunk-resident
// file id (holding b) on st's disk.
func flipSlotByte(t *testing.T, st *cluster.Proc, id string, b []byte) {
	t.Helper()
	path, at := trunkSlotContent(t, st, id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{b[len(b)/2] ^ 0x5A}, at+int64(len(b)/2))
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// waitSlotsHealed waits until st's disk holds the right content of every
// trunk-resident file of ids and st serves it.
func waitSlotsHealed(t *testing.T, st *cluster.Proc, ids map[string][]byte) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for id, b := range ids {
		path, at := trunkSlotContent(t, st, id)
		for {
			f, err := os.Open(path)
			require.NoError(t, err)
			got := make([]byte, len(b))
			_, err = f.ReadAt(got, at)
			f.Close()
			if err == nil && bytes.Equal(b, got) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not healed on %s:\n%s", id, st.Addr(), st.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
		got, err := fetchFrom(st.Addr(), id)
		require.NoError(t, err)
		require.Equal(t, b, got)
	}
}

// TestTrunkScrubPassHealsSlot: the periodic scrub pass reads the
// trunk-resident files too: a slot damaged on one replica, never
// downloaded, is found and rewritten from the other.
func TestTrunkScrubPassHealsSlot(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.238", trunkTracker)
	port := cluster.SharedPort(t, "127.0.0.239", "127.0.0.240")
	var sts []*cluster.Proc
	for _, ip := range []string{"127.0.0.239", "127.0.0.240"} {
		sts = append(sts, cluster.StartStorage(t, ip, "group1", []*cluster.Proc{tr},
			map[string]string{"port": strconv.Itoa(port), "scrub_period": "2"}))
	}
	for _, st := range sts {
		cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	}
	c := clClient(t, tr)
	bad, good := sts[0], sts[1]
	ids := uploadReplicatedTrunk(t, c, bad, good, 700, 9000)
	for id, b := range ids {
		flipSlotByte(t, bad, id, b)
	}
	waitSlotsHealed(t, bad, ids)
	require.Contains(t, bad.Log(), "scrub: file damaged on disk")
	require.Contains(t, bad.Log(), "damaged trunk slot rewritten from a verified copy")
}
