package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"yunpan/dfs/internal/allow"
	"yunpan/dfs/proto"
)

// Replication inside a group (docs/protocol.md §5): every storage runs one sync
// goroutine per other member of its group and replays its own binlog to it
// with the SYNC_* commands, from the position kept in that member's mark
// file. The files of this concept:
//
//	sync.go         the per-peer goroutine, the replication state and hooks
//	sync_binlog.go  the binlog reader (records: package dfs/binlog)
//	sync_send.go    the sending side of the SYNC_* commands, tracker calls
//	sync_recv.go    the receiving side of the SYNC_* commands, cluster auth
//	sync_report.go  SYNC_REPORT, REPLICA_CHG, CHANGE_STATUS, changelog
//	mark.go         mark files
//	replicas.go     sync_ack_replicas: synchronous copies before the answer

// replication is the storage's replication state.
type replication struct {
	s     *Storage
	log   zerolog.Logger
	allow *allow.List

	secret   string                     // cluster_secret, "" = off
	verifier *proto.ClusterAuthVerifier // checks peers' CmdClusterAuth

	ackN         int           // sync_ack_replicas
	syncWait     time.Duration // sync_wait_msec: idle binlog poll
	syncInterval time.Duration // sync_interval: pause after each pushed record
	markFreq     int           // write_mark_file_freq
	windowStart  int           // sync_start_time in minutes of the day
	windowEnd    int           // sync_end_time in minutes of the day

	leaderStatus atomic.Int32 // own status in the leader's group list, -1 unknown

	mu      sync.Mutex
	syncers map[string]*syncer // by peer storage ID
	members []proto.StorageBrief
	acked   map[string]map[string]*ackState // peer ID → files sync_ack_replicas pushes (replicas.go)

	tsMu  sync.Mutex
	srcTS map[string]int64 // source storage ID → highest timestamp received from it
	tsGen int64            // changes whenever srcTS does

	acks ackPool // replicas.go
}

// maxSyncers bounds the sync goroutines (a group has at most 256 members).
const maxSyncers = 255

// newReplication reads the replication settings of s.opts; it starts
// nothing (the first group list from the leader does).
func newReplication(s *Storage) (*replication, error) {
	o := s.opts
	al, err := allow.Parse(o.AllowHosts)
	if err != nil {
		return nil, err
	}
	r := &replication{
		s:            s,
		log:          s.log.With().Str("part", "sync").Logger(),
		allow:        al,
		secret:       o.Cluster.ClusterSecret,
		ackN:         max(o.Cluster.SyncAckReplicas, 1),
		syncWait:     orDur(o.SyncWait, 100*time.Millisecond),
		syncInterval: max(o.SyncInterval, 0),
		markFreq:     orInt(o.WriteMarkFileFreq, 500),
		windowStart:  minuteOfDay(o.SyncStartTime, 0),
		windowEnd:    minuteOfDay(o.SyncEndTime, 23*60+59),
		syncers:      map[string]*syncer{},
		acked:        map[string]map[string]*ackState{},
		srcTS:        map[string]int64{},
	}
	r.verifier = &proto.ClusterAuthVerifier{Secret: r.secret}
	r.leaderStatus.Store(-1)
	r.acks.idle = map[string][]pooledConn{}
	return r, nil
}

// minuteOfDay parses "HH:MM".
func minuteOfDay(v string, def int) int {
	h, m, ok := strings.Cut(v, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return def
	}
	return hh*60 + mm
}

// inWindow applies sync_start_time/sync_end_time (a window may wrap past
// midnight); the default 00:00–23:59 is always open.
func (r *replication) inWindow(now time.Time) bool {
	if r.windowStart == 0 && r.windowEnd == 23*60+59 {
		return true
	}
	m := now.Hour()*60 + now.Minute()
	if r.windowStart <= r.windowEnd {
		return m >= r.windowStart && m <= r.windowEnd
	}
	return m >= r.windowStart || m <= r.windowEnd
}

