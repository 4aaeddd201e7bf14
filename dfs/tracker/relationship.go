package tracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"yunpan/dfs/proto"
)

// Tracker relationships (docs/protocol.md §4.9): trackers learn each other from the
// tracker lists in storage JOINs, elect one leader, and the others follow
// it with JOIN_LEADER + PING_LEADER once per loop. The leader is the only
// tracker whose beat answers carry the cluster view (§4.4).

// statusFile keeps what a restart needs: when this tracker last ran (for
// restart_interval and the "down > 600 s" copy rule) and the peers it knew,
// so a restarted tracker asks them who leads instead of claiming it.
const statusFile = "tracker_status.json"

const (
	// copyAfterDown: a tracker that was down longer than this copies the
	// system data from a peer before accepting joins (§4.3 step 3).
	copyAfterDown = 600 * time.Second
	// statusRound is the rounding of running_time and restart_interval.
	statusRound = 300
	// maxPingFailures consecutive failed pings make a follower elect again.
	maxPingFailures = 3
	// rivalCheckEvery: a leader looks for other leaders every this many loops.
	rivalCheckEvery = 3
	// statusSaveEvery: loops between writes of statusFile.
	statusSaveEvery = 10
)

// relState is this tracker's place among its peers. t.mu guards it, except
// kick (a channel) and the fields only the relationship goroutine uses.
type relState struct {
	tick      time.Duration // loop period: 1 s (tests shorten it before Main)
	loopOff   bool          // tests that drive the election commands by hand
	startTime time.Time
	prevCheck int64 // last_check_time saved by the previous run; 0 unknown

	leaderSelf bool      // this tracker leads
	leader     string    // the leader's "ip:port" when another tracker leads
	nextLeader string    // announced by NOTIFY_NEXT_LEADER, awaiting COMMIT
	retryAt    time.Time // no election before this after a lost round
	followers  map[string]*follower

	needCopy    bool     // copy the system data from a peer before the next JOIN
	statusDirty bool     // peers learned since statusFile was written
	sysLock     *session // the connection holding GET_SYS_FILES_START

	kick chan struct{} // wakes the loop at once (leader lost, peers learned)
}

// follower is a tracker that joined this leader.
type follower struct {
	upTime   int64
	version  string
	lastPing time.Time
	conns    [3]int32 // alloc, current, max as pinged
}

// trackerStatus is the answer to TRACKER_GET_STATUS (64).
type trackerStatus struct {
	isLeader bool
	running  int64 // running time rounded down to 300 s
	restart  int64 // restart interval rounded down to 300 s, 0 unknown
}

const trackerStatusSize = 1 + 8 + 8

// savedStatus is statusFile's content.
type savedStatus struct {
	UpTime    int64    `json:"up_time"`
	LastCheck int64    `json:"last_check_time"`
	Trackers  []string `json:"trackers,omitempty"`
}

