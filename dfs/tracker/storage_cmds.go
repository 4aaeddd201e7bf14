package tracker

import (
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Storage ↔ tracker commands (docs/protocol.md §4, §2.9). Each runs under t.mu.

const syncReportEntrySize = proto.StorageIDLen + 4 // zstr[16] src id + i32be timestamp

// Bounds on what peers can make the registry hold.
const (
	maxGroups        = 1024
	maxGroupMembers  = 256
	maxKnownTrackers = 64
)

// cmdJoin answers STORAGE_JOIN (81, §4.3) and applies the join transitions
// of §4.8.
func (t *Tracker) cmdJoin(sess *session, body []byte) ([]byte, error) {
	j, err := proto.DecodeJoinBody(body)
	if err != nil {
		return nil, err
	}
	switch {
	case !fileid.ValidGroup(j.GroupName):
		return nil, proto.Errf(proto.StatusEINVAL, "join: group name %q", j.GroupName)
	case j.StoragePort <= 0 || j.StoragePort > 65535:
		return nil, proto.Errf(proto.StatusEINVAL, "join: storage port %d", j.StoragePort)
	case j.StorePathCount < 1 || j.StorePathCount > 256:
		return nil, proto.Errf(proto.StatusEINVAL, "join: store_path_count %d", j.StorePathCount)
	case j.SubdirCount < 1 || j.SubdirCount > 256:
		return nil, proto.Errf(proto.StatusEINVAL, "join: subdir_count_per_path %d", j.SubdirCount)
	}
	id, idEntry, err := t.joinStorageID(sess, j) // storageids.go
	if err != nil {
		return nil, err
	}
	port, pathCount, subdirs := int(j.StoragePort), int(j.StorePathCount), int(j.SubdirCount)
	r := t.reg
	g := r.group(j.GroupName)
	isNewGroup := g == nil
	if isNewGroup {
		g = newGroup(j.GroupName, port, pathCount, subdirs)
	}
	// others reports whether every other member satisfies ok; a group
	// setting may change only when all of them already agree.
	others := func(ok func(o *storage) bool) bool {
		for _, o := range g.Storages {
			if o.ID != id && o.Status != proto.StatusDeleted && o.Status != proto.StatusIPChanged && !ok(o) {
				return false
			}
		}
		return true
	}
	if port != g.Port && !t.portsMayDiffer() && !others(func(o *storage) bool { return o.Port == port }) {
		return nil, proto.Errf(proto.StatusEINVAL, "join: %s port %d, group %s uses %d", id, port, g.Name, g.Port)
	}
	if pathCount < g.StorePathCount && !others(func(o *storage) bool { return o.StorePathCount == pathCount }) {
		// A configuration mistake that keeps the storage out until fixed.
		t.log.Error().Str("storage", id).Str("group", g.Name).Int("store_path_count", pathCount).
			Int("group_store_path_count", g.StorePathCount).Msg("storage refused: store_path_count differs from its group's")
		return nil, proto.Errf(proto.StatusEINVAL, "join: %s store_path_count %d < group's %d", id, pathCount, g.StorePathCount)
	}
	if subdirs != g.SubdirCount && !others(func(o *storage) bool { return o.SubdirCount == subdirs }) {
		return nil, proto.Errf(proto.StatusEINVAL, "join: %s subdir_count_per_path %d, group's %d", id, subdirs, g.SubdirCount)
	}
	s := g.find(id)
	if s == nil && (len(g.Storages) >= maxGroupMembers || isNewGroup && len(r.groups) >= maxGroups) {
		return nil, proto.Errf(proto.StatusENOSPC, "join: no room for %s in group %s", id, g.Name)
	}
	var status byte
	if s == nil {
		switch st := byte(j.Status); {
		case j.InitFlag || j.Status == 0:
			status = proto.StatusInit // rule 1
		case j.Status < 0 || !knownStatus(st) || st == proto.StatusDeleted || st == proto.StatusIPChanged:
			return nil, proto.Errf(proto.StatusEFAULT, "join: unknown storage %s reports status %d", id, j.Status)
		case st == proto.StatusActive:
			status = proto.StatusOnline // rule 1b
		default:
			status = st
		}
	} else {
		switch status = s.Status; status {
		case proto.StatusDeleted, proto.StatusIPChanged:
			status = proto.StatusInit // rule 2
		case proto.StatusOffline, proto.StatusRecovery, proto.StatusActive:
			status = proto.StatusOnline // rule 3; ACTIVE: a reconnect beat the close
		}
	}

	// Validated: commit.
	t.learnTrackers(j.Trackers, j.CurrentTrackerIP, sess.localIP)
	if isNewGroup {
		r.addGroup(g)
	}
	g.Port = port
	// A storage with more paths than the group is accepted; the group's
	// count follows only when every member agrees.
	if others(func(o *storage) bool { return o.StorePathCount == pathCount }) {
		g.StorePathCount = pathCount
	}
	g.SubdirCount = subdirs
	isNew := s == nil
	if isNew {
		s = &storage{ID: id, IP: sess.peerIP, RWMode: proto.RWBoth, Status: status,
			ChangelogOffset: t.changelog.size()}
	}
	s.Port = port
	s.IP = sess.peerIP // with storage IDs the address may have changed
	applyIDEntry(g, s, idEntry)
	s.Version = j.Version
	s.JoinTime = j.JoinTime
	s.UpTime = j.UpTime
	s.UploadPriority = j.UploadPriority
	s.SubdirCount = subdirs
	s.StorePathCount = pathCount
	s.fixPaths()
	if isNew {
		g.add(s)
	} else {
		r.setStatus(g, s, status)
	}
	r.dirty = true
	if s.sess != nil && s.sess != sess {
		t.log.Info().Str("storage", id).Msg("storage joined again on a new connection")
	}
	s.sess = sess
	*sess = session{peerIP: sess.peerIP, localIP: sess.localIP, authed: sess.authed, g: g, s: s}
	t.log.Info().Str("group", g.Name).Str("storage", id).Int("port", port).
		Str("status", proto.StorageStatusName(s.Status)).Msg("storage joined")
	return (&proto.Buf{}).U8(s.Status).Fixed(s.SyncSrc, proto.StorageIDLen).B, nil
}

// learnTrackers records the tracker list a storage sent and the addresses
// it knows us by: the input of multi-tracker election (§4.9), kept now so
// that code has its data.
func (t *Tracker) learnTrackers(list []string, currentIP, localIP string) {
	for _, ip := range []string{currentIP, localIP} {
		if ip != "" && len(t.selfIPs) < maxKnownTrackers {
			t.selfIPs[ip] = struct{}{}
		}
	}
	learned := false
	for _, tr := range list {
		k := canonTracker(tr) // relationship.go: "ip:port", "" for host names
		if _, ok := t.trackers[k]; k != "" && !ok && len(t.trackers) < maxKnownTrackers {
			t.trackers[k] = struct{}{}
			learned = true
		}
	}
	if learned {
		t.trackersLearnedLocked()
	}
}

// cmdBeat answers STORAGE_BEAT (83, §4.4): an empty body or a stat block.
func (t *Tracker) cmdBeat(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "beat")
	if err != nil {
		return nil, err
	}
	if len(body) != 0 && len(body) != proto.StatBlockSize {
		return nil, badLen("beat", len(body), "0 or 348")
	}
	if len(body) == proto.StatBlockSize {
		var st proto.StatBlock
		st.Read(&proto.Reader{B: body})
		// The last two slots are the tracker's own (§4.4).
		st.Counters[proto.StatLastSyncedTimestamp] = s.Stat.Counters[proto.StatLastSyncedTimestamp]
		st.Counters[proto.StatLastHeartBeatTime] = s.Stat.Counters[proto.StatLastHeartBeatTime]
		s.Stat = st
	}
	t.reg.activate(g, s, time.Now())
	t.reg.dirty = true
	return t.reportResponse(sess, g), nil
}

