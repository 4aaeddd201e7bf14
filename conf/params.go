package conf

import (
	"fmt"
	"time"
)

// TrackerParams is what a storage (or a client with
// load_fdfs_parameters_from_tracker) learns from the PARAMETER_REQ (75)
// response, docs/protocol.md §2.9. Absent keys keep the tracker's code defaults.
type TrackerParams struct {
	UseStorageID               bool
	IDTypeInFilename           string // "ip" or "id"
	TrustStorageServerID       bool
	ResponseIPAddrSize         int // 16 or 46
	StorageIPChangedAutoAdjust bool
	StorageSyncFileMaxDelay    time.Duration
	StorePath                  int // store_path mode: 0 round robin, 2 load balance
	ReservedSpace              Reserved
	UseTrunkFile               bool
	SlotMinSize                int64
	SlotMaxSize                int64
	TrunkAllocAlignmentSize    int64
	TrunkFileSize              int64
	StoreSlaveFileUseLink      bool
	// Trunk files created ahead of need (the trunk server's work).
	TrunkCreateFileAdvance        bool
	TrunkCreateFileTimeBase       string // "HH:MM"
	TrunkCreateFileInterval       time.Duration
	TrunkCreateFileSpaceThreshold int64 // bytes
	TrunkFreeSpaceMerge           bool  // trunk_free_space_merge
}

// ParseParameters parses a PARAMETER_REQ response body (key=value lines,
// read with the ini rules). Only the keys a storage acts on are kept.
func ParseParameters(body []byte) (TrackerParams, error) {
	f, err := parseNoInclude(body)
	if err != nil {
		return TrackerParams{}, fmt.Errorf("tracker parameters: %w", err)
	}
	d := DefaultTracker()
	r := &fields{s: f.Section("")}
	s := r.s
	p := TrackerParams{
		UseStorageID:               s.Bool("use_storage_id", false),
		IDTypeInFilename:           "ip",
		TrustStorageServerID:       s.Bool("trust_storage_server_id", d.TrustStorageServerID),
		ResponseIPAddrSize:         16,
		StorageIPChangedAutoAdjust: s.Bool("storage_ip_changed_auto_adjust", d.StorageIPChangedAutoAdjust),
		StorageSyncFileMaxDelay:    r.positiveSeconds("storage_sync_file_max_delay", d.StorageSyncFileMaxDelay),
		StorePath:                  r.choice("store_path", 0, 0, 2),
		ReservedSpace:              d.ReservedSpace,
		UseTrunkFile:               s.Bool("use_trunk_file", false),
		SlotMinSize:                s.Int64("slot_min_size", d.SlotMinSize),
		SlotMaxSize:                s.Int64("slot_max_size", d.SlotMaxSize),
		TrunkAllocAlignmentSize:    s.Int64("trunk_alloc_alignment_size", 0),
		TrunkFileSize:              s.Int64("trunk_file_size", d.TrunkFileSize),
		StoreSlaveFileUseLink:      s.Bool("store_slave_file_use_link", false),

		TrunkCreateFileAdvance:        s.Bool("trunk_create_file_advance", false),
		TrunkCreateFileTimeBase:       r.timeOfDay("trunk_create_file_time_base", d.TrunkCreateFileTimeBase),
		TrunkCreateFileInterval:       r.positiveSeconds("trunk_create_file_interval", d.TrunkCreateFileInterval),
		TrunkCreateFileSpaceThreshold: r.bytes("trunk_create_file_space_threshold", 0),
		TrunkFreeSpaceMerge:           s.Bool("trunk_free_space_merge", false),
	}
	if s.String("id_type_in_filename", "ip") == "id" {
		p.IDTypeInFilename = "id"
	}
	switch n := s.Int("response_ip_addr_size", 16); n {
	case 16, 46:
		p.ResponseIPAddrSize = n
	default:
		r.fail("response_ip_addr_size: %d is not 16 or 46", n)
	}
	if s.Has("reserved_storage_space") {
		rs, err := ParseReserved(s.String("reserved_storage_space", ""))
		if err != nil {
			r.errs = append(r.errs, err)
		} else {
			p.ReservedSpace = rs
		}
	}
	if err := r.err("tracker parameters"); err != nil {
		return TrackerParams{}, err
	}
	return p, nil
}

// parseNoInclude parses text received from the network: #include there must
// not make us read local files.
func parseNoInclude(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("input of %d bytes exceeds the %d byte limit", len(data), MaxFileSize)
	}
	p := &parser{total: int64(len(data)), noInclude: true}
	f := p.newFile(".")
	if err := p.parse(f, data, ".", "<network>", 0); err != nil {
		return nil, err
	}
	return f, nil
}
