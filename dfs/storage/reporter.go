package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"yunpan/dfs/proto"
)

// clusterView is what beat and disk-usage answers told us (docs/protocol.md §4.4): the
// tracker leader, the group's trunk server and the group members.
type clusterView struct {
	mu          sync.Mutex
	leader      string // "ip:port", "" when none is known
	trunkServer string // storage ID, "" when none
	members     []proto.StorageBrief
}

func (v *clusterView) snapshot() (leader string, members []proto.StorageBrief) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.leader, append([]proto.StorageBrief(nil), v.members...)
}

// maxTrackerResp bounds any answer read from a tracker.
const maxTrackerResp = 64 << 10

// reporter keeps the session with one tracker_server (docs/protocol.md §4.1): connect,
// GET_MY_IP (first time), PARAMETER_REQ (until known), JOIN, the initial
// sync decision, then BEAT / CHANGELOG_REQ / REPORT_DISK_USAGE on their
// intervals; on any error it reconnects with a growing pause.
type reporter struct {
	s           *Storage
	addr        string // dial address
	host        string // tracker IP as written in the config
	log         zerolog.Logger
	gotMyIP     bool
	syncOldDone bool // this reporter's view of sync_old_done (§4.1 step 3)
	c           net.Conn
	statGen     int64        // stats generation last sent in a BEAT
	repl        reporterSync // SYNC_REPORT, CHANGE_STATUS, REPLICA_CHG state (sync_report.go)
	trunk       reporterTrunk
}

func newReporter(s *Storage, tracker string) *reporter {
	host, port, err := net.SplitHostPort(tracker)
	if err != nil {
		host, port = tracker, "22122"
	}
	if i := strings.IndexByte(host, ','); i >= 0 { // dual-IP tracker: inner address
		host = host[:i]
	}
	_, done, _, _ := s.flag.snapshot()
	return &reporter{
		s:           s,
		addr:        net.JoinHostPort(host, port),
		host:        host,
		log:         s.log.With().Str("tracker", tracker).Logger(),
		syncOldDone: done,
	}
}

// run loops over sessions until Exit.
func (r *reporter) run() {
	s := r.s
	minWait := min(time.Second, s.heartBeat)
	maxWait := min(max(s.heartBeat, time.Second), 30*time.Second)
	wait := minWait
	failures := 0
	for {
		joined, err := r.session()
		if s.isExiting() {
			return
		}
		if joined {
			wait, failures = minWait, 0
		}
		failures++
		// Keep quiet while a tracker stays away: one warning, then debug.
		ev := r.log.Debug()
		switch {
		case failures == 1 && !joined && proto.StatusOf(err) == proto.StatusEINVAL:
			ev = r.log.Error() // refused, e.g. a store_path_count unlike the group's
		case failures == 1:
			ev = r.log.Warn()
		}
		ev.Err(err).Dur("retry_in", wait).Msg("tracker session ended")
		if !s.sleep(wait) {
			return
		}
		wait = min(wait*2, maxWait)
	}
}

// session runs one connection; joined reports whether JOIN succeeded.
func (r *reporter) session() (joined bool, err error) {
	s := r.s
	ctx, cancel := context.WithTimeout(s.ctx, s.connTimeout)
	d := net.Dialer{}
	if s.bindIP != "" && s.opts.ClientBind {
		// client_bind: trackers must see the storage under bind_addr.
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(s.bindIP)}
	}
	c, err := d.DialContext(ctx, "tcp", r.addr)
	cancel()
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	if !s.track(c) {
		c.Close()
		return false, errors.New("exiting")
	}
	defer func() {
		s.untrack(c)
		c.Close()
	}()
	r.c = c
	if err := s.repl.authConn(c); err != nil { // cluster_secret
		return false, err
	}
	if !r.gotMyIP {
		if err := r.getMyIP(); err != nil {
			return false, err
		}
	}
	if s.params.Load() == nil {
		if err := r.parameterReq(); err != nil {
			return false, err
		}
	}
	if err := r.loadStorageIDs(); err != nil { // ids.go
		return false, err
	}
	if err := r.join(); err != nil {
		return false, err
	}
	if err := r.syncStep(); err != nil {
		return true, err
	}
	return true, r.loop()
}

