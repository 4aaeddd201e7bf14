package tracker

import (
	"errors"
	"net"
	"strconv"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// session is the per-connection state: who is on the other end and, after
// a STORAGE_JOIN, which storage this connection reports for.
type session struct {
	peerIP  string // the peer's address as text (IPv4 dotted when possible)
	localIP string // the address the peer reached us on
	g       *group
	s       *storage
	// Copies of the change counters last sent on this connection (§4.4).
	leaderChg, groupChg, trunkChg int64
	// Multi-tracker state (relationship.go, leader.go, syscopy.go, clusterauth.go).
	authed    bool     // proved the cluster secret
	follower  string   // tracker address after JOIN_LEADER
	pingTrunk int64    // trunk-assignment version last sent in a PING_LEADER answer
	sysFiles  [][]byte // files frozen by GET_SYS_FILES_START
}

// handler serves one command under t.mu; a returned error becomes the
// status byte (proto.StatusOf) with an empty body.
type handler func(t *Tracker, sess *session, body []byte) ([]byte, error)

// errQuit makes the connection close without a reply (QUIT, §1.5).
var errQuit = errors.New("quit")

var handlers = map[byte]handler{
	// client ↔ tracker (§2)
	proto.CmdQueryStoreWithoutGroupOne: (*Tracker).cmdQueryStoreWithoutGroupOne,
	proto.CmdQueryStoreWithGroupOne:    (*Tracker).cmdQueryStoreWithGroupOne,
	proto.CmdQueryStoreWithoutGroupAll: (*Tracker).cmdQueryStoreWithoutGroupAll,
	proto.CmdQueryStoreWithGroupAll:    (*Tracker).cmdQueryStoreWithGroupAll,
	proto.CmdQueryFetchOne:             (*Tracker).cmdQueryFetchOne,
	proto.CmdQueryUpdate:               (*Tracker).cmdQueryUpdate,
	proto.CmdQueryFetchAll:             (*Tracker).cmdQueryFetchAll,
	proto.CmdServerListOneGroup:        (*Tracker).cmdListOneGroup,
	proto.CmdServerListAllGroups:       (*Tracker).cmdListAllGroups,
	proto.CmdServerListStorage:         (*Tracker).cmdListStorage,
	proto.CmdServerDeleteStorage:       (*Tracker).cmdDeleteStorage,
	proto.CmdServerDeleteGroup:         (*Tracker).cmdDeleteGroup,
	proto.CmdServerSetTrunkServer:      (*Tracker).cmdSetTrunkServer,
	proto.CmdServerGetLeader:           (*Tracker).cmdGetLeader,
	proto.CmdActiveTest:                (*Tracker).cmdActiveTest,

	// storage ↔ tracker (§4, §2.9)
	proto.CmdStorageJoin:            (*Tracker).cmdJoin,
	proto.CmdStorageBeat:            (*Tracker).cmdBeat,
	proto.CmdStorageReportDiskUsage: (*Tracker).cmdDiskUsage,
	proto.CmdStorageSyncReport:      (*Tracker).cmdSyncReport,
	proto.CmdStorageSyncDestReq:     (*Tracker).cmdSyncDestReq,
	proto.CmdStorageSyncNotify:      (*Tracker).cmdSyncNotify,
	proto.CmdStorageSyncDestQuery:   (*Tracker).cmdSyncDestQuery,
	proto.CmdStorageSyncSrcReq:      (*Tracker).cmdSyncSrcReq,
	proto.CmdStorageReportStatus:    (*Tracker).cmdReportStatus,
	proto.CmdStorageChangeStatus:    (*Tracker).cmdChangeStatus,
	proto.CmdStorageReplicaChg:      (*Tracker).cmdReplicaChg,
	proto.CmdStorageChangelogReq:    (*Tracker).cmdChangelogReq,
	proto.CmdStorageParameterReq:    (*Tracker).cmdParameterReq,
	proto.CmdStorageGetMyIP:         (*Tracker).cmdGetMyIP,
	proto.CmdStorageGetGroupName:    (*Tracker).cmdGetGroupName,
	proto.CmdStorageFetchStorageIDs: (*Tracker).cmdFetchStorageIDs,
	proto.CmdStorageGetServerID:     (*Tracker).cmdGetServerID,
	proto.CmdStorageGetStatus:       (*Tracker).cmdGetStorageStatus,
	proto.CmdStorageFetchTrunkFID:   (*Tracker).cmdFetchTrunkFID,
	proto.CmdStorageReportTrunkFID:  (*Tracker).cmdReportTrunkFID,
	proto.CmdStorageReportTrunkFree: (*Tracker).cmdReportTrunkFree,

	// tracker ↔ tracker (§4.9) and the cluster secret
	proto.CmdTrackerGetStatus:            (*Tracker).cmdTrackerGetStatus,
	proto.CmdTrackerNotifyNextLeader:     (*Tracker).cmdNotifyNextLeader,
	proto.CmdTrackerCommitNextLeader:     (*Tracker).cmdCommitNextLeader,
	proto.CmdTrackerJoinLeader:           (*Tracker).cmdJoinLeader,
	proto.CmdTrackerPingLeader:           (*Tracker).cmdPingLeader,
	proto.CmdTrackerNotifyReselectLeader: (*Tracker).cmdNotifyReselectLeader,
	proto.CmdTrackerGetSysFilesStart:     (*Tracker).cmdSysFilesStart,
	proto.CmdTrackerGetOneSysFile:        (*Tracker).cmdGetOneSysFile,
	proto.CmdTrackerGetSysFilesEnd:       (*Tracker).cmdSysFilesEnd,
	proto.CmdServerTrackerClusterStat:    (*Tracker).cmdTrackerClusterStat,
	proto.CmdClusterAuth:                 (*Tracker).cmdClusterAuth,
}

// dispatch runs one request. It returns errQuit for QUIT, a status error,
// or the response body.
func (t *Tracker) dispatch(sess *session, cmd byte, body []byte) ([]byte, error) {
	if cmd == proto.CmdQuit {
		return nil, errQuit
	}
	h, ok := handlers[cmd]
	if !ok {
		return nil, proto.Errf(proto.StatusEINVAL, "unknown command %d", cmd)
	}
	if err := t.checkAuth(sess, cmd); err != nil {
		return nil, err
	}
	if cmd == proto.CmdStorageJoin {
		if err := t.ensureSysCopy(sess, body); err != nil {
			return nil, err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return h(t, sess, body)
}

// badLen is the EINVAL every handler answers for a body of the wrong size.
func badLen(cmd string, n int, want string) error {
	return proto.Errf(proto.StatusEINVAL, "%s: body length %d, expect %s", cmd, n, want)
}

// joined returns the storage this connection joined as; EACCES without a
// JOIN (§4.1), or when the storage has since left the registry.
func (t *Tracker) joined(sess *session, cmd string) (*group, *storage, error) {
	if sess.s == nil || t.reg.group(sess.g.Name) != sess.g || sess.g.find(sess.s.ID) != sess.s {
		return nil, nil, proto.Errf(proto.StatusEACCES, "%s: connection has not joined", cmd)
	}
	return sess.g, sess.s, nil
}

// isLeader reports whether this tracker leads (§4.9, relationship.go); a
// tracker that knows no peer leads alone.
func (t *Tracker) isLeader() bool { return t.rel.leaderSelf }

// leaderAddr is the leader's address as the peer of sess should see it:
// for ourselves, the address the peer connected to; "" when none is known.
func (t *Tracker) leaderAddr(sess *session) (ip string, port int) {
	if !t.rel.leaderSelf {
		h, p, err := net.SplitHostPort(t.rel.leader)
		if err != nil {
			return "", 0
		}
		port, _ = strconv.Atoi(p)
		return h, port
	}
	ip = sess.localIP
	if ip == "" {
		ip = t.bindIP()
	}
	return ip, t.port()
}

// reportResponse is the common answer to BEAT, DISK_USAGE and SYNC_REPORT
// (§4.4): a flags byte and the sections that changed since they were last
// sent on this connection.
func (t *Tracker) reportResponse(sess *session, g *group) []byte {
	if !t.isLeader() {
		return []byte{0}
	}
	w := &proto.Buf{B: []byte{0}}
	var flags byte
	if sess.leaderChg != t.reg.leaderChg {
		flags |= proto.BeatFlagLeader
		ip, port := t.leaderAddr(sess)
		id := ip
		if len(id) > proto.StorageIDLen-1 {
			id = id[:proto.StorageIDLen-1]
		}
		(&proto.StorageBrief{Port: int32(port), ID: id, IP: ip}).Append(w)
		sess.leaderChg = t.reg.leaderChg
	}
	if sess.trunkChg != g.trunkChg {
		flags |= proto.BeatFlagTrunkServer
		b := proto.StorageBrief{}
		if ts := g.find(g.TrunkServer); ts != nil {
			b = brief(ts)
		}
		b.Append(w)
		sess.trunkChg = g.trunkChg
	}
	if sess.groupChg != g.chg {
		flags |= proto.BeatFlagGroupServer
		for _, s := range g.Storages {
			b := brief(s)
			b.Append(w)
		}
		sess.groupChg = g.chg
	}
	w.B[0] = flags
	return w.B
}

func brief(s *storage) proto.StorageBrief {
	return proto.StorageBrief{Status: s.Status, Port: int32(s.Port), ID: s.ID, IP: s.IP}
}

// storageIDFor is the storage ID of a peer without storage IDs (§4.3.1):
// the IPv4 text, or the short code of an IPv6 address.
func storageIDFor(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		return ""
	}
	if a.To4() != nil {
		return a.To4().String()
	}
	return fileid.IPv6ShortCode(ip)
}

// hostIP is the IP text of a net.Addr, IPv4-mapped IPv6 reduced to IPv4.
func hostIP(a net.Addr) string {
	if a == nil {
		return ""
	}
	host := a.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			return v4.String()
		}
		return ip.String()
	}
	return host
}

// splitHostPort parses the "ip:port" of GET_SERVER_ID / GET_STORAGE_STATUS
// (IPv6 bracketed). The port is optional.
func splitHostPort(s string) (ip string, port int, err error) {
	host, p, e := net.SplitHostPort(s)
	if e != nil {
		host, p = s, ""
	}
	a := net.ParseIP(host)
	if a == nil {
		return "", 0, proto.Errf(proto.StatusEINVAL, "bad address %q", s)
	}
	if p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return "", 0, proto.Errf(proto.StatusEINVAL, "bad port in %q", s)
		}
	}
	if v4 := a.To4(); v4 != nil {
		return v4.String(), port, nil
	}
	return a.String(), port, nil
}
