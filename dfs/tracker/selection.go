package tracker

import (
	"strconv"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Selection policies (docs/protocol.md §7). Every function here runs under t.mu.

// groupAccepts is the group reserved-space test of §7.4, optionally
// counting trunk free space.
func (t *Tracker) groupAccepts(g *group, withTrunk bool) bool {
	free := g.FreeMB
	if withTrunk {
		free += g.TrunkFreeMB
	}
	res := t.opts.ReservedSpace
	if res.Ratio > 0 {
		return g.TotalMB > 0 && float64(free)/float64(g.TotalMB) > res.Ratio
	}
	return free > res.MB
}

// pathAccepts is the per-path reserved test of §7.4: the absolute amount
// is a per-server total split evenly over the paths; a ratio applies to
// each path on its own.
func (t *Tracker) pathAccepts(s *storage, i int, extraMB int64) bool {
	if i >= len(s.PathFreeMB) || i >= len(s.PathTotalMB) || s.StorePathCount <= 0 {
		return false // no disk report for this path yet
	}
	free, total := s.PathFreeMB[i]+extraMB, s.PathTotalMB[i]
	res := t.opts.ReservedSpace
	if res.Ratio > 0 {
		return total > 0 && float64(free)/float64(total) > res.Ratio
	}
	return free > res.MB/int64(s.StorePathCount)
}

// chooseStoreGroup picks the group of an upload without a group (101/106)
// by store_lookup (§7.1).
func (t *Tracker) chooseStoreGroup() (*group, error) {
	r := t.reg
	if len(r.groups) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "query store: no groups")
	}
	switch t.opts.StoreLookup {
	case 0:
	case 1:
		return t.fixedStoreGroup(t.opts.StoreGroup)
	case 2:
		var best *group
		for _, g := range r.groups {
			if len(g.writable) > 0 && (best == nil || g.FreeMB > best.FreeMB) {
				best = g
			}
		}
		if best == nil {
			return nil, proto.Errf(proto.StatusENOENT, "query store: no writable storage in any group")
		}
		if t.groupAccepts(best, false) {
			return best, nil
		}
		// The emptiest group is full: the round-robin scan below may still
		// find one that passes through trunk space.
	default:
		return nil, proto.Errf(proto.StatusEINVAL, "query store: store_lookup=%d", t.opts.StoreLookup)
	}
	n := len(r.groups)
	start := r.currentWriteGroup
	if start < 0 || start >= n {
		start = 0
	}
	var chosen *group
	anyWritable := false
	for _, withTrunk := range []bool{false, true} {
		if withTrunk && !t.opts.UseTrunkFile {
			break
		}
		for k := 0; k < n && chosen == nil; k++ {
			g := r.groups[(start+k)%n]
			if len(g.writable) == 0 {
				continue
			}
			anyWritable = true
			if t.groupAccepts(g, withTrunk) {
				chosen = g
			}
		}
		if chosen != nil {
			break
		}
	}
	if !anyWritable {
		return nil, proto.Errf(proto.StatusENOENT, "query store: no writable storage in any group")
	}
	if chosen == nil {
		return nil, proto.Errf(proto.StatusENOSPC, "query store: every group is below reserved_storage_space")
	}
	r.currentWriteGroup = (start + 1) % n
	return chosen, nil
}

// fixedStoreGroup checks a named group (104/107, store_lookup=1).
func (t *Tracker) fixedStoreGroup(name string) (*group, error) {
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "query store: group %q not found", name)
	}
	if len(g.writable) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "query store: group %q has no writable storage", name)
	}
	if !t.groupAccepts(g, false) && !(t.opts.UseTrunkFile && t.groupAccepts(g, true)) {
		return nil, proto.Errf(proto.StatusENOSPC, "query store: group %q is below reserved_storage_space", name)
	}
	return g, nil
}

// storeServerPolicy is store_server, with trunk mode forcing round robin
// off (§7.2).
func (t *Tracker) storeServerPolicy() int {
	if t.opts.UseTrunkFile && t.opts.StoreServer == 0 {
		return 1
	}
	return t.opts.StoreServer
}

// chooseStorage picks one writable storage of g by store_server (§7.2),
// advancing the round-robin cursor. nil when g has none.
func (t *Tracker) chooseStorage(g *group) *storage {
	w := g.writable
	if len(w) == 0 {
		return nil
	}
	if t.storeServerPolicy() == 0 {
		i := g.CurrentWriteServer
		if i < 0 || i >= len(w) {
			i = 0
		}
		g.CurrentWriteServer = (i + 1) % len(w)
		return w[i]
	}
	return t.preferred(g)
}

