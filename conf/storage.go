package conf

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Storage limits (docs/protocol.md §8.3).
const (
	MaxStorePaths  = 256
	MaxSubdirCount = 256
	MinBuffSize    = 8 << 10 // smallest buff_size accepted
)

// DefaultStorage returns storage.conf with FastDFS's code defaults
// (§8.3). BasePath, GroupName, StorePaths and TrackerServers are empty: the
// loader requires or derives them.
func DefaultStorage() *Storage {
	return &Storage{
		Port:                      DefaultStoragePort,
		ConnectTimeout:            10 * time.Second,
		NetworkTimeout:            30 * time.Second,
		HeartBeatInterval:         30 * time.Second,
		StatReportInterval:        300 * time.Second,
		MaxConnections:            256,
		BuffSize:                  256 << 10,
		WorkThreads:               4,
		SubdirCountPerPath:        256,
		AllowHosts:                []string{"*"},
		FileDistributeRotateCount: 100,
		SyncBinlogBuffInterval:    60 * time.Second,
		SyncStatFileInterval:      60 * time.Second,
		SyncWait:                  100 * time.Millisecond,
		SyncStartTime:             "00:00",
		SyncEndTime:               "23:59",
		WriteMarkFileFreq:         500,
		UploadPriority:            10,
		ConnectionPoolMaxIdleTime: 3600 * time.Second,
		LogLevel:                  "info",
		AddressFamily:             "auto",
		ClientBind:                true,
		AcceptThreads:             1,
		DiskRWSeparated:           true,
		DiskReaderThreads:         1,
		DiskWriterThreads:         1,
		SyncMinThreads:            1,
		SyncMaxThreads:            2, // auto = 2 × store_path_count, with one path
		DiskRecoveryThreads:       1,
		CompressBinlogTime:        "01:30",
		CheckStorePathMark:        true,
		Cluster:                   Cluster{SyncAckReplicas: 1},
		HTTP:                      DefaultStorageHTTP(),
		Transfer:                  Transfer{MinRate: DefaultMinTransferRate},
		VerifyInterval:            DefaultVerifyInterval,
	}
}