// call sends one request and reads the answer (at most max body bytes). A
// non-zero status is returned as a proto.StatusError.
func (r *reporter) call(cmd byte, body []byte, max int64) ([]byte, error) {
	c, t := r.c, r.s.timeout
	c.SetDeadline(time.Now().Add(t))
	if err := proto.WritePacket(c, cmd, 0, body); err != nil {
		return nil, fmt.Errorf("cmd %d: send: %w", cmd, err)
	}
	h, err := proto.ReadHeader(c)
	if err != nil {
		return nil, fmt.Errorf("cmd %d: read answer: %w", cmd, err)
	}
	if h.Cmd != proto.CmdResp {
		return nil, fmt.Errorf("cmd %d: answer cmd %d", cmd, h.Cmd)
	}
	if h.PkgLen > max {
		return nil, fmt.Errorf("cmd %d: answer of %d bytes, limit %d", cmd, h.PkgLen, max)
	}
	resp := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, fmt.Errorf("cmd %d: read answer body: %w", cmd, err)
	}
	if h.Status != 0 {
		return nil, fmt.Errorf("cmd %d: %w", cmd, proto.StatusError(h.Status))
	}
	return resp, nil
}

// isStatus reports whether err is an answer from the tracker (as opposed to
// a broken connection).
func isStatus(err error) bool {
	var se proto.StatusError
	return errors.As(err, &se)
}

func (r *reporter) port() int {
	if a, ok := r.s.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return r.s.opts.Port
}

// getMyIP asks GET_MY_IP (60) for the address the tracker sees (§4.2).
func (r *reporter) getMyIP() error {
	s := r.s
	body := (&proto.Buf{}).Fixed(s.group, proto.GroupNameStructLen).I32(int32(r.port())).B
	resp, err := r.call(proto.CmdStorageGetMyIP, body, proto.IPv6Size*2+1)
	if err != nil {
		if isStatus(err) {
			r.log.Warn().Err(err).Msg("GET_MY_IP refused")
			r.gotMyIP = true
			return nil
		}
		return err
	}
	ip := strings.TrimSpace(proto.Fixed(resp))
	if i := strings.IndexByte(ip, ','); i >= 0 {
		ip = ip[:i]
	}
	r.gotMyIP = true
	if ip == "" {
		return nil
	}
	if old := s.myIP.Load(); old == nil || *old != ip {
		s.myIP.Store(&ip)
		r.log.Info().Str("ip", ip).Msg("own address from tracker")
	}
	if err := s.flag.setAddr(ip, r.port()); err != nil {
		r.log.Error().Err(err).Msg("save .data_init_flag")
	}
	return nil
}

// parameterReq loads the cluster parameters (§2.9).
func (r *reporter) parameterReq() error {
	resp, err := r.call(proto.CmdStorageParameterReq, nil, maxTrackerResp)
	if err != nil {
		if isStatus(err) {
			r.log.Warn().Err(err).Msg("PARAMETER_REQ refused")
			return nil
		}
		return err
	}
	p, err := parseParams(resp)
	if err != nil {
		r.log.Warn().Err(err).Msg("bad PARAMETER_REQ answer")
		return nil
	}
	r.s.params.Store(p)
	r.log.Info().Stringer("params", p).Msg("tracker parameters")
	return nil
}

// myID is how the tracker names this storage: the server ID with storage
// IDs, else the IP it sees.
func (s *Storage) myID() string {
	if id := s.serverID(); s.curParams().useStorageID && id != "" { // ids.go
		return id
	}
	if p := s.myIP.Load(); p != nil && *p != "" {
		return *p
	}
	return s.bindIP
}

