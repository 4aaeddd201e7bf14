package proto

import (
	"fmt"
	"strings"
)

// Storage status values (docs/protocol.md §4.8).
const (
	StatusInit      byte = 0
	StatusWaitSync  byte = 1
	StatusSyncing   byte = 2
	StatusIPChanged byte = 3
	StatusDeleted   byte = 4
	StatusOffline   byte = 5
	StatusOnline    byte = 6
	StatusActive    byte = 7
	StatusRecovery  byte = 9
	StatusNone      byte = 99
)

// StorageStatusName is the upper-case name fdfs_monitor prints.
func StorageStatusName(s byte) string {
	switch s {
	case StatusInit:
		return "INIT"
	case StatusWaitSync:
		return "WAIT_SYNC"
	case StatusSyncing:
		return "SYNCING"
	case StatusIPChanged:
		return "IP_CHANGED"
	case StatusDeleted:
		return "DELETED"
	case StatusOffline:
		return "OFFLINE"
	case StatusOnline:
		return "ONLINE"
	case StatusActive:
		return "ACTIVE"
	case StatusRecovery:
		return "RECOVERY"
	case StatusNone:
		return "NONE"
	}
	return "UNKNOWN"
}

// Read/write modes of a storage (LIST_STORAGE rw_mode).
const (
	RWNone  byte = 0
	RWWrite byte = 2
	RWRead  byte = 4
	RWBoth  byte = 6
)

// StatBlockSize is the size of the storage statistics block (docs/protocol.md §2.4).
const StatBlockSize = 348

// StatCounterNames are the 42 i64 counters of the stat block, in wire order.
var StatCounterNames = [42]string{
	"total_upload_count", "success_upload_count", "total_append_count", "success_append_count",
	"total_modify_count", "success_modify_count", "total_truncate_count", "success_truncate_count",
	"total_set_meta_count", "success_set_meta_count", "total_delete_count", "success_delete_count",
	"total_download_count", "success_download_count", "total_get_meta_count", "success_get_meta_count",
	"total_create_link_count", "success_create_link_count", "total_delete_link_count", "success_delete_link_count",
	"total_upload_bytes", "success_upload_bytes", "total_append_bytes", "success_append_bytes",
	"total_modify_bytes", "success_modify_bytes", "total_download_bytes", "success_download_bytes",
	"total_sync_in_bytes", "success_sync_in_bytes", "total_sync_out_bytes", "success_sync_out_bytes",
	"total_file_open_count", "success_file_open_count", "total_file_read_count", "success_file_read_count",
	"total_file_write_count", "success_file_write_count",
	"last_source_update", "last_sync_update", "last_synced_timestamp", "last_heart_beat_time",
}

// Indexes of counters in StatBlock.Counters.
const (
	StatTotalUpload = iota
	StatSuccessUpload
	StatTotalAppend
	StatSuccessAppend
	StatTotalModify
	StatSuccessModify
	StatTotalTruncate
	StatSuccessTruncate
	StatTotalSetMeta
	StatSuccessSetMeta
	StatTotalDelete
	StatSuccessDelete
	StatTotalDownload
	StatSuccessDownload
	StatTotalGetMeta
	StatSuccessGetMeta
	StatTotalCreateLink
	StatSuccessCreateLink
	StatTotalDeleteLink
	StatSuccessDeleteLink
	StatTotalUploadBytes
	StatSuccessUploadBytes
	StatTotalAppendBytes
	StatSuccessAppendBytes
	StatTotalModifyBytes
	StatSuccessModifyBytes
	StatTotalDownloadBytes
	StatSuccessDownloadBytes
	StatTotalSyncInBytes
	StatSuccessSyncInBytes
	StatTotalSyncOutBytes
	StatSuccessSyncOutBytes
	StatTotalFileOpen
	StatSuccessFileOpen
	StatTotalFileRead
	StatSuccessFileRead
	StatTotalFileWrite
	StatSuccessFileWrite
	StatLastSourceUpdate
	StatLastSyncUpdate
	StatLastSyncedTimestamp
	StatLastHeartBeatTime
)

// StatBlock is the 348-byte statistics block: BEAT body and part of the
// LIST_STORAGE record.
type StatBlock struct {
	ConnAlloc, ConnCurrent, ConnMax int32
	Counters                        [42]int64
}

func (s *StatBlock) Append(w *Buf) {
	w.I32(s.ConnAlloc).I32(s.ConnCurrent).I32(s.ConnMax)
	for _, c := range s.Counters {
		w.I64(c)
	}
}

func (s *StatBlock) Read(r *Reader) {
	s.ConnAlloc, s.ConnCurrent, s.ConnMax = r.I32(), r.I32(), r.I32()
	for i := range s.Counters {
		s.Counters[i] = r.I64()
	}
}

