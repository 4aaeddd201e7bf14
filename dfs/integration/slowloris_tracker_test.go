package integration

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// TestTrackerWholeRequestDeadline: the tracker gives a request (header and
// body together) one network_timeout, not one per read, so a client
// trickling its header or its body a byte at a time, each byte well within
// the timeout, is still closed after network_timeout.
func TestTrackerWholeRequestDeadline(t *testing.T) {
	tr := cluster.StartTracker(t, "127.0.0.217", map[string]string{"network_timeout": "2"})
	full := make([]byte, proto.HeaderSize)
	proto.Header{PkgLen: 100, Cmd: proto.CmdServerListAllGroups}.Encode(full)
	for name, lead := range map[string][]byte{
		"header trickled": nil,  // 10 header bytes at 3/s: 3.3 s > 2 s
		"body trickled":   full, // then 100 body bytes at 3/s
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tr.Addr(), 5*time.Second)
			require.NoError(t, err)
			defer c.Close()
			t0 := time.Now()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			_, err = c.Write(lead)
			require.NoError(t, err)
			closed := make(chan time.Duration, 1)
			go func() {
				var b [1]byte
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				c.Read(b[:]) // EOF or reset when the tracker closes
				closed <- time.Since(t0)
			}()
			rest := full
			if lead != nil {
				rest = make([]byte, 100)
			}
			tick := time.NewTicker(300 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case d := <-closed:
					require.InDelta(t, 2, d.Seconds(), 0.9, "closed after %v", d)
					return
				case <-tick.C:
				}
				if i < len(rest) {
					c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					c.Write(rest[i : i+1])
				}
			}
		})
	}
}
