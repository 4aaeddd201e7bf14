package storage

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// nagleRequests is how many requests the split-write tests send in a row.
const nagleRequests = 50

// noDelayOff turns Nagle's algorithm back on (Go turns it off by default),
// as the C clients and C storages have it.
func noDelayOff(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.(*net.TCPConn).SetNoDelay(false))
}

// TestNagleSplitUploadsDoNotStall sends small uploads the way the C clients
// do, the header (with or without the fixed part) in one write and the rest
// in another, over one kept-open connection with Nagle on. Without an
// immediate ACK of the first write each request waits for the client's
// delayed-ACK timer (about 40 ms), so 50 of them take 2 s or more; served
// promptly they take a few milliseconds each even on a loaded machine.
func TestNagleSplitUploadsDoNotStall(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	noDelayOff(t, c)
	data := bytes.Repeat([]byte("n"), 4096)
	begin := time.Now()
	for i := range nagleRequests {
		body := uploadBody(0, "txt", data)
		hdr := make([]byte, proto.HeaderSize)
		(&proto.Header{PkgLen: int64(len(body)), Cmd: proto.CmdUploadFile}).Encode(hdr)
		first, rest := hdr, body // header alone, then the body
		if i%2 == 1 {
			// header and fixed part, then the content (fdfs_upload_file)
			first, rest = append(hdr, body[:uploadFixedLen]...), body[uploadFixedLen:]
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Write(first)
		require.NoError(t, err)
		_, err = c.Write(rest)
		require.NoError(t, err)
		h, b := readAnswer(t, c)
		require.Equal(t, byte(0), h.Status)
		require.Len(t, b, 16+44)
	}
	took := time.Since(begin)
	t.Logf("%d split uploads in %v", nagleRequests, took)
	require.Less(t, took, nagleRequests*20*time.Millisecond, "split requests stall on delayed ACKs")
}
