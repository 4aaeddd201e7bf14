package conf

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func storageFrom(t *testing.T, text string) (*Storage, error) {
	t.Helper()
	f, err := Parse([]byte(text), t.TempDir())
	require.NoError(t, err)
	return StorageFromFile(f)
}

const minStorage = "group_name=group1\nbase_path=/data/s/\ntracker_server=127.0.0.1\n"

func TestStorageDefaults(t *testing.T) {
	st, err := storageFrom(t, minStorage)
	require.NoError(t, err)
	want := DefaultStorage()
	want.GroupName = "group1"
	want.BasePath = "/data/s"
	want.StorePaths = []string{"/data/s"}
	want.StorePathReadonly = []bool{false}
	want.TrackerServers = []string{"127.0.0.1:22122"}
	require.Equal(t, want, st)

	require.Equal(t, 23000, st.Port)
	require.Equal(t, 30*time.Second, st.HeartBeatInterval)
	require.Equal(t, 300*time.Second, st.StatReportInterval)
	require.Equal(t, int64(256<<10), st.BuffSize)
	require.Equal(t, 256, st.SubdirCountPerPath)
	require.Equal(t, 100, st.FileDistributeRotateCount)
	require.Equal(t, 10, st.UploadPriority)
	require.Equal(t, 100*time.Millisecond, st.SyncWait)
	require.Equal(t, "00:00", st.SyncStartTime)
	require.Equal(t, "23:59", st.SyncEndTime)
	require.Equal(t, 500, st.WriteMarkFileFreq)
	require.Equal(t, []string{"*"}, st.AllowHosts)
}

func TestStorageSample(t *testing.T) {
	st, err := LoadStorage("storage.conf")
	require.NoError(t, err)
	require.Equal(t, "group1", st.GroupName)
	require.Equal(t, "/opt/fastdfs", st.BasePath)
	require.Equal(t, []string{"/opt/fastdfs"}, st.StorePaths)
	require.Equal(t, []bool{false}, st.StorePathReadonly)
	require.Equal(t, []string{"127.0.0.1:22122"}, st.TrackerServers)
	require.Equal(t, 60*time.Second, st.StatReportInterval)
	require.Equal(t, 50*time.Millisecond, st.SyncWait)
	require.Equal(t, time.Second, st.SyncBinlogBuffInterval)
	require.Equal(t, 2, st.SyncMaxThreads)
	require.True(t, st.CompressBinlog)
	require.False(t, st.AccessLogEnabled)
	require.Equal(t, "", st.ServerID)
}

func TestStorageStorePaths(t *testing.T) {
	st, err := storageFrom(t, minStorage+"store_path_count=3\nstore_path1=/d1/\nstore_path2=/d2\n"+
		"store_path1_readonly=true\nsync_max_threads=auto\n")
	require.NoError(t, err)
	require.Equal(t, []string{"/data/s", "/d1", "/d2"}, st.StorePaths)
	require.Equal(t, []bool{false, true, false}, st.StorePathReadonly)
	require.Equal(t, 6, st.SyncMaxThreads)

	// 256 paths is the maximum.
	var b strings.Builder
	b.WriteString(minStorage + "store_path_count=256\n")
	for i := 1; i < 256; i++ {
		fmt.Fprintf(&b, "store_path%d=/d%d\n", i, i)
	}
	st, err = storageFrom(t, b.String())
	require.NoError(t, err)
	require.Len(t, st.StorePaths, 256)
	require.Equal(t, "/d255", st.StorePaths[255])
}

func TestStorageTrackerServers(t *testing.T) {
	st, err := storageFrom(t, "group_name=g\nbase_path=/b\ntracker_server=10.0.0.9:22122\n"+
		"tracker_server=10.0.0.1\ntracker_server=10.0.0.9\ntracker_server=[::1]:9\ntracker_server=10.0.0.5,203.0.113.7\n")
	require.NoError(t, err)
	// File order kept; exact duplicates dropped.
	require.Equal(t, []string{"10.0.0.9:22122", "10.0.0.1:22122", "[::1]:9", "10.0.0.5,203.0.113.7:22122"}, st.TrackerServers)
}

