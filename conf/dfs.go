package conf

import "time"

// Tracker is tracker.conf (spec §8.2), with FastDFS's code defaults.
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
	SlotMinSize                int64
	SlotMaxSize                int64
	TrunkFileSize              int64
	UseStorageID               bool
	StorageIDsFilename         string // resolved against the conf file's directory
	IDTypeInFilename           string // "ip" or "id"
	TrustStorageServerID       bool   // true
	StoreSlaveFileUseLink      bool
	ResponseIPAddrSize         string // "auto" or other
	UseConnectionPool          bool
	ConnectionPoolMaxIdleTime  time.Duration
	LogLevel                   string // log_level, "info"
}

// Reserved is reserved_storage_space: an absolute MB amount or a ratio.
type Reserved struct {
	MB    int64   // used when Ratio == 0
	Ratio float64 // 0 < Ratio < 1 when given as a percentage
	Text  string  // as sent in PARAMETER_REQ: "20.00%" or "1024MB"
}

// Storage is storage.conf (spec §8.3).
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
	MaxConnections             int   // 256
	BuffSize                   int64 // 256KB
	WorkThreads                int
	StorePaths                 []string // store_path0..N-1; store_path0 defaults to base_path
	StorePathReadonly          []bool   // store_pathN_readonly
	SubdirCountPerPath         int      // 256
	TrackerServers             []string // "host:port" (port defaulted to 22122), in file order
	AllowHosts                 []string
	FileDistributePathMode     int // 0
	FileDistributeRotateCount  int // 100
	FsyncAfterWrittenBytes     int64
	SyncBinlogBuffInterval     time.Duration // 60s
	SyncStatFileInterval       time.Duration // 60s
	SyncWaitMsec               time.Duration // 100ms
	SyncInterval               time.Duration // 0
	SyncStartTime, SyncEndTime string        // "00:00", "23:59"
	WriteMarkFileFreq          int           // 500
	UploadPriority             int           // 10
	UseConnectionPool          bool
	ConnectionPoolMaxIdleTime  time.Duration
	LogLevel                   string
}

// Client is client.conf (spec §8.4).
type Client struct {
	ConnectTimeout            time.Duration // 10s
	NetworkTimeout            time.Duration // 30s
	BasePath                  string        // /tmp
	TrackerServers            []string      // "host:port", duplicates removed, sorted
	LogLevel                  string
	UseConnectionPool         bool
	ConnectionPoolMaxIdleTime time.Duration // 3600s
	LoadParamsFromTracker     bool
	UseStorageID              bool
	StorageIDsFilename        string
	AntiStealCheckToken       bool   // http.anti_steal.check_token
	AntiStealSecretKey        string // http.anti_steal.secret_key
}