// cmdDiskUsage answers REPORT_DISK_USAGE (84, §4.4).
func (t *Tracker) cmdDiskUsage(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "disk usage")
	if err != nil {
		return nil, err
	}
	// The joining storage's own path count: the group's may be smaller
	// when members differ, and a report must cover every path.
	if len(body) != 16*s.StorePathCount {
		return nil, badLen("disk usage", len(body), "16 × store_path_count")
	}
	s.fixPaths()
	rd := &proto.Reader{B: body}
	s.TotalMB, s.FreeMB = 0, 0
	best := 0
	for i := 0; i < s.StorePathCount; i++ {
		s.PathTotalMB[i], s.PathFreeMB[i] = rd.I64(), rd.I64()
		s.TotalMB += s.PathTotalMB[i]
		s.FreeMB += s.PathFreeMB[i]
		if s.PathFreeMB[i] > s.PathFreeMB[best] {
			best = i
		}
	}
	if t.opts.StorePath == 2 {
		s.CurrentWritePath = best
	}
	t.reg.activate(g, s, time.Now())
	g.recomputeSpace()
	t.reg.dirty = true
	return t.reportResponse(sess, g), nil
}

// cmdSyncReport answers SYNC_REPORT (89, §4.4): the caller's row of the
// source×dest matrix, from which its last_synced_timestamp follows.
func (t *Tracker) cmdSyncReport(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "sync report")
	if err != nil {
		return nil, err
	}
	if len(body) == 0 || len(body)%syncReportEntrySize != 0 {
		return nil, badLen("sync report", len(body), "a positive multiple of 20")
	}
	rd := &proto.Reader{B: body}
	for rd.Len() > 0 {
		src, ts := rd.Fixed(proto.StorageIDLen), int64(rd.I32())
		if ts == 0 || src == s.ID || g.find(src) == nil {
			continue
		}
		if s.SyncFrom == nil {
			s.SyncFrom = map[string]int64{}
		}
		s.SyncFrom[src] = ts
	}
	if t.storeServerPolicy() == 0 {
		// Round robin may send a download anywhere: the storage is only as
		// fresh as its slowest active source.
		min, any := int64(0), false
		for _, o := range g.Storages {
			if o == s || o.Status != proto.StatusActive {
				continue
			}
			if v := s.SyncFrom[o.ID]; !any || v < min {
				min, any = v, true
			}
		}
		if any {
			s.LastSynced = min
		}
	} else {
		for _, v := range s.SyncFrom {
			if v > s.LastSynced {
				s.LastSynced = v
			}
		}
	}
	t.reg.dirty = true
	return t.reportResponse(sess, g), nil
}