func TestStorageOtherSettings(t *testing.T) {
	st, err := storageFrom(t, minStorage+"port=23001\nserver_id=100001\nbuff_size=64KB\nsync_interval=15\n"+
		"sync_start_time=1:30\nsync_end_time=05:00\nfile_distribute_path_mode=1\nfsync_after_written_bytes=1M\n"+
		"upload_priority=-2\ndisk_rw_separated=false\ndisk_reader_threads=0\nsync_max_threads=1\nsync_min_threads=3\n"+
		"[access-log]\nenabled=yes\n")
	require.NoError(t, err)
	require.Equal(t, 23001, st.Port)
	require.Equal(t, "100001", st.ServerID)
	require.Equal(t, int64(64<<10), st.BuffSize)
	require.Equal(t, 15*time.Millisecond, st.SyncInterval)
	require.Equal(t, "01:30", st.SyncStartTime)
	require.Equal(t, "05:00", st.SyncEndTime)
	require.Equal(t, 1, st.FileDistributePathMode)
	require.Equal(t, int64(1<<20), st.FsyncAfterWrittenBytes)
	require.Equal(t, -2, st.UploadPriority)
	require.Equal(t, 3, st.SyncMaxThreads, "max is raised to min")
	require.True(t, st.AccessLogEnabled)
}

func TestStorageErrors(t *testing.T) {
	cases := map[string]string{
		"base_path=/b\ntracker_server=t\n":                                                 "group_name",
		"group_name=\nbase_path=/b\ntracker_server=t\n":                                    "group_name",
		"group_name=group_1\nbase_path=/b\ntracker_server=t\n":                             "group_name",
		"group_name=g12345678901234567\nbase_path=/b\ntracker_server=t\n":                  "group_name",
		"group_name=g\ntracker_server=t\n":                                                 "base_path",
		"group_name=g\nbase_path=/b\n":                                                     "tracker_server: at least one",
		"group_name=g\nbase_path=/b\ntracker_server=::1\n":                                 "brackets",
		"group_name=g\nbase_path=/b\ntracker_server=t:0\n":                                 "port",
		minStorage + "port=70000\n":                                                        "port",
		minStorage + "store_path_count=0\n":                                                "store_path_count",
		minStorage + "store_path_count=257\n":                                              "store_path_count",
		minStorage + "store_path_count=2\n":                                                "store_path1: required",
		minStorage + "store_path_count=2\nstore_path1=/data/s\n":                           "already store_path0",
		minStorage + "subdir_count_per_path=0\n":                                           "subdir_count_per_path",
		minStorage + "subdir_count_per_path=257\n":                                         "subdir_count_per_path",
		minStorage + "buff_size=4KB\n":                                                     "buff_size",
		minStorage + "buff_size=4Q\n":                                                      "buff_size",
		minStorage + "server_id=12345678901234567\n":                                       "server_id",
		minStorage + "sync_start_time=7\n":                                                 "sync_start_time",
		minStorage + "sync_end_time=12:60\n":                                               "sync_end_time",
		minStorage + "compress_binlog_time=x\n":                                            "compress_binlog_time",
		minStorage + "file_distribute_path_mode=2\n":                                       "file_distribute_path_mode",
		minStorage + "fsync_after_written_bytes=-1\n":                                      "fsync_after_written_bytes",
		minStorage + "sync_interval=-1\n":                                                  "sync_interval",
		minStorage + "sync_max_threads=many\n":                                             "sync_max_threads",
		minStorage + "disk_reader_threads=0\n":                                             "disk_reader_threads",
		minStorage + "disk_rw_separated=0\ndisk_reader_threads=0\ndisk_writer_threads=0\n": "must be > 0",
		minStorage + "disk_writer_threads=-1\n":                                            "negative",
		minStorage + "log_level=verbose\n":                                                 "log_level",
	}
	for text, want := range cases {
		_, err := storageFrom(t, text)
		require.Error(t, err, text)
		require.ErrorContains(t, err, want, text)
		require.ErrorContains(t, err, "storage config", text)
	}
	var b strings.Builder
	b.WriteString("group_name=g\nbase_path=/b\n")
	for i := 0; i < 17; i++ {
		fmt.Fprintf(&b, "tracker_server=10.0.0.%d\n", i)
	}
	_, err := storageFrom(t, b.String())
	require.ErrorContains(t, err, "at most 16")
}

func TestStorageDisabled(t *testing.T) {
	p := write(t, filepath.Join(t.TempDir(), "s.conf"), "disabled=yes\n"+minStorage)
	st, err := LoadStorage(p)
	require.True(t, errors.Is(err, ErrDisabled))
	require.True(t, st.Disabled)
}