// allowed applies allow_hosts to an accepted connection.
func (r *replication) allowed(c net.Conn) bool {
	if r.allow.AllowsAddr(c.RemoteAddr()) {
		return true
	}
	r.log.Warn().Str("peer", c.RemoteAddr().String()).Msg("refused by allow_hosts")
	return false
}

// isMe reports whether a group-list entry is this storage.
func (r *replication) isMe(b proto.StorageBrief) bool {
	s := r.s
	if me := s.myID(); me != "" && b.ID == me {
		return true
	}
	port := 0
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		port = a.Port
	}
	if int(b.Port) != port {
		return false
	}
	if p := s.myIP.Load(); p != nil && *p != "" && b.IP == *p {
		return true
	}
	return s.bindIP != "" && b.IP == s.bindIP
}

// mergeMembers takes the group list of a leader's beat answer (§4.4): it
// updates every peer's status, starts a sync goroutine for each member it
// did not know (DELETED, IP_CHANGED and NONE members get none, and a
// running one ends), and queues REPLICA_CHG for rep when that tracker is
// behind what this storage reported itself.
func (r *replication) mergeMembers(rep *reporter, members []proto.StorageBrief) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.members = append(r.members[:0], members...)
	for _, b := range members {
		if r.isMe(b) {
			r.leaderStatus.Store(int32(b.Status))
			continue
		}
		sy := r.syncers[b.ID]
		switch b.Status {
		case proto.StatusDeleted, proto.StatusIPChanged, proto.StatusNone:
			if sy != nil {
				sy.end()
				delete(r.syncers, b.ID)
			}
			continue
		}
		if sy != nil {
			if sy.update(b) {
				rep.queueReplicaChg(sy.brief())
			}
			continue
		}
		if len(r.syncers) >= maxSyncers || b.ID == "" || b.Port <= 0 {
			continue
		}
		sy = newSyncer(r, b)
		if !r.s.spawn(sy.run) {
			return // exiting
		}
		r.syncers[b.ID] = sy
	}
}

// peers returns the group members other than this storage, as the leader
// last listed them.
func (r *replication) peers() []proto.StorageBrief {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []proto.StorageBrief
	for _, b := range r.members {
		if !r.isMe(b) {
			out = append(out, b)
		}
	}
	return out
}

// noteSynced records that a record of source src with timestamp ts arrived.
func (r *replication) noteSynced(src string, ts int64) {
	if src == "" || ts <= 0 {
		return
	}
	r.tsMu.Lock()
	if ts > r.srcTS[src] {
		r.srcTS[src] = ts
		r.tsGen++
	}
	r.tsMu.Unlock()
	r.s.stats.touch(statLastSyncUpdate)
}

// syncedSnapshot returns the per-source timestamps and their generation.
func (r *replication) syncedSnapshot() (map[string]int64, int64) {
	r.tsMu.Lock()
	defer r.tsMu.Unlock()
	m := make(map[string]int64, len(r.srcTS))
	for k, v := range r.srcTS {
		m[k] = v
	}
	return m, r.tsGen
}

// syncer pushes the binlog to one peer.
type syncer struct {
	r   *replication
	s   *Storage
	id  string
	log zerolog.Logger

	mu       sync.Mutex
	ip       string
	port     int
	status   byte // the peer's status in the leader's last group list
	reported byte // the status this storage last reported for it (0: none)

	stop     chan struct{} // closed when the peer leaves the group
	stopOnce sync.Once

	// Owned by the goroutine.
	markPath        string
	m               *mark
	reader          *binlogReader
	conn            net.Conn
	lastFileExist   bool // the peer answered EEXIST: ask before sending
	reportedSyncing bool
	unsaved         int
	lastIO          time.Time
	failures        int
}

func newSyncer(r *replication, b proto.StorageBrief) *syncer {
	return &syncer{
		r: r, s: r.s, id: b.ID, ip: b.IP, port: int(b.Port), status: b.Status,
		log:  r.log.With().Str("peer", net.JoinHostPort(b.IP, strconv.Itoa(int(b.Port)))).Logger(),
		stop: make(chan struct{}),
	}
}

