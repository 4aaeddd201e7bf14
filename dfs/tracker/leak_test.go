package tracker

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/internal/leakcheck"
	"yunpan/dfs/proto"
)

// Goroutines and descriptors return to their baseline after a load of
// client queries and storage sessions, then Exit: no leaks.
func TestNoLeakAfterLoadAndExit(t *testing.T) {
	leakcheck.Watch(t) // first: checked after the tracker's Exit
	tr := startTracker(t, nil)
	storageConn(t, tr, "127.0.0.21", "group1")
	storageConn(t, tr, "127.0.0.22", "group1")

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if err := leakQuery(tr.Addr().String(), w+i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Held at Exit: an idle connection, half a header, half a body.
	dial(t, tr)
	half := dial(t, tr)
	_, err := half.c.Write([]byte{0, 0, 0})
	require.NoError(t, err)
	body := dial(t, tr)
	_, err = body.c.Write(append(make([]byte, 7), 100, proto.CmdServerListStorage, 0, 'g'))
	require.NoError(t, err)
	dial(t, tr).ok(proto.CmdActiveTest, nil)
}

// leakQuery is one fresh connection with a few queries (QUERY_STORE,
// LIST_GROUPS, LIST_STORAGE), closed by QUIT or by the client.
func leakQuery(addr string, n int) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, req := range []struct {
		cmd  byte
		body []byte
	}{
		{proto.CmdQueryStoreWithoutGroupOne, nil},
		{proto.CmdServerListAllGroups, nil},
		{proto.CmdServerListStorage, groupField("group1")},
	} {
		if err := proto.WritePacket(c, req.cmd, 0, req.body); err != nil {
			return err
		}
		if _, err := proto.ReadResponse(c, 1<<20); err != nil {
			return err
		}
	}
	if n%2 == 0 {
		return proto.WritePacket(c, proto.CmdQuit, 0, nil)
	}
	return nil
}
