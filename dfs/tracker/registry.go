package tracker

import (
	"sort"
	"time"

	"github.com/rs/zerolog"

	"yunpan/dfs/proto"
)

// storage is one storage server as the tracker records it. Exported fields
// are what persist.go saves; the rest lives only while the tracker runs.
type storage struct {
	ID               string  `json:"id"`
	IP               string  `json:"ip"`
	Port             int     `json:"port"`
	Status           byte    `json:"status"`
	RWMode           byte    `json:"rw_mode"`
	Version          string  `json:"version"`
	JoinTime         int64   `json:"join_time"`
	UpTime           int64   `json:"up_time"`
	UploadPriority   int64   `json:"upload_priority"`
	StorePathCount   int     `json:"store_path_count"`
	SubdirCount      int     `json:"subdir_count"`
	CurrentWritePath int     `json:"current_write_path"`
	PathTotalMB      []int64 `json:"path_total_mb"`
	PathFreeMB       []int64 `json:"path_free_mb"`
	TotalMB          int64   `json:"total_mb"`
	FreeMB           int64   `json:"free_mb"`
	// Stat is the last stat block from a BEAT (§2.4).
	Stat          proto.StatBlock `json:"stat"`
	LastHeartBeat int64           `json:"last_heart_beat"`
	// LastSynced is last_synced_timestamp: how far this storage has caught
	// up with the others (§4.4 SYNC_REPORT); it drives download choice.
	LastSynced int64 `json:"last_synced"`
	// SyncSrc/SyncUntil: who pushes old data to this storage (§4.5).
	SyncSrc   string `json:"sync_src,omitempty"`
	SyncUntil int64  `json:"sync_until,omitempty"`
	// SyncFrom is this storage's row of the source×dest matrix: the
	// timestamp it last received from each source.
	SyncFrom map[string]int64 `json:"sync_from,omitempty"`
	// ChangelogOffset is how much of storage_changelog.dat it has read.
	ChangelogOffset int64 `json:"changelog_offset"`

	beatAt time.Time // monotonic time of the last beat/disk report
	sess   *session  // the reporting connection that joined last
}

// fixPaths sizes the per-path arrays to StorePathCount, keeping what fits.
func (s *storage) fixPaths() {
	n := max(s.StorePathCount, 0)
	if len(s.PathTotalMB) != n || len(s.PathFreeMB) != n {
		tot, free := make([]int64, n), make([]int64, n)
		copy(tot, s.PathTotalMB)
		copy(free, s.PathFreeMB)
		s.PathTotalMB, s.PathFreeMB = tot, free
	}
	if s.CurrentWritePath < 0 || s.CurrentWritePath >= max(n, 1) {
		s.CurrentWritePath = 0
	}
}

// available statuses are those that count as "up to date" (§4.8).
func available(st byte) bool {
	return st == proto.StatusOffline || st == proto.StatusOnline || st == proto.StatusActive
}

// knownStatus reports whether st is a status a tracker may store.
func knownStatus(st byte) bool {
	return st <= proto.StatusActive || st == proto.StatusRecovery
}

// group is one storage group.
type group struct {
	Name               string     `json:"name"`
	Port               int        `json:"port"`
	StorePathCount     int        `json:"store_path_count"`
	SubdirCount        int        `json:"subdir_count"`
	Storages           []*storage `json:"storages"` // sorted by ID
	CurrentWriteServer int        `json:"current_write_server"`
	CurrentReadServer  int        `json:"current_read_server"`
	TotalMB            int64      `json:"total_mb"`
	FreeMB             int64      `json:"free_mb"`
	TrunkFreeMB        int64      `json:"trunk_free_mb"`
	TrunkServer        string     `json:"trunk_server,omitempty"`
	CurrentTrunkFileID int64      `json:"current_trunk_file_id"`

	// chg counts changes of the member list or any member's status; a
	// beat response carries the group section when a connection's copy
	// differs. trunkChg does the same for the trunk-server assignment.
	chg      int64
	trunkChg int64

	readable, writable []*storage // ACTIVE members by rw_mode, sorted by ID
}

func newGroup(name string, port, pathCount, subdirCount int) *group {
	return &group{Name: name, Port: port, StorePathCount: pathCount, SubdirCount: subdirCount,
		CurrentTrunkFileID: -1}
}

// find returns the member with this ID.
func (g *group) find(id string) *storage {
	i := sort.Search(len(g.Storages), func(i int) bool { return g.Storages[i].ID >= id })
	if i < len(g.Storages) && g.Storages[i].ID == id {
		return g.Storages[i]
	}
	return nil
}

// findAddr returns the member with this IP and port.
func (g *group) findAddr(ip string, port int) *storage {
	for _, s := range g.Storages {
		if s.IP == ip && s.Port == port {
			return s
		}
	}
	return nil
}

