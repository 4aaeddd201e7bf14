package conf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTracker returns tracker.conf with FastDFS's code defaults
// (§8.2). BasePath is empty: it has no default and LoadTracker requires it.
func DefaultTracker() *Tracker {
	return &Tracker{
		Port:                        DefaultTrackerPort,
		ConnectTimeout:              10 * time.Second,
		NetworkTimeout:              60 * time.Second,
		MaxConnections:              256,
		WorkThreads:                 4,
		AcceptThreads:               1,
		MinBuffSize:                 256 << 10,
		MaxBuffSize:                 256 << 10,
		ReservedSpace:               DefaultReserved(),
		AllowHosts:                  []string{"*"},
		CheckActiveInterval:         100 * time.Second,
		StorageSyncFileMaxDelay:     86400 * time.Second,
		StorageSyncFileMaxTime:      300 * time.Second,
		StorageIPChangedAutoAdjust:  true,
		SlotMinSize:                 256,
		SlotMaxSize:                 (64 << 20) / 8,
		TrunkFileSize:               64 << 20,
		IDTypeInFilename:            "ip",
		TrustStorageServerID:        true,
		ResponseIPAddrSize:          "auto",
		ConnectionPoolMaxIdleTime:   3600 * time.Second,
		LogLevel:                    "info",
		AddressFamily:               "auto",
		TrunkCreateFileTimeBase:     "02:00",
		TrunkCreateFileInterval:     86400 * time.Second,
		TrunkCompressBinlogTimeBase: "03:00",
	}
}

