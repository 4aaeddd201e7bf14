package tracker

import (
	"time"

	"yunpan/dfs/proto"
)

// Cluster secret, tracker side (proto.CmdClusterAuth): with cluster_secret
// set, commands only storages and trackers send are refused (EACCES, then
// the connection is closed) until the connection has proved the secret.
// Client commands stay open, so plain FastDFS clients keep working.

// closingError is a status after which the connection is closed.
type closingError struct{ error }

func (e closingError) Unwrap() error { return e.error }

// needsAuth lists the storage → tracker and tracker → tracker commands.
var needsAuth = map[byte]bool{
	proto.CmdStorageJoin:                 true,
	proto.CmdStorageBeat:                 true,
	proto.CmdStorageReportDiskUsage:      true,
	proto.CmdStorageSyncReport:           true,
	proto.CmdStorageSyncDestReq:          true,
	proto.CmdStorageSyncNotify:           true,
	proto.CmdStorageSyncDestQuery:        true,
	proto.CmdStorageSyncSrcReq:           true,
	proto.CmdStorageReportStatus:         true,
	proto.CmdStorageChangeStatus:         true,
	proto.CmdStorageReplicaChg:           true,
	proto.CmdStorageChangelogReq:         true,
	proto.CmdStorageGetMyIP:              true,
	proto.CmdStorageParameterReq:         true,
	proto.CmdStorageReportIPChanged:      true,
	proto.CmdStorageGetGroupName:         true,
	proto.CmdStorageFetchTrunkFID:        true,
	proto.CmdStorageReportTrunkFID:       true,
	proto.CmdStorageReportTrunkFree:      true,
	proto.CmdTrackerJoinLeader:           true,
	proto.CmdTrackerGetSysFilesStart:     true,
	proto.CmdTrackerGetSysFilesEnd:       true,
	proto.CmdTrackerGetOneSysFile:        true,
	proto.CmdTrackerGetStatus:            true,
	proto.CmdTrackerPingLeader:           true,
	proto.CmdTrackerNotifyNextLeader:     true,
	proto.CmdTrackerCommitNextLeader:     true,
	proto.CmdTrackerNotifyReselectLeader: true,
}

// checkAuth runs before every command.
func (t *Tracker) checkAuth(sess *session, cmd byte) error {
	if t.auth == nil || sess.authed || !needsAuth[cmd] {
		return nil
	}
	return closingError{proto.Errf(proto.StatusEACCES, "cmd %d: cluster secret not proved on this connection", cmd)}
}

// cmdClusterAuth answers CmdClusterAuth. Without a secret configured
// there is nothing to prove, and the answer is success.
func (t *Tracker) cmdClusterAuth(sess *session, body []byte) ([]byte, error) {
	if len(body) != proto.ClusterAuthSize && t.auth == nil {
		return nil, badLen("cluster auth", len(body), "56")
	}
	if t.auth == nil {
		return nil, nil
	}
	if err := t.auth.Verify(body, time.Now()); err != nil {
		t.log.Warn().Err(err).Str("peer", sess.peerIP).Msg("cluster auth refused")
		return nil, closingError{err}
	}
	sess.authed = true
	return nil, nil
}
