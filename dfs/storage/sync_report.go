package storage

import (
	"net"
	"time"

	"yunpan/dfs/proto"
)

// reporterSync is one tracker session's share of replication reporting
// (docs/protocol.md §4.1 step 5, §4.4, §4.6): SYNC_REPORT when the per-source
// timestamps changed, CHANGE_STATUS when a follower's view of this storage
// differs from the leader's, REPLICA_CHG when a tracker lags behind a
// status this storage reported as a sync source.
type reporterSync struct {
	reportedGen int64     // srcTS generation last sent with SYNC_REPORT
	reportedAt  time.Time // when
	trackerView int       // this tracker's status of us (JOIN answer, then what CHANGE_STATUS sent)
	replicaChg  []proto.StorageBrief
}

// syncReportEvery bounds how often SYNC_REPORT is sent on one session:
// promptly after a batch arrives, at most once a second.
const syncReportEvery = time.Second

// maxReplicaChg is the most briefs one REPLICA_CHG carries (§4.6).
const maxReplicaChg = 32

// joined records this tracker's view from a JOIN answer.
func (rs *reporterSync) joined(status byte) {
	rs.trackerView = int(status)
	rs.reportedGen = 0 // a new session reports the timestamps again
	rs.replicaChg = rs.replicaChg[:0]
}

// queueReplicaChg remembers a peer status to send back to this tracker.
func (r *reporter) queueReplicaChg(b proto.StorageBrief) {
	q := r.repl.replicaChg
	for i := range q {
		if q[i].ID == b.ID {
			q[i] = b
			return
		}
	}
	if len(q) < maxReplicaChg {
		r.repl.replicaChg = append(q, b)
	}
}

// isLeader reports whether this session's tracker is the known leader.
func (r *reporter) isLeader() (leader, known bool) {
	l, _ := r.s.cluster.snapshot()
	if l == "" {
		return false, false
	}
	return l == r.addr || l == net.JoinHostPort(r.host, portOf(r.addr)), true
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}

// replTick runs on every turn of the reporter loop.
func (r *reporter) replTick() error {
	if len(r.repl.replicaChg) > 0 {
		w := &proto.Buf{}
		for i := range r.repl.replicaChg {
			r.repl.replicaChg[i].Append(w)
		}
		r.repl.replicaChg = r.repl.replicaChg[:0]
		if _, err := r.call(proto.CmdStorageReplicaChg, w.B, maxTrackerResp); err != nil && !isStatus(err) {
			return err
		}
	}
	if err := r.changeStatus(); err != nil {
		return err
	}
	return r.syncReport()
}

// changeStatus sends CHANGE_STATUS (59) to a follower tracker whose view of
// this storage differs from the leader's (§4.6); "available" statuses
// (OFFLINE, ONLINE, ACTIVE) count as equal.
func (r *reporter) changeStatus() error {
	ls := r.s.repl.leaderStatus.Load()
	view := r.repl.trackerView
	if ls < 0 || view < 0 || int(ls) == view {
		return nil
	}
	if avail(byte(ls)) && avail(byte(view)) {
		return nil
	}
	if leader, known := r.isLeader(); leader || !known {
		return nil
	}
	if _, err := r.call(proto.CmdStorageChangeStatus, []byte{byte(ls)}, maxTrackerResp); err != nil && !isStatus(err) {
		return err
	}
	r.repl.trackerView = int(ls)
	r.log.Info().Str("status", proto.StorageStatusName(byte(ls))).Msg("sent the leader's status to a follower tracker")
	return nil
}

func avail(st byte) bool {
	return st == proto.StatusOffline || st == proto.StatusOnline || st == proto.StatusActive
}

// syncReport sends SYNC_REPORT (89, §4.4): for every other member of the
// group, the highest source timestamp received from it. The tracker derives
// this storage's last_synced_timestamp from it, which decides whether
// downloads of recent files may come here (§2.2).
func (r *reporter) syncReport() error {
	ts, gen := r.s.repl.syncedSnapshot()
	if gen == r.repl.reportedGen || time.Since(r.repl.reportedAt) < syncReportEvery {
		return nil
	}
	w := &proto.Buf{}
	seen := map[string]bool{}
	for _, b := range r.s.repl.peers() {
		if b.ID == "" || seen[b.ID] {
			continue
		}
		seen[b.ID] = true
		w.Fixed(b.ID, proto.StorageIDLen).I32(int32(ts[b.ID]))
	}
	for id, v := range ts { // sources the group list has not shown yet
		if !seen[id] && len(id) < proto.StorageIDLen {
			w.Fixed(id, proto.StorageIDLen).I32(int32(v))
		}
	}
	if len(w.B) == 0 {
		return nil
	}
	resp, err := r.call(proto.CmdStorageSyncReport, w.B, maxTrackerResp)
	if err != nil {
		if isStatus(err) {
			r.log.Warn().Err(err).Msg("sync report refused")
			r.repl.reportedGen, r.repl.reportedAt = gen, time.Now()
			return nil
		}
		return err
	}
	r.repl.reportedGen, r.repl.reportedAt = gen, time.Now()
	return r.applyReport(resp)
}

// onChangelog acts on a tracker changelog line about a member of our group
// (§4.6): a DELETED member's sync goroutine ends and its mark file goes; an
// IP_CHANGED member's mark file follows it to the new address.
func (r *replication) onChangelog(id string, status byte, newID string) {
	port := 0
	if a, ok := r.s.Addr().(*net.TCPAddr); ok {
		port = a.Port // without storage IDs all members share the port
	}
	r.mu.Lock()
	if sy := r.syncers[id]; sy != nil {
		sy.mu.Lock()
		port = sy.port
		sy.mu.Unlock()
		if status == proto.StatusDeleted || status == proto.StatusIPChanged {
			sy.end()
			delete(r.syncers, id)
		}
	}
	delete(r.acked, id)
	r.mu.Unlock()
	useIDs := r.s.curParams().useStorageID
	switch status {
	case proto.StatusDeleted:
		r.s.removeMark(markFileName(useIDs, id, id, port))
	case proto.StatusIPChanged:
		if newID != "" && !useIDs {
			r.s.renameMark(markFileName(false, id, id, port), markFileName(false, newID, newID, port))
		}
	}
}
