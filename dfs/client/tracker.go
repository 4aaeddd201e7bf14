package client

import (
	"context"
	"errors"
	"fmt"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// maxListBody bounds list answers; a tracker's own buffer is far smaller.
const maxListBody = 4 << 20

// groupField is a request's zstr[16] group name.
func groupField(group string) []byte {
	return (&proto.Buf{}).Fixed(group, proto.GroupNameLen).B
}

// QueryStore asks a tracker which storage should receive an upload
// (QUERY_STORE_WITHOUT_GROUP_ONE, or WITH_GROUP_ONE when group is set).
// The answer holds exactly one storage and the store path index to use.
func (c *Client) QueryStore(ctx context.Context, group string) (*proto.StoreResp, error) {
	return c.queryStore(ctx, group, false)
}

// QueryStoreAll is QueryStore for every writable storage of the chosen group
// (QUERY_STORE_*_ALL, 106/107).
func (c *Client) QueryStoreAll(ctx context.Context, group string) (*proto.StoreResp, error) {
	return c.queryStore(ctx, group, true)
}

func (c *Client) queryStore(ctx context.Context, group string, all bool) (*proto.StoreResp, error) {
	cmd, body := byte(proto.CmdQueryStoreWithoutGroupOne), []byte(nil)
	if all {
		cmd = proto.CmdQueryStoreWithoutGroupAll
	}
	if group != "" {
		if !fileid.ValidGroup(group) {
			return nil, proto.Errf(proto.StatusEINVAL, "query store: bad group name %q", group)
		}
		cmd, body = proto.CmdQueryStoreWithGroupOne, groupField(group)
		if all {
			cmd = proto.CmdQueryStoreWithGroupAll
		}
	}
	var resp *proto.StoreResp
	err := c.withTracker(ctx, "", func(cn *conn) error {
		b, err := cn.roundTrip(cmd, 0, body, maxListBody)
		if err != nil {
			return err
		}
		// the _ONE answers have an exact length: 40 (W=16) or 70 (W=46)
		if !all && len(b) != proto.GroupNameLen+proto.IPv4Size-1+8+1 &&
			len(b) != proto.GroupNameLen+proto.IPv6Size-1+8+1 {
			return proto.Errf(proto.StatusEINVAL, "body length %d", len(b))
		}
		resp, err = proto.DecodeStoreResp(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query store (cmd %d): %w", cmd, err)
	}
	return resp, nil
}

// fetchBody is the zstr[16] group + remote filename request of 102/103/105.
func fetchBody(fileID string) ([]byte, error) {
	group, remote, err := fileid.Split(fileID)
	if err != nil {
		return nil, err
	}
	if len(remote) >= proto.MaxFilenameLen {
		return nil, proto.Errf(proto.StatusEINVAL, "file id %q: remote filename too long", fileID)
	}
	return (&proto.Buf{}).Fixed(group, proto.GroupNameLen).String(remote).B, nil
}

// QueryFetch asks a tracker which storage serves fileID: QUERY_FETCH_ONE
// (102) to read it, or QUERY_UPDATE (103) with update to change it.
func (c *Client) QueryFetch(ctx context.Context, fileID string, update bool) (*proto.FetchResp, error) {
	cmd := byte(proto.CmdQueryFetchOne)
	if update {
		cmd = proto.CmdQueryUpdate
	}
	return c.queryFetch(ctx, fileID, cmd)
}

// QueryFetchAll lists every storage that can serve fileID (105).
func (c *Client) QueryFetchAll(ctx context.Context, fileID string) (*proto.FetchResp, error) {
	return c.queryFetch(ctx, fileID, proto.CmdQueryFetchAll)
}

func (c *Client) queryFetch(ctx context.Context, fileID string, cmd byte) (*proto.FetchResp, error) {
	body, err := fetchBody(fileID)
	if err != nil {
		return nil, fmt.Errorf("query fetch (cmd %d): %w", cmd, err)
	}
	var resp *proto.FetchResp
	err = c.withTracker(ctx, "", func(cn *conn) error {
		b, err := cn.roundTrip(cmd, 0, body, maxListBody)
		if err != nil {
			return err
		}
		if cmd != proto.CmdQueryFetchAll && len(b) != proto.GroupNameLen+proto.IPv4Size-1+8 &&
			len(b) != proto.GroupNameLen+proto.IPv6Size-1+8 {
			return proto.Errf(proto.StatusEINVAL, "body length %d", len(b))
		}
		resp, err = proto.DecodeFetchResp(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("query fetch %s (cmd %d): %w", fileID, cmd, err)
	}
	return resp, nil
}

// ListGroups lists every group (LIST_ALL_GROUPS, 91). tracker is an
// "ip:port" to ask, or "" for any tracker.
func (c *Client) ListGroups(ctx context.Context, tracker string) ([]proto.GroupStat, error) {
	var out []proto.GroupStat
	err := c.withTracker(ctx, tracker, func(cn *conn) error {
		b, err := cn.roundTrip(proto.CmdServerListAllGroups, 0, nil, maxListBody)
		if err != nil {
			return err
		}
		if len(b)%proto.GroupStatSize != 0 {
			return proto.Errf(proto.StatusEINVAL, "body length %d is no multiple of %d", len(b), proto.GroupStatSize)
		}
		out = make([]proto.GroupStat, len(b)/proto.GroupStatSize)
		r := &proto.Reader{B: b}
		for i := range out {
			out[i].Read(r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

// ListGroup returns one group's record (LIST_ONE_GROUP, 90).
func (c *Client) ListGroup(ctx context.Context, tracker, group string) (*proto.GroupStat, error) {
	g := &proto.GroupStat{}
	err := c.withTracker(ctx, tracker, func(cn *conn) error {
		b, err := cn.roundTrip(proto.CmdServerListOneGroup, 0, groupField(group), maxListBody)
		if err != nil {
			return err
		}
		if len(b) != proto.GroupStatSize {
			return proto.Errf(proto.StatusEINVAL, "body length %d, want %d", len(b), proto.GroupStatSize)
		}
		g.Read(&proto.Reader{B: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list group %s: %w", group, err)
	}
	return g, nil
}

// ListStorage lists the storages of group, or only the one with storage ID
// id when id is set (LIST_STORAGE, 92). The IP width is inferred (§1.7).
func (c *Client) ListStorage(ctx context.Context, tracker, group, id string) ([]proto.StorageStat, error) {
	if len(id) >= proto.StorageIDLen {
		return nil, proto.Errf(proto.StatusEINVAL, "list storage: storage id %q too long", id)
	}
	body := append(groupField(group), id...)
	var out []proto.StorageStat
	err := c.withTracker(ctx, tracker, func(cn *conn) error {
		b, err := cn.roundTrip(proto.CmdServerListStorage, 0, body, maxListBody)
		if err != nil {
			return err
		}
		out, err = proto.DecodeStorageStats(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list storage %s %s: %w", group, id, err)
	}
	return out, nil
}

// eachTracker runs fn against every tracker and returns nil when at least
// one succeeded, else the first error. This is how the reference client
// sends the cluster-wide deletes.
func (c *Client) eachTracker(ctx context.Context, fn func(tracker string) error) error {
	var first error
	ok := false
	for _, t := range c.trackers {
		if err := fn(t); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		ok = true
	}
	if ok {
		return nil
	}
	return first
}

// DeleteStorage removes a storage from its group on every tracker
// (DELETE_STORAGE, 93). As the reference client does, it first refuses with
// EBUSY if any tracker still sees the storage ONLINE or ACTIVE.
func (c *Client) DeleteStorage(ctx context.Context, group, id string) error {
	if id == "" || len(id) >= proto.StorageIDLen {
		return proto.Errf(proto.StatusEINVAL, "delete storage: bad storage id %q", id)
	}
	for _, t := range c.trackers {
		ss, err := c.ListStorage(ctx, t, group, id)
		if err != nil {
			continue // the delete itself reports what is wrong
		}
		for _, s := range ss {
			if s.Status == proto.StatusOnline || s.Status == proto.StatusActive {
				return proto.Errf(proto.StatusEBUSY, "delete storage %s::%s: %s on tracker %s",
					group, id, proto.StorageStatusName(s.Status), t)
			}
		}
	}
	body := append(groupField(group), id...)
	return c.eachTracker(ctx, func(t string) error {
		return c.withConn(ctx, t, func(cn *conn) error {
			if _, err := cn.roundTrip(proto.CmdServerDeleteStorage, 0, body, 0); err != nil {
				return fmt.Errorf("delete storage %s::%s on %s: %w", group, id, t, err)
			}
			return nil
		})
	})
}

// DeleteGroup removes an empty group on every tracker (DELETE_GROUP, 108).
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	body := groupField(group)
	return c.eachTracker(ctx, func(t string) error {
		return c.withConn(ctx, t, func(cn *conn) error {
			if _, err := cn.roundTrip(proto.CmdServerDeleteGroup, 0, body, 0); err != nil {
				return fmt.Errorf("delete group %s on %s: %w", group, t, err)
			}
			return nil
		})
	})
}

// SetTrunkServer asks the tracker leader to make storage id (or, when id is
// empty, a storage of its choice) the group's trunk server
// (SET_TRUNK_SERVER, 94). Trackers that are not the leader answer EOPNOTSUPP
// and are skipped. It returns the trunk server's ID.
func (c *Client) SetTrunkServer(ctx context.Context, group, id string) (string, error) {
	if len(id) >= proto.StorageIDLen {
		return "", proto.Errf(proto.StatusEINVAL, "set trunk server: storage id %q too long", id)
	}
	body := append(groupField(group), id...)
	var err error
	for _, t := range c.trackers {
		var newID string
		err = c.withConn(ctx, t, func(cn *conn) error {
			b, err := cn.roundTrip(proto.CmdServerSetTrunkServer, 0, body, proto.StorageIDLen+1)
			newID = proto.Fixed(b)
			return err
		})
		if err == nil {
			return newID, nil
		}
		if !errors.Is(err, proto.StatusError(proto.StatusEOPNOTSUPP)) {
			break
		}
	}
	return "", fmt.Errorf("set trunk server %s::%s: %w", group, id, err)
}
