package integration

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// TestLeakCheckCatchesHeldConnection: the harness's end-of-test check
// (internal/cluster/leak.go) passes on a clean cluster after a load, and
// reports a connection the test still holds, naming its other end.
func TestLeakCheckCatchesHeldConnection(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.141", nil)
	st := cluster.StartStorage(t, "127.0.0.142", "group1", []*cluster.Proc{tr}, nil)
	cluster.WaitStatus(t, tr, "group1", st, proto.StatusActive, 30*time.Second)
	c := hzNewClient(t, tr)
	require.NoError(t, hzRoundTrip(c, 10<<10, 10*time.Second))
	c.Close()
	require.Empty(t, cluster.CheckLeaks(t))

	held, err := net.Dial("tcp", st.Addr())
	require.NoError(t, err)
	defer held.Close()
	held.SetDeadline(time.Now().Add(5 * time.Second))
	require.NoError(t, proto.WritePacket(held, proto.CmdActiveTest, 0, nil))
	_, err = proto.ReadResponse(held, 0)
	require.NoError(t, err)
	// Long enough for the tracker to finish a save of its registry (a
	// temp file open while written and synced, which took over a second
	// under a full test run's load).
	old := cluster.LeakWait
	cluster.LeakWait = 4 * time.Second
	defer func() { cluster.LeakWait = old }()
	report := cluster.CheckLeaks(t)
	require.Contains(t, report, "fdfs_storaged "+st.Addr())
	require.Contains(t, report, "other end: this test process")
	require.Contains(t, report, "storage.(*Storage).serveConn") // the goroutine dump
	require.NotContains(t, report, "--- fdfs_trackerd")         // the tracker is clean
}

// TestLeakCheckOptOut: a test that leaves a connection on purpose says so
// with SkipLeakCheck and is not failed by the check.
func TestLeakCheckOptOut(t *testing.T) {
	var held net.Conn
	t.Run("holds a connection", func(t *testing.T) {
		cluster.SkipLeakCheck(t, "the connection is held past the test on purpose")
		tr := cluster.StartTracker(t, "127.0.0.143", nil)
		var err error
		held, err = net.Dial("tcp", tr.Addr())
		require.NoError(t, err)
	})
	require.NotNil(t, held)
	held.Close()
}