// initRelationship loads statusFile and decides the starting role: a
// tracker that knows no peer leads at once (a single tracker is its own
// leader); one that knew peers starts without a leader and asks them.
func (t *Tracker) initRelationship(now time.Time) error {
	r := &t.rel
	r.tick = time.Second
	r.startTime = now
	r.kick = make(chan struct{}, 1)
	r.followers = map[string]*follower{}
	if ip := t.localBindIP(); ip != "" {
		t.selfIPs[ip] = struct{}{}
	}
	b, err := os.ReadFile(filepath.Join(t.dataDir, statusFile))
	switch {
	case err == nil:
		var st savedStatus
		if err := json.Unmarshal(b, &st); err != nil {
			// Only hints live here: start as a new tracker rather than fail.
			t.log.Warn().Err(err).Str("file", statusFile).Msg("unreadable; ignored")
			break
		}
		r.prevCheck = st.LastCheck
		for _, tr := range st.Trackers {
			if k := canonTracker(tr); k != "" && len(t.trackers) < maxKnownTrackers {
				t.trackers[k] = struct{}{}
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("read %s: %w", statusFile, err)
	}
	r.needCopy = len(t.reg.groups) == 0 ||
		(r.prevCheck > 0 && now.Unix()-r.prevCheck > int64(copyAfterDown/time.Second))
	if len(t.peersLocked()) == 0 {
		r.leaderSelf = true
	}
	return nil
}

// saveStatus writes statusFile.
func (t *Tracker) saveStatus() error {
	t.mu.Lock()
	st := savedStatus{UpTime: t.rel.startTime.Unix(), LastCheck: time.Now().Unix()}
	for k := range t.trackers {
		st.Trackers = append(st.Trackers, k)
	}
	t.mu.Unlock()
	sort.Strings(st.Trackers)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	return writeAtomic(filepath.Join(t.dataDir, statusFile), b)
}

// kickRelationship wakes the loop without blocking.
func (t *Tracker) kickRelationship() {
	select {
	case t.rel.kick <- struct{}{}:
	default:
	}
}

// canonTracker normalises a tracker-list entry ("ip:port", "ip1,ip2:port",
// "[v6]:port") to "ip:port" of its first address. Host names give "": a
// storage sends addresses, and resolving names here could stall the loop.
func canonTracker(s string) string {
	host, port, err := net.SplitHostPort(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	if i := strings.IndexByte(host, ','); i >= 0 {
		host = host[:i]
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil || p <= 0 || p > 65535 {
		return ""
	}
	return net.JoinHostPort(canonIP(ip), strconv.Itoa(p))
}

// localBindIP is the specific address the listener is bound to, or "".
func (t *Tracker) localBindIP() string {
	ip := hostIP(t.Addr())
	if a := net.ParseIP(ip); a == nil || a.IsUnspecified() {
		return ""
	}
	return ip
}

// isSelf reports whether a canonical tracker address is this tracker: our
// port on an address storages reach us by (or an interface address when
// we listen on all of them).
func (t *Tracker) isSelf(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != strconv.Itoa(t.port()) {
		return false
	}
	if _, ok := t.selfIPs[host]; ok {
		return true
	}
	if t.localBindIP() != "" {
		return false
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && canonIP(n.IP) == host {
			return true
		}
	}
	return false
}

// selfAddrLocked is the "ip:port" peers know this tracker by.
func (t *Tracker) selfAddrLocked() string {
	var self []string
	for k := range t.trackers {
		if t.isSelf(k) {
			self = append(self, k)
		}
	}
	if len(self) > 0 {
		sort.Strings(self)
		return self[0]
	}
	return net.JoinHostPort(t.bindIP(), strconv.Itoa(t.port()))
}

// peersLocked lists the other known trackers, sorted.
func (t *Tracker) peersLocked() []string {
	var out []string
	for k := range t.trackers {
		if !t.isSelf(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// knownTracker reports whether addr (canonical) is in the tracker list.
func (t *Tracker) knownTracker(addr string) bool {
	_, ok := t.trackers[addr]
	return ok
}

// ownStatusLocked is what GET_STATUS answers about this tracker.
func (t *Tracker) ownStatusLocked(now time.Time) trackerStatus {
	r := &t.rel
	st := trackerStatus{isLeader: r.leaderSelf}
	st.running = int64(now.Sub(r.startTime)/time.Second) / statusRound * statusRound
	if start := r.startTime.Unix(); r.prevCheck > 0 && start > r.prevCheck {
		st.restart = (start - r.prevCheck) / statusRound * statusRound
	}
	return st
}

// candidate is a tracker in an election.
type candidate struct {
	addr string
	st   trackerStatus
	self bool
}

// better is the election order of §4.9: a leader first, then the longer
// running time, the shorter restart interval, the larger IP text, the
// larger port.
func better(a, b candidate) bool {
	if a.st.isLeader != b.st.isLeader {
		return a.st.isLeader
	}
	if a.st.running != b.st.running {
		return a.st.running > b.st.running
	}
	if a.st.restart != b.st.restart {
		return a.st.restart < b.st.restart
	}
	ah, ap, _ := net.SplitHostPort(a.addr)
	bh, bp, _ := net.SplitHostPort(b.addr)
	if ah != bh {
		return ah > bh
	}
	an, _ := strconv.Atoi(ap)
	bn, _ := strconv.Atoi(bp)
	return an > bn
}

// becomeLeaderLocked makes this tracker the leader. Every storage
// connection then gets the leader and group sections on its next report.
func (t *Tracker) becomeLeaderLocked(why string) {
	r := &t.rel
	if r.leaderSelf {
		return
	}
	r.leaderSelf, r.leader, r.nextLeader = true, "", ""
	r.followers = map[string]*follower{}
	t.reg.leaderChg++
	for _, g := range t.reg.groups {
		g.chg++
	}
	t.log.Info().Str("self", t.selfAddrLocked()).Str("why", why).Msg("tracker leader: this tracker")
}

// adoptLeaderLocked follows another tracker.
func (t *Tracker) adoptLeaderLocked(addr, why string) {
	r := &t.rel
	if !r.leaderSelf && r.leader == addr {
		return
	}
	if r.leaderSelf {
		t.log.Info().Str("leader", addr).Msg("stepping down")
	}
	r.leaderSelf, r.leader, r.nextLeader = false, addr, ""
	r.followers = map[string]*follower{}
	t.reg.leaderChg++
	t.log.Info().Str("leader", addr).Str("why", why).Msg("tracker leader: following")
}

// forgetLeaderLocked drops the current leader (or our own leadership) so
// the loop elects again at once.
func (t *Tracker) forgetLeaderLocked(why string) {
	r := &t.rel
	if !r.leaderSelf && r.leader == "" {
		return
	}
	t.log.Warn().Bool("was_self", r.leaderSelf).Str("leader", r.leader).Str("why", why).Msg("tracker leader lost")
	r.leaderSelf, r.leader = false, ""
	r.followers = map[string]*follower{}
	r.retryAt = time.Time{}
	t.reg.leaderChg++
	t.kickRelationship()
}

// exitContext is a context cancelled when Exit starts.
func (t *Tracker) exitContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-t.exitCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// relationshipLoop runs once per tick (or when kicked) until Exit.
func (t *Tracker) relationshipLoop() {
	if t.rel.loopOff {
		<-t.exitCh
		return
	}
	ctx, cancel := t.exitContext()
	defer cancel()
	link := &leaderLink{}
	defer link.close()
	tk := time.NewTicker(t.rel.tick)
	defer tk.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.exitCh:
			return
		case <-tk.C:
		case <-t.rel.kick:
		}
		t.relationStep(ctx, link, n)
		t.mu.Lock()
		dirty := t.rel.statusDirty
		t.rel.statusDirty = false
		t.mu.Unlock()
		if dirty || n%statusSaveEvery == 0 {
			if err := t.saveStatus(); err != nil {
				t.log.Error().Err(err).Msg("save tracker status")
			}
		}
	}
}

// relationStep is one round: elect when no leader is known, follow the
// leader, or as leader watch for another one.
func (t *Tracker) relationStep(ctx context.Context, link *leaderLink, n int) {
	t.mu.Lock()
	leaderSelf, leader := t.rel.leaderSelf, t.rel.leader
	self, peers := t.selfAddrLocked(), t.peersLocked()
	retryAt := t.rel.retryAt
	t.mu.Unlock()
	switch {
	case leaderSelf:
		link.close()
		if n%rivalCheckEvery == 0 && len(peers) > 0 {
			t.checkRivals(ctx, self, peers)
		}
	case leader != "":
		t.followLeader(ctx, link, leader)
	default:
		link.close()
		if time.Now().Before(retryAt) {
			return
		}
		t.elect(ctx, self, peers)
	}
}

// elect runs one election round (§4.9): gather every reachable tracker's
// status, and if this tracker wins announce it; if a leader answers, follow
// it; otherwise try again after a random 1–10 ticks.
func (t *Tracker) elect(ctx context.Context, self string, peers []string) {
	t.mu.Lock()
	own := candidate{addr: self, st: t.ownStatusLocked(time.Now()), self: true}
	if len(peers) == 0 {
		t.becomeLeaderLocked("no other tracker known")
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	best := own
	for _, p := range peers {
		st, err := t.peerStatus(ctx, p)
		if err != nil {
			t.log.Debug().Err(err).Str("peer", p).Msg("election: no status")
			continue
		}
		if c := (candidate{addr: p, st: st}); better(c, best) {
			best = c
		}
	}
	if ctx.Err() != nil {
		return
	}
	switch {
	case best.self:
		if err := t.announce(ctx, self, peers); err != nil {
			t.log.Warn().Err(err).Msg("election: announcing this tracker failed")
			t.retryLater()
			return
		}
		t.mu.Lock()
		if !t.rel.leaderSelf && t.rel.leader == "" {
			t.becomeLeaderLocked("won the election")
		}
		t.mu.Unlock()
	case best.st.isLeader:
		t.mu.Lock()
		if !t.rel.leaderSelf && t.rel.leader == "" {
			t.adoptLeaderLocked(best.addr, "it reports leading")
		}
		t.mu.Unlock()
	default:
		// The winner has not taken office yet: it will announce itself.
		t.retryLater()
	}
}

func (t *Tracker) retryLater() {
	t.mu.Lock()
	t.rel.retryAt = time.Now().Add(time.Duration(1+rand.IntN(10)) * t.rel.tick)
	t.mu.Unlock()
}

// announce sends NOTIFY_NEXT_LEADER then COMMIT_NEXT_LEADER with self to
// every reachable peer. A refusal (a peer that led and stepped down, or
// one that does not know us yet) aborts the round.
func (t *Tracker) announce(ctx context.Context, self string, peers []string) error {
	var reached []string
	for _, p := range peers {
		_, err := t.peerRequest(ctx, p, proto.CmdTrackerNotifyNextLeader, []byte(self), 0)
		if isPeerStatus(err) {
			return fmt.Errorf("notify %s: %w", p, err)
		}
		if err == nil {
			reached = append(reached, p)
		}
	}
	for _, p := range reached {
		_, err := t.peerRequest(ctx, p, proto.CmdTrackerCommitNextLeader, []byte(self), 0)
		if isPeerStatus(err) {
			return fmt.Errorf("commit %s: %w", p, err)
		}
	}
	return nil
}

// checkRivals: a leader asks the peers that do not follow it whether they
// lead too (two trackers that started alone both lead). The lesser one by
// the election order steps down and follows the other.
func (t *Tracker) checkRivals(ctx context.Context, self string, peers []string) {
	now := time.Now()
	t.mu.Lock()
	own := candidate{addr: self, st: t.ownStatusLocked(now), self: true}
	var todo []string
	for _, p := range peers {
		if f := t.rel.followers[p]; f == nil || now.Sub(f.lastPing) > t.activeWindow() {
			todo = append(todo, p)
		}
	}
	t.mu.Unlock()
	for _, p := range todo {
		st, err := t.peerStatus(ctx, p)
		if err != nil || !st.isLeader {
			continue
		}
		if c := (candidate{addr: p, st: st}); better(c, own) {
			t.mu.Lock()
			if t.rel.leaderSelf {
				t.adoptLeaderLocked(p, "a greater leader exists")
			}
			t.mu.Unlock()
			return
		}
	}
}

// activeWindow: a follower that pinged within it is active (3 s at the
// default tick, as in §2.8).
func (t *Tracker) activeWindow() time.Duration { return 3 * t.rel.tick }

// leaderLink is the follower's connection to its leader, owned by the
// relationship goroutine.
type leaderLink struct {
	addr  string
	c     net.Conn
	fails int
}

func (l *leaderLink) close() {
	if l.c != nil {
		l.c.Close()
		l.c = nil
	}
}

// followLeader pings the leader (joining it first on a new connection).
// Three failures in a row, or the leader saying it no longer leads, make
// this tracker forget it and elect again.
func (t *Tracker) followLeader(ctx context.Context, l *leaderLink, leader string) {
	if l.addr != leader {
		l.close()
		l.addr, l.fails = leader, 0
	}
	resp, err := t.pingLeader(ctx, l)
	if err == nil {
		l.fails = 0
		t.applyTrunkList(resp)
		return
	}
	l.close()
	l.fails++
	notLeader := errors.Is(err, proto.StatusError(proto.StatusEOPNOTSUPP))
	t.log.Debug().Err(err).Str("leader", leader).Int("failures", l.fails).Msg("ping leader")
	if l.fails >= maxPingFailures || notLeader {
		l.fails = 0
		t.mu.Lock()
		if !t.rel.leaderSelf && t.rel.leader == leader {
			t.forgetLeaderLocked(fmt.Sprintf("ping: %v", err))
		}
		t.mu.Unlock()
	}
}

func (t *Tracker) pingLeader(ctx context.Context, l *leaderLink) ([]byte, error) {
	if l.c == nil {
		c, err := t.dialPeer(ctx, l.addr)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		body := (&proto.Buf{}).I64(t.rel.startTime.Unix()).Fixed(proto.Version, proto.VersionLen).I64(int64(t.port())).B
		t.mu.Unlock()
		if _, err := t.peerCall(ctx, c, proto.CmdTrackerJoinLeader, body, 0); err != nil {
			c.Close()
			return nil, fmt.Errorf("join leader: %w", err)
		}
		l.c = c
	}
	cur, max := t.connCount()
	body := (&proto.Buf{}).I32(int32(cur)).I32(int32(cur)).I32(int32(max)).B
	return t.peerCall(ctx, l.c, proto.CmdTrackerPingLeader, body, t.opts.MaxBuffSize)
}

// connCount is the number of open connections and the limit.
func (t *Tracker) connCount() (cur, max int) {
	t.connMu.Lock()
	defer t.connMu.Unlock()
	return len(t.conns), t.opts.MaxConnections
}

// applyTrunkList adopts the trunk servers a PING_LEADER answer lists.
func (t *Tracker) applyTrunkList(b []byte) {
	const rec = proto.GroupNameLen + proto.StorageIDLen
	if len(b)%rec != 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for rd := (&proto.Reader{B: b}); rd.Len() > 0; {
		name, id := rd.Fixed(proto.GroupNameLen), rd.Fixed(proto.StorageIDLen)
		if g := t.reg.group(name); g != nil && g.TrunkServer != id {
			g.TrunkServer = id
			g.trunkChg++
			t.reg.dirty = true
		}
	}
}

// trackersLearnedLocked is called when JOINs taught new peers: a leader
// alone becomes a leader among peers and checks them; a tracker without a
// leader elects now.
func (t *Tracker) trackersLearnedLocked() {
	t.rel.statusDirty = true // a restart must remember them
	t.kickRelationship()
}
