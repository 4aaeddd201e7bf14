// Package client is the Go FastDFS client: tracker queries, uploads,
// downloads, deletes, metadata and file info against trackers and storages
// speaking the FastDFS V6 protocol (§2, §3), with a bounded per-address
// connection pool. The fdfs_* command-line tools are thin mains over it.
// Section numbers (§) refer to docs/protocol.md.
//
// Every call takes a context: its deadline, or network_timeout when it has
// none, bounds the connect and each read and write. Errors where a server
// answered with a status wrap proto.StatusError, so proto.StatusOf(err)
// gives the errno the tools print.
package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

// Defaults used when the config leaves a value at zero (docs/protocol.md §8.4).
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultNetworkTimeout = 30 * time.Second
	DefaultPoolIdleTime   = 3600 * time.Second
)

// Client talks to a FastDFS cluster. It is safe for concurrent use.
type Client struct {
	trackers []string
	next     atomic.Uint32 // round-robin tracker cursor
	pool     *pool
	idIPs    map[uint32]string // storage_ids.conf: server ID → first IP
}

// New builds a client for the trackers of cfg. It does not connect yet.
// Connections are always pooled (use_connection_pool only matters for the
// C client); connection_pool_max_idle_time bounds how long one stays idle.
func New(cfg *conf.Client) (*Client, error) {
	if cfg == nil || len(cfg.TrackerServers) == 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "client: no tracker_server configured")
	}
	ct := cfg.ConnectTimeout
	if ct <= 0 {
		ct = DefaultConnectTimeout
	}
	nt := cfg.NetworkTimeout
	if nt <= 0 {
		nt = DefaultNetworkTimeout
	}
	idle := cfg.ConnectionPoolMaxIdleTime
	if idle <= 0 {
		idle = DefaultPoolIdleTime
	}
	c := &Client{
		trackers: append([]string(nil), cfg.TrackerServers...),
		idIPs:    map[uint32]string{},
	}
	for _, e := range cfg.StorageIDs {
		if ips := e.IPs(); len(ips) > 0 {
			c.idIPs[e.IDNum()] = ips[0]
		}
	}
	c.pool = newPool(ct, nt, idle, DefaultMaxIdle)
	return c, nil
}

// Close sends QUIT on the idle connections and closes them. Calls still in
// flight finish; their connections are closed instead of pooled.
func (c *Client) Close() { c.pool.close() }

// Trackers returns the configured tracker addresses, in config order.
func (c *Client) Trackers() []string { return append([]string(nil), c.trackers...) }

// isStatus reports whether err carries a status a server sent (or a local
// validation status); such errors do not trigger tracker failover.
func isStatus(err error) bool {
	var se proto.StatusError
	return errors.As(err, &se)
}

// ctxErr makes an error caused by the context ending also match ctx.Err().
// A socket deadline set from the context may fire a moment before the
// context's own timer, so a timeout past the deadline counts as well.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	cerr := ctx.Err()
	if cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			cerr = context.DeadlineExceeded
		}
	}
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, cerr)
}

// withConn runs fn on a pooled connection to addr and returns it to the pool
// unless it is no longer usable.
func (c *Client) withConn(ctx context.Context, addr string, fn func(*conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cn, err := c.pool.get(ctx, addr)
	if err != nil {
		return ctxErr(ctx, err)
	}
	unbind := cn.bind(ctx)
	err = fn(cn)
	unbind()
	if err != nil && !isStatus(err) {
		cn.broken = true
	}
	c.pool.put(cn)
	return ctxErr(ctx, err)
}

// withTracker runs fn against tracker, or when tracker is "" against the
// trackers in round-robin order, moving to the next one on a connect or I/O
// failure (never on a status the tracker answered).
func (c *Client) withTracker(ctx context.Context, tracker string, fn func(*conn) error) error {
	if tracker != "" {
		return c.withConn(ctx, tracker, fn)
	}
	n := len(c.trackers)
	start := int((c.next.Add(1) - 1) % uint32(n))
	var err error
	for i := range n {
		err = c.withConn(ctx, c.trackers[(start+i)%n], fn)
		if err == nil || isStatus(err) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return err
}

// ActiveTest sends ACTIVE_TEST (111) to a tracker or storage address.
func (c *Client) ActiveTest(ctx context.Context, addr string) error {
	return c.withConn(ctx, addr, func(cn *conn) error {
		_, err := cn.roundTrip(proto.CmdActiveTest, 0, nil, 0)
		if err != nil {
			return fmt.Errorf("active test %s: %w", addr, err)
		}
		return nil
	})
}