// cmdSyncDestReq answers SYNC_DEST_REQ (87, §4.5): a new storage asks who
// will push the group's old data to it.
func (t *Tracker) cmdSyncDestReq(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "sync dest req")
	if err != nil {
		return nil, err
	}
	if len(body) != 0 {
		return nil, badLen("sync dest req", len(body), "0")
	}
	needSync := false
	for _, o := range g.Storages {
		if o != s && available(o.Status) {
			needSync = true
			break
		}
	}
	if !needSync {
		t.reg.setStatus(g, s, proto.StatusOnline)
		return nil, nil
	}
	var src *storage
	for _, o := range g.writable {
		if o != s {
			src = o
			break
		}
	}
	if src == nil {
		return nil, proto.Errf(proto.StatusENOENT, "sync dest req: no active source for %s", s.ID)
	}
	s.SyncSrc, s.SyncUntil = src.ID, time.Now().Unix()
	t.reg.setStatus(g, s, proto.StatusWaitSync)
	t.reg.dirty = true
	return (&proto.SyncReq{SrcID: s.SyncSrc, Until: s.SyncUntil}).Encode(), nil
}

// cmdSyncNotify answers SYNC_NOTIFY (88, §4.5).
func (t *Tracker) cmdSyncNotify(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "sync notify")
	if err != nil {
		return nil, err
	}
	req, err := proto.DecodeSyncReq(body)
	if err != nil {
		return nil, err
	}
	if req.SrcID == "" {
		switch s.Status {
		case proto.StatusInit, proto.StatusWaitSync, proto.StatusSyncing:
			t.reg.setStatus(g, s, proto.StatusOnline)
		}
		return nil, nil
	}
	if s.SyncSrc == "" {
		src := g.find(req.SrcID)
		if src == nil || src.Status == proto.StatusDeleted || src.Status == proto.StatusIPChanged {
			return nil, proto.Errf(proto.StatusENOENT, "sync notify: source %q unknown or gone", req.SrcID)
		}
		s.SyncSrc, s.SyncUntil = req.SrcID, req.Until
		t.reg.dirty = true
	}
	if s.Status == proto.StatusInit {
		t.reg.setStatus(g, s, proto.StatusWaitSync)
	}
	return nil, nil
}