// join sends STORAGE_JOIN (81) and adopts the status it returns (§4.3).
func (r *reporter) join() error {
	s := r.s
	joinTime, done, _, _ := s.flag.snapshot()
	j := proto.JoinBody{
		GroupName:        s.group,
		StoragePort:      int64(r.port()),
		StorePathCount:   int64(len(s.paths)),
		SubdirCount:      int64(s.subdirs),
		UploadPriority:   int64(s.opts.UploadPriority),
		JoinTime:         joinTime,
		UpTime:           s.startTime.Unix(),
		Version:          proto.Version,
		InitFlag:         !done,
		Status:           int8(s.myStatus.Load()),
		CurrentTrackerIP: r.host,
		Trackers:         s.opts.TrackerServers,
	}
	if s.curParams().useStorageID {
		j.StorageID = s.serverID()
	}
	resp, err := r.call(proto.CmdStorageJoin, j.Encode(), maxTrackerResp)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if len(resp) != proto.JoinRespSize {
		return fmt.Errorf("join: answer of %d bytes, want %d", len(resp), proto.JoinRespSize)
	}
	s.myStatus.Store(int32(resp[0]))
	r.repl.joined(resp[0])
	r.log.Info().Str("status", proto.StorageStatusName(resp[0])).Str("src", proto.Fixed(resp[1:])).Msg("joined")
	return nil
}

// syncStep is §4.1 steps 3–4: a new storage asks SYNC_DEST_REQ once (under
// a process-wide lock) and persists the answer; every session then sends
// SYNC_NOTIFY with the stored source.
func (r *reporter) syncStep() error {
	s := r.s
	if !r.syncOldDone {
		s.syncMu.Lock()
		_, done, _, _ := s.flag.snapshot()
		var err error
		if !done {
			err = r.syncDestReq()
		} else {
			err = r.syncNotify()
		}
		s.syncMu.Unlock()
		if err != nil {
			return err
		}
		r.syncOldDone = true
	}
	return r.syncNotify()
}

func (r *reporter) syncDestReq() error {
	resp, err := r.call(proto.CmdStorageSyncDestReq, nil, proto.SyncReqSize)
	if err != nil {
		return fmt.Errorf("sync dest req: %w", err)
	}
	var sr proto.SyncReq
	switch len(resp) {
	case 0: // nothing to sync
	case proto.SyncReqSize:
		sr, _ = proto.DecodeSyncReq(resp)
	default:
		return fmt.Errorf("sync dest req: answer of %d bytes", len(resp))
	}
	if err := r.s.flag.setSyncDone(sr.SrcID, sr.Until); err != nil {
		return err
	}
	r.log.Info().Str("src", sr.SrcID).Int64("until", sr.Until).Msg("initial sync source")
	return nil
}

func (r *reporter) syncNotify() error {
	_, _, src, until := r.s.flag.snapshot()
	_, err := r.call(proto.CmdStorageSyncNotify, (&proto.SyncReq{SrcID: src, Until: until}).Encode(), 0)
	if err != nil {
		if isStatus(err) {
			// ENOENT: the source was deleted; re-sync handling comes with
			// replication. The session itself is fine.
			r.log.Warn().Err(err).Str("src", src).Msg("sync notify refused")
			return nil
		}
		return fmt.Errorf("sync notify: %w", err)
	}
	return nil
}

// loop is §4.1 step 5: BEAT (+ CHANGELOG_REQ) every heart_beat_interval and
// REPORT_DISK_USAGE every stat_report_interval, the first of each at once.
func (r *reporter) loop() error {
	s := r.s
	tick := max(min(s.heartBeat, s.statReport, time.Second), 10*time.Millisecond)
	var lastBeat, lastDF time.Time
	r.statGen = -1 // the first beat of a session carries the stat block
	for {
		now := time.Now()
		if now.Sub(lastBeat) >= s.heartBeat {
			lastBeat = now
			if err := r.beat(); err != nil {
				return err
			}
			if s.curParams().ipChangedAutoAdjust {
				if err := r.changelog(); err != nil {
					return err
				}
			}
		}
		if now.Sub(lastDF) >= s.statReport {
			lastDF = now
			if err := r.reportDiskUsage(); err != nil {
				return err
			}
		}
		if err := r.replTick(); err != nil {
			return err
		}
		if err := r.trunkTick(); err != nil { // trunk_server.go
			return err
		}
		if !s.sleep(tick) {
			return nil
		}
	}
}

