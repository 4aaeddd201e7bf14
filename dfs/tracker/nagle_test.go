package tracker

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// TestNagleSplitRequestsDoNotStall sends LIST_ONE_GROUP 50 times over one
// kept-open connection with Nagle on, header and body in separate writes.
// Without an immediate ACK of the header each request waits for the
// client's delayed-ACK timer (about 40 ms), 2 s or more in all.
func TestNagleSplitRequestsDoNotStall(t *testing.T) {
	tr := startTracker(t, nil)
	cl := dial(t, tr)
	require.NoError(t, cl.c.(*net.TCPConn).SetNoDelay(false))
	const n = 50
	body := groupField("nosuchgroup")
	hdr := make([]byte, proto.HeaderSize)
	(&proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdServerListOneGroup}).Encode(hdr)
	begin := time.Now()
	for range n {
		cl.c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := cl.c.Write(hdr)
		require.NoError(t, err)
		_, err = cl.c.Write(body)
		require.NoError(t, err)
		st, _ := cl.read()
		require.EqualValues(t, proto.StatusENOENT, st)
	}
	took := time.Since(begin)
	t.Logf("%d split requests in %v", n, took)
	require.Less(t, took, n*20*time.Millisecond, "split requests stall on delayed ACKs")
}
