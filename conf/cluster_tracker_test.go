package conf

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTrackerClusterSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracker.conf")
	write(t, path, "base_path=/x\ncluster_secret = s3cret\n")
	tr, err := LoadTracker(path)
	require.NoError(t, err)
	require.Equal(t, "s3cret", tr.ClusterSecret)
	tr, err = LoadTracker("tracker.conf")
	require.NoError(t, err)
	require.Empty(t, tr.ClusterSecret, "off by default")
}