// LoadStorage reads and validates a storage.conf. The paths need not exist.
// With disabled=true it returns the config AND an error wrapping ErrDisabled.
func LoadStorage(path string) (*Storage, error) {
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	st, err := StorageFromFile(f)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// StorageFromFile builds a Storage from parsed storage.conf text.
func StorageFromFile(f *File) (*Storage, error) {
	st := DefaultStorage()
	r := &fields{s: f.Section("")}
	s := r.s

	st.Disabled = s.Bool("disabled", false)
	st.GroupName = s.String("group_name", "")
	if !validGroup(st.GroupName) {
		r.fail("group_name: %q must be 1 to 16 letters or digits", cut(st.GroupName, 40))
	}
	st.BindAddr = s.String("bind_addr", "")
	st.ClientBind = s.Bool("client_bind", true)
	st.Port = r.port("port", st.Port)
	st.AddressFamily = r.addressFamily()
	st.ServerID = s.String("server_id", "")
	if len(st.ServerID) > 16 || strings.ContainsAny(st.ServerID, " \t") {
		r.fail("server_id: %q must be at most 16 characters without blanks", cut(st.ServerID, 40))
	}
	st.ConnectTimeout = r.positiveSeconds("connect_timeout", st.ConnectTimeout)
	st.NetworkTimeout = r.positiveSeconds("network_timeout", st.NetworkTimeout)
	st.HeartBeatInterval = r.positiveSeconds("heart_beat_interval", st.HeartBeatInterval)
	st.StatReportInterval = r.positiveSeconds("stat_report_interval", st.StatReportInterval)
	st.BasePath = r.basePath()
	st.MaxConnections = r.positive("max_connections", st.MaxConnections)
	st.BuffSize = r.bytes("buff_size", st.BuffSize)
	if st.BuffSize < MinBuffSize {
		r.fail("buff_size: %d is below 8KB", st.BuffSize)
	}
	st.AcceptThreads = r.positive("accept_threads", st.AcceptThreads)
	st.WorkThreads = r.positive("work_threads", st.WorkThreads)
	st.DiskRWSeparated = s.Bool("disk_rw_separated", true)
	st.DiskReaderThreads = s.Int("disk_reader_threads", 1)
	st.DiskWriterThreads = s.Int("disk_writer_threads", 1)
	switch {
	case st.DiskReaderThreads < 0 || st.DiskWriterThreads < 0:
		r.fail("disk_reader_threads/disk_writer_threads: must not be negative")
	case st.DiskRWSeparated && (st.DiskReaderThreads == 0 || st.DiskWriterThreads == 0):
		r.fail("disk_reader_threads/disk_writer_threads: both must be > 0 when disk_rw_separated is true")
	case st.DiskReaderThreads+st.DiskWriterThreads == 0:
		r.fail("disk_reader_threads + disk_writer_threads: must be > 0")
	}
	st.SyncWait = time.Duration(r.positive("sync_wait_msec", 100)) * time.Millisecond
	st.SyncInterval = time.Duration(s.Int("sync_interval", 0)) * time.Millisecond
	if st.SyncInterval < 0 {
		r.fail("sync_interval: must not be negative")
		st.SyncInterval = 0
	}
	st.SyncStartTime = r.timeOfDay("sync_start_time", st.SyncStartTime)
	st.SyncEndTime = r.timeOfDay("sync_end_time", st.SyncEndTime)
	st.WriteMarkFileFreq = r.positive("write_mark_file_freq", st.WriteMarkFileFreq)
	st.DiskRecoveryThreads = r.positive("disk_recovery_threads", st.DiskRecoveryThreads)

	count := s.Int("store_path_count", 1)
	if count < 1 || count > MaxStorePaths {
		r.fail("store_path_count: %d is not 1..%d", count, MaxStorePaths)
		count = 1
	}
	st.StorePaths = make([]string, count)
	st.StorePathReadonly = make([]bool, count)
	seen := map[string]int{}
	for i := 0; i < count; i++ {
		key := fmt.Sprintf("store_path%d", i)
		p := s.String(key, "")
		if p == "" {
			if i > 0 {
				r.fail("%s: required because store_path_count is %d", key, count)
				continue
			}
			p = st.BasePath // FastDFS falls back to base_path for the first one
		}
		if p == "" {
			continue // base_path is missing, already reported
		}
		p = filepath.Clean(p)
		if j, dup := seen[p]; dup {
			r.fail("%s: %s is already store_path%d", key, p, j)
		}
		seen[p] = i
		st.StorePaths[i] = p
		st.StorePathReadonly[i] = s.Bool(key+"_readonly", false)
	}
	st.SyncMinThreads = r.positive("sync_min_threads", 1)
	if v := s.String("sync_max_threads", "auto"); v == "" || strings.EqualFold(v, "auto") {
		st.SyncMaxThreads = 2 * count
	} else {
		st.SyncMaxThreads = s.Int("sync_max_threads", 0)
		if st.SyncMaxThreads <= 0 {
			r.fail("sync_max_threads: %q must be auto or a positive number", cut(v, 40))
			st.SyncMaxThreads = 2 * count
		}
	}
	if st.SyncMaxThreads < st.SyncMinThreads {
		st.SyncMaxThreads = st.SyncMinThreads
	}

	st.SubdirCountPerPath = s.Int("subdir_count_per_path", st.SubdirCountPerPath)
	if st.SubdirCountPerPath < 1 || st.SubdirCountPerPath > MaxSubdirCount {
		r.fail("subdir_count_per_path: %d is not 1..%d", st.SubdirCountPerPath, MaxSubdirCount)
	}
	// The storage joins its trackers in the order written.
	for _, hp := range r.trackers() {
		st.TrackerServers = append(st.TrackerServers, hp.String())
	}
	st.LogLevel = r.logLevel()
	st.AllowHosts = r.allowHosts()
	st.FileDistributePathMode = r.choice("file_distribute_path_mode", 0, 0, 1)
	st.FileDistributeRotateCount = r.positive("file_distribute_rotate_count", st.FileDistributeRotateCount)
	st.FsyncAfterWrittenBytes = r.bytes("fsync_after_written_bytes", 0)
	st.SyncBinlogBuffInterval = r.positiveSeconds("sync_binlog_buff_interval", st.SyncBinlogBuffInterval)
	st.SyncStatFileInterval = r.positiveSeconds("sync_stat_file_interval", st.SyncStatFileInterval)
	st.UploadPriority = s.Int("upload_priority", st.UploadPriority)
	st.IfAliasPrefix = s.String("if_alias_prefix", "")
	st.CheckFileDuplicate = s.Bool("check_file_duplicate", false)
	st.FileSyncSkipInvalidRecord = s.Bool("file_sync_skip_invalid_record", false)
	st.UseConnectionPool = s.Bool("use_connection_pool", false)
	st.ConnectionPoolMaxIdleTime = r.positiveSeconds("connection_pool_max_idle_time", st.ConnectionPoolMaxIdleTime)
	st.CompressBinlog = s.Bool("compress_binlog", false)
	st.CompressBinlogTime = r.timeOfDay("compress_binlog_time", st.CompressBinlogTime)
	st.CheckStorePathMark = s.Bool("check_store_path_mark", true)
	st.AccessLogEnabled = f.Section("access-log").Bool("enabled", false)
	st.Cluster = r.cluster()
	st.HTTP = r.storageHTTP(f)
	st.MetricsAddr = r.metricsAddr()
	st.Transfer = r.transfer()
	st.ScrubPeriod = r.scrubPeriod()
	st.VerifyInterval = r.verifyInterval()

	if err := r.err("storage config"); err != nil {
		return nil, err
	}
	if st.Disabled {
		return st, ErrDisabled
	}
	return st, nil
}
