package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fdOpen reports whether descriptor fd is open in this process.
func fdOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

func TestTrunkFDsReplacedFileReopened(t *testing.T) {
	old := trunkFDRecheck
	trunkFDRecheck = 0 // every use checks the path
	t.Cleanup(func() { trunkFDRecheck = old })
	var c trunkFDs
	defer c.close()
	path := filepath.Join(t.TempDir(), "00", "00", "000001")

	_, err := c.get(path, false)
	require.ErrorIs(t, err, os.ErrNotExist, "a missing file is not created by readers")
	a, err := c.get(path, true)
	require.NoError(t, err, "writers create the file and its directory")
	require.NoError(t, pwriteFull(a.fd, []byte("old"), 0))
	c.put(a)

	// Replaced behind the cache's back: the next use opens the new file.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.WriteFile(path, []byte("new"), 0o644))
	b, err := c.get(path, true)
	require.NoError(t, err)
	require.NotEqual(t, a.ino, b.ino)
	require.NoError(t, pwriteFull(b.fd, []byte("NEW"), 0))
	c.put(b)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "NEW", string(got), "written through a descriptor of the file the path names")
	require.False(t, fdOpen(a.fd) && a.fd != b.fd, "the stale descriptor is closed")
}

func TestTrunkFDsBounded(t *testing.T) {
	var c trunkFDs
	dir := t.TempDir()
	held, err := c.get(filepath.Join(dir, "held"), true)
	require.NoError(t, err)
	for i := range trunkFDMax + 10 {
		x, err := c.get(filepath.Join(dir, fmt.Sprint(i)), true)
		require.NoError(t, err)
		c.put(x)
	}
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	require.LessOrEqual(t, n, trunkFDMax)
	require.True(t, fdOpen(held.fd), "a descriptor in use stays open when evicted")
	require.NoError(t, pwriteFull(held.fd, []byte("x"), 0))
	c.close()
	require.True(t, fdOpen(held.fd), "and when the cache closes")
	c.put(held)
	require.False(t, fdOpen(held.fd), "its last user closes it")
}