// cmdSyncDestQuery answers SYNC_DEST_QUERY (79, §4.5).
func (t *Tracker) cmdSyncDestQuery(sess *session, body []byte) ([]byte, error) {
	_, s, err := t.joined(sess, "sync dest query")
	if err != nil {
		return nil, err
	}
	if len(body) != 0 {
		return nil, badLen("sync dest query", len(body), "0")
	}
	if s.SyncSrc == "" {
		return nil, nil
	}
	return (&proto.SyncReq{SrcID: s.SyncSrc, Until: s.SyncUntil}).Encode(), nil
}

// cmdSyncSrcReq answers SYNC_SRC_REQ (86, §4.5): a storage about to push
// to dest asks whether it should send dest the old data too.
func (t *Tracker) cmdSyncSrcReq(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.GroupNameLen+proto.StorageIDLen {
		return nil, badLen("sync src req", len(body), "32")
	}
	name := proto.Fixed(body[:proto.GroupNameLen])
	destID := proto.Fixed(body[proto.GroupNameLen:])
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "sync src req: group %q not found", name)
	}
	dest := g.find(destID)
	if dest == nil {
		return nil, proto.Errf(proto.StatusENOENT, "sync src req: %q not in group %s", destID, name)
	}
	switch dest.Status {
	case proto.StatusInit, proto.StatusDeleted, proto.StatusIPChanged:
		return nil, proto.Errf(proto.StatusENOENT, "sync src req: %s is %s", destID, proto.StorageStatusName(dest.Status))
	}
	if dest.SyncSrc == "" {
		return nil, nil
	}
	src := g.find(dest.SyncSrc)
	if src == nil || !(available(src.Status) || src.Status == proto.StatusRecovery) {
		dest.SyncSrc, dest.SyncUntil = "", 0
		t.reg.dirty = true
		return nil, nil
	}
	return (&proto.SyncReq{SrcID: dest.SyncSrc, Until: dest.SyncUntil}).Encode(), nil
}

// mergeStatus applies a reported status to the table (§4.8 merge rule of
// REPORT_STATUS and REPLICA_CHG).
func (t *Tracker) mergeStatus(g *group, b proto.StorageBrief) {
	rs := b.Status
	if b.ID == "" || !knownStatus(rs) {
		return // NONE and garbage are never stored
	}
	if s := g.find(b.ID); s != nil {
		if rs == proto.StatusOnline || rs == proto.StatusActive {
			// Connected states are decided by this tracker's own
			// connections and beats, as for CHANGE_STATUS.
			rs = proto.StatusOffline
		}
		switch cur := s.Status; {
		case cur == rs:
		case cur == proto.StatusInit, cur == proto.StatusOnline, cur == proto.StatusActive, cur == proto.StatusRecovery:
		case rs == proto.StatusDeleted, rs == proto.StatusIPChanged, rs > cur:
			t.reg.setStatus(g, s, rs)
			if rs == proto.StatusDeleted || rs == proto.StatusIPChanged {
				g.clearSyncSource(s.ID)
				t.logChange(g, s, "")
			}
		}
		return
	}
	switch rs {
	case proto.StatusDeleted, proto.StatusIPChanged, proto.StatusOnline, proto.StatusActive:
		return
	}
	if len(g.Storages) >= maxGroupMembers {
		t.log.Warn().Str("group", g.Name).Str("storage", b.ID).Msg("status report for a full group ignored")
		return
	}
	ip := b.IP
	if ip == "" {
		ip = b.ID
	}
	g.add(&storage{ID: b.ID, IP: ip, Port: int(b.Port), Status: rs, RWMode: proto.RWBoth,
		SubdirCount: g.SubdirCount, ChangelogOffset: t.changelog.size()})
	t.reg.dirty = true
}

