package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A pooled connection the server closed while idle (its network_timeout
// shorter than ours) is noticed before reuse, without the ACTIVE_TEST
// probe reserved for long-idle connections: the call redials and succeeds.
func TestPoolSkipsConnectionClosedByServer(t *testing.T) {
	s := startServer(t, func(s *testServer) { s.oneShot = true })
	c := newClient(t, s.addr())
	c.pool.checkAfter = time.Hour // no probe: only the peek can tell
	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.Eventually(t, func() bool { return s.closed.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, c.pool.idleCount(s.addr()))
	require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	require.EqualValues(t, 2, s.accepts.Load())
	require.EqualValues(t, 2, s.actives.Load(), "no probe was needed")
}

// A live idle connection passes the peek and is reused.
func TestPoolPeekKeepsLiveConnection(t *testing.T) {
	s := startServer(t, nil)
	c := newClient(t, s.addr())
	c.pool.checkAfter = time.Hour
	for range 3 {
		require.NoError(t, c.ActiveTest(ctx(t), s.addr()))
	}
	require.EqualValues(t, 1, s.accepts.Load())
	require.EqualValues(t, 3, s.actives.Load())
}
