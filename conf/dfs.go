package conf

import "time"

// Tracker is tracker.conf (docs/protocol.md §8.2), with FastDFS's code defaults.
type Tracker struct {
	Disabled       bool
	BindAddr       string        // bind_addr; empty = all (we default to all, tests use 127.0.0.x)
	Port           int           // port, 22122
	ConnectTimeout time.Duration // connect_timeout, 10s
	NetworkTimeout time.Duration // network_timeout, 60s
	BasePath       string        // base_path, required
	MaxConnections int           // max_connections, 256
	WorkThreads    int           // work_threads, 4
	MaxBuffSize    int64         // max_buff_size, 256KB (requests larger than this are refused)

	StoreLookup                int    // store_lookup 0 rr, 1 fixed group, 2 load balance; default 0
	StoreGroup                 string // store_group
	StoreServer                int    // store_server 0 rr, 1 first by id, 2 priority
	StorePath                  int    // store_path 0 rr, 2 most free
	DownloadServer             int    // download_server 0 rr, 1 source first
	ReservedSpace              Reserved
	AllowHosts                 []string      // allow_hosts (repeatable), default ["*"]
	CheckActiveInterval        time.Duration // check_active_interval, 100s
	StorageSyncFileMaxDelay    time.Duration // storage_sync_file_max_delay, 86400s
	StorageSyncFileMaxTime     time.Duration // storage_sync_file_max_time, 300s
	StorageIPChangedAutoAdjust bool          // storage_ip_changed_auto_adjust, true
	UseTrunkFile               bool
	SlotMinSize                int64 // slot_min_size, 256
	SlotMaxSize                int64 // slot_max_size, trunk_file_size/8
	TrunkFileSize              int64 // trunk_file_size, 64MB
	UseStorageID               bool
	StorageIDsFilename         string // resolved against the conf file's directory
	IDTypeInFilename           string // "ip" (default) or "id"; always "ip" when !UseStorageID
	TrustStorageServerID       bool   // true
	StoreSlaveFileUseLink      bool
	ResponseIPAddrSize         string // "auto" or other (any other value means 46, §1.7)
	UseConnectionPool          bool
	ConnectionPoolMaxIdleTime  time.Duration // 3600s
	LogLevel                   string        // log_level, "info"

	// Added by the loader (docs/protocol.md §8.2, §2.9).
	AddressFamily                  string           // address_family: auto, IPv4, IPv6 or both
	AcceptThreads                  int              // accept_threads, 1
	MinBuffSize                    int64            // min_buff_size, 256KB when either buff size is absent
	TrunkAllocAlignmentSize        int64            // trunk_alloc_alignment_size, 0
	TrunkCreateFileAdvance         bool             // trunk_create_file_advance
	TrunkCreateFileTimeBase        string           // trunk_create_file_time_base, "02:00"
	TrunkCreateFileInterval        time.Duration    // trunk_create_file_interval, 86400s
	TrunkCreateFileSpaceThreshold  int64            // trunk_create_file_space_threshold, 0
	TrunkInitCheckOccupying        bool             // trunk_init_check_occupying
	TrunkInitReloadFromBinlog      bool             // trunk_init_reload_from_binlog
	TrunkFreeSpaceMerge            bool             // trunk_free_space_merge
	DeleteUnusedTrunkFiles         bool             // delete_unused_trunk_files
	TrunkCompressBinlogMinInterval time.Duration    // trunk_compress_binlog_min_interval, 0
	TrunkCompressBinlogInterval    time.Duration    // trunk_compress_binlog_interval, 0
	TrunkCompressBinlogTimeBase    string           // trunk_compress_binlog_time_base, "03:00"
	TrunkBinlogMaxBackups          int              // trunk_binlog_max_backups, 0
	StorageIDs                     []StorageIDEntry // storage_ids.conf, loaded when UseStorageID

	ClusterSecret string // cluster_secret (yunpan extension, conf/cluster.go): storages and peer trackers must prove it
	MetricsAddr   string // metrics_addr (yunpan extension, conf/metrics.go): Prometheus /metrics listener, "" = off
}

// Reserved is reserved_storage_space: an absolute MB amount or a ratio.
type Reserved struct {
	MB    int64   // used when Ratio == 0
	Ratio float64 // 0 < Ratio < 1 when given as a percentage
	Text  string  // as sent in PARAMETER_REQ: "20.00%" or "1024MB"
}