// LoadTracker reads and validates a tracker.conf. base_path need not exist.
// With disabled=true it returns the config AND an error wrapping ErrDisabled.
func LoadTracker(path string) (*Tracker, error) {
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	t, err := TrackerFromFile(f)
	if err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// TrackerFromFile builds a Tracker from parsed tracker.conf text.
func TrackerFromFile(f *File) (*Tracker, error) {
	t := DefaultTracker()
	r := &fields{s: f.Section("")}
	s := r.s

	t.Disabled = s.Bool("disabled", false)
	t.BindAddr = s.String("bind_addr", "")
	t.Port = r.port("port", t.Port)
	t.AddressFamily = r.addressFamily()
	if v := s.String("response_ip_addr_size", "auto"); v == "" || strings.EqualFold(v, "auto") {
		t.ResponseIPAddrSize = "auto"
	} else {
		t.ResponseIPAddrSize = v
	}
	t.ConnectTimeout = r.positiveSeconds("connect_timeout", t.ConnectTimeout)
	t.NetworkTimeout = r.positiveSeconds("network_timeout", t.NetworkTimeout)
	t.BasePath = r.basePath()
	t.MaxConnections = r.positive("max_connections", t.MaxConnections)
	t.AcceptThreads = r.positive("accept_threads", t.AcceptThreads)
	t.WorkThreads = r.positive("work_threads", t.WorkThreads)
	// FastDFS takes the pair only when both are present.
	if s.Has("min_buff_size") && s.Has("max_buff_size") {
		t.MinBuffSize = r.bytes("min_buff_size", t.MinBuffSize)
		t.MaxBuffSize = r.bytes("max_buff_size", t.MaxBuffSize)
		if t.MinBuffSize < 4<<10 {
			r.fail("min_buff_size: %d is below 4KB", t.MinBuffSize)
		}
		if t.MaxBuffSize < t.MinBuffSize {
			r.fail("max_buff_size: %d is below min_buff_size %d", t.MaxBuffSize, t.MinBuffSize)
		}
	}

	t.StoreLookup = r.choice("store_lookup", 0, 0, 1, 2)
	t.StoreGroup = s.String("store_group", "")
	if t.StoreLookup == 1 && !validGroup(t.StoreGroup) {
		r.fail("store_group: %q must be a group name of 1 to 16 letters or digits when store_lookup=1", cut(t.StoreGroup, 40))
	}
	t.StoreServer = r.choice("store_server", 0, 0, 1, 2)
	t.StorePath = r.choice("store_path", 0, 0, 2)
	t.DownloadServer = r.choice("download_server", 0, 0, 1)
	if s.Has("reserved_storage_space") {
		rs, err := ParseReserved(s.String("reserved_storage_space", ""))
		if err != nil {
			r.errs = append(r.errs, err)
		} else {
			t.ReservedSpace = rs
		}
	}
	t.LogLevel = r.logLevel()
	t.AllowHosts = r.allowHosts()
	t.CheckActiveInterval = r.positiveSeconds("check_active_interval", t.CheckActiveInterval)
	t.StorageIPChangedAutoAdjust = s.Bool("storage_ip_changed_auto_adjust", true)
	t.StorageSyncFileMaxDelay = r.positiveSeconds("storage_sync_file_max_delay", t.StorageSyncFileMaxDelay)
	t.StorageSyncFileMaxTime = r.positiveSeconds("storage_sync_file_max_time", t.StorageSyncFileMaxTime)

	t.UseTrunkFile = s.Bool("use_trunk_file", false)
	t.SlotMinSize = r.bytes("slot_min_size", t.SlotMinSize)
	t.TrunkFileSize = r.bytes("trunk_file_size", t.TrunkFileSize)
	t.SlotMaxSize = r.bytes("slot_max_size", t.TrunkFileSize/8)
	t.TrunkAllocAlignmentSize = s.Int64("trunk_alloc_alignment_size", 0)
	if t.TrunkAllocAlignmentSize < 0 {
		r.fail("trunk_alloc_alignment_size: must not be negative")
		t.TrunkAllocAlignmentSize = 0
	}
	t.TrunkCreateFileAdvance = s.Bool("trunk_create_file_advance", false)
	t.TrunkCreateFileTimeBase = r.timeOfDay("trunk_create_file_time_base", t.TrunkCreateFileTimeBase)
	t.TrunkCreateFileInterval = r.positiveSeconds("trunk_create_file_interval", t.TrunkCreateFileInterval)
	t.TrunkCreateFileSpaceThreshold = r.bytes("trunk_create_file_space_threshold", 0)
	t.TrunkInitCheckOccupying = s.Bool("trunk_init_check_occupying", false)
	t.TrunkInitReloadFromBinlog = s.Bool("trunk_init_reload_from_binlog", false)
	t.TrunkFreeSpaceMerge = s.Bool("trunk_free_space_merge", false)
	t.DeleteUnusedTrunkFiles = s.Bool("delete_unused_trunk_files", false)
	t.TrunkCompressBinlogMinInterval = r.nonNegSeconds("trunk_compress_binlog_min_interval", 0)
	t.TrunkCompressBinlogInterval = r.nonNegSeconds("trunk_compress_binlog_interval", 0)
	t.TrunkCompressBinlogTimeBase = r.timeOfDay("trunk_compress_binlog_time_base", t.TrunkCompressBinlogTimeBase)
	t.TrunkBinlogMaxBackups = s.Int("trunk_binlog_max_backups", 0)
	if t.TrunkBinlogMaxBackups < 0 {
		r.fail("trunk_binlog_max_backups: must not be negative")
		t.TrunkBinlogMaxBackups = 0
	}
	if t.UseTrunkFile {
		switch {
		case t.SlotMinSize <= 0:
			r.fail("slot_min_size: must be > 0")
		case t.SlotMaxSize <= t.SlotMinSize:
			r.fail("slot_max_size: %d must be greater than slot_min_size %d", t.SlotMaxSize, t.SlotMinSize)
		case t.TrunkFileSize < 4<<20:
			r.fail("trunk_file_size: %d is below 4MB", t.TrunkFileSize)
		case t.SlotMaxSize > t.TrunkFileSize:
			r.fail("slot_max_size: %d is larger than trunk_file_size %d", t.SlotMaxSize, t.TrunkFileSize)
		}
		if t.StoreServer == 0 {
			t.StoreServer = 1 // §7.2: trunk mode needs a stable upload server
		}
	}

	t.UseStorageID = s.Bool("use_storage_id", false)
	if name := s.String("storage_ids_filename", ""); name != "" {
		t.StorageIDsFilename = f.Resolve(name)
	}
	if t.UseStorageID {
		t.StorageIDsFilename, t.StorageIDs = r.storageIDs(f)
	}
	switch v := strings.ToLower(s.String("id_type_in_filename", "ip")); v {
	case "ip", "id", "":
		if v == "id" && t.UseStorageID {
			t.IDTypeInFilename = "id"
		} else {
			t.IDTypeInFilename = "ip" // "id" only takes effect with use_storage_id
		}
	default:
		r.fail("id_type_in_filename: %q is not ip or id", cut(v, 40))
	}
	t.TrustStorageServerID = s.Bool("trust_storage_server_id", true)
	t.StoreSlaveFileUseLink = s.Bool("store_slave_file_use_link", false)
	t.UseConnectionPool = s.Bool("use_connection_pool", false)
	t.ConnectionPoolMaxIdleTime = r.positiveSeconds("connection_pool_max_idle_time", t.ConnectionPoolMaxIdleTime)
	t.ClusterSecret = r.clusterSecret()
	t.MetricsAddr = r.metricsAddr()

	if err := r.err("tracker config"); err != nil {
		return nil, err
	}
	if t.Disabled {
		return t, ErrDisabled
	}
	return t, nil
}

// ResponseIPSize is the IP field width (16 or 46) of query and list
// responses (§1.7): "auto" gives 46 only when storage IDs are used and one
// of them has an IPv6 address.
func (t *Tracker) ResponseIPSize() int {
	if t.ResponseIPAddrSize != "" && t.ResponseIPAddrSize != "auto" {
		return 46
	}
	if t.UseStorageID {
		for _, e := range t.StorageIDs {
			for _, h := range e.Addr.Hosts {
				if strings.ContainsRune(h, ':') {
					return 46
				}
			}
		}
	}
	return 16
}

// ParameterText is the body of the PARAMETER_REQ (75) response (§2.9): one
// key=value per line, in FastDFS's order, booleans as 0/1.
func (t *Tracker) ParameterText() string {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	secs := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	kv := [][2]string{
		{"use_storage_id", b(t.UseStorageID)},
		{"id_type_in_filename", t.IDTypeInFilename},
		{"trust_storage_server_id", b(t.TrustStorageServerID)},
		{"response_ip_addr_size", strconv.Itoa(t.ResponseIPSize())},
		{"storage_ip_changed_auto_adjust", b(t.StorageIPChangedAutoAdjust)},
		{"storage_sync_file_max_delay", secs(t.StorageSyncFileMaxDelay)},
		{"store_path", strconv.Itoa(t.StorePath)},
		{"reserved_storage_space", t.ReservedSpace.String()},
		{"use_trunk_file", b(t.UseTrunkFile)},
		{"slot_min_size", i64(t.SlotMinSize)},
		{"slot_max_size", i64(t.SlotMaxSize)},
		{"trunk_alloc_alignment_size", i64(t.TrunkAllocAlignmentSize)},
		{"trunk_file_size", i64(t.TrunkFileSize)},
		{"trunk_create_file_advance", b(t.TrunkCreateFileAdvance)},
		{"trunk_create_file_time_base", t.TrunkCreateFileTimeBase},
		{"trunk_create_file_interval", secs(t.TrunkCreateFileInterval)},
		{"trunk_create_file_space_threshold", i64(t.TrunkCreateFileSpaceThreshold)},
		{"trunk_init_check_occupying", b(t.TrunkInitCheckOccupying)},
		{"trunk_init_reload_from_binlog", b(t.TrunkInitReloadFromBinlog)},
		{"trunk_free_space_merge", b(t.TrunkFreeSpaceMerge)},
		{"delete_unused_trunk_files", b(t.DeleteUnusedTrunkFiles)},
		{"trunk_compress_binlog_min_interval", secs(t.TrunkCompressBinlogMinInterval)},
		{"trunk_compress_binlog_interval", secs(t.TrunkCompressBinlogInterval)},
		{"trunk_compress_binlog_time_base", t.TrunkCompressBinlogTimeBase},
		{"trunk_binlog_max_backups", strconv.Itoa(t.TrunkBinlogMaxBackups)},
		{"store_slave_file_use_link", b(t.StoreSlaveFileUseLink)},
	}
	var sb strings.Builder
	for _, p := range kv {
		sb.WriteString(p[0])
		sb.WriteByte('=')
		sb.WriteString(p[1])
		sb.WriteByte('\n')
	}
	return sb.String()
}