// StorageBriefSize is the size of FDFSStorageBrief (docs/protocol.md §4.4).
const StorageBriefSize = 67

// StorageBrief is one storage in beat responses and status reports.
type StorageBrief struct {
	Status byte
	Port   int32
	ID     string
	IP     string
}

func (b *StorageBrief) Append(w *Buf) {
	w.U8(b.Status).I32(b.Port).Fixed(b.ID, StorageIDLen).Fixed(b.IP, IPv6Size)
}

func (b *StorageBrief) Read(r *Reader) {
	b.Status, b.Port, b.ID, b.IP = r.U8(), r.I32(), r.Fixed(StorageIDLen), r.Fixed(IPv6Size)
}

// GroupStatSize is the size of one LIST_GROUPS record (docs/protocol.md §2.3).
const GroupStatSize = 113

// GroupStat is one record of LIST_ONE_GROUP / LIST_ALL_GROUPS.
type GroupStat struct {
	Name               string
	TotalMB, FreeMB    int64
	ReservedMB         int64
	TrunkFreeMB        int64
	StorageCount       int64
	StoragePort        int64
	ReadableCount      int64
	WritableCount      int64
	CurrentWriteServer int64
	StorePathCount     int64
	SubdirCount        int64
	CurrentTrunkFileID int64
}

func (g *GroupStat) Append(w *Buf) {
	w.Fixed(g.Name, GroupNameStructLen).I64(g.TotalMB).I64(g.FreeMB).I64(g.ReservedMB).
		I64(g.TrunkFreeMB).I64(g.StorageCount).I64(g.StoragePort).I64(g.ReadableCount).
		I64(g.WritableCount).I64(g.CurrentWriteServer).I64(g.StorePathCount).
		I64(g.SubdirCount).I64(g.CurrentTrunkFileID)
}

func (g *GroupStat) Read(r *Reader) {
	g.Name = r.Fixed(GroupNameStructLen)
	g.TotalMB, g.FreeMB, g.ReservedMB, g.TrunkFreeMB = r.I64(), r.I64(), r.I64(), r.I64()
	g.StorageCount, g.StoragePort, g.ReadableCount, g.WritableCount = r.I64(), r.I64(), r.I64(), r.I64()
	g.CurrentWriteServer, g.StorePathCount, g.SubdirCount, g.CurrentTrunkFileID = r.I64(), r.I64(), r.I64(), r.I64()
}

// StorageStatSize returns the LIST_STORAGE record size for IP width w (16 or 46).
func StorageStatSize(ipSize int) int {
	return 2 + StorageIDLen + ipSize + StorageIDLen + VersionLen + 10*8 + StatBlockSize + 1
}

// StorageStat is one LIST_STORAGE record (docs/protocol.md §2.4).
type StorageStat struct {
	Status           byte
	RWMode           byte
	ID               string
	IP               string
	SrcID            string
	Version          string
	JoinTime, UpTime int64
	TotalMB, FreeMB  int64
	ReservedMB       int64
	UploadPriority   int64
	StorePathCount   int64
	SubdirCount      int64
	CurrentWritePath int64
	StoragePort      int64
	Stat             StatBlock
	IfTrunkServer    bool
}

func (s *StorageStat) Append(w *Buf, ipSize int) {
	w.U8(s.Status).U8(s.RWMode).Fixed(s.ID, StorageIDLen).Fixed(s.IP, ipSize).
		Fixed(s.SrcID, StorageIDLen).Fixed(s.Version, VersionLen).
		I64(s.JoinTime).I64(s.UpTime).I64(s.TotalMB).I64(s.FreeMB).I64(s.ReservedMB).
		I64(s.UploadPriority).I64(s.StorePathCount).I64(s.SubdirCount).
		I64(s.CurrentWritePath).I64(s.StoragePort)
	s.Stat.Append(w)
	w.U8(b2u(s.IfTrunkServer))
}

func (s *StorageStat) Read(r *Reader, ipSize int) {
	s.Status, s.RWMode = r.U8(), r.U8()
	s.ID, s.IP, s.SrcID, s.Version = r.Fixed(StorageIDLen), r.Fixed(ipSize), r.Fixed(StorageIDLen), r.Fixed(VersionLen)
	s.JoinTime, s.UpTime, s.TotalMB, s.FreeMB, s.ReservedMB = r.I64(), r.I64(), r.I64(), r.I64(), r.I64()
	s.UploadPriority, s.StorePathCount, s.SubdirCount = r.I64(), r.I64(), r.I64()
	s.CurrentWritePath, s.StoragePort = r.I64(), r.I64()
	s.Stat.Read(r)
	s.IfTrunkServer = r.U8() != 0
}

