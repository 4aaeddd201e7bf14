package client

import (
	"context"
	"net"
	"strconv"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Read-your-writes. FastDFS replicates inside a group asynchronously, and
// the tracker may send a download of a file uploaded a moment ago to a
// member that has not received it yet ("file not found" right after a
// successful upload: FastDFS's most common complaint). The tracker avoids
// that with each member's last_synced_timestamp (docs/protocol.md §2.2), but the
// timestamps have a one-second grain and arrive with the next SYNC_REPORT.
// So a read that gets ENOENT from a storage other than the file's source is
// tried once more on the source, decoded from the file ID: the file exists
// there from the moment its upload was acknowledged, unless it was deleted.

// fetchOnStorage runs fn on the storage QUERY_FETCH_ONE names for fileID,
// and on ENOENT once more on the file's source storage.
func (c *Client) fetchOnStorage(ctx context.Context, fileID string, fn func(cn *conn) error) error {
	if _, _, err := fileid.Split(fileID); err != nil {
		return err
	}
	st, err := c.QueryFetch(ctx, fileID, false)
	if err != nil {
		return err
	}
	first := st.Storages[0]
	err = c.withConn(ctx, first.String(), fn)
	if err != nil && isStatus(err) && proto.StatusOf(err) == proto.StatusEIO && ctx.Err() == nil {
		return c.otherReplicas(ctx, fileID, first.String(), err, fn) // damaged copy (replicas_retry.go)
	}
	if err == nil || !isStatus(err) || proto.StatusOf(err) != proto.StatusENOENT || ctx.Err() != nil {
		return err
	}
	src := c.sourceAddr(fileID, first.Port)
	if src == "" || src == first.String() {
		return err
	}
	if err2 := c.withConn(ctx, src, fn); err2 == nil || proto.StatusOf(err2) != proto.StatusENOENT {
		return err2
	}
	return err
}

// sourceAddr is "ip:port" of the storage that created fileID: the IP in
// its name (or the first IP of its server ID in storage_ids.conf) with the
// group's port; "" when it cannot be told.
func (c *Client) sourceAddr(fileID string, port int64) string {
	_, remote, err := fileid.Split(fileID)
	if err != nil {
		return ""
	}
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return ""
	}
	ip := info.SourceIP
	if ip == "" && info.SourceID != 0 {
		ip = c.idIPs[info.SourceID]
	}
	if ip == "" || port <= 0 {
		return ""
	}
	return net.JoinHostPort(ip, strconv.FormatInt(port, 10))
}
