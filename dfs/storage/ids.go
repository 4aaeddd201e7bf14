package storage

import (
	"fmt"
	"net"
	"strconv"
	"sync"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// Storage IDs, storage side (docs/protocol.md §4.1 "Other triggers", §2.9, §6.2): when
// the tracker's parameters say use_storage_id, the storage loads the ID
// list with FETCH_STORAGE_IDS, resolves its own ID (server_id from
// storage.conf, else its entry by group, address and port, else
// GET_SERVER_ID), sends it in JOIN, and with id_type_in_filename=id puts
// the numeric ID into new file names.

// maxIDPages bounds the FETCH_STORAGE_IDS paging loop.
const maxIDPages = 4096

// storageIDs is what the storage knows of storage_ids.conf.
type storageIDs struct {
	mu      sync.Mutex
	fetched bool
	entries []conf.StorageIDEntry
	myID    string // resolved own ID, "" until known
}

// serverID is this storage's ID when storage IDs are used: server_id, or
// the one resolved from the tracker's list.
func (s *Storage) serverID() string {
	if s.opts.ServerID != "" {
		return s.opts.ServerID
	}
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	return s.ids.myID
}

// idAddr is the first address storage_ids.conf (as fetched from the
// tracker) gives the storage with numeric ID id, as C FastDFS answers
// QUERY_FILE_INFO for a name that holds a server ID; "" when unknown.
func (s *Storage) idAddr(id uint32) string {
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	for _, e := range s.ids.entries {
		if e.IDNum() == id && len(e.Addr.Hosts) > 0 {
			return e.Addr.Hosts[0]
		}
	}
	return ""
}

// loadStorageIDs runs on a tracker session after PARAMETER_REQ: with
// use_storage_id it fetches the list once and resolves the own ID. A
// storage whose ID cannot be resolved cannot join, so that is an error.
func (r *reporter) loadStorageIDs() error {
	s := r.s
	if !s.curParams().useStorageID {
		return nil
	}
	s.ids.mu.Lock()
	done := s.ids.fetched && (s.opts.ServerID != "" || s.ids.myID != "")
	s.ids.mu.Unlock()
	if done {
		return nil
	}
	entries, err := r.fetchStorageIDs()
	if err != nil {
		return err
	}
	id := s.opts.ServerID
	if id == "" {
		id = resolveOwnID(entries, s.group, r.port(), s.ownIPs())
	}
	if id == "" {
		// Not listed under an address we know of: ask the tracker by the
		// address it sees.
		ip := s.bindIP
		if p := s.myIP.Load(); p != nil && *p != "" {
			ip = *p
		}
		body := (&proto.Buf{}).Fixed(s.group, proto.GroupNameLen).String(net.JoinHostPort(ip, strconv.Itoa(r.port()))).B
		resp, err := r.call(proto.CmdStorageGetServerID, body, proto.StorageIDLen)
		if err != nil {
			return fmt.Errorf("storage ids: own id: %w", err)
		}
		id = proto.Fixed(resp)
	}
	if id == "" {
		return fmt.Errorf("storage ids: no id for this storage in group %s", s.group)
	}
	s.ids.mu.Lock()
	s.ids.fetched, s.ids.entries, s.ids.myID = true, entries, id
	s.ids.mu.Unlock()
	r.log.Info().Str("server_id", id).Int("ids", len(entries)).Msg("storage ids loaded")
	return nil
}

// fetchStorageIDs pages FETCH_STORAGE_IDS (69) until every entry is read.
func (r *reporter) fetchStorageIDs() ([]conf.StorageIDEntry, error) {
	var text []byte
	total, got := -1, 0
	for page := 0; total < 0 || got < total; page++ {
		if page >= maxIDPages {
			return nil, fmt.Errorf("storage ids: more than %d pages", maxIDPages)
		}
		resp, err := r.call(proto.CmdStorageFetchStorageIDs, (&proto.Buf{}).I32(int32(got)).U8(0).B, maxTrackerResp)
		if err != nil {
			return nil, fmt.Errorf("storage ids: %w", err)
		}
		if len(resp) < 8 {
			return nil, fmt.Errorf("storage ids: answer of %d bytes", len(resp))
		}
		t, n := int(proto.I32(resp)), int(proto.I32(resp[4:]))
		if t < 0 || n <= 0 || (total >= 0 && t != total) || got+n > t {
			return nil, fmt.Errorf("storage ids: total %d, returned %d after %d", t, n, got)
		}
		total, got = t, got+n
		text = append(text, resp[8:]...)
	}
	entries, err := conf.ParseStorageIDs(text)
	if err != nil {
		return nil, fmt.Errorf("storage ids: %w", err)
	}
	if len(entries) != total {
		return nil, fmt.Errorf("storage ids: %d lines for %d entries", len(entries), total)
	}
	return entries, nil
}

// resolveOwnID finds the entry of (group, one of ips, port).
func resolveOwnID(entries []conf.StorageIDEntry, group string, port int, ips []string) string {
	for _, e := range entries {
		if e.Group != group || e.Addr.Port != port {
			continue
		}
		for _, h := range e.IPs() {
			for _, ip := range ips {
				if h == ip {
					return e.ID
				}
			}
		}
	}
	return ""
}

// ownIPs are the addresses this storage may be listed under: bind_addr,
// what GET_MY_IP said, and the interface addresses.
func (s *Storage) ownIPs() []string {
	var out []string
	if s.bindIP != "" {
		out = append(out, s.bindIP)
	}
	if p := s.myIP.Load(); p != nil && *p != "" {
		out = append(out, *p)
	}
	if s.bindIP == "" {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, canonicalIP(n.IP))
			}
		}
	}
	return out
}