// add inserts s keeping the ID order.
func (g *group) add(s *storage) {
	i := sort.Search(len(g.Storages), func(i int) bool { return g.Storages[i].ID >= s.ID })
	g.Storages = append(g.Storages, nil)
	copy(g.Storages[i+1:], g.Storages[i:])
	g.Storages[i] = s
	g.chg++
	g.rebuild()
}

// rebuild recomputes the readable/writable lists and the group space.
func (g *group) rebuild() {
	g.readable, g.writable = g.readable[:0], g.writable[:0]
	for _, s := range g.Storages {
		if s.Status != proto.StatusActive {
			continue
		}
		if s.RWMode&proto.RWRead != 0 {
			g.readable = append(g.readable, s)
		}
		if s.RWMode&proto.RWWrite != 0 {
			g.writable = append(g.writable, s)
		}
	}
	g.recomputeSpace()
}

// recomputeSpace sets the group space to that of its writable member with
// the least free space (§7.5): every member holds a full copy. With no
// writable member the last known values stay.
func (g *group) recomputeSpace() {
	var min *storage
	for _, s := range g.writable {
		if s.TotalMB == 0 {
			continue // no disk report yet
		}
		if min == nil || s.FreeMB < min.FreeMB {
			min = s
		}
	}
	if min != nil {
		g.TotalMB, g.FreeMB = min.TotalMB, min.FreeMB
	}
}

// members counts storages that still belong to the group.
func (g *group) members() int {
	n := 0
	for _, s := range g.Storages {
		if s.Status != proto.StatusDeleted && s.Status != proto.StatusIPChanged {
			n++
		}
	}
	return n
}

func (g *group) isReadable(s *storage) bool {
	return s.Status == proto.StatusActive && s.RWMode&proto.RWRead != 0
}

func (g *group) isWritable(s *storage) bool {
	return s.Status == proto.StatusActive && s.RWMode&proto.RWWrite != 0
}

// registry is everything the tracker knows about groups and storages. The
// Tracker's mutex guards it; no method locks.
type registry struct {
	groups            []*group // sorted by name
	currentWriteGroup int
	// leaderChg counts leader changes; a connection gets the leader
	// section while its copy differs. It starts at 1 so every new
	// connection gets it once.
	leaderChg int64
	dirty     bool           // changed since the last save
	log       zerolog.Logger // status changes (the zero Logger writes nothing)
}

func newRegistry() *registry { return &registry{leaderChg: 1} }

func (r *registry) group(name string) *group {
	i := sort.Search(len(r.groups), func(i int) bool { return r.groups[i].Name >= name })
	if i < len(r.groups) && r.groups[i].Name == name {
		return r.groups[i]
	}
	return nil
}

func (r *registry) addGroup(g *group) {
	i := sort.Search(len(r.groups), func(i int) bool { return r.groups[i].Name >= g.Name })
	r.groups = append(r.groups, nil)
	copy(r.groups[i+1:], r.groups[i:])
	r.groups[i] = g
	r.dirty = true
}

func (r *registry) removeGroup(g *group) {
	for i, x := range r.groups {
		if x == g {
			r.groups = append(r.groups[:i], r.groups[i+1:]...)
			break
		}
	}
	if r.currentWriteGroup >= len(r.groups) {
		r.currentWriteGroup = 0
	}
	r.dirty = true
}

// setStatus changes a storage's status, bumping the group change counter
// so the next beat response carries the group list (§4.8).
func (r *registry) setStatus(g *group, s *storage, st byte) {
	if s.Status == st {
		return
	}
	// One event per change: the only record of a storage's way through
	// the states (a poller can miss a state that lasts milliseconds).
	r.log.Info().Str("group", g.Name).Str("storage", s.ID).Str("from", proto.StorageStatusName(s.Status)).
		Str("to", proto.StorageStatusName(st)).Msg("storage status")
	s.Status = st
	g.chg++
	g.rebuild()
	r.dirty = true
}

// activate applies transition 8 of §4.8 after a beat or disk report.
func (r *registry) activate(g *group, s *storage, now time.Time) {
	s.LastHeartBeat = now.Unix()
	s.beatAt = now
	switch s.Status {
	case proto.StatusInit, proto.StatusWaitSync, proto.StatusSyncing, proto.StatusIPChanged,
		proto.StatusDeleted: // a deleted storage must join again (rule 2) to come back
		return
	}
	r.setStatus(g, s, proto.StatusActive)
}

// clearSyncSource forgets every reference to id as a sync source.
func (g *group) clearSyncSource(id string) {
	for _, s := range g.Storages {
		if s.SyncSrc == id {
			s.SyncSrc, s.SyncUntil = "", 0
		}
		delete(s.SyncFrom, id)
	}
}
