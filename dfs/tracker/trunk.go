package tracker

import (
	"context"
	"maps"
	"net"
	"strconv"
	"time"

	"yunpan/dfs/proto"
)

// Trunk servers (docs/protocol.md §2.6, §4.4, §4.7, §5.8): with
// use_trunk_file the leader keeps one ACTIVE writable storage per group as
// the group's trunk server, the one that hands out trunk slots. Storages
// learn the choice from the TRUNK_SERVER section of beat answers (trunkChg),
// followers from PING_LEADER answers.

// trunkLoop re-elects the trunk server of every group whose trunk server is
// missing or no longer ACTIVE, once per tick, while this tracker leads.
func (t *Tracker) trunkLoop() {
	if !t.opts.UseTrunkFile {
		return
	}
	tk := time.NewTicker(trunkElectTick)
	defer tk.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-t.exitCh
		cancel()
	}()
	lost := map[string]*trunkLoss{}
	for {
		select {
		case <-t.exitCh:
			return
		case <-tk.C:
		}
		t.electTrunkServers(ctx, lost, time.Now())
	}
}

// After a trunk server is lost, the next one is elected only once
// trunkSettle has passed and its candidates' trunk binlog sizes have not
// changed for trunkStable. A C storage answers TRUNK_SYNC_BINLOG before
// the lines are in its file (they reach it with its next binlog flush,
// sync_binlog_buff_interval, 1 s in FastDFS's sample storage.conf), and a
// C storage made trunk server at once loaded its free space from the
// file without the last confirmations, handing out slots of acknowledged
// files again (its writer then answered EEXIST). The dead trunk server
// sends nothing more, so the copies only grow by those flushes.
// A candidate that does not answer keeps its last size; past
// trunkSettleMax the election goes ahead anyway (a candidate's size that
// keeps changing would otherwise leave the group without a trunk server).
const (
	trunkSettle    = 2 * time.Second
	trunkStable    = time.Second
	trunkSettleMax = 30 * time.Second
)

// trunkLoss is a group whose trunk server was lost: since when, and its
// candidates' binlog sizes as last asked.
type trunkLoss struct {
	at, changed time.Time
	sizes       map[string]int64
}

// trunkElectTick is how often the leader looks for groups without a trunk
// server.
const trunkElectTick = 500 * time.Millisecond

// trunkCandidate is a storage that may become its group's trunk server.
type trunkCandidate struct {
	id, addr string
	binlog   int64 // its trunk binlog size; -1 when it could not tell
}

