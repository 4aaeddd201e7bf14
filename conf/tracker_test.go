package conf

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/internal/vectors"
)

func trackerFrom(t *testing.T, text string) (*Tracker, error) {
	t.Helper()
	f, err := Parse([]byte(text), t.TempDir())
	require.NoError(t, err)
	return TrackerFromFile(f)
}

func TestTrackerDefaults(t *testing.T) {
	tr, err := trackerFrom(t, "base_path = /data/fdfs/\n")
	require.NoError(t, err)
	want := DefaultTracker()
	want.BasePath = "/data/fdfs"
	require.Equal(t, want, tr)

	require.Equal(t, 22122, tr.Port)
	require.Equal(t, 10*time.Second, tr.ConnectTimeout)
	require.Equal(t, 60*time.Second, tr.NetworkTimeout)
	require.Equal(t, 100*time.Second, tr.CheckActiveInterval)
	require.Equal(t, int64(1024), tr.ReservedSpace.MB)
	require.Equal(t, "1024MB", tr.ReservedSpace.Text)
	require.Equal(t, int64(256<<10), tr.MaxBuffSize)
	require.Equal(t, []string{"*"}, tr.AllowHosts)
	require.True(t, tr.TrustStorageServerID)
	require.True(t, tr.StorageIPChangedAutoAdjust)
	require.Equal(t, "ip", tr.IDTypeInFilename)
	require.Equal(t, "auto", tr.ResponseIPAddrSize)
	require.Equal(t, int64(8<<20), tr.SlotMaxSize)
	require.Equal(t, 16, tr.ResponseIPSize())
}

func TestTrackerSample(t *testing.T) {
	tr, err := LoadTracker("tracker.conf")
	require.NoError(t, err)
	require.Equal(t, "/opt/fastdfs", tr.BasePath)
	require.Equal(t, 22122, tr.Port)
	require.Equal(t, 5*time.Second, tr.ConnectTimeout)
	require.Equal(t, 1024, tr.MaxConnections)
	require.Equal(t, int64(8<<10), tr.MinBuffSize)
	require.Equal(t, int64(128<<10), tr.MaxBuffSize)
	require.Equal(t, 2, tr.StoreLookup)
	require.Equal(t, "group2", tr.StoreGroup)
	require.InDelta(t, 0.20, tr.ReservedSpace.Ratio, 1e-12)
	require.Equal(t, 120*time.Second, tr.CheckActiveInterval)
	require.Equal(t, int64(1<<20), tr.SlotMaxSize)
	require.Equal(t, int64(20<<30), tr.TrunkCreateFileSpaceThreshold)
	require.Equal(t, "ip", tr.IDTypeInFilename, "id needs use_storage_id")
	abs, _ := filepath.Abs("storage_ids.conf")
	require.Equal(t, abs, tr.StorageIDsFilename)
	require.Nil(t, tr.StorageIDs)
	require.True(t, tr.UseConnectionPool)
	require.Equal(t, []string{"*"}, tr.AllowHosts)
}

// The sample reproduces byte for byte the parameter answer of the captured
// V6.16.1 tracker (scenario 20), which ran with FastDFS's sample settings.
func TestTrackerParameterTextMatchesVector(t *testing.T) {
	body := parameterVector(t)

	tr, err := LoadTracker("tracker.conf")
	require.NoError(t, err)
	require.Equal(t, string(body), tr.ParameterText())

	p, err := ParseParameters(body)
	require.NoError(t, err)
	require.Equal(t, TrackerParams{
		IDTypeInFilename:           "ip",
		TrustStorageServerID:       true,
		ResponseIPAddrSize:         16,
		StorageIPChangedAutoAdjust: true,
		StorageSyncFileMaxDelay:    86400 * time.Second,
		ReservedSpace:              Reserved{Ratio: 0.2, Text: "20.00%"},
		SlotMinSize:                256,
		SlotMaxSize:                1 << 20,
		TrunkAllocAlignmentSize:    256,
		TrunkFileSize:              64 << 20,

		TrunkCreateFileTimeBase:       "02:00",
		TrunkCreateFileInterval:       86400 * time.Second,
		TrunkCreateFileSpaceThreshold: 20 << 30,
		TrunkFreeSpaceMerge:           true,
	}, p)
}

