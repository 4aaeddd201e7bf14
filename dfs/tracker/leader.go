package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"yunpan/dfs/proto"
)

// Tracker ↔ tracker commands (docs/protocol.md §4.9, §2.8) and the client side used
// by the relationship loop and the system-data copy.

// peerError is a status a peer tracker answered (as opposed to a broken
// connection), so callers can tell "refused" from "unreachable".
type peerError struct{ err error }

func (e peerError) Error() string { return e.err.Error() }
func (e peerError) Unwrap() error { return e.err }

func isPeerStatus(err error) bool {
	var pe peerError
	return errors.As(err, &pe)
}

// dialPeer connects to a peer tracker from our bind address (so the peer
// recognises us in its tracker list) and proves the cluster secret first
// when one is configured.
func (t *Tracker) dialPeer(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: t.opts.ConnectTimeout}
	if ip := t.localBindIP(); ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	if t.auth != nil {
		if _, err := t.peerCall(ctx, c, proto.CmdClusterAuth, proto.ClusterAuthBody(t.auth.Secret, time.Now()), 0); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster auth to %s: %w", addr, err)
		}
	}
	return c, nil
}

// peerCall sends one request on c and reads the answer (at most max body
// bytes) within network_timeout; Exit interrupts it.
func (t *Tracker) peerCall(ctx context.Context, c net.Conn, cmd byte, body []byte, max int64) ([]byte, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(t.opts.NetworkTimeout))
	if err := proto.WritePacket(c, cmd, 0, body); err != nil {
		return nil, fmt.Errorf("cmd %d: send: %w", cmd, err)
	}
	h, err := proto.ReadHeader(c)
	if err != nil {
		return nil, fmt.Errorf("cmd %d: read answer: %w", cmd, err)
	}
	if h.Cmd != proto.CmdResp || h.PkgLen > max {
		return nil, fmt.Errorf("cmd %d: answer cmd %d, %d bytes (limit %d)", cmd, h.Cmd, h.PkgLen, max)
	}
	resp := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, fmt.Errorf("cmd %d: read answer body: %w", cmd, err)
	}
	if h.Status != 0 {
		return nil, peerError{fmt.Errorf("cmd %d: %w", cmd, proto.StatusError(h.Status))}
	}
	return resp, nil
}

// peerRequest makes one request on a fresh connection.
func (t *Tracker) peerRequest(ctx context.Context, addr string, cmd byte, body []byte, max int64) ([]byte, error) {
	c, err := t.dialPeer(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	resp, err := t.peerCall(ctx, c, cmd, body, max)
	if err == nil {
		c.SetDeadline(time.Now().Add(time.Second))
		proto.WritePacket(c, proto.CmdQuit, 0, nil)
	}
	return resp, err
}

// peerStatus asks TRACKER_GET_STATUS (64).
func (t *Tracker) peerStatus(ctx context.Context, addr string) (trackerStatus, error) {
	b, err := t.peerRequest(ctx, addr, proto.CmdTrackerGetStatus, nil, trackerStatusSize)
	if err != nil {
		return trackerStatus{}, err
	}
	if len(b) != trackerStatusSize {
		return trackerStatus{}, fmt.Errorf("get status %s: answer of %d bytes", addr, len(b))
	}
	return trackerStatus{isLeader: b[0] != 0, running: proto.I64(b[1:]), restart: proto.I64(b[9:])}, nil
}

// cmdTrackerGetStatus answers TRACKER_GET_STATUS (64).
func (t *Tracker) cmdTrackerGetStatus(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("tracker get status", len(body), "0")
	}
	if len(t.reg.groups) == 0 {
		return nil, proto.Errf(proto.StatusENOENT, "tracker get status: no groups")
	}
	st := t.ownStatusLocked(time.Now())
	var l byte
	if st.isLeader {
		l = 1
	}
	return (&proto.Buf{}).U8(l).I64(st.running).I64(st.restart).B, nil
}

// leaderBody parses the "ip:port" body of 66 and 67.
func leaderBody(cmd string, body []byte) (string, error) {
	if len(body) == 0 || len(body) > proto.HostPortLen {
		return "", badLen(cmd, len(body), "1..52")
	}
	addr := canonTracker(string(body))
	if addr == "" {
		return "", proto.Errf(proto.StatusEINVAL, "%s: bad address %q", cmd, body)
	}
	return addr, nil
}

// cmdNotifyNextLeader answers NOTIFY_NEXT_LEADER (66).
func (t *Tracker) cmdNotifyNextLeader(sess *session, body []byte) ([]byte, error) {
	addr, err := leaderBody("notify next leader", body)
	if err != nil {
		return nil, err
	}
	self := t.isSelf(addr)
	if t.rel.leaderSelf && !self {
		t.forgetLeaderLocked("notified of next leader " + addr)
		return nil, proto.Errf(proto.StatusEINVAL, "notify next leader: %s, but this tracker led", addr)
	}
	if !self && !t.knownTracker(addr) {
		return nil, proto.Errf(proto.StatusENOENT, "notify next leader: %s is not a known tracker", addr)
	}
	t.rel.nextLeader = addr
	return nil, nil
}

// cmdCommitNextLeader answers COMMIT_NEXT_LEADER (67).
func (t *Tracker) cmdCommitNextLeader(sess *session, body []byte) ([]byte, error) {
	addr, err := leaderBody("commit next leader", body)
	if err != nil {
		return nil, err
	}
	if addr != t.rel.nextLeader {
		return nil, proto.Errf(proto.StatusEINVAL, "commit next leader: %s, announced %q", addr, t.rel.nextLeader)
	}
	if t.isSelf(addr) {
		t.becomeLeaderLocked("committed by a peer")
	} else {
		t.adoptLeaderLocked(addr, "committed")
	}
	return nil, nil
}