// cmdReportStatus answers REPORT_STATUS (76, §4.6); no JOIN needed.
func (t *Tracker) cmdReportStatus(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.GroupNameLen+proto.StorageBriefSize {
		return nil, badLen("report status", len(body), "83")
	}
	name := proto.Fixed(body[:proto.GroupNameLen])
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "report status: group %q not found", name)
	}
	var b proto.StorageBrief
	b.Read(&proto.Reader{B: body[proto.GroupNameLen:]})
	t.mergeStatus(g, b)
	return nil, nil
}

// cmdChangeStatus answers CHANGE_STATUS (59, §4.6): the leader's view of
// the caller, sent to a follower.
func (t *Tracker) cmdChangeStatus(sess *session, body []byte) ([]byte, error) {
	g, s, err := t.joined(sess, "change status")
	if err != nil {
		return nil, err
	}
	if len(body) != 1 {
		return nil, badLen("change status", len(body), "1")
	}
	rs := body[0]
	if !knownStatus(rs) {
		return nil, proto.Errf(proto.StatusEINVAL, "change status: status %d", rs)
	}
	if rs == s.Status || (available(rs) && available(s.Status)) {
		return nil, nil
	}
	if rs == proto.StatusOnline || rs == proto.StatusActive {
		rs = proto.StatusOffline // only its own beats make a storage active here
	}
	t.reg.setStatus(g, s, rs)
	return nil, nil
}

// cmdReplicaChg answers REPLICA_CHG (85, §4.6). The leader's table is the
// reference, so the leader only checks the body.
func (t *Tracker) cmdReplicaChg(sess *session, body []byte) ([]byte, error) {
	g, _, err := t.joined(sess, "replica chg")
	if err != nil {
		return nil, err
	}
	if len(body) == 0 || len(body)%proto.StorageBriefSize != 0 || len(body)/proto.StorageBriefSize > 32 {
		return nil, badLen("replica chg", len(body), "1..32 × 67")
	}
	if t.isLeader() {
		return nil, nil
	}
	rd := &proto.Reader{B: body}
	for rd.Len() > 0 {
		var b proto.StorageBrief
		b.Read(rd)
		t.mergeStatus(g, b)
	}
	return nil, nil
}

// cmdChangelogReq answers CHANGELOG_REQ (77, §4.6): the next chunk of
// storage_changelog.dat this storage has not read yet.
func (t *Tracker) cmdChangelogReq(sess *session, body []byte) ([]byte, error) {
	var s *storage
	switch len(body) {
	case 0:
		var err error
		if _, s, err = t.joined(sess, "changelog req"); err != nil {
			return nil, err
		}
	case proto.GroupNameLen + proto.StorageIDLen:
		name := proto.Fixed(body[:proto.GroupNameLen])
		id := proto.Fixed(body[proto.GroupNameLen:])
		g := t.reg.group(name)
		if g == nil {
			return nil, proto.Errf(proto.StatusENOENT, "changelog req: group %q not found", name)
		}
		if s = g.find(id); s == nil {
			return nil, proto.Errf(proto.StatusENOENT, "changelog req: %q not in group %s", id, name)
		}
	default:
		return nil, badLen("changelog req", len(body), "0 or 32")
	}
	chunk, next, err := t.changelog.read(s.ChangelogOffset)
	if err != nil {
		return nil, proto.Errf(proto.StatusEIO, "changelog req: %v", err)
	}
	if next != s.ChangelogOffset {
		s.ChangelogOffset = next
		t.reg.dirty = true
	}
	return chunk, nil
}