// preferred is the group's preferred store server: the lowest
// upload_priority with store_server=2 (ties to the earlier ID), else the
// first writable storage.
func (t *Tracker) preferred(g *group) *storage {
	w := g.writable
	if len(w) == 0 {
		return nil
	}
	best := w[0]
	if t.opts.StoreServer == 2 {
		for _, s := range w[1:] {
			if s.UploadPriority < best.UploadPriority {
				best = s
			}
		}
	}
	return best
}

// choosePath picks the store path of an upload to s (§7.3): the storage's
// current_write_path, or the next path after it that passes the reserved
// test.
func (t *Tracker) choosePath(g *group, s *storage) (int, error) {
	n := s.StorePathCount
	if n <= 0 || g.StorePathCount <= 0 {
		return 0, proto.Errf(proto.StatusENOENT, "query store: storage %s has no store paths", s.ID)
	}
	start := s.CurrentWritePath
	if start < 0 || start >= n {
		start = 0
	}
	found := -1
	for _, extra := range []int64{0, g.TrunkFreeMB} {
		for k := 0; k < n && found < 0; k++ {
			if j := (start + k) % n; t.pathAccepts(s, j, extra) {
				found = j
			}
		}
		if found >= 0 || !t.opts.UseTrunkFile {
			break
		}
	}
	if found < 0 {
		return 0, proto.Errf(proto.StatusENOSPC, "query store: every path of %s is below reserved_storage_space", s.ID)
	}
	if t.opts.StorePath != 2 {
		s.CurrentWritePath = (found + 1) % n
	}
	return found, nil
}

// sourceOf finds the storage that created a file, from its decoded name:
// by IP together with the group's port, or by server ID.
func sourceOf(g *group, info fileid.Info) *storage {
	if info.SourceIP != "" {
		if s := g.findAddr(info.SourceIP, g.Port); s != nil {
			return s
		}
		return nil
	}
	if info.SourceID != 0 {
		return g.find(strconv.FormatUint(uint64(info.SourceID), 10))
	}
	return nil
}

// fresh is the sync-freshness test of §2.2: may s serve a file created at
// ts by src?
func (t *Tracker) fresh(s, src *storage, ts int64, now time.Time) bool {
	n := now.Unix()
	return s == src ||
		ts < n-int64(t.opts.StorageSyncFileMaxDelay/time.Second) ||
		s.LastSynced > ts ||
		(s.LastSynced+1 >= ts && n-ts > int64(t.opts.StorageSyncFileMaxTime/time.Second))
}

// fetchStorages answers QUERY_FETCH_ONE (102), QUERY_UPDATE (103) and
// QUERY_FETCH_ALL (105) for remote in g (§2.2, §7.7), appended to dst.
func (t *Tracker) fetchStorages(dst []*storage, g *group, remote string, cmd byte, now time.Time) ([]*storage, error) {
	info, kind, err := fileid.Decode(remote)
	if err != nil {
		return nil, proto.Errf(proto.StatusEINVAL, "query %d: file name %q: %v", cmd, remote, err)
	}
	src := t.fileSource(g, info) // storageids.go
	if cmd == proto.CmdQueryUpdate {
		if src != nil && g.isWritable(src) {
			return append(dst, src), nil
		}
		if s := t.chooseStorage(g); s != nil {
			return append(dst, s), nil
		}
		return nil, proto.Errf(proto.StatusENOENT, "query update: group %s has no writable storage", g.Name)
	}
	if len(g.readable) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "query fetch: group %s has no readable storage", g.Name)
	}
	// Appender and slave files exist only where they were made until synced
	// by name; trunk files are normal here (§6.7).
	normal := kind != fileid.KindAppender && kind != fileid.KindSlave
	srcReadable := src != nil && g.isReadable(src)
	out := dst
	if cmd == proto.CmdQueryFetchOne {
		if (!normal || t.opts.DownloadServer == 1) && srcReadable {
			return append(dst, src), nil
		}
		if normal {
			n := len(g.readable)
			start := g.CurrentReadServer
			if start < 0 || start >= n {
				start = 0
			}
			for k := 0; k < n; k++ {
				i := (start + k) % n
				if s := g.readable[i]; t.fresh(s, src, info.Timestamp, now) {
					g.CurrentReadServer = (i + 1) % n
					return append(dst, s), nil
				}
			}
		}
	} else { // fetch all
		if !normal {
			if srcReadable {
				out = append(out, src)
			}
		} else {
			for _, s := range g.readable {
				if t.fresh(s, src, info.Timestamp, now) {
					out = append(out, s)
				}
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	if p := t.preferred(g); p != nil && g.isReadable(p) {
		return append(dst, p), nil
	}
	return nil, proto.Errf(proto.StatusENOENT, "query fetch: no storage of %s can serve %s", g.Name, remote)
}
