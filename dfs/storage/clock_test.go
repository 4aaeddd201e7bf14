package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The test clock hook: the skew follows the file, re-read at most once a
// second; a malformed file keeps the last skew; without the variable there
// is no clock at all.
func TestSkewClock(t *testing.T) {
	require.Nil(t, newSkewClock(""))
	path := filepath.Join(t.TempDir(), "skew")
	require.NoError(t, os.WriteFile(path, []byte("2h\n"), 0o644))
	c := newSkewClock(path)
	require.Equal(t, 2*time.Hour, c.skew())

	require.NoError(t, os.WriteFile(path, []byte("-90m"), 0o644))
	require.Equal(t, 2*time.Hour, c.skew(), "not re-read within a second")
	c.checked.Add(-int64(time.Second))
	require.Equal(t, -90*time.Minute, c.skew())

	require.NoError(t, os.WriteFile(path, []byte("junk"), 0o644))
	c.checked.Add(-int64(time.Second))
	require.Equal(t, -90*time.Minute, c.skew())
	require.NoError(t, os.Remove(path))
	c.checked.Add(-int64(time.Second))
	require.Equal(t, -90*time.Minute, c.skew())
}
