package tracker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// The queries every upload and download make (store, fetch) allocate
// little: under load the tracker's heap, and with it its resident memory,
// grows with the garbage they leave.
func TestQueryAllocs(t *testing.T) {
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.5", "group1")
	waitStatus(t, tr, "group1", "127.0.0.5", proto.StatusActive, 5*time.Second)
	sess := &session{peerIP: "127.0.0.9", localIP: "127.0.0.1"}
	fetch := fetchBody("group1", remoteName("127.0.0.5", 1700000000, false))
	for _, tc := range []struct {
		name string
		cmd  byte
		body []byte
		max  float64
	}{
		{"fetch one", proto.CmdQueryFetchOne, fetch, 3},
		{"store", proto.CmdQueryStoreWithoutGroupOne, nil, 1},
	} {
		n := testing.AllocsPerRun(200, func() {
			_, err := tr.dispatch(sess, tc.cmd, tc.body)
			require.NoError(t, err)
		})
		t.Logf("%s: %.1f allocations", tc.name, n)
		require.LessOrEqual(t, n, tc.max, tc.name)
	}
}