// DecodeStorageStats splits a LIST_STORAGE body into records, inferring the IP
// width from the length (docs/protocol.md §1.7).
func DecodeStorageStats(body []byte) ([]StorageStat, error) {
	ipSize := IPv4Size
	switch {
	case len(body)%StorageStatSize(IPv4Size) == 0:
	case len(body)%StorageStatSize(IPv6Size) == 0:
		ipSize = IPv6Size
	default:
		return nil, fmt.Errorf("list storage: body length %d fits no record size: %w", len(body), StatusError(StatusEINVAL))
	}
	n := len(body) / StorageStatSize(ipSize)
	out := make([]StorageStat, n)
	r := &Reader{B: body}
	for i := range out {
		out[i].Read(r, ipSize)
	}
	return out, nil
}

// JoinFixedSize is the fixed part of the STORAGE_JOIN body (docs/protocol.md §4.3).
const JoinFixedSize = 145

// MaxTrackers is the largest tracker_count a JOIN may carry.
const MaxTrackers = 16

// JoinBody is the STORAGE_JOIN request.
type JoinBody struct {
	GroupName        string
	StoragePort      int64
	StorePathCount   int64
	SubdirCount      int64
	UploadPriority   int64
	JoinTime         int64
	UpTime           int64
	Version          string
	InitFlag         bool
	Status           int8
	StorageID        string
	CurrentTrackerIP string
	Trackers         []string // "host:port"
}

func (j *JoinBody) Encode() []byte {
	w := &Buf{}
	w.Fixed(j.GroupName, GroupNameStructLen).I64(j.StoragePort).I64(j.StorePathCount).
		I64(j.SubdirCount).I64(j.UploadPriority).I64(j.JoinTime).I64(j.UpTime).
		Fixed(j.Version, VersionLen).U8(b2u(j.InitFlag)).U8(byte(j.Status)).
		Fixed(j.StorageID, StorageIDLen).Fixed(j.CurrentTrackerIP, IPv6Size).
		I64(int64(len(j.Trackers)))
	for _, t := range j.Trackers {
		w.String(t + "\n")
	}
	return w.B
}

// DecodeJoinBody parses and validates the lengths of a JOIN request.
func DecodeJoinBody(b []byte) (*JoinBody, error) {
	if len(b) < JoinFixedSize {
		return nil, fmt.Errorf("join: body %d bytes < %d: %w", len(b), JoinFixedSize, StatusError(StatusEINVAL))
	}
	r := &Reader{B: b}
	j := &JoinBody{}
	j.GroupName = r.Fixed(GroupNameStructLen)
	j.StoragePort, j.StorePathCount, j.SubdirCount = r.I64(), r.I64(), r.I64()
	j.UploadPriority, j.JoinTime, j.UpTime = r.I64(), r.I64(), r.I64()
	j.Version = r.Fixed(VersionLen)
	j.InitFlag = r.U8() != 0
	j.Status = int8(r.U8())
	j.StorageID = r.Fixed(StorageIDLen)
	j.CurrentTrackerIP = r.Fixed(IPv6Size)
	n := r.I64()
	if n < 1 || n > MaxTrackers {
		return nil, fmt.Errorf("join: tracker_count %d: %w", n, StatusError(StatusEINVAL))
	}
	rest := r.Rest()
	if int64(len(rest)) > n*100 {
		return nil, fmt.Errorf("join: tracker list %d bytes for %d trackers: %w", len(rest), n, StatusError(StatusEINVAL))
	}
	for _, line := range strings.Split(string(rest), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			j.Trackers = append(j.Trackers, line)
		}
	}
	return j, nil
}

// JoinRespSize is the size of the JOIN response.
const JoinRespSize = 17

// SyncReqSize is the size of SyncReqBody (docs/protocol.md §4.5).
const SyncReqSize = 24

// SyncReq names the storage that pushes old data to a new one and the
// timestamp up to which data counts as old.
type SyncReq struct {
	SrcID string
	Until int64
}

func (s *SyncReq) Encode() []byte {
	return (&Buf{}).Fixed(s.SrcID, StorageIDLen).I64(s.Until).B
}

func DecodeSyncReq(b []byte) (SyncReq, error) {
	if len(b) != SyncReqSize {
		return SyncReq{}, fmt.Errorf("sync req: %d bytes: %w", len(b), StatusError(StatusEINVAL))
	}
	r := &Reader{B: b}
	return SyncReq{SrcID: r.Fixed(StorageIDLen), Until: r.I64()}, nil
}

// Beat response flags (docs/protocol.md §4.4).
const (
	BeatFlagLeader      byte = 0x01
	BeatFlagTrunkServer byte = 0x02
	BeatFlagGroupServer byte = 0x04
)

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
