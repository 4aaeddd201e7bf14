package tracker

import (
	"net"
	"strconv"
	"time"

	"yunpan/dfs/proto"
)

// Client ↔ tracker commands (docs/protocol.md §2). Each runs under t.mu.

func (t *Tracker) cmdQueryStoreWithoutGroupOne(sess *session, body []byte) ([]byte, error) {
	return t.queryStore(body, false, false)
}

func (t *Tracker) cmdQueryStoreWithGroupOne(sess *session, body []byte) ([]byte, error) {
	return t.queryStore(body, true, false)
}

func (t *Tracker) cmdQueryStoreWithoutGroupAll(sess *session, body []byte) ([]byte, error) {
	return t.queryStore(body, false, true)
}

func (t *Tracker) cmdQueryStoreWithGroupAll(sess *session, body []byte) ([]byte, error) {
	return t.queryStore(body, true, true)
}

// queryStore answers 101/104/106/107 (§2.1).
func (t *Tracker) queryStore(body []byte, withGroup, all bool) ([]byte, error) {
	var g *group
	var err error
	if withGroup {
		if len(body) != proto.GroupNameLen {
			return nil, badLen("query store", len(body), "16")
		}
		g, err = t.fixedStoreGroup(proto.Fixed(body))
	} else {
		if len(body) != 0 {
			return nil, badLen("query store", len(body), "0")
		}
		g, err = t.chooseStoreGroup()
	}
	if err != nil {
		return nil, err
	}
	if g.StorePathCount <= 0 {
		return nil, proto.Errf(proto.StatusENOENT, "query store: group %s has no store paths", g.Name)
	}
	var found [8]*storage
	list := found[:0]
	if all {
		list = append(list, g.writable...)
	} else if s := t.chooseStorage(g); s != nil {
		list = append(list, s)
	}
	if len(list) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "query store: group %s has no writable storage", g.Name)
	}
	path, err := t.choosePath(g, list[0])
	if err != nil {
		return nil, err
	}
	var addrs [8]proto.StorageAddr
	resp := proto.StoreResp{Group: g.Name, PathIndex: int8(path), Storages: addrs[:0]}
	for _, s := range list {
		resp.Storages = append(resp.Storages, proto.StorageAddr{IP: s.IP, Port: int64(s.Port)})
	}
	return resp.Encode(t.ipSize), nil
}

// cmdQueryFetchOne, cmdQueryUpdate and cmdQueryFetchAll answer 102, 103
// and 105 (§2.2).
func (t *Tracker) cmdQueryFetchOne(sess *session, body []byte) ([]byte, error) {
	return t.queryFetch(proto.CmdQueryFetchOne, body)
}

func (t *Tracker) cmdQueryUpdate(sess *session, body []byte) ([]byte, error) {
	return t.queryFetch(proto.CmdQueryUpdate, body)
}

func (t *Tracker) cmdQueryFetchAll(sess *session, body []byte) ([]byte, error) {
	return t.queryFetch(proto.CmdQueryFetchAll, body)
}

func (t *Tracker) queryFetch(cmd byte, body []byte) ([]byte, error) {
	if len(body) < proto.GroupNameLen+22 || len(body) >= proto.GroupNameLen+proto.MaxFilenameLen {
		return nil, badLen("query fetch", len(body), "38..143")
	}
	// Every download asks this: the lookups work on the request's bytes and
	// the answer is built from arrays on the stack, so the only garbage
	// left is the name and the answer itself.
	g := t.reg.group(string(proto.FixedBytes(body[:proto.GroupNameLen])))
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "query fetch: group %q not found", proto.Fixed(body[:proto.GroupNameLen]))
	}
	remote := string(body[proto.GroupNameLen:])
	var found [8]*storage
	list, err := t.fetchStorages(found[:0], g, remote, cmd, time.Now())
	if err != nil {
		return nil, err
	}
	var addrs [8]proto.StorageAddr
	resp := proto.FetchResp{Group: g.Name, Storages: addrs[:0]}
	for _, s := range list {
		resp.Storages = append(resp.Storages, proto.StorageAddr{IP: s.IP, Port: int64(s.Port)})
	}
	return resp.Encode(t.ipSize), nil
}

func (t *Tracker) groupStat(g *group) proto.GroupStat {
	trunkID := int64(-1)
	if t.opts.UseTrunkFile {
		trunkID = g.CurrentTrunkFileID
	}
	return proto.GroupStat{
		Name:               g.Name,
		TotalMB:            g.TotalMB,
		FreeMB:             g.FreeMB,
		ReservedMB:         t.opts.ReservedSpace.ReservedMB(g.TotalMB),
		TrunkFreeMB:        g.TrunkFreeMB,
		StorageCount:       int64(len(g.Storages)),
		StoragePort:        int64(g.Port),
		ReadableCount:      int64(len(g.readable)),
		WritableCount:      int64(len(g.writable)),
		CurrentWriteServer: int64(g.CurrentWriteServer),
		StorePathCount:     int64(g.StorePathCount),
		SubdirCount:        int64(g.SubdirCount),
		CurrentTrunkFileID: trunkID,
	}
}

// cmdListOneGroup answers 90 (§2.3).
func (t *Tracker) cmdListOneGroup(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.GroupNameLen {
		return nil, badLen("list one group", len(body), "16")
	}
	name := proto.Fixed(body)
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "list one group: group %q not found", name)
	}
	w := &proto.Buf{}
	st := t.groupStat(g)
	st.Append(w)
	return w.B, nil
}