// update takes a new group-list entry; it reports whether that tracker
// lags behind the status this storage reported for the peer (§4.4: send
// REPLICA_CHG).
func (sy *syncer) update(b proto.StorageBrief) bool {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	sy.ip, sy.port, sy.status = b.IP, int(b.Port), b.Status
	if sy.reported == 0 {
		return false
	}
	switch b.Status {
	case proto.StatusWaitSync, proto.StatusSyncing:
		return sy.reported > b.Status
	}
	sy.reported = 0 // caught up or moved on
	return false
}

func (sy *syncer) brief() proto.StorageBrief {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	st := sy.status
	if sy.reported > st {
		st = sy.reported
	}
	return proto.StorageBrief{Status: st, Port: int32(sy.port), ID: sy.id, IP: sy.ip}
}

func (sy *syncer) addr() string {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	return net.JoinHostPort(sy.ip, strconv.Itoa(sy.port))
}

func (sy *syncer) destStatus() byte {
	sy.mu.Lock()
	defer sy.mu.Unlock()
	return sy.status
}

// end stops the goroutine (the peer was deleted).
func (sy *syncer) end() { sy.stopOnce.Do(func() { close(sy.stop) }) }

func (sy *syncer) stopped() bool {
	select {
	case <-sy.stop:
		return true
	case <-sy.s.exitCh:
		return true
	default:
		return false
	}
}

// pause waits d, or less when the peer is deleted or the storage exits.
func (sy *syncer) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sy.stop:
	case <-sy.s.exitCh:
	case <-t.C:
	}
}

// backoff is the pause after a failure: 100 ms doubling to 5 s.
func (sy *syncer) backoff() time.Duration {
	sy.failures++
	return min(100*time.Millisecond<<min(sy.failures-1, 6), 5*time.Second)
}

// run is the sync goroutine (docs/protocol.md §5.5): it loads or creates the mark,
// waits while the peer cannot receive, pushes records in binlog order and
// keeps the mark file current. It ends on Exit or when the peer is deleted.
func (sy *syncer) run() {
	defer func() {
		sy.closeConn()
		if sy.reader != nil {
			sy.reader.close()
		}
		select {
		case <-sy.stop: // deleted: the changelog removes its mark file
		default:
			sy.saveMark()
		}
	}()
	for !sy.stopped() {
		if sy.m == nil && !sy.initMark() {
			sy.pause(sy.backoff())
			continue
		}
		st := sy.destStatus()
		if !pushable(st) || !sy.r.inWindow(wallNow()) {
			sy.closeConn()
			sy.saveMark()
			sy.pause(max(sy.r.syncWait, 200*time.Millisecond))
			continue
		}
		if sy.conn == nil {
			if err := sy.connect(); err != nil {
				ev := sy.log.Debug()
				if sy.failures == 0 {
					ev = sy.log.Warn()
				}
				ev.Err(err).Msg("connect to peer")
				sy.pause(sy.backoff())
				continue
			}
		}
		m := sy.m
		if m.NeedSyncOld && !m.SyncOldDone && !sy.reportedSyncing {
			// §5.6 step 3: the source reports the new storage SYNCING
			// when it starts pushing the old data.
			sy.reportStatus(proto.StatusSyncing)
			sy.reportedSyncing = true
		}
		rec, n, ok, err := sy.reader.next()
		if !ok {
			if err != nil {
				sy.log.Error().Err(err).Msg("read binlog")
				sy.pause(sy.backoff())
				continue
			}
			sy.idle()
			continue
		}
		if err != nil {
			if sy.s.opts.FileSyncSkipInvalidRecord {
				sy.log.Warn().Err(err).Msg("invalid binlog record skipped")
				sy.consume(n, false)
				continue
			}
			// FastDFS stops here until an operator intervenes
			// (file_sync_skip_invalid_record=true skips such records).
			sy.log.Error().Err(err).Msg("invalid binlog record; replication to this peer is stuck")
			sy.pause(5 * time.Second)
			continue
		}
		pushed, err := sy.push(rec)
		if err != nil {
			if errors.Is(err, errInvalidRecord) && sy.s.opts.FileSyncSkipInvalidRecord {
				sy.log.Warn().Err(err).Msg("invalid binlog record skipped")
				sy.consume(n, false)
				continue
			}
			sy.log.Warn().Err(err).Str("op", string(rec.Op)).Str("file", rec.Name).Msg("push failed, retrying")
			sy.closeConn()
			sy.pause(sy.backoff())
			continue
		}
		sy.failures = 0
		sy.consume(n, pushed)
		if pushed && sy.r.syncInterval > 0 {
			sy.pause(sy.r.syncInterval)
		}
	}
}

