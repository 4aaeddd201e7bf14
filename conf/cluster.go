package conf

import "fmt"

// Cluster holds yunpan's own storage.conf keys for replication inside a
// group; FastDFS has neither (a FastDFS storage ignores unknown keys, so a
// shared config stays usable by both).
//
//   - cluster_secret: when set (the same text on every tracker and storage of
//     the cluster), every connection a storage opens to a tracker or a peer
//     starts with proto.CmdClusterAuth, and a storage refuses replication
//     commands from a connection that has not proved the secret. Empty (the
//     default) keeps the plain FastDFS wire protocol.
//   - sync_ack_replicas: N ≥ 1. With N > 1 an upload is acknowledged only once
//     the file is on N storages of its group: the storage that received it
//     pushes it synchronously to N−1 ACTIVE peers before answering. Cost: the
//     upload's latency grows by one peer transfer (the pushes run in parallel)
//     and the sender's outgoing bandwidth by (N−1)× the file size; with fewer
//     than N−1 reachable ACTIVE peers uploads fail (EAGAIN) instead of being
//     stored on fewer copies. 1 (the default) is FastDFS's asynchronous
//     replication: acknowledged at once, copied later by the binlog sync.
type Cluster struct {
	ClusterSecret   string // cluster_secret, "" = off
	SyncAckReplicas int    // sync_ack_replicas, 1
}

// MaxSyncAckReplicas bounds sync_ack_replicas (a group holds at most this many
// useful copies in practice; the tracker allows 256 members).
const MaxSyncAckReplicas = 16

// cluster reads the Cluster keys of the storage.conf section.
func (r *fields) cluster() Cluster {
	c := Cluster{ClusterSecret: r.clusterSecret(), SyncAckReplicas: r.s.Int("sync_ack_replicas", 1)}
	if c.SyncAckReplicas < 1 || c.SyncAckReplicas > MaxSyncAckReplicas {
		r.fail("sync_ack_replicas: %d is not 1..%d", c.SyncAckReplicas, MaxSyncAckReplicas)
		c.SyncAckReplicas = 1
	}
	return c
}

// clusterSecret reads cluster_secret (usable by the tracker loader too).
func (r *fields) clusterSecret() string {
	v := r.s.String("cluster_secret", "")
	if len(v) > 1024 {
		r.fail("cluster_secret: %d characters, at most 1024", len(v))
		return ""
	}
	return v
}

// String hides the secret in logs.
func (c Cluster) String() string {
	return fmt.Sprintf("cluster_secret set: %v, sync_ack_replicas: %d", c.ClusterSecret != "", c.SyncAckReplicas)
}
