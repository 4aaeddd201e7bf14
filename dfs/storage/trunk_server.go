package storage

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"yunpan/dfs/proto"
)

// trunkRole is this storage's part in trunk storage (docs/trunk.md): who the
// group's trunk server is (from the trackers' beat answers), and, while it
// is this storage, the allocator and the copies of its trunk binlog on the
// other members (TRUNK_SYNC_BINLOG, 30). The binlog is pushed by the request
// that grew it (so a confirmed slot is known to the members before the
// writer hears back) and caught up from the reporters' loops; no goroutine
// of its own runs.
type trunkRole struct {
	s *Storage

	ticking atomic.Bool // a catch-up push runs
	// confirming is held shared by confirmations from their binlog line
	// until the members have it, exclusively by a compaction (which would
	// move the line and restart the pushes from the start).
	confirming sync.RWMutex
	mu         sync.Mutex
	serverID   string
	serverAddr string      // "ip:port" of the trunk server
	alloc      *trunkAlloc // non-nil while this storage is the trunk server
	gen        int         // counts role changes (the reporters fetch the trunk file ID once per change)
	peers      map[string]*trunkPeer
	conns      chan net.Conn // idle connections to the trunk server (writer side)
	connsAddr  string
	lastCompac time.Time

	found foundFiles // files found in slots handed out to this storage as a writer

	advancing   atomic.Bool // trunk files are being created ahead
	advanceFor  *trunkAlloc // the allocator advanceNext was computed for
	advanceNext time.Time   // when trunk files are next created ahead
}

// trunkPeer is the binlog push state of one member. mu serializes the
// pushes to it: whoever holds it sends everything not sent yet.
type trunkPeer struct {
	mu       sync.Mutex
	id       string
	addr     string
	c        net.Conn
	mark     int64 // bytes of our trunk binlog sent to the member; -1: none yet
	epoch    int   // the binlog's compaction count mark belongs to
	retryAt  time.Time
	failedAt time.Time // the last failed push, and its error
	lastErr  error
	closed   bool
}

// trunkHold is how long an allocation waits for the writer's confirmation
// before its slot is free again.
const trunkHold = 2 * time.Minute

// trunkPushTimeout bounds one push to a member; a member that fails is
// skipped by the pushes of requests until trunkRetry passed, and caught up
// by the reporters' loops.
const (
	trunkPushTimeout = 3 * time.Second
	trunkRetry       = 5 * time.Second
)

// trunkConfirmWait bounds how long a confirmation retries the push of its
// binlog line to an ACTIVE member before it fails (the upload is then not
// acknowledged, and its slot stays used until the trunk check frees it).
// (Variables: tests shorten them.)
var (
	trunkConfirmWait  = 10 * time.Second
	trunkConfirmPause = 200 * time.Millisecond
)

func newTrunkRole(s *Storage) *trunkRole {
	return &trunkRole{s: s, peers: map[string]*trunkPeer{}, conns: make(chan net.Conn, 4)}
}

// server returns the trunk server's ID and address, and whether it is us.
func (r *trunkRole) server() (id, addr string, self bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serverID, r.serverAddr, r.alloc != nil
}

func (r *trunkRole) allocator() *trunkAlloc {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alloc
}

// setServer adopts the trunk server a beat answer named (id "" = none):
// this storage becomes it or stops being it.
func (r *trunkRole) setServer(id, ip string, port int) {
	s := r.s
	addr := ""
	if ip != "" {
		addr = net.JoinHostPort(ip, strconv.Itoa(port))
	}
	me := s.myID()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.serverID == id && r.serverAddr == addr {
		return
	}
	s.log.Info().Str("trunk_server", id).Str("addr", addr).Msg("trunk server")
	r.serverID, r.serverAddr = id, addr
	r.drainConnsLocked()
	if id != "" && id == me {
		if r.alloc == nil {
			if err := r.becomeLocked(); err != nil {
				s.log.Error().Err(err).Msg("cannot become trunk server")
			}
		}
		return
	}
	r.resignLocked()
}