// pushable: a peer receives records only while ACTIVE, WAIT_SYNC or
// SYNCING (§5.5); INIT, OFFLINE and ONLINE peers are waited for.
func pushable(st byte) bool {
	return st == proto.StatusActive || st == proto.StatusWaitSync || st == proto.StatusSyncing
}

// consume moves the cursor past one record and writes the mark every
// write_mark_file_freq records.
func (sy *syncer) consume(n int, pushed bool) {
	sy.reader.advance(n)
	sy.m.BinlogIndex, sy.m.BinlogOffset = sy.reader.pos()
	sy.m.ScanRowCount++
	if pushed {
		sy.m.SyncRowCount++
	}
	sy.unsaved++
	if sy.unsaved >= sy.r.markFreq {
		sy.saveMark()
	}
}

// idle runs at the end of the binlog: retry records a failed binlog write
// left in its cache (records are otherwise written through at once), finish
// the old-data phase the first time, save the mark, keep the connection
// alive with ACTIVE_TEST every heart_beat_interval and wait sync_wait_msec.
func (sy *syncer) idle() {
	s := sy.s
	// A failed flush is logged by the binlog, once per failure.
	if s.binlog.pending() && s.binlog.Flush() == nil {
		return // read what it wrote
	}
	m := sy.m
	if m.NeedSyncOld && !m.SyncOldDone {
		m.SyncOldDone = true
		sy.unsaved++
		sy.saveMark()
		sy.log.Info().Int64("until", m.UntilTimestamp).Int64("rows", m.SyncRowCount).Msg("old data pushed")
		sy.reportStatus(proto.StatusOffline)
	}
	if sy.unsaved > 0 {
		sy.saveMark()
	}
	if sy.conn != nil && time.Since(sy.lastIO) >= s.heartBeat {
		if err := sy.activeTest(); err != nil {
			sy.log.Debug().Err(err).Msg("active test")
			sy.closeConn()
		}
	}
	sy.pause(sy.r.syncWait)
}

// saveMark writes the mark file if anything changed.
func (sy *syncer) saveMark() {
	if sy.m == nil || sy.unsaved == 0 {
		return
	}
	if err := sy.m.save(sy.markPath); err != nil {
		sy.log.Error().Err(err).Msg("write mark file")
		return
	}
	sy.unsaved = 0
}