func TestParseParameters(t *testing.T) {
	p, err := ParseParameters([]byte("use_storage_id=1\nid_type_in_filename=id\nresponse_ip_addr_size=46\nreserved_storage_space=1024MB\nstore_path=2\n"))
	require.NoError(t, err)
	require.True(t, p.UseStorageID)
	require.Equal(t, "id", p.IDTypeInFilename)
	require.Equal(t, 46, p.ResponseIPAddrSize)
	require.Equal(t, int64(1024), p.ReservedSpace.MB)
	require.Equal(t, 2, p.StorePath)

	p, err = ParseParameters([]byte("trunk_create_file_advance=1\ntrunk_create_file_time_base=01:30\n" +
		"trunk_create_file_interval=3600\ntrunk_create_file_space_threshold=1073741824\ntrunk_free_space_merge=1\n"))
	require.NoError(t, err)
	require.True(t, p.TrunkCreateFileAdvance)
	require.Equal(t, "01:30", p.TrunkCreateFileTimeBase)
	require.Equal(t, time.Hour, p.TrunkCreateFileInterval)
	require.Equal(t, int64(1<<30), p.TrunkCreateFileSpaceThreshold)
	require.True(t, p.TrunkFreeSpaceMerge)

	p, err = ParseParameters(nil)
	require.NoError(t, err)
	require.Equal(t, DefaultReserved(), p.ReservedSpace)

	for _, bad := range []string{"response_ip_addr_size=20\n", "reserved_storage_space=150%\n", "store_path=1\n",
		"#include /etc/passwd\n"} {
		_, err := ParseParameters([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestTrackerTrunkAndIDs(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "ids", "storage_ids.conf"), "1 group1 [2001:db8::1]:23000\n2 group1 10.0.0.2\n")
	write(t, filepath.Join(dir, "tracker.conf"), "base_path=/x\nuse_trunk_file=true\nstore_server=0\n"+
		"use_storage_id=true\nstorage_ids_filename=ids/storage_ids.conf\nid_type_in_filename=ID\n"+
		"trunk_compress_binlog_time_base=3:5\n")
	tr, err := LoadTracker(filepath.Join(dir, "tracker.conf"))
	require.NoError(t, err)
	require.Equal(t, 1, tr.StoreServer, "trunk mode turns round robin into first-by-id")
	require.Equal(t, filepath.Join(dir, "ids", "storage_ids.conf"), tr.StorageIDsFilename)
	require.Len(t, tr.StorageIDs, 2)
	require.Equal(t, "id", tr.IDTypeInFilename)
	require.Equal(t, 46, tr.ResponseIPSize(), "auto with an IPv6 storage ID")
	require.Equal(t, "03:05", tr.TrunkCompressBinlogTimeBase)

	tr.ResponseIPAddrSize = "IPv4" // anything but auto means 46 (§1.7)
	tr.UseStorageID = false
	require.Equal(t, 46, tr.ResponseIPSize())
}

func TestTrackerErrors(t *testing.T) {
	cases := map[string]string{
		"":                               "base_path: required",
		"base_path=\n":                   "base_path: required",
		"base_path=/x\nport=0\n":         "port",
		"base_path=/x\nport=65536\n":     "port",
		"base_path=/x\nport=\n":          "port",
		"base_path=/x\nstore_lookup=3\n": "store_lookup",
		"base_path=/x\nstore_lookup=1\n": "store_group",
		"base_path=/x\nstore_lookup=1\nstore_group=bad_name\n":                      "store_group",
		"base_path=/x\nstore_server=5\n":                                            "store_server",
		"base_path=/x\nstore_path=1\n":                                              "store_path",
		"base_path=/x\ndownload_server=2\n":                                         "download_server",
		"base_path=/x\nreserved_storage_space=100%\n":                               "reserved_storage_space",
		"base_path=/x\nreserved_storage_space=10Q\n":                                "reserved_storage_space",
		"base_path=/x\nmin_buff_size=64KB\nmax_buff_size=8KB\n":                     "max_buff_size",
		"base_path=/x\nmin_buff_size=1\nmax_buff_size=8KB\n":                        "min_buff_size",
		"base_path=/x\nmax_buff_size=1X\nmin_buff_size=1K\n":                        "max_buff_size",
		"base_path=/x\nuse_storage_id=true\n":                                       "storage_ids_filename",
		"base_path=/x\nuse_storage_id=true\nstorage_ids_filename=none.conf\n":       "none.conf",
		"base_path=/x\nid_type_in_filename=name\n":                                  "id_type_in_filename",
		"base_path=/x\nlog_level=loud\n":                                            "log_level",
		"base_path=/x\naddress_family=IPv5\n":                                       "address_family",
		"base_path=/x\ntrunk_create_file_time_base=24:00\n":                         "trunk_create_file_time_base",
		"base_path=/x\ntrunk_compress_binlog_time_base=3\n":                         "trunk_compress_binlog_time_base",
		"base_path=/x\ntrunk_compress_binlog_interval=-1\n":                         "trunk_compress_binlog_interval",
		"base_path=/x\ntrunk_binlog_max_backups=-1\n":                               "trunk_binlog_max_backups",
		"base_path=/x\ntrunk_alloc_alignment_size=-1\n":                             "trunk_alloc_alignment_size",
		"base_path=/x\nuse_trunk_file=1\nslot_min_size=0\n":                         "slot_min_size",
		"base_path=/x\nuse_trunk_file=1\nslot_max_size=100\n":                       "slot_max_size",
		"base_path=/x\nuse_trunk_file=1\ntrunk_file_size=1MB\nslot_max_size=512K\n": "trunk_file_size",
		"base_path=/x\nuse_trunk_file=1\ntrunk_file_size=4MB\nslot_max_size=8MB\n":  "slot_max_size",
	}
	for text, want := range cases {
		_, err := trackerFrom(t, text)
		require.Error(t, err, text)
		require.ErrorContains(t, err, want, text)
		require.ErrorContains(t, err, "tracker config", text)
	}
	// All problems are reported together.
	_, err := trackerFrom(t, "port=0\nstore_lookup=9\n")
	require.ErrorContains(t, err, "base_path")
	require.ErrorContains(t, err, "port")
	require.ErrorContains(t, err, "store_lookup")

	_, err = LoadTracker(filepath.Join(t.TempDir(), "missing.conf"))
	require.Error(t, err)
}

func TestTrackerLenientValues(t *testing.T) {
	// FastDFS falls back to the default for non-positive counts and intervals.
	tr, err := trackerFrom(t, "base_path=/x\nconnect_timeout=0\nnetwork_timeout=-5\nmax_connections=0\n"+
		"work_threads=-1\ncheck_active_interval=0\nallow_hosts=\nallow_hosts=10.0.0.0/8\nallow_hosts=host[01-03]\n"+
		"response_ip_addr_size=AUTO\naddress_family=ipv6\nlog_level=DEBUG\n")
	require.NoError(t, err)
	d := DefaultTracker()
	require.Equal(t, d.ConnectTimeout, tr.ConnectTimeout)
	require.Equal(t, d.NetworkTimeout, tr.NetworkTimeout)
	require.Equal(t, d.MaxConnections, tr.MaxConnections)
	require.Equal(t, d.WorkThreads, tr.WorkThreads)
	require.Equal(t, d.CheckActiveInterval, tr.CheckActiveInterval)
	require.Equal(t, []string{"10.0.0.0/8", "host[01-03]"}, tr.AllowHosts)
	require.Equal(t, "auto", tr.ResponseIPAddrSize)
	require.Equal(t, "IPv6", tr.AddressFamily)
	require.Equal(t, "debug", tr.LogLevel)
	// Only one of the buffer sizes: both stay 256KB.
	tr, err = trackerFrom(t, "base_path=/x\nmax_buff_size=1MB\n")
	require.NoError(t, err)
	require.Equal(t, int64(256<<10), tr.MaxBuffSize)
	require.Equal(t, int64(256<<10), tr.MinBuffSize)
}

func TestTrackerDisabled(t *testing.T) {
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, "t.conf"), "disabled = true\nbase_path = /x\n")
	tr, err := LoadTracker(p)
	require.True(t, errors.Is(err, ErrDisabled))
	require.NotNil(t, tr)
	require.True(t, tr.Disabled)
}

// parameterVector returns the body of the tracker's answer to the captured
// PARAMETER_REQ (cmd 75) of scenario 20.
func parameterVector(t *testing.T) []byte {
	t.Helper()
	sc, err := vectors.Load("20")
	require.NoError(t, err)
	for _, c := range sc.Conns {
		for i, p := range c.Packets {
			if p.FromClient && p.Header.Cmd == 75 && i+1 < len(c.Packets) {
				return c.Packets[i+1].Body
			}
		}
	}
	t.Fatal("no PARAMETER_REQ answer in scenario 20")
	return nil
}