// becomeLocked rebuilds the allocator from the local trunk binlog, which
// the previous trunk server kept pushing here.
func (r *trunkRole) becomeLocked() error {
	s := r.s
	p := s.curParams()
	if !p.useTrunkFile {
		return errors.New("use_trunk_file is off")
	}
	cfg := p.trunk
	cfg.subdirs, cfg.paths, cfg.hold, cfg.subdir = s.subdirs, len(s.paths), trunkHold, s.dist.next
	cfg.durable = s.fsyncBytes > 0
	a, err := openTrunkAlloc(trunkBinlogPath(s.dataDir), cfg)
	if err != nil {
		return err
	}
	if done, err := a.compact(wallNow()); err != nil {
		s.log.Warn().Err(err).Msg("compact trunk binlog")
	} else if done {
		s.log.Info().Int64("bytes", a.size()).Msg("trunk binlog compacted")
	}
	free, last := a.stats()
	s.log.Info().Int64("free_bytes", free).Int32("last_trunk_id", last).Msg("trunk server: free space rebuilt")
	r.alloc = a
	r.gen++
	r.lastCompac = time.Now()
	return nil
}

func (r *trunkRole) resignLocked() {
	if r.alloc == nil {
		return
	}
	r.alloc.close()
	r.alloc = nil
	r.gen++
	r.closePeersLocked()
	r.s.log.Info().Msg("no longer the trunk server")
}

func (r *trunkRole) closePeersLocked() {
	for _, p := range r.peers {
		p.mu.Lock()
		if p.c != nil {
			r.s.closeTracked(p.c)
			p.c = nil
		}
		p.closed = true
		p.mu.Unlock()
	}
	r.peers = map[string]*trunkPeer{}
}

// close ends the role at exit.
func (r *trunkRole) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resignLocked()
	r.drainConnsLocked()
}

func (r *trunkRole) drainConnsLocked() {
	for {
		select {
		case c := <-r.conns:
			r.s.closeTracked(c)
		default:
			return
		}
	}
}

// pushAll brings every member's copy of the trunk binlog up to date, the
// members in parallel. retry includes members that failed lately.
func (r *trunkRole) pushAll(a *trunkAlloc, retry bool) {
	todo, _, ok := r.targets(a)
	if !ok {
		return
	}
	var wg sync.WaitGroup
	for _, p := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.pushPeer(a, p, retry)
		}()
	}
	wg.Wait()
}

// targets returns the members the binlog goes to and which of them are
// ACTIVE (those a confirmation waits for: the trackers elect the next
// trunk server among them); ok is false when a is no longer the allocator.
// Members gone down or away lose their connection.
func (r *trunkRole) targets(a *trunkAlloc) (todo []*trunkPeer, active map[*trunkPeer]bool, ok bool) {
	s := r.s
	_, members := s.cluster.snapshot()
	me := s.myID()
	active = map[*trunkPeer]bool{}
	r.mu.Lock()
	if r.alloc != a {
		r.mu.Unlock()
		return nil, nil, false
	}
	for _, m := range members {
		// Members still syncing count too (the view may be older than
		// their going ACTIVE); those the trackers see down get the whole
		// binlog when they are back.
		switch {
		case m.ID == me || m.ID == "", m.Status == proto.StatusOffline, m.Status == proto.StatusDeleted,
			m.Status == proto.StatusIPChanged, m.Status == proto.StatusNone:
			continue
		}
		p := r.peers[m.ID]
		if p == nil {
			// The address is fixed per ID (an IP change makes a new member).
			p = &trunkPeer{id: m.ID, addr: net.JoinHostPort(m.IP, strconv.Itoa(int(m.Port))), mark: -1}
			r.peers[m.ID] = p
		}
		todo = append(todo, p)
		active[p] = m.Status == proto.StatusActive
	}
	// Members gone down or away lose their connection (a socket to a
	// stopped peer would linger half closed); they start over when back.
	var gone []*trunkPeer
	for id, p := range r.peers {
		if !slices.Contains(todo, p) {
			gone = append(gone, p)
			delete(r.peers, id)
		}
	}
	r.mu.Unlock()
	for _, p := range gone {
		p.mu.Lock()
		if p.c != nil {
			s.closeTracked(p.c)
			p.c = nil
		}
		p.closed = true
		p.mu.Unlock()
	}
	return todo, active, true
}