// initMark loads the peer's mark file, or creates the cursor for a peer
// this storage never pushed to (§5.6 step 2): SYNC_SRC_REQ tells whether
// this storage must push the group's old data (start at binlog.000) or
// only what is newer than until_timestamp. false means retry later.
func (sy *syncer) initMark() bool {
	s := sy.s
	sy.mu.Lock()
	port, ip := sy.port, sy.ip
	sy.mu.Unlock()
	useIDs := s.curParams().useStorageID
	sy.markPath = filepath.Join(s.dataDir, "sync", markFileName(useIDs, sy.id, ip, port))
	if useIDs {
		// An IP-based mark from before storage IDs takes the ID name (§5.3).
		if old := filepath.Join(s.dataDir, "sync", markFileName(false, "", ip, port)); old != sy.markPath {
			if _, err := os.Stat(sy.markPath); errors.Is(err, fs.ErrNotExist) {
				os.Rename(old, sy.markPath)
			}
		}
	}
	m, err := loadMark(sy.markPath)
	if err != nil {
		sy.log.Warn().Err(err).Str("mark", sy.markPath).Msg("mark file unusable, starting over")
	}
	if m == nil {
		if sy.destStatus() == proto.StatusInit {
			return false // the tracker has no sync source for it yet
		}
		req, err := sy.r.syncSrcReq(sy.id)
		if err != nil {
			sy.log.Debug().Err(err).Msg("sync src req")
			return false
		}
		me := s.myID()
		if me == "" {
			return false
		}
		// Without need_sync_old, records older than until_timestamp are
		// the source's to push; with no source recorded (until 0) the
		// peer was a member from the start and gets everything this
		// storage created (repeats are answered EEXIST).
		m = &mark{NeedSyncOld: req.SrcID == me, UntilTimestamp: req.Until}
		sy.unsaved = 1
		sy.m = m
		sy.saveMark()
		sy.log.Info().Bool("need_sync_old", m.NeedSyncOld).Int64("until", m.UntilTimestamp).Msg("new sync peer")
	}
	sy.m = m
	sy.reader = newBinlogReader(filepath.Join(s.dataDir, "sync"), m.BinlogIndex, m.BinlogOffset, s.binlog.currentIndex)
	return true
}

// reportStatus tells every tracker the peer's new status (REPORT_STATUS,
// §4.6), as the sync source of a new storage does.
func (sy *syncer) reportStatus(st byte) {
	sy.mu.Lock()
	sy.reported = st
	b := proto.StorageBrief{Status: st, Port: int32(sy.port), ID: sy.id, IP: sy.ip}
	sy.mu.Unlock()
	sy.r.reportStatus(b)
	sy.log.Info().Str("status", proto.StorageStatusName(st)).Msg("reported peer status")
}

// dialer is the outgoing dialer: bound to bind_addr when client_bind is on,
// so peers and trackers see this storage under its own address.
func (s *Storage) dialer() *net.Dialer {
	d := &net.Dialer{}
	if s.bindIP != "" && s.opts.ClientBind {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(s.bindIP)}
	}
	return d
}

// dialTracked connects to addr with connect_timeout, registers the
// connection for Exit and proves the cluster secret when one is set.
func (s *Storage) dialTracked(addr string) (net.Conn, error) {
	return s.dialTrackedWithin(addr, s.connTimeout)
}

// dialTrackedWithin is dialTracked with a connect timeout of its own.
func (s *Storage) dialTrackedWithin(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	c, err := s.dialer().DialContext(ctx, "tcp", addr)
	cancel()
	if err != nil {
		return nil, err
	}
	if !s.track(c) {
		c.Close()
		return nil, errors.New("exiting")
	}
	if err := s.repl.authConn(c); err != nil {
		s.closeTracked(c)
		return nil, err
	}
	return c, nil
}

func (s *Storage) closeTracked(c net.Conn) {
	s.untrack(c)
	c.Close()
}

// connect opens the sync connection: cluster auth, then REPORT_SERVER_ID
// (§5.4) so the peer attributes what it receives to this storage.
func (sy *syncer) connect() error {
	s := sy.s
	me := s.myID()
	if me == "" {
		return errors.New("own storage ID not known yet")
	}
	c, err := s.dialTracked(sy.addr())
	if err != nil {
		return err
	}
	if _, err := peerCall(c, s.timeout, proto.CmdStorageReportServerID, 0, (&proto.Buf{}).Fixed(me, proto.StorageIDLen).B); err != nil {
		s.closeTracked(c)
		return fmt.Errorf("report server id: %w", err)
	}
	sy.conn = c
	sy.lastIO = time.Now()
	sy.lastFileExist = false
	return nil
}

func (sy *syncer) closeConn() {
	if sy.conn != nil {
		sy.s.closeTracked(sy.conn)
		sy.conn = nil
	}
}

func (sy *syncer) activeTest() error {
	_, err := peerCall(sy.conn, sy.s.timeout, proto.CmdActiveTest, 0, nil)
	sy.lastIO = time.Now()
	return err
}