// beat sends STORAGE_BEAT (83): the stat block when a counter changed since
// the last beat, else an empty body.
func (r *reporter) beat() error {
	s := r.s
	gen := s.stats.gen.Load()
	var body []byte
	if gen != r.statGen {
		blk := s.stats.block()
		w := &proto.Buf{}
		blk.Append(w)
		body = w.B
	}
	resp, err := r.call(proto.CmdStorageBeat, body, maxTrackerResp)
	if err != nil {
		return fmt.Errorf("beat: %w", err)
	}
	r.statGen = gen
	return r.applyReport(resp)
}

// reportDiskUsage sends REPORT_DISK_USAGE (84): total and free MB per path.
func (r *reporter) reportDiskUsage() error {
	w := &proto.Buf{}
	for _, sp := range r.s.paths {
		total, free, err := diskUsage(sp.dataDir)
		if err != nil {
			r.log.Warn().Err(err).Str("path", sp.root).Msg("statvfs")
		}
		w.I64(total).I64(free)
	}
	resp, err := r.call(proto.CmdStorageReportDiskUsage, w.B, maxTrackerResp)
	if err != nil {
		return fmt.Errorf("report disk usage: %w", err)
	}
	return r.applyReport(resp)
}

// changelog sends CHANGELOG_REQ (77). Lines about our group's deleted or
// renamed members matter to replication mark files, which come later; for
// now they are logged.
func (r *reporter) changelog() error {
	resp, err := r.call(proto.CmdStorageChangelogReq, nil, maxTrackerResp)
	if err != nil {
		if isStatus(err) {
			r.log.Debug().Err(err).Msg("changelog refused")
			return nil
		}
		return fmt.Errorf("changelog: %w", err)
	}
	for _, line := range strings.Split(string(resp), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[1] != r.s.group {
			continue
		}
		st, _ := strconv.Atoi(f[3])
		if byte(st) == proto.StatusDeleted || byte(st) == proto.StatusIPChanged {
			r.log.Info().Str("storage", f[2]).Str("status", proto.StorageStatusName(byte(st))).Msg("changelog")
			r.s.repl.onChangelog(f[2], byte(st), strings.Join(f[4:], ""))
		}
	}
	return nil
}

// applyReport parses the common answer of BEAT / DISK_USAGE / SYNC_REPORT
// (§4.4): flags, then the leader, trunk-server and group sections present.
// A malformed answer is logged and ignored.
func (r *reporter) applyReport(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if (len(b)-1)%proto.StorageBriefSize != 0 {
		r.log.Warn().Int("len", len(b)).Msg("report answer: length is not 1 + n×67, ignored")
		return nil
	}
	flags := b[0]
	rd := &proto.Reader{B: b[1:]}
	v := &r.s.cluster
	next := func() (proto.StorageBrief, bool) {
		var br proto.StorageBrief
		if rd.Len() < proto.StorageBriefSize {
			return br, false
		}
		br.Read(rd)
		return br, true
	}
	if flags&proto.BeatFlagLeader != 0 {
		if br, ok := next(); ok {
			leader := ""
			if br.IP != "" {
				leader = net.JoinHostPort(br.IP, strconv.Itoa(int(br.Port)))
			}
			v.mu.Lock()
			if v.leader != leader {
				r.log.Info().Str("leader", leader).Msg("tracker leader")
			}
			v.leader = leader
			v.mu.Unlock()
		}
	}
	if flags&proto.BeatFlagTrunkServer != 0 {
		if br, ok := next(); ok {
			v.mu.Lock()
			v.trunkServer = br.ID
			v.mu.Unlock()
			if br.ID != "" && !r.s.curParams().useTrunkFile {
				// Trunk mode was turned on at the tracker: learn its settings.
				if err := r.parameterReq(); err != nil {
					return err
				}
			}
			r.s.trunk.setServer(br.ID, br.IP, int(br.Port))
		}
	}
	if flags&proto.BeatFlagGroupServer != 0 {
		var members []proto.StorageBrief
		me := r.s.myID()
		for {
			br, ok := next()
			if !ok {
				break
			}
			members = append(members, br)
			if me != "" && br.ID == me {
				r.s.myStatus.Store(int32(br.Status))
			}
		}
		v.mu.Lock()
		v.members = members
		v.mu.Unlock()
		r.s.repl.mergeMembers(r, members)
	}
	return nil
}