// pushConfirmed brings every member's copy up to need bytes of the binlog
// (a confirmation's line included) and returns an error when an ACTIVE
// member still lacks them after trunkConfirmWait: a confirmation answered
// while the member that may be elected next does not know the slot is
// used would let that one hand the slot out again. Members not ACTIVE get
// one try; a member refusing connections is down (it cannot be elected
// before it is back, and the catch-up pushes reach it then).
func (r *trunkRole) pushConfirmed(a *trunkAlloc, need int64) error {
	todo, active, ok := r.targets(a)
	if !ok {
		return proto.Errf(proto.StatusEINVAL, "trunk confirm: no longer the trunk server")
	}
	deadline := time.Now().Add(trunkConfirmWait)
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, p := range todo {
		if !active[p] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.pushPeer(a, p, false)
			}()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.pushUntil(a, p, need, deadline)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pushUntil retries the push to an ACTIVE member until it has need bytes,
// it is no longer ACTIVE or down, or the deadline passed.
func (r *trunkRole) pushUntil(a *trunkAlloc, p *trunkPeer, need int64, deadline time.Time) error {
	for {
		err := r.pushPeerTo(a, p, need, time.Now())
		if err == nil || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, errPeerGone) || !r.s.memberActive(p.id) {
			return nil
		}
		if time.Now().Add(trunkConfirmPause).After(deadline) {
			return proto.Errf(proto.StatusEBUSY, "trunk binlog push to ACTIVE member %s: %v", p.id, err)
		}
		t := time.NewTimer(trunkConfirmPause)
		select {
		case <-t.C:
		case <-r.s.exitCh:
			t.Stop()
			return fmt.Errorf("trunk binlog push to %s: exiting: %w", p.id, err)
		}
	}
}

// errPeerGone: the member left the targets (down or away) meanwhile.
var errPeerGone = errors.New("member no longer a binlog push target")

// memberActive reports whether the trackers last said the member is
// ACTIVE.
func (s *Storage) memberActive(id string) bool {
	_, members := s.cluster.snapshot()
	for _, m := range members {
		if m.ID == id {
			return m.Status == proto.StatusActive
		}
	}
	return false
}

// pushPeer sends one member what it lacks of the trunk binlog (30). The
// member's copy is never truncated: a binlog sets states, so lines it gets
// twice (all of them on first contact, or after a push whose answer was
// lost) change nothing, while a copy emptied and refilled would be missing
// lines if this storage died in between.
func (r *trunkRole) pushPeer(a *trunkAlloc, p *trunkPeer, retry bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !retry && time.Now().Before(p.retryAt) {
		return
	}
	r.pushLocked(a, p)
}

// pushPeerTo makes sure the member has need bytes of the binlog. A push
// that failed after since (another confirmation's, made while this one
// waited for the member) counts as this one's: a member that does not
// answer is not dialed once per waiting confirmation.
func (r *trunkRole) pushPeerTo(a *trunkAlloc, p *trunkPeer, need int64, since time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return errPeerGone
	case p.mark >= need:
		return nil
	case p.failedAt.After(since):
		return p.lastErr
	}
	if err := r.pushLocked(a, p); err != nil {
		return err
	}
	if p.mark < need {
		return fmt.Errorf("trunk binlog push: %d of %d bytes sent", p.mark, need)
	}
	return nil
}