// cmdParameterReq answers PARAMETER_REQ (75, §2.9).
func (t *Tracker) cmdParameterReq(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("parameter req", len(body), "0")
	}
	return []byte(t.opts.ParameterText()), nil
}

// cmdGetMyIP answers GET_MY_IP (60, §4.2): the peer address we see.
func (t *Tracker) cmdGetMyIP(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.GroupNameStructLen+4 {
		return nil, badLen("get my ip", len(body), "21")
	}
	if t.ids != nil {
		return t.idsMyIP(sess, proto.Fixed(body[:proto.GroupNameStructLen]), int(proto.I32(body[proto.GroupNameStructLen:]))), nil
	}
	return []byte(sess.peerIP), nil
}

// cmdGetGroupName answers GET_GROUP_NAME (109, §4.2), which only storage
// IDs can answer.
func (t *Tracker) cmdGetGroupName(sess *session, body []byte) ([]byte, error) {
	if len(body) < 4 {
		return nil, badLen("get group name", len(body), ">= 4")
	}
	if len(body)-4 >= proto.IPv6Size {
		return nil, proto.Errf(proto.StatusENAMETOOLONG, "get group name: ip text %d bytes", len(body)-4)
	}
	if t.ids != nil {
		return t.idsGroupName(sess, body)
	}
	return nil, proto.Errf(proto.StatusEOPNOTSUPP, "get group name: use_storage_id is off")
}

// cmdFetchStorageIDs answers FETCH_STORAGE_IDS (69, §2.9).
func (t *Tracker) cmdFetchStorageIDs(sess *session, body []byte) ([]byte, error) {
	if len(body) != 5 {
		return nil, badLen("fetch storage ids", len(body), "5")
	}
	start, allowEmpty := proto.I32(body), body[4] != 0
	if start < 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "fetch storage ids: start index %d", start)
	}
	if t.ids != nil {
		return t.idsFetch(int(start))
	}
	if !allowEmpty {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "fetch storage ids: use_storage_id is off")
	}
	if start > 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "fetch storage ids: start index %d of 0", start)
	}
	return make([]byte, 8), nil // total 0, returned 0
}

// serverAddr parses the group + "ip:port" request of 70 and 71.
func serverAddr(cmd string, body []byte) (group, ip string, port int, err error) {
	if len(body) <= proto.GroupNameLen || len(body) > proto.GroupNameLen+proto.HostPortLen {
		return "", "", 0, badLen(cmd, len(body), "17..68")
	}
	ip, port, err = splitHostPort(string(body[proto.GroupNameLen:]))
	return proto.Fixed(body[:proto.GroupNameLen]), ip, port, err
}

// cmdGetServerID answers GET_SERVER_ID (70, §2.9): without storage IDs the
// ID is derived from the address.
func (t *Tracker) cmdGetServerID(sess *session, body []byte) ([]byte, error) {
	group, ip, port, err := serverAddr("get server id", body)
	if err != nil {
		return nil, err
	}
	if t.ids != nil {
		return t.idsServerID(group, ip, port)
	}
	return []byte(storageIDFor(ip)), nil
}

// cmdGetStorageStatus answers GET_STORAGE_STATUS (71, §2.9).
func (t *Tracker) cmdGetStorageStatus(sess *session, body []byte) ([]byte, error) {
	name, ip, port, err := serverAddr("get storage status", body)
	if err != nil {
		return nil, err
	}
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "get storage status: group %q not found", name)
	}
	s := g.find(storageIDFor(ip))
	if t.ids != nil {
		s = t.idsStorage(g, ip, port)
	}
	if s == nil || (port != 0 && port != s.Port) {
		return nil, proto.Errf(proto.StatusENOENT, "get storage status: %s:%d not in group %s", ip, port, name)
	}
	w := &proto.Buf{}
	b := brief(s)
	b.Append(w)
	return w.B, nil
}
