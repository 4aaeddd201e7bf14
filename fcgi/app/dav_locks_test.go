package app

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/webdav"
)

// A user's WebDAV locks are bounded in number and in time: a lock asked
// for ever lapses after davLockMax, and past davLockCount live locks a new
// one is refused until some lapse or are released.
func TestDAVLockBounds(t *testing.T) {
	var ls davLockSystems
	l := ls.of("alice")
	require.Same(t, l, ls.of("alice"))
	require.NotSame(t, l, ls.of("bob"), "one table per user")
	now := time.Now()
	lock := func(i int, at time.Time) (string, error) {
		return l.Create(at, webdav.LockDetails{Root: fmt.Sprintf("/f%d", i), Duration: -1, ZeroDepth: true})
	}
	var first string
	for i := range davLockCount {
		tok, err := lock(i, now)
		require.NoError(t, err)
		if i == 0 {
			first = tok
		}
	}
	_, err := lock(davLockCount, now)
	require.ErrorIs(t, err, webdav.ErrLocked, "no more than davLockCount at once")
	require.NoError(t, l.Unlock(now, first))
	_, err = lock(davLockCount, now)
	require.NoError(t, err, "a released lock makes room")
	// "Infinite" was davLockMax: past it every lock has lapsed.
	later := now.Add(davLockMax + time.Second)
	_, err = lock(0, later)
	require.NoError(t, err)
	_, err = l.Refresh(later, first, time.Duration(-1))
	require.Error(t, err, "a released lock cannot be refreshed")
}