// pushLocked sends what the member lacks; p.mu is held.
func (r *trunkRole) pushLocked(a *trunkAlloc, p *trunkPeer) error {
	s := r.s
	err := func() error {
		if p.c == nil {
			c, err := s.dialTrunkPeer(p.addr)
			if err != nil {
				return err
			}
			p.c = c
		}
		timeout := min(s.timeout, trunkPushTimeout)
		if p.mark < 0 {
			p.mark = 0
		}
		for {
			// A compaction rewrites the binlog: sent from its start then
			// (never from an offset of the old one, which would cut a
			// line), including when it happened during the read.
			ep := a.epochNow()
			if ep != p.epoch {
				p.mark, p.epoch = 0, ep
			}
			b, size, err := readTrunkBinlog(a.path, p.mark, 256<<10)
			if err != nil {
				return err
			}
			if a.epochNow() != ep {
				continue
			}
			if size < p.mark { // not expected: the binlog shrank without a compaction
				p.mark = 0
				continue
			}
			if len(b) == 0 {
				return nil
			}
			if _, err := peerCall(p.c, timeout, proto.CmdTrunkSyncBinlog, 0, b); err != nil {
				return err
			}
			p.mark += int64(len(b))
		}
	}()
	if err != nil {
		if p.c != nil {
			s.closeTracked(p.c)
			p.c = nil
		}
		if p.retryAt.IsZero() || time.Now().After(p.retryAt) {
			s.log.Warn().Err(err).Str("peer", p.id).Msg("trunk binlog push")
		}
		p.retryAt = time.Now().Add(trunkRetry)
		p.failedAt, p.lastErr = time.Now(), err
		return err
	}
	p.retryAt = time.Time{}
	return nil
}

// dialTrunkPeer is dialTracked with a connect timeout of at most
// trunkPushTimeout: a confirmation waits for it.
func (s *Storage) dialTrunkPeer(addr string) (net.Conn, error) {
	return s.dialTrackedWithin(addr, min(s.connTimeout, trunkPushTimeout))
}

// tick is the trunk server's periodic work, run from the reporters' loops:
// catch up members that missed pushes and compact the binlog now and then.
// (Allocations never confirmed are given up by the next allocation.)
func (r *trunkRole) tick(a *trunkAlloc) {
	r.mu.Lock()
	compact := time.Since(r.lastCompac) > time.Minute
	if compact {
		r.lastCompac = time.Now()
	}
	r.mu.Unlock()
	// Not while a confirmation waits for its line to reach the members
	// (tried again at the next tick).
	if compact && !r.confirming.TryLock() {
		r.mu.Lock()
		r.lastCompac = time.Time{}
		r.mu.Unlock()
		compact = false
	}
	if compact {
		defer r.confirming.Unlock()
		if done, err := a.compact(wallNow()); err != nil {
			r.s.log.Warn().Err(err).Msg("compact trunk binlog")
		} else if done {
			r.mu.Lock()
			for _, p := range r.peers {
				p.mu.Lock()
				p.mark = -1
				p.mu.Unlock()
			}
			r.mu.Unlock()
		}
	}
	r.advance(a, r.s.curParams().trunkAdvance, time.Now())
	// In the background: a member that does not answer must not hold up
	// the reporter's beats.
	if r.ticking.CompareAndSwap(false, true) {
		if !r.s.spawn(func() { defer r.ticking.Store(false); r.pushAll(a, true) }) {
			r.ticking.Store(false)
		}
	}
}

// advance creates trunk files ahead of need (trunk_create_file_advance):
// when the time comes (the time base, then every interval), until the free
// trunk space reaches the threshold, each in the store path with the least
// free trunk space. Uploads then do not wait for a trunk file to be made.
// It runs in the background, one run at a time.
func (r *trunkRole) advance(a *trunkAlloc, adv trunkAdvance, now time.Time) {
	if !adv.on {
		return
	}
	r.mu.Lock()
	if r.advanceFor != a {
		r.advanceFor, r.advanceNext = a, nextAdvance(now, adv)
	}
	due := !now.Before(r.advanceNext)
	r.mu.Unlock()
	if !due || !r.advancing.CompareAndSwap(false, true) {
		return
	}
	run := func() {
		defer r.advancing.Store(false)
		made, err := r.createAhead(a, adv)
		r.mu.Lock()
		if r.advanceFor == a {
			// Strictly after now: a run that ended within its own second
			// does not start again.
			r.advanceNext = nextAdvance(time.Now().Add(time.Millisecond), adv)
		}
		next := r.advanceNext
		r.mu.Unlock()
		ev := r.s.log.Info()
		if err != nil {
			ev = r.s.log.Warn().Err(err)
		}
		if made > 0 || err != nil {
			free, _ := a.stats()
			ev.Int("created", made).Int64("free_bytes", free).Time("next", next).Msg("trunk files created ahead")
		}
		if made > 0 {
			r.pushAll(a, false) // the new files' lines
		}
	}
	if !r.s.spawn(run) {
		r.advancing.Store(false)
	}
}