// electTrunkServers drops trunk servers that are no longer ACTIVE and
// elects new ones. Among the writable ACTIVE members the one with the
// largest trunk binlog wins (it has seen the most of the group's slot
// history; the binlog sizes are asked without holding the lock).
func (t *Tracker) electTrunkServers(ctx context.Context, lost map[string]*trunkLoss, now time.Time) {
	t.mu.Lock()
	if !t.isLeader() {
		t.mu.Unlock()
		return
	}
	need := map[string][]trunkCandidate{}
	for _, g := range t.reg.groups {
		if ts := g.find(g.TrunkServer); ts != nil && ts.Status == proto.StatusActive {
			delete(lost, g.Name)
			continue
		}
		if g.TrunkServer != "" {
			t.log.Warn().Str("group", g.Name).Str("storage", g.TrunkServer).Msg("trunk server not active: electing another")
			t.setTrunkServer(g, "")
			lost[g.Name] = &trunkLoss{at: now, changed: now}
		}
		for _, s := range g.writable {
			need[g.Name] = append(need[g.Name], trunkCandidate{id: s.ID, addr: net.JoinHostPort(s.IP, strconv.Itoa(s.Port))})
		}
	}
	t.mu.Unlock()
	for name, cands := range need {
		best := -1
		sizes := map[string]int64{}
		for i := range cands {
			cands[i].binlog = t.trunkBinlogSize(ctx, cands[i].addr)
			sizes[cands[i].id] = cands[i].binlog
			if best < 0 || cands[i].binlog > cands[best].binlog {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		if l := lost[name]; l != nil {
			for id, n := range sizes {
				if old, ok := l.sizes[id]; ok && n < 0 {
					sizes[id] = old
				}
			}
			if !maps.Equal(l.sizes, sizes) {
				l.sizes, l.changed = sizes, now
			}
			if since := now.Sub(l.at); since < trunkSettleMax && (since < trunkSettle || now.Sub(l.changed) < trunkStable) {
				continue // the candidates' copies may still grow
			}
		}
		t.mu.Lock()
		g := t.reg.group(name)
		if g != nil && t.isLeader() {
			ts := g.find(g.TrunkServer)
			if s := g.find(cands[best].id); (ts == nil || ts.Status != proto.StatusActive) && s != nil && g.isWritable(s) {
				t.setTrunkServer(g, s.ID)
				delete(lost, name)
				t.log.Info().Str("group", g.Name).Str("storage", s.ID).Int64("trunk_binlog", cands[best].binlog).Msg("trunk server elected")
			}
		}
		t.mu.Unlock()
	}
}

// setTrunkServer records a new trunk server (or none) for g; the next
// beat answer on every connection of the group carries it.
func (t *Tracker) setTrunkServer(g *group, id string) {
	if g.TrunkServer == id {
		return
	}
	g.TrunkServer = id
	g.trunkChg++
	t.reg.dirty = true
}

// trunkBinlogSize asks a storage TRUNK_GET_BINLOG_SIZE (31); -1 when it
// does not answer.
func (t *Tracker) trunkBinlogSize(ctx context.Context, addr string) int64 {
	ctx, cancel := context.WithTimeout(ctx, min(t.opts.NetworkTimeout, 3*time.Second))
	defer cancel()
	d := net.Dialer{Timeout: min(t.opts.ConnectTimeout, 2*time.Second)}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return -1
	}
	defer c.Close()
	b, err := t.peerCall(ctx, c, proto.CmdTrunkGetBinlogSize, nil, 8)
	if err != nil || len(b) != 8 {
		t.log.Debug().Err(err).Str("storage", addr).Msg("trunk binlog size")
		return -1
	}
	c.SetDeadline(time.Now().Add(time.Second))
	proto.WritePacket(c, proto.CmdQuit, 0, nil)
	return proto.I64(b)
}

// cmdSetTrunkServer answers 94 (§2.6).
func (t *Tracker) cmdSetTrunkServer(sess *session, body []byte) ([]byte, error) {
	if len(body) < proto.GroupNameLen || len(body) >= proto.GroupNameLen+proto.StorageIDLen {
		return nil, badLen("set trunk server", len(body), "16..31")
	}
	if !t.opts.UseTrunkFile || !t.isLeader() {
		return nil, proto.Errf(proto.StatusEOPNOTSUPP, "set trunk server: not the leader or trunk files off")
	}
	name := proto.Fixed(body[:proto.GroupNameLen])
	g := t.reg.group(name)
	if g == nil {
		return nil, proto.Errf(proto.StatusENOENT, "set trunk server: group %q not found", name)
	}
	cur := g.find(g.TrunkServer)
	curActive := cur != nil && cur.Status == proto.StatusActive
	id := proto.Fixed(body[proto.GroupNameLen:])
	if id == "" {
		if !curActive {
			if len(g.writable) == 0 {
				return nil, proto.Errf(proto.StatusENOENT, "set trunk server: group %s has no writable active storage", name)
			}
			t.setTrunkServer(g, g.writable[0].ID)
		}
		return append([]byte(g.TrunkServer), 0), nil
	}
	if curActive {
		if cur.ID == id {
			return nil, proto.Errf(proto.StatusEALREADY, "set trunk server: %s already is", id)
		}
		return nil, proto.Errf(proto.StatusEEXIST, "set trunk server: %s is the active trunk server", cur.ID)
	}
	s := g.find(id)
	switch {
	case s == nil:
		return nil, proto.Errf(proto.StatusENOENT, "set trunk server: %q not in group %s", id, name)
	case s.Status != proto.StatusActive:
		return nil, proto.Errf(proto.StatusENONET, "set trunk server: %s is %s", id, proto.StorageStatusName(s.Status))
	case !g.isWritable(s):
		return nil, proto.Errf(proto.StatusEACCES, "set trunk server: %s is not writable", id)
	}
	t.setTrunkServer(g, id)
	t.log.Info().Str("group", g.Name).Str("storage", id).Msg("trunk server set")
	return append([]byte(id), 0), nil
}

// trunkReporter returns the group of a trunk report's sender, which must
// be its group's trunk server (§4.7).
func (t *Tracker) trunkReporter(sess *session, cmd string) (*group, error) {
	g, s, err := t.joined(sess, cmd)
	if err != nil {
		return nil, err
	}
	if g.TrunkServer != s.ID {
		return nil, proto.Errf(proto.StatusEINVAL, "%s: %s is not the trunk server of %s", cmd, s.ID, g.Name)
	}
	return g, nil
}

// cmdReportTrunkFID answers 73 (§4.7).
func (t *Tracker) cmdReportTrunkFID(sess *session, body []byte) ([]byte, error) {
	if len(body) != 4 {
		return nil, badLen("report trunk fid", len(body), "4")
	}
	g, err := t.trunkReporter(sess, "report trunk fid")
	if err != nil {
		return nil, err
	}
	if id := int64(proto.I32(body)); id != g.CurrentTrunkFileID {
		g.CurrentTrunkFileID = id
		t.reg.dirty = true
	}
	return nil, nil
}

// cmdReportTrunkFree answers 74 (§4.7).
func (t *Tracker) cmdReportTrunkFree(sess *session, body []byte) ([]byte, error) {
	if len(body) != 8 {
		return nil, badLen("report trunk free", len(body), "8")
	}
	g, err := t.trunkReporter(sess, "report trunk free")
	if err != nil {
		return nil, err
	}
	g.TrunkFreeMB = max(proto.I64(body), 0)
	return nil, nil
}

// cmdFetchTrunkFID answers 72 (§4.7): the group's last trunk file ID, so a
// newly elected trunk server never reuses one.
func (t *Tracker) cmdFetchTrunkFID(sess *session, body []byte) ([]byte, error) {
	if len(body) != 0 {
		return nil, badLen("fetch trunk fid", len(body), "0")
	}
	g, _, err := t.joined(sess, "fetch trunk fid")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	proto.PutI32(b, int32(max(g.CurrentTrunkFileID, 0)))
	return b, nil
}
