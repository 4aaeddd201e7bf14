package tracker

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"yunpan/conf"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Storage IDs (docs/protocol.md §8.2 storage_ids.conf, §2.9, §4.2, §4.3): with
// use_storage_id a storage is known by a numeric ID from storage_ids.conf,
// so it keeps its identity, status and files when its address changes.

// idTable is storage_ids.conf, indexed.
type idTable struct {
	list   []conf.StorageIDEntry // sorted by numeric ID (FETCH_STORAGE_IDS order)
	byID   map[string]*conf.StorageIDEntry
	byAddr map[string]*conf.StorageIDEntry // "group ip:port"
}

func idAddrKey(group, ip string, port int) string {
	return group + " " + net.JoinHostPort(ip, strconv.Itoa(port))
}

// newIDTable loads the table when use_storage_id is on (nil otherwise):
// from the entries the config loader read, or from storage_ids_filename
// for a hand-built config.
func newIDTable(o *conf.Tracker) (*idTable, error) {
	if !o.UseStorageID {
		return nil, nil
	}
	entries := o.StorageIDs
	if len(entries) == 0 && o.StorageIDsFilename != "" {
		var err error
		if entries, err = conf.LoadStorageIDs(o.StorageIDsFilename); err != nil {
			return nil, fmt.Errorf("tracker: %w", err)
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("tracker: use_storage_id=true but storage_ids.conf lists no storage")
	}
	t := &idTable{byID: map[string]*conf.StorageIDEntry{}, byAddr: map[string]*conf.StorageIDEntry{}}
	t.list = append([]conf.StorageIDEntry(nil), entries...)
	sort.SliceStable(t.list, func(i, j int) bool { return t.list[i].IDNum() < t.list[j].IDNum() })
	for i := range t.list {
		e := &t.list[i]
		// IDs are stored as the canonical decimal text the file names decode to.
		e.ID = strconv.FormatUint(uint64(e.IDNum()), 10)
		if t.byID[e.ID] != nil {
			return nil, fmt.Errorf("tracker: storage id %s listed twice", e.ID)
		}
		t.byID[e.ID] = e
		for _, h := range e.IPs() {
			if ip := net.ParseIP(h); ip != nil {
				h = canonIP(ip)
			}
			t.byAddr[idAddrKey(e.Group, h, e.Addr.Port)] = e
		}
	}
	return t, nil
}

// lookup finds the entry of (group, ip, port); port 0 matches any port.
func (x *idTable) lookup(group, ip string, port int) *conf.StorageIDEntry {
	if port != 0 {
		return x.byAddr[idAddrKey(group, ip, port)]
	}
	for i := range x.list {
		e := &x.list[i]
		if e.Group != group {
			continue
		}
		for _, h := range e.IPs() {
			if h == ip {
				return e
			}
		}
	}
	return nil
}

// rwMode maps an entry's rw= to the tracker's rw_mode bits.
func rwMode(e *conf.StorageIDEntry) byte {
	switch e.RW {
	case conf.RWRead:
		return proto.RWRead
	case conf.RWWrite:
		return proto.RWWrite
	case conf.RWNone:
		return proto.RWNone
	}
	return proto.RWBoth
}

// joinStorageID is step 5 of §4.3: the ID a joining storage gets. Without
// storage IDs it is the peer's address; with them, the ID the storage sent
// (trust_storage_server_id) or the one listed for its address, which must
// be in storage_ids.conf and belong to the group it joins.
func (t *Tracker) joinStorageID(sess *session, j *proto.JoinBody) (string, *conf.StorageIDEntry, error) {
	if t.ids == nil {
		id := storageIDFor(sess.peerIP)
		if id == "" {
			return "", nil, proto.Errf(proto.StatusEINVAL, "join: peer address %q", sess.peerIP)
		}
		return id, nil, nil
	}
	var e *conf.StorageIDEntry
	if t.opts.TrustStorageServerID && j.StorageID != "" {
		if e = t.ids.byID[j.StorageID]; e == nil {
			return "", nil, proto.Errf(proto.StatusENOENT, "join: storage id %q not in storage_ids.conf", j.StorageID)
		}
	} else if e = t.ids.lookup(j.GroupName, sess.peerIP, int(j.StoragePort)); e == nil {
		return "", nil, proto.Errf(proto.StatusENOENT, "join: %s:%d of %s not in storage_ids.conf",
			sess.peerIP, j.StoragePort, j.GroupName)
	}
	if e.Group != j.GroupName {
		return "", nil, proto.Errf(proto.StatusEINVAL, "join: storage id %s belongs to group %s, not %s", e.ID, e.Group, j.GroupName)
	}
	return e.ID, e, nil
}

// portsMayDiffer: with IDs in file names a group's members may listen on
// different ports (§4.3 step 6), since names no longer imply an address.
func (t *Tracker) portsMayDiffer() bool {
	return t.ids != nil && t.opts.IDTypeInFilename == "id"
}

// applyIDEntry sets what storage_ids.conf says about a joined storage.
func applyIDEntry(g *group, s *storage, e *conf.StorageIDEntry) {
	if e == nil {
		return
	}
	if m := rwMode(e); s.RWMode != m {
		s.RWMode = m
		g.chg++
		g.rebuild()
	}
}

// applyIDsToRegistryLocked re-applies rw modes after loading a registry.
func (t *Tracker) applyIDsToRegistryLocked() {
	if t.ids == nil {
		return
	}
	for _, g := range t.reg.groups {
		for _, s := range g.Storages {
			applyIDEntry(g, s, t.ids.byID[s.ID])
		}
	}
}

// fileSource finds the storage that created a file: by its decoded name,
// and with storage IDs also through storage_ids.conf, so a file named
// after an address the storage no longer has still finds it.
func (t *Tracker) fileSource(g *group, info fileid.Info) *storage {
	if s := sourceOf(g, info); s != nil || t.ids == nil || info.SourceIP == "" {
		return s
	}
	if e := t.ids.lookup(g.Name, info.SourceIP, 0); e != nil {
		return g.find(e.ID)
	}
	return nil
}

// idsFetch answers FETCH_STORAGE_IDS (69) with use_storage_id: total,
// returned, then "<id> <group> <ip>[:port][ rw=<mode>]\n" lines from
// start until the answer buffer is nearly full.
func (t *Tracker) idsFetch(start int) ([]byte, error) {
	total := len(t.ids.list)
	if start < 0 || start >= total {
		return nil, proto.Errf(proto.StatusEINVAL, "fetch storage ids: start index %d of %d", start, total)
	}
	limit := min(t.opts.MaxBuffSize, 64<<10) - proto.HeaderSize
	w := &proto.Buf{}
	w.I32(int32(total)).I32(0)
	n := 0
	for _, e := range t.ids.list[start:] {
		line := e.Line() + "\n"
		if int64(len(w.B)+len(line)) > limit && n > 0 {
			break
		}
		w.String(line)
		n++
	}
	proto.PutI32(w.B[4:], int32(n))
	return w.B, nil
}

// idsServerID answers GET_SERVER_ID (70) with use_storage_id.
func (t *Tracker) idsServerID(group, ip string, port int) ([]byte, error) {
	e := t.ids.lookup(group, ip, port)
	if e == nil {
		return nil, proto.Errf(proto.StatusENOENT, "get server id: %s:%d of %s not in storage_ids.conf", ip, port, group)
	}
	return []byte(e.ID), nil
}

// idsStorage finds the member of g that (ip, port) names, by its ID or its
// current address.
func (t *Tracker) idsStorage(g *group, ip string, port int) *storage {
	if e := t.ids.lookup(g.Name, ip, port); e != nil {
		if s := g.find(e.ID); s != nil {
			return s
		}
	}
	for _, s := range g.Storages {
		if s.IP == ip && (port == 0 || s.Port == port) {
			return s
		}
	}
	return nil
}

// idsMyIP answers GET_MY_IP (60) with use_storage_id: every IP of the
// caller's entry, or the address we see.
func (t *Tracker) idsMyIP(sess *session, group string, port int) []byte {
	if e := t.ids.lookup(group, sess.peerIP, port); e != nil {
		return []byte(strings.Join(e.IPs(), ","))
	}
	return []byte(sess.peerIP)
}

// idsGroupName answers GET_GROUP_NAME (109) with use_storage_id: the body
// is i32 port (the peer's address is used) or IP text + i32 port.
func (t *Tracker) idsGroupName(sess *session, body []byte) ([]byte, error) {
	ip := sess.peerIP
	if len(body) > 4 {
		ip = string(body[:len(body)-4])
	}
	port := int(proto.I32(body[len(body)-4:]))
	for i := range t.ids.list {
		e := &t.ids.list[i]
		if e.Addr.Port != port && port != 0 {
			continue
		}
		for _, h := range e.IPs() {
			if h == ip {
				return (&proto.Buf{}).Fixed(e.Group, proto.GroupNameLen).B, nil
			}
		}
	}
	return nil, proto.Errf(proto.StatusENOENT, "get group name: %s:%d not in storage_ids.conf", ip, port)
}