// createAhead creates trunk files until the free trunk space reaches the
// threshold, or the allocator is no longer ours.
func (r *trunkRole) createAhead(a *trunkAlloc, adv trunkAdvance) (int, error) {
	made := 0
	for {
		if r.allocator() != a {
			return made, nil
		}
		byPath := a.freeByPath()
		var free int64
		best := 0
		for i, f := range byPath {
			free += f
			if r.s.paths[i].readonly {
				continue
			}
			if r.s.paths[best].readonly || f < byPath[best] {
				best = i
			}
		}
		if free >= adv.threshold {
			return made, nil
		}
		if err := a.addFile(best, wallNow(), r.s.createTrunkFile); err != nil {
			return made, err
		}
		made++
	}
}

// nextAdvance is the first time at or after now of the form base + k ×
// interval (base: today's hour:min, local time; k any integer).
func nextAdvance(now time.Time, adv trunkAdvance) time.Time {
	base := time.Date(now.Year(), now.Month(), now.Day(), adv.hour, adv.min, 0, 0, now.Location())
	d := now.Sub(base)
	k := d / adv.interval
	if d > 0 && d%adv.interval != 0 {
		k++
	}
	if d < 0 {
		k = -((-d) / adv.interval) // base - k×interval still at or after now
	}
	return base.Add(k * adv.interval)
}

func init() {
	handlers[proto.CmdTrunkAllocSpace] = handler{buffered: true, fn: (*session).trunkAllocSpace}
	handlers[proto.CmdTrunkAllocConfirm] = handler{buffered: true, fn: (*session).trunkAllocConfirm}
	handlers[proto.CmdTrunkFreeSpace] = handler{buffered: true, fn: (*session).trunkFreeSpace}
	handlers[proto.CmdTrunkSyncBinlog] = handler{buffered: true, fn: (*session).trunkSyncBinlog}
	handlers[proto.CmdTrunkGetBinlogSize] = handler{buffered: true, fn: (*session).trunkGetBinlogSize}
	handlers[proto.CmdTrunkDeleteBinlogMarks] = handler{buffered: true, fn: (*session).trunkDeleteBinlogMarks}
	handlers[proto.CmdTrunkTruncateBinlog] = handler{buffered: true, fn: (*session).trunkTruncateBinlog}
}

// trunkServerAlloc returns the allocator, or EINVAL when this storage is not
// the trunk server (the writer then asks the trackers again).
func (sess *session) trunkServerAlloc(cmd byte, body []byte, want int) (*trunkAlloc, error) {
	if err := sess.requirePeer(cmd); err != nil {
		return nil, err
	}
	if len(body) != want {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk cmd %d: body %d bytes, want %d", cmd, len(body), want)
	}
	if err := sess.s.checkGroup(proto.Fixed(body[:proto.GroupNameLen])); err != nil {
		return nil, err
	}
	a := sess.s.trunk.allocator()
	if a == nil {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk cmd %d: not the trunk server", cmd)
	}
	return a, nil
}

// trunkAllocSpace serves TRUNK_ALLOC_SPACE (27): group, i32 size (the
// file's size plus the slot header, as FastDFS writers ask), u8 store path
// → TrunkInfo with the slot's size.
func (sess *session) trunkAllocSpace(h proto.Header, body []byte) (*reply, error) {
	a, err := sess.trunkServerAlloc(h.Cmd, body, proto.GroupNameLen+5)
	if err != nil {
		return nil, err
	}
	r := &proto.Reader{B: body[proto.GroupNameLen:]}
	need, path := int64(r.I32()), int(r.U8())
	if need < trunkHeaderLen {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk alloc: %d bytes, less than the slot header", need)
	}
	si, err := sess.s.trunkAllocLocal(a, need-trunkHeaderLen, path)
	if err != nil {
		return nil, err
	}
	return &reply{body: si.append(&proto.Buf{}).B}, nil
}