const joinLeaderSize = 8 + proto.VersionLen + 8

// cmdJoinLeader answers TRACKER_JOIN_LEADER (58).
func (t *Tracker) cmdJoinLeader(sess *session, body []byte) ([]byte, error) {
	if len(body) != joinLeaderSize {
		return nil, badLen("join leader", len(body), "24")
	}
	if !t.rel.leaderSelf {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "join leader: this tracker does not lead")
	}
	if sess.follower != "" {
		return nil, proto.Errf(proto.StatusEEXIST, "join leader: connection already joined as %s", sess.follower)
	}
	rd := &proto.Reader{B: body}
	up, version, port := rd.I64(), rd.Fixed(proto.VersionLen), rd.I64()
	addr := ""
	if port > 0 && port <= 65535 {
		addr = canonTracker(net.JoinHostPort(sess.peerIP, strconv.FormatInt(port, 10)))
	}
	if addr == "" || !t.knownTracker(addr) {
		return nil, proto.Errf(proto.StatusENOENT, "join leader: %s:%d is not a known tracker", sess.peerIP, port)
	}
	sess.follower = addr
	t.rel.followers[addr] = &follower{upTime: up, version: version, lastPing: time.Now()}
	// Storages that heard another tracker claim the lead learn ours again.
	t.reg.leaderChg++
	t.log.Info().Str("follower", addr).Msg("tracker joined as follower")
	return nil, nil
}

// cmdPingLeader answers TRACKER_PING_LEADER (65): empty, or every group's
// trunk server when an assignment changed since the last ping here.
func (t *Tracker) cmdPingLeader(sess *session, body []byte) ([]byte, error) {
	if len(body) != 12 {
		return nil, badLen("ping leader", len(body), "12")
	}
	if !t.rel.leaderSelf {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "ping leader: this tracker does not lead")
	}
	f := t.rel.followers[sess.follower]
	if sess.follower == "" || f == nil {
		return nil, proto.Errf(proto.StatusEACCES, "ping leader: connection has not joined")
	}
	f.lastPing = time.Now()
	rd := &proto.Reader{B: body}
	f.conns = [3]int32{rd.I32(), rd.I32(), rd.I32()}
	var ver int64
	for _, g := range t.reg.groups {
		ver += g.trunkChg
	}
	if ver == sess.pingTrunk {
		return nil, nil
	}
	sess.pingTrunk = ver
	w := &proto.Buf{}
	for _, g := range t.reg.groups {
		w.Fixed(g.Name, proto.GroupNameLen).Fixed(g.TrunkServer, proto.StorageIDLen)
	}
	return w.B, nil
}

// cmdNotifyReselectLeader answers NOTIFY_RESELECT_LEADER (68): the leader
// steps down so the trackers elect again.
func (t *Tracker) cmdNotifyReselectLeader(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("notify reselect leader", len(body), "0")
	}
	if !t.rel.leaderSelf {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "notify reselect leader: this tracker does not lead")
	}
	t.forgetLeaderLocked("NOTIFY_RESELECT_LEADER from " + sess.peerIP)
	return nil, nil
}

const clusterStatRecSize = proto.HostPortLen + 1 + 1 + 12 + proto.VersionLen + 8 + 8

// cmdTrackerClusterStat answers TRACKER_CLUSTER_STAT (96, §2.8), leader only.
func (t *Tracker) cmdTrackerClusterStat(sess *session, body []byte) ([]byte, error) {
	if len(body) != 3 {
		return nil, badLen("tracker cluster stat", len(body), "3")
	}
	if !t.rel.leaderSelf {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "tracker cluster stat: this tracker does not lead")
	}
	filter, wantActive, wantLeader := body[0], body[1] != 0, body[2] != 0
	now := time.Now()
	type rec struct {
		addr            string
		leader, active  bool
		conns           [3]int32
		version         string
		up, lastHeartbt int64
	}
	cur, max := t.connCount()
	recs := []rec{{addr: t.selfAddrLocked(), leader: true, active: true,
		conns: [3]int32{int32(cur), int32(cur), int32(max)}, version: proto.Version,
		up: t.rel.startTime.Unix(), lastHeartbt: now.Unix()}}
	for _, p := range t.peersLocked() {
		r := rec{addr: p}
		if f := t.rel.followers[p]; f != nil {
			r.active = now.Sub(f.lastPing) <= t.activeWindow()
			r.conns, r.version, r.up, r.lastHeartbt = f.conns, f.version, f.upTime, f.lastPing.Unix()
		}
		recs = append(recs, r)
	}
	w := &proto.Buf{B: []byte{0}}
	n := 0
	for _, r := range recs {
		if filter&1 != 0 && r.active != wantActive || filter&2 != 0 && r.leader != wantLeader {
			continue
		}
		if n == 255 {
			break
		}
		n++
		w.Fixed(r.addr, proto.HostPortLen).U8(b2u(r.leader)).U8(b2u(r.active)).
			I32(r.conns[0]).I32(r.conns[1]).I32(r.conns[2]).
			Fixed(r.version, proto.VersionLen).I64(r.up).I64(r.lastHeartbt)
	}
	w.B[0] = byte(n)
	return w.B, nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
