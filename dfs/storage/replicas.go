package storage

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"yunpan/dfs/proto"
)

// sync_ack_replicas (storage.conf, yunpan's durability option beyond
// FastDFS; conf.Cluster): with N > 1 an upload is acknowledged only once its
// file is on N storages of the group. Right after the file is stored here
// (and its C record written), it is pushed with SYNC_CREATE_FILE to every
// ACTIVE peer in the leader's group list, in parallel, each bounded by
// network_timeout; the answer waits for N−1 confirmations (success or
// EEXIST). With fewer than N−1 ACTIVE peers, or fewer confirmations, the
// upload fails with EAGAIN and the local copy is deleted (a D record follows
// the C record, so copies that did arrive are removed by the normal sync):
// nothing is acknowledged on fewer than N storages.
//
// Cost: each upload's latency grows by one peer transfer (the slowest of the
// N−1 fastest peers), the receiving storage sends (number of ACTIVE peers)×
// the file size at once instead of spreading it over time, and uploads stop
// while fewer than N−1 peers are ACTIVE (availability traded for
// durability). The asynchronous sync skips the records these pushes already
// delivered. N = 1 (default) is FastDFS's behaviour. Only uploads (cmd 11
// and 23) are covered; metadata and appender changes replicate
// asynchronously as in FastDFS.

// ackPool keeps idle connections to peers for these pushes.
type ackPool struct {
	mu   sync.Mutex
	idle map[string][]pooledConn
}

type pooledConn struct {
	c  net.Conn
	at time.Time
}

const (
	ackIdlePerPeer = 8       // idle connections kept per peer
	maxAcked       = 1 << 16 // remembered pushes per peer (so the async sync skips them)
)

// ackReplicas is the upload hook: push remote to N−1 peers before the
// answer, or undo the upload.
func (r *replication) ackReplicas(remote string) error {
	if r.ackN <= 1 {
		return nil
	}
	s := r.s
	_, path, err := s.parseRemote(remote)
	if err != nil {
		return err
	}
	var ts int64
	if ref, ok, err := s.trunkRefOf(remote); ok {
		if err != nil {
			return err
		}
		if _, ts, err = s.slotStat(ref); err != nil {
			return err
		}
	} else {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		ts = fi.ModTime().Unix()
	}
	need := r.ackN - 1
	var targets []proto.StorageBrief
	for _, b := range r.peers() {
		if b.Status == proto.StatusActive && b.Port > 0 {
			targets = append(targets, b)
		}
	}
	results := make(chan error, len(targets))
	started := 0
	if len(targets) >= need {
		for _, b := range targets {
			st := r.beginAck(b.ID, remote)
			if !s.spawn(func() {
				err := r.pushReplica(b, remote, path, ts)
				r.endAck(b.ID, remote, st, err == nil)
				results <- err
			}) {
				r.endAck(b.ID, remote, st, false)
				break
			}
			started++
		}
	}
	ok, failed := 0, 0
	var lastErr error
	for ok < need && ok+failed < started {
		if err := <-results; err != nil {
			failed++
			lastErr = err
		} else {
			ok++
		}
	}
	if ok >= need {
		return nil
	}
	r.undoUpload(remote, path)
	r.log.Warn().Err(lastErr).Str("file", remote).Int("confirmed", ok).Int("needed", need).
		Int("active_peers", len(targets)).Msg("sync_ack_replicas not reached, upload undone")
	return proto.Errf(proto.StatusEAGAIN, "sync_ack_replicas=%d: %d of %d copies confirmed (%d ACTIVE peers; last error: %v)",
		r.ackN, ok+1, r.ackN, len(targets), lastErr)
}

// undoUpload deletes a file that could not get its copies and logs D so
// copies that did arrive are deleted by the sync too.
func (r *replication) undoUpload(remote, path string) {
	s := r.s
	mu := s.fileLock(remote)
	mu.Lock()
	defer mu.Unlock()
	if err := os.Remove(path); err != nil {
		r.log.Error().Err(err).Str("file", remote).Msg("undo upload")
		return
	}
	s.binlog.Write(wallNow().Unix(), opDelete, remote, "")
}

// pushReplica sends one file to one peer on a pooled connection (a stale
// pooled connection is retried once on a fresh one).
func (r *replication) pushReplica(b proto.StorageBrief, remote, path string, ts int64) error {
	addr := net.JoinHostPort(b.IP, strconv.Itoa(int(b.Port)))
	for try := 0; ; try++ {
		c, pooled, err := r.ackGet(addr)
		if err != nil {
			return fmt.Errorf("push copy to %s: %w", addr, err)
		}
		st, err := r.sendCopy(c, remote, path, ts)
		if err != nil {
			r.s.closeTracked(c)
			if pooled && try == 0 {
				continue
			}
			return fmt.Errorf("push copy to %s: %w", addr, err)
		}
		r.ackPut(addr, c)
		if st != 0 && st != proto.StatusEEXIST {
			return fmt.Errorf("push copy to %s: %w", addr, proto.StatusError(st))
		}
		return nil
	}
}