// trunkAllocLocal allocates on this trunk server. A slot whose header in
// this storage's copy shows a file (its confirmation never reached the
// binlog this allocator was rebuilt from) is skipped, and the file's whole
// slot (the alloc size of its header) marked used: its writer would find
// it taken (a C writer answers EEXIST) or write over the file, and the
// next slot would start inside it. Free space is cut at file boundaries,
// so the next allocation from there finds the next such file's header.
func (s *Storage) trunkAllocLocal(a *trunkAlloc, size int64, path int) (slotInfo, error) {
	for tries := 0; ; tries++ {
		// The lines of the split reach the members with the confirmation's.
		si, err := a.alloc(size, path, wallNow(), s.createTrunkFile)
		if err != nil {
			return si, err
		}
		h, busy, err := s.slotOccupied(s.trunkFilePath(si), si)
		if err != nil || !busy || int64(si.off)+int64(h.allocSize) > int64(a.cfg.fileSize) {
			return si, nil // the writer checks its own copy
		}
		s.log.Warn().Stringer("slot", si).Int32("alloc_size", h.allocSize).Int32("file_size", h.fileSize).
			Int32("mtime", h.mtime).Msg("trunk: free slot holds a file here; its slot marked used")
		if err := a.skipOccupied(si, h.allocSize, wallNow()); err != nil {
			return slotInfo{}, err
		}
		used := si
		used.size = h.allocSize
		if err := a.markUsed(used, wallNow()); err != nil { // a file beyond the rest of the block
			return slotInfo{}, err
		}
		if tries == trunkOccupiedTries*8 {
			// The next allocation goes on from here.
			return slotInfo{}, proto.Errf(proto.StatusEBUSY, "trunk alloc: %d free slots in a row hold files here", tries+1)
		}
	}
}

// trunkFreeLocal frees a slot on this trunk server.
func (s *Storage) trunkFreeLocal(a *trunkAlloc, si slotInfo) error {
	if err := a.free(si, wallNow()); err != nil {
		return err
	}
	s.trunk.pushAll(a, false)
	return nil
}

// trunkConfirmLocal confirms on this trunk server and waits until the
// binlog line reached the members that are up, so that a trunk server
// elected after this one crashed knows the slot is used.
//
// The confirmation fails when an ACTIVE member cannot be brought up to
// date within trunkConfirmWait; its line stays in the binlog (the slot is
// used, the writer does not acknowledge the file, the trunk check frees
// the slot).
func (s *Storage) trunkConfirmLocal(a *trunkAlloc, si slotInfo, ok bool) error {
	if !ok {
		return a.confirm(si, false, wallNow())
	}
	s.trunk.confirming.RLock()
	defer s.trunk.confirming.RUnlock()
	if err := a.confirm(si, true, wallNow()); err != nil {
		return err
	}
	if err := s.trunk.pushConfirmed(a, a.size()); err != nil {
		s.log.Warn().Err(err).Stringer("slot", si).Msg("trunk confirm: binlog not on every ACTIVE member")
		return err
	}
	return nil
}

// trunkAllocConfirm serves TRUNK_ALLOC_CONFIRM (28): the header status is
// the writer's result.
func (sess *session) trunkAllocConfirm(h proto.Header, body []byte) (*reply, error) {
	a, err := sess.trunkServerAlloc(h.Cmd, body, proto.GroupNameLen+slotInfoLen)
	if err != nil {
		return nil, err
	}
	si := decodeSlotInfo(body[proto.GroupNameLen:])
	return nil, sess.s.trunkConfirmLocal(a, si, h.Status == 0)
}

// trunkFreeSpace serves TRUNK_FREE_SPACE (29).
func (sess *session) trunkFreeSpace(h proto.Header, body []byte) (*reply, error) {
	a, err := sess.trunkServerAlloc(h.Cmd, body, proto.GroupNameLen+slotInfoLen)
	if err != nil {
		return nil, err
	}
	si := decodeSlotInfo(body[proto.GroupNameLen:])
	return nil, sess.s.trunkFreeLocal(a, si)
}

