package tracker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/vectors"
)

// fuzzTracker is a tracker (never started: no sockets are used) whose
// registry holds two groups with storages in several states.
func fuzzTracker(f *testing.F) *Tracker {
	o := testOptions(f)
	tr, err := New(o, nopLog())
	require.NoError(f, err)
	f.Cleanup(tr.Exit)
	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.21"} {
		g := "group1"
		if i == 3 {
			g = "group2"
		}
		s := &session{peerIP: ip, localIP: "127.0.0.1"}
		mustOK := func(cmd byte, body []byte) []byte {
			resp, err := tr.dispatch(s, cmd, body)
			require.NoError(f, err, "cmd %d", cmd)
			return resp
		}
		mustOK(proto.CmdStorageJoin, joinBody(g, 23000, 2))
		if len(mustOK(proto.CmdStorageSyncDestReq, nil)) > 0 && i == 1 {
			mustOK(proto.CmdStorageSyncNotify, make([]byte, proto.SyncReqSize))
		}
		mustOK(proto.CmdStorageBeat, nil)
		mustOK(proto.CmdStorageReportDiskUsage, diskBody([2]int64{1000, 700}, [2]int64{1000, 100}))
	}
	return tr
}

// FuzzTrackerRequest feeds arbitrary requests to the command dispatcher,
// on a fresh connection or one joined as a storage: no input may panic,
// and every failure must carry a status.
func FuzzTrackerRequest(f *testing.F) {
	for _, name := range []string{"01", "02", "05", "08", "09", "11", "12", "13", "14", "20"} {
		sc, err := vectors.Load(name)
		require.NoError(f, err)
		for _, c := range sc.Conns {
			for _, p := range c.Packets {
				if p.FromClient && int64(len(p.Body)) == p.Header.PkgLen {
					f.Add(p.Header.Cmd, true, p.Body)
					f.Add(p.Header.Cmd, false, p.Body)
				}
			}
		}
	}
	for cmd := range handlers {
		for _, n := range []int{0, 1, 16, 17, 21, 24, 32, 67, 83, 145} {
			f.Add(cmd, n%2 == 0, make([]byte, n))
		}
	}
	tr := fuzzTracker(f)
	f.Fuzz(func(t *testing.T, cmd byte, joined bool, body []byte) {
		s := &session{peerIP: "127.0.0.11", localIP: "127.0.0.1"}
		if joined {
			if _, err := tr.dispatch(s, proto.CmdStorageJoin, joinBody("group1", 23000, 2)); err != nil {
				t.Skip("group1 no longer accepts the join:", err)
			}
		}
		resp, err := tr.dispatch(s, cmd, body)
		if err != nil {
			require.NotZero(t, proto.StatusOf(err))
			require.Nil(t, resp)
			if errors.Is(err, errQuit) {
				require.EqualValues(t, proto.CmdQuit, cmd)
			}
		}
		tr.connClosed(s)
	})
}
