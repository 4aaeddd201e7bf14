package client

import (
	"context"

	"yunpan/dfs/proto"
)

// otherReplicas runs fn on the other members of the group holding fileID
// (QUERY_FETCH_ALL) after tried answered EIO: a storage answers EIO when
// its copy cannot be read or no longer matches the CRC32 in its name, and
// another replica may well be intact. Nothing of the failed read reached
// fn's writer (the status came before any content), so a retry is safe.
// It returns the first success, else the first error.
func (c *Client) otherReplicas(ctx context.Context, fileID, tried string, first error, fn func(cn *conn) error) error {
	all, err := c.QueryFetchAll(ctx, fileID)
	if err != nil {
		return first
	}
	for _, st := range all.Storages {
		addr := st.String()
		if addr == tried {
			continue
		}
		err := c.withConn(ctx, addr, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !isStatus(err) || proto.StatusOf(err) != proto.StatusEIO && proto.StatusOf(err) != proto.StatusENOENT {
			// a broken stream may have delivered content: no more retries
			return err
		}
	}
	return first
}