// Storage is storage.conf (docs/protocol.md §8.3).
type Storage struct {
	Disabled                   bool
	GroupName                  string
	BindAddr                   string
	Port                       int // 23000
	ServerID                   string
	ConnectTimeout             time.Duration // 10s
	NetworkTimeout             time.Duration // 30s
	HeartBeatInterval          time.Duration // 30s
	StatReportInterval         time.Duration // 300s
	BasePath                   string
	MaxConnections             int           // 256
	BuffSize                   int64         // 256KB
	WorkThreads                int           // 4
	StorePaths                 []string      // store_path0..N-1; store_path0 defaults to base_path
	StorePathReadonly          []bool        // store_pathN_readonly
	SubdirCountPerPath         int           // 256
	TrackerServers             []string      // "host:port" (port defaulted to 22122), in file order
	AllowHosts                 []string      // default ["*"]
	FileDistributePathMode     int           // 0
	FileDistributeRotateCount  int           // 100
	FsyncAfterWrittenBytes     int64         // 0 = never
	SyncBinlogBuffInterval     time.Duration // 60s
	SyncStatFileInterval       time.Duration // 60s
	SyncWait                   time.Duration // sync_wait_msec, 100ms
	SyncInterval               time.Duration // 0
	SyncStartTime, SyncEndTime string        // "00:00", "23:59"
	WriteMarkFileFreq          int           // 500
	UploadPriority             int           // 10
	UseConnectionPool          bool
	ConnectionPoolMaxIdleTime  time.Duration // 3600s
	LogLevel                   string        // "info"

	// Added by the loader (docs/protocol.md §8.3).
	AddressFamily             string // address_family, "auto"
	ClientBind                bool   // client_bind, true
	AcceptThreads             int    // accept_threads, 1
	DiskRWSeparated           bool   // disk_rw_separated, true
	DiskReaderThreads         int    // disk_reader_threads, 1 (per store path)
	DiskWriterThreads         int    // disk_writer_threads, 1 (per store path)
	SyncMinThreads            int    // sync_min_threads, 1
	SyncMaxThreads            int    // sync_max_threads; "auto" (default) = 2 × store_path_count
	DiskRecoveryThreads       int    // disk_recovery_threads, 1
	IfAliasPrefix             string // if_alias_prefix
	CheckFileDuplicate        bool   // check_file_duplicate (FastDHT; not supported, kept for reporting)
	FileSyncSkipInvalidRecord bool   // file_sync_skip_invalid_record
	CompressBinlog            bool   // compress_binlog
	CompressBinlogTime        string // compress_binlog_time, "01:30"
	CheckStorePathMark        bool   // check_store_path_mark, true
	AccessLogEnabled          bool   // [access-log] enabled

	Cluster Cluster // yunpan's cluster_secret and sync_ack_replicas (conf/cluster.go)

	HTTP StorageHTTP // http.* keys: the storage's HTTP download side (conf/http.go)

	MetricsAddr string // metrics_addr (yunpan extension, conf/metrics.go): Prometheus /metrics listener, "" = off

	Transfer Transfer // min_transfer_rate and its grace: slow senders and readers are cut off (conf/transfer.go)

	ScrubPeriod time.Duration // scrub_period (yunpan extension, conf/scrub.go): every file is read and checked once per period; 0 = off

	VerifyInterval time.Duration // verify_interval (yunpan extension, conf/scrub.go): a download's CRC32 check of a file stands this long; 0 = every download
}

// Client is client.conf (docs/protocol.md §8.4).
type Client struct {
	ConnectTimeout            time.Duration // 10s
	NetworkTimeout            time.Duration // 30s
	BasePath                  string        // /tmp
	TrackerServers            []string      // "host:port", duplicates removed, sorted
	LogLevel                  string        // "info"
	UseConnectionPool         bool
	ConnectionPoolMaxIdleTime time.Duration // 3600s
	LoadParamsFromTracker     bool
	UseStorageID              bool
	StorageIDsFilename        string
	AntiStealCheckToken       bool   // http.anti_steal.check_token
	AntiStealSecretKey        string // http.anti_steal.secret_key

	// Added by the loader (docs/protocol.md §8.4).
	ConnectFirstBy string           // connect_first_by: "tracker" or "last-connected"
	StorageIDs     []StorageIDEntry // loaded when UseStorageID and not LoadParamsFromTracker
}
