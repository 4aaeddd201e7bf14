package conf

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func clientFrom(t *testing.T, text string) (*Client, error) {
	t.Helper()
	f, err := Parse([]byte(text), t.TempDir())
	require.NoError(t, err)
	return ClientFromFile(f)
}

func TestClientDefaults(t *testing.T) {
	c, err := clientFrom(t, "tracker_server = 127.0.0.1\n")
	require.NoError(t, err)
	want := DefaultClient()
	want.TrackerServers = []string{"127.0.0.1:22122"}
	require.Equal(t, want, c)
	require.Equal(t, 10*time.Second, c.ConnectTimeout)
	require.Equal(t, 30*time.Second, c.NetworkTimeout)
	require.Equal(t, "/tmp", c.BasePath)
	require.Equal(t, 3600*time.Second, c.ConnectionPoolMaxIdleTime)
}

func TestClientSample(t *testing.T) {
	c, err := LoadClient("client.conf")
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:22122"}, c.TrackerServers)
	require.Equal(t, 5*time.Second, c.ConnectTimeout)
	require.Equal(t, 60*time.Second, c.NetworkTimeout)
	require.Equal(t, "/tmp", c.BasePath)
	require.False(t, c.UseStorageID)
	abs, _ := filepath.Abs("storage_ids.conf")
	require.Equal(t, abs, c.StorageIDsFilename)
	require.Equal(t, "tracker", c.ConnectFirstBy)
}

func TestClientTrackersSortedAndUnique(t *testing.T) {
	c, err := clientFrom(t, "tracker_server=10.0.0.9:22122\ntracker_server=10.0.0.1:22123\n"+
		"tracker_server=10.0.0.9\ntracker_server=10.0.0.1:22122\ntracker_server=[::1]:1\n")
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.1:22122", "10.0.0.1:22123", "10.0.0.9:22122", "[::1]:1"}, c.TrackerServers)
}

func TestClientStorageIDsAndHTTP(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "storage_ids.conf"), "100001 group1 127.0.0.1\n")
	write(t, filepath.Join(dir, "http.conf"), "http.anti_steal.check_token = true\nhttp.anti_steal.secret_key = FastDFS1234567890\n")
	p := write(t, filepath.Join(dir, "client.conf"), "base_path=/var/tmp/\ntracker_server=t\nuse_storage_id=true\n"+
		"storage_ids_filename=storage_ids.conf\nconnect_first_by=Last-Connected\n#include http.conf\n")
	c, err := LoadClient(p)
	require.NoError(t, err)
	require.Equal(t, "/var/tmp", c.BasePath)
	require.Len(t, c.StorageIDs, 1)
	require.Equal(t, filepath.Join(dir, "storage_ids.conf"), c.StorageIDsFilename)
	require.Equal(t, "last-connected", c.ConnectFirstBy)
	require.True(t, c.AntiStealCheckToken)
	require.Equal(t, "FastDFS1234567890", c.AntiStealSecretKey)

	// With load_fdfs_parameters_from_tracker the local list is not read.
	c, err = clientFrom(t, "tracker_server=t\nuse_storage_id=true\nstorage_ids_filename=none.conf\nload_fdfs_parameters_from_tracker=true\n")
	require.NoError(t, err)
	require.True(t, c.LoadParamsFromTracker)
	require.Nil(t, c.StorageIDs)
}

func TestClientErrors(t *testing.T) {
	cases := map[string]string{
		"":                                     "tracker_server: at least one",
		"tracker_server=\n":                    "empty address",
		"tracker_server=h:99999\n":             "port",
		"tracker_server=t\nuse_storage_id=1\n": "storage_ids_filename",
		"tracker_server=t\nconnect_first_by=random\n": "connect_first_by",
		"tracker_server=t\nlog_level=chatty\n":        "log_level",
	}
	for text, want := range cases {
		_, err := clientFrom(t, text)
		require.Error(t, err, text)
		require.ErrorContains(t, err, want, text)
		require.ErrorContains(t, err, "client config", text)
	}
	_, err := LoadClient(filepath.Join(t.TempDir(), "nope.conf"))
	require.Error(t, err)
}