func (r *replication) sendCopy(c net.Conn, remote, path string, ts int64) (byte, error) {
	if ref, ok, err := r.s.trunkRefOf(remote); ok {
		if err != nil {
			return 0, err
		}
		f, h, err := r.s.openSlot(ref)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		size := int64(h.fileSize)
		body := (&proto.Buf{}).I64(int64(len(remote))).I64(size).I32(int32(ts)).
			Fixed(r.s.group, proto.GroupNameLen).String(remote).B
		return peerSend(c, r.s.timeout, proto.CmdSyncCreateFile, 0, body, f, int64(ref.slot.off)+trunkHeaderLen, size)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	body := (&proto.Buf{}).I64(int64(len(remote))).I64(fi.Size()).I32(int32(ts)).
		Fixed(r.s.group, proto.GroupNameLen).String(remote).B
	st, err := peerSend(c, r.s.timeout, proto.CmdSyncCreateFile, 0, body, f, 0, fi.Size())
	if err == nil && (st == 0 || st == proto.StatusEEXIST) {
		r.s.stats.add(proto.StatTotalSyncOutBytes, fi.Size())
		r.s.stats.add(proto.StatSuccessSyncOutBytes, fi.Size())
	}
	return st, err
}

// ackGet returns an idle connection to addr or a new one (authenticated,
// without REPORT_SERVER_ID: what arrives on it must not move the peer's
// last_synced_timestamp for this storage, which only the ordered binlog
// sync may do).
func (r *replication) ackGet(addr string) (net.Conn, bool, error) {
	p := &r.acks
	p.mu.Lock()
	for q := p.idle[addr]; len(q) > 0; q = p.idle[addr] {
		pc := q[len(q)-1]
		p.idle[addr] = q[:len(q)-1]
		if r.ackFresh(pc) {
			p.mu.Unlock()
			return pc.c, true, nil
		}
		r.s.closeTracked(pc.c)
	}
	p.mu.Unlock()
	c, err := r.s.dialTracked(addr)
	return c, false, err
}

func (r *replication) ackPut(addr string, c net.Conn) {
	p := &r.acks
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[addr]) >= ackIdlePerPeer || r.s.isExiting() {
		r.s.closeTracked(c)
		return
	}
	p.idle[addr] = append(p.idle[addr], pooledConn{c: c, at: time.Now()})
}

// ackFresh reports whether an idle pooled connection is still worth using:
// the peer drops idle connections after its network_timeout.
func (r *replication) ackFresh(pc pooledConn) bool { return time.Since(pc.at) < r.s.timeout/2 }

// pruneAcks closes idle pooled connections old enough for the peer to have
// dropped them (it closes idle connections after its network_timeout), so
// they do not linger half-closed while no upload needs them.
func (r *replication) pruneAcks() {
	p := &r.acks
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, q := range p.idle {
		keep := q[:0]
		for _, pc := range q {
			if r.ackFresh(pc) {
				keep = append(keep, pc)
			} else {
				r.s.closeTracked(pc.c)
			}
		}
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = keep
		}
	}
}

// ackState is one copy pushed (or being pushed) by sync_ack_replicas, so
// the peer's sync goroutine does not send the file a second time: it waits
// for a push in progress and skips the record when the push succeeded.
type ackState struct {
	done chan struct{}
	ok   bool
}

// beginAck registers a push of remote to peer; nil when the (bounded)
// table is full, in which case the sync may simply send it again (EEXIST).
func (r *replication) beginAck(peer, remote string) *ackState {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.acked[peer]
	if m == nil {
		m = map[string]*ackState{}
		r.acked[peer] = m
	}
	if len(m) >= maxAcked {
		return nil
	}
	st := &ackState{done: make(chan struct{})}
	m[remote] = st
	return st
}

// endAck records the outcome; a failed push is forgotten.
func (r *replication) endAck(peer, remote string, st *ackState, ok bool) {
	if st == nil {
		return
	}
	r.mu.Lock()
	st.ok = ok
	if !ok && r.acked[peer][remote] == st {
		delete(r.acked[peer], remote)
	}
	r.mu.Unlock()
	close(st.done)
}

// takeAcked reports (and forgets) whether peer already got remote from a
// sync_ack_replicas push, waiting for one in progress. An entry the sync
// passed before it was added stays; names are unique, so it can only skip
// a push the peer confirmed.
func (r *replication) takeAcked(peer, remote string) bool {
	r.mu.Lock()
	st := r.acked[peer][remote]
	r.mu.Unlock()
	if st == nil {
		return false
	}
	select {
	case <-st.done:
	case <-r.s.exitCh:
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.ok && r.acked[peer][remote] == st {
		delete(r.acked[peer], remote)
		return true
	}
	return false
}