// cmdListAllGroups answers 91 (§2.3): every group, sorted by name.
func (t *Tracker) cmdListAllGroups(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("list all groups", len(body), "0")
	}
	w := &proto.Buf{}
	for _, g := range t.reg.groups {
		st := t.groupStat(g)
		st.Append(w)
	}
	if int64(len(w.B)) > t.opts.MaxBuffSize {
		return nil, proto.Errf(proto.StatusENOSPC, "list all groups: %d bytes exceed max_buff_size", len(w.B))
	}
	return w.B, nil
}

func (t *Tracker) storageStat(g *group, s *storage) proto.StorageStat {
	st := proto.StorageStat{
		Status:           s.Status,
		RWMode:           s.RWMode,
		ID:               s.ID,
		IP:               s.IP,
		SrcID:            s.SyncSrc,
		Version:          s.Version,
		JoinTime:         s.JoinTime,
		TotalMB:          s.TotalMB,
		FreeMB:           s.FreeMB,
		ReservedMB:       t.opts.ReservedSpace.ReservedMB(s.TotalMB),
		UploadPriority:   s.UploadPriority,
		StorePathCount:   int64(s.StorePathCount),
		SubdirCount:      int64(s.SubdirCount),
		CurrentWritePath: int64(s.CurrentWritePath),
		StoragePort:      int64(s.Port),
		Stat:             s.Stat,
		IfTrunkServer:    g.TrunkServer != "" && g.TrunkServer == s.ID,
	}
	if s.sess != nil { // up_time is 0 while the storage is not connected
		st.UpTime = s.UpTime
	}
	st.Stat.Counters[proto.StatLastSyncedTimestamp] = s.LastSynced
	st.Stat.Counters[proto.StatLastHeartBeatTime] = s.LastHeartBeat
	return st
}

// cmdListStorage answers 92 (§2.4).
func (t *Tracker) cmdListStorage(sess *session, body []byte) ([]byte, error) {
	if len(body) < proto.GroupNameLen || len(body) >= proto.GroupNameLen+proto.StorageIDLen {
		return nil, badLen("list storage", len(body), "16..31")
	}
	name := proto.Fixed(body[:proto.GroupNameLen])
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "list storage: group %q not found", name)
	}
	list := g.Storages
	if id := proto.Fixed(body[proto.GroupNameLen:]); len(body) > proto.GroupNameLen {
		s := g.find(id)
		if s == nil {
			return nil, proto.Errf(proto.StatusENOENT, "list storage: %q not in group %s", id, name)
		}
		list = []*storage{s}
	}
	w := &proto.Buf{}
	for _, s := range list {
		st := t.storageStat(g, s)
		st.Append(w, t.ipSize)
	}
	if int64(len(w.B)) > t.opts.MaxBuffSize {
		return nil, proto.Errf(proto.StatusENOSPC, "list storage: %d bytes exceed max_buff_size", len(w.B))
	}
	return w.B, nil
}

// cmdDeleteStorage answers 93 (§2.5).
func (t *Tracker) cmdDeleteStorage(sess *session, body []byte) ([]byte, error) {
	if len(body) <= proto.GroupNameLen || len(body) >= proto.GroupNameLen+proto.StorageIDLen {
		return nil, badLen("delete storage", len(body), "17..31")
	}
	name := proto.Fixed(body[:proto.GroupNameLen])
	id := proto.Fixed(body[proto.GroupNameLen:])
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "delete storage: group %q not found", name)
	}
	s := g.find(id)
	if s == nil || s.Status == proto.StatusIPChanged {
		return nil, proto.Errf(proto.StatusENOENT, "delete storage: %q not in group %s", id, name)
	}
	switch s.Status {
	case proto.StatusOnline, proto.StatusActive, proto.StatusRecovery:
		return nil, proto.Errf(proto.StatusEBUSY, "delete storage: %s is %s", id, proto.StorageStatusName(s.Status))
	case proto.StatusDeleted:
		return nil, proto.Errf(proto.StatusEALREADY, "delete storage: %s already deleted", id)
	}
	t.reg.setStatus(g, s, proto.StatusDeleted)
	g.clearSyncSource(s.ID)
	if g.TrunkServer == s.ID {
		g.TrunkServer = ""
		g.trunkChg++
	}
	t.logChange(g, s, "")
	t.log.Info().Str("group", g.Name).Str("storage", s.ID).Msg("storage deleted")
	return nil, nil
}

// cmdDeleteGroup answers 108 (§2.5). Deleted (and IP-changed) entries do
// not keep a group alive; anything else does.
func (t *Tracker) cmdDeleteGroup(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.GroupNameLen {
		return nil, badLen("delete group", len(body), "16")
	}
	name := proto.Fixed(body)
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "delete group: group %q not found", name)
	}
	if n := g.members(); n > 0 {
		return nil, proto.Errf(proto.StatusEBUSY, "delete group: %s still has %d storages", name, n)
	}
	t.reg.removeGroup(g)
	t.log.Info().Str("group", name).Msg("group deleted")
	return nil, nil
}

// cmdGetLeader answers 95 (§2.7): "ip:port", IPv6 bracketed.
func (t *Tracker) cmdGetLeader(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("get leader", len(body), "0")
	}
	ip, port := t.leaderAddr(sess)
	if ip == "" {
		return nil, proto.Errf(proto.StatusENOENT, "get leader: no leader known")
	}
	return []byte(net.JoinHostPort(ip, strconv.Itoa(port))), nil
}

// cmdActiveTest answers 111 (§1.5).
func (t *Tracker) cmdActiveTest(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("active test", len(body), "0")
	}
	return nil, nil
}