// trunkSyncBinlog serves TRUNK_SYNC_BINLOG (30): whole lines of the trunk
// server's binlog, appended to our copy.
func (sess *session) trunkSyncBinlog(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if s.trunk.allocator() != nil {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk sync binlog: this storage is the trunk server")
	}
	if len(body) == 0 {
		return nil, nil
	}
	path := trunkBinlogPath(s.dataDir)
	if err := os.MkdirAll(s.dataDir+"/trunk", 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("trunk binlog: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(body); err != nil {
		return nil, fmt.Errorf("trunk binlog: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("trunk binlog: %w", err)
	}
	return nil, nil
}

// trunkGetBinlogSize serves TRUNK_GET_BINLOG_SIZE (31).
func (sess *session) trunkGetBinlogSize(h proto.Header, body []byte) (*reply, error) {
	if len(body) != 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk get binlog size: body %d bytes", len(body))
	}
	var n int64
	if fi, err := os.Stat(trunkBinlogPath(sess.s.dataDir)); err == nil {
		n = fi.Size()
	}
	return &reply{body: (&proto.Buf{}).I64(n).B}, nil
}

// trunkDeleteBinlogMarks serves TRUNK_DELETE_BINLOG_MARKS (32): push
// positions are kept in memory only, so a new trunk server starts every
// member over anyway.
func (sess *session) trunkDeleteBinlogMarks(h proto.Header, body []byte) (*reply, error) {
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) != 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk delete binlog marks: body %d bytes", len(body))
	}
	return nil, nil
}

// trunkTruncateBinlog serves TRUNK_TRUNCATE_BINLOG_FILE (33): the trunk
// server is about to send its binlog from the start.
func (sess *session) trunkTruncateBinlog(h proto.Header, body []byte) (*reply, error) {
	s := sess.s
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) != 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk truncate binlog: body %d bytes", len(body))
	}
	if s.trunk.allocator() != nil {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk truncate binlog: this storage is the trunk server")
	}
	if err := os.Truncate(trunkBinlogPath(s.dataDir), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("trunk truncate binlog: %w", err)
	}
	return nil, nil
}

// reporterTrunk is what a reporter last told its tracker about trunk space.
type reporterTrunk struct {
	gen    int // trunk role generation the values belong to
	fid    int32
	freeMB int64
}

// trunkTick runs in a reporter's loop: as trunk server, learn the group's
// last trunk file ID once (FETCH_TRUNK_FID, 72) and report the last ID and
// the free trunk space when they change (73, 74, §4.7).
func (r *reporter) trunkTick() error {
	t := r.s.trunk
	t.mu.Lock()
	a, gen := t.alloc, t.gen
	t.mu.Unlock()
	if a == nil {
		r.trunk.gen = gen
		return nil
	}
	if r.trunk.gen != gen {
		resp, err := r.call(proto.CmdStorageFetchTrunkFID, nil, 4)
		if err != nil && !isStatus(err) {
			return fmt.Errorf("fetch trunk fid: %w", err)
		}
		if err == nil && len(resp) == 4 {
			a.raiseNextID(proto.I32(resp))
		}
		r.trunk = reporterTrunk{gen: gen, fid: -1, freeMB: -1}
	}
	t.tick(a)
	free, fid := a.stats()
	if fid != r.trunk.fid {
		if _, err := r.call(proto.CmdStorageReportTrunkFID, (&proto.Buf{}).I32(fid).B, 0); err != nil && !isStatus(err) {
			return fmt.Errorf("report trunk fid: %w", err)
		}
		r.trunk.fid = fid
	}
	if mb := free >> 20; mb != r.trunk.freeMB {
		if _, err := r.call(proto.CmdStorageReportTrunkFree, (&proto.Buf{}).I64(mb).B, 0); err != nil && !isStatus(err) {
			return fmt.Errorf("report trunk free: %w", err)
		}
		r.trunk.freeMB = mb
	}
	return nil
}
