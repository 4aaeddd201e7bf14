package storage

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	binlogfmt "yunpan/dfs/binlog"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// The trunk check (CmdTrunkCheck): a trunk server compares the space its
// trunk binlog marks used with the trunk-resident files its own binlog says
// exist in the group (created here or received from a member, not deleted)
// and frees what no file covers. Only space marked used longer than the
// grace ago is freed, and only when asked: a file written on a member
// reaches this storage's binlog through the sync, later.

func init() {
	handlers[proto.CmdTrunkCheck] = handler{buffered: true, fn: (*session).trunkCheck}
}

// trunkCheckReport is what a check found (and freed).
type trunkCheckReport struct {
	usedBytes, liveFiles    int64
	unrefBytes, unrefRanges int64
	youngBytes              int64
	freedBytes, freedRanges int64
	repair                  bool
	graceSeconds            int64
}

func (r trunkCheckReport) String() string {
	return fmt.Sprintf("used_bytes=%d\nlive_files=%d\nunreferenced_bytes=%d\nunreferenced_ranges=%d\nrecent_unreferenced_bytes=%d\nfreed_bytes=%d\nfreed_ranges=%d\nrepair=%v\ngrace_seconds=%d\n",
		r.usedBytes, r.liveFiles, r.unrefBytes, r.unrefRanges, r.youngBytes, r.freedBytes, r.freedRanges, r.repair, r.graceSeconds)
}

func (sess *session) trunkCheck(h proto.Header, body []byte) (*reply, error) {
	if err := sess.requirePeer(h.Cmd); err != nil {
		return nil, err
	}
	if len(body) != 9 {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk check: body %d bytes, want 9", len(body))
	}
	grace := proto.I64(body[1:])
	if grace < 0 {
		return nil, proto.Errf(proto.StatusEINVAL, "trunk check: negative grace %d", grace)
	}
	rep, err := sess.s.checkTrunk(time.Duration(grace)*time.Second, body[0] != 0)
	if err != nil {
		return nil, err
	}
	return &reply{body: []byte(rep.String())}, nil
}

// checkTrunk runs the check on this trunk server.
func (s *Storage) checkTrunk(grace time.Duration, repair bool) (trunkCheckReport, error) {
	rep := trunkCheckReport{repair: repair, graceSeconds: int64(grace / time.Second)}
	a := s.trunk.allocator()
	if a == nil {
		return rep, proto.Errf(proto.StatusEINVAL, "trunk check: not the trunk server")
	}
	now := wallNow()
	// Space marked used before the live set is read: a file confirmed
	// after that may not be in the binlog read below.
	notAfter := now.Add(-grace).Unix()
	s.binlog.Flush()
	live, n, err := liveTrunkSlots(filepath.Join(s.dataDir, "sync"))
	if err != nil {
		return rep, fmt.Errorf("trunk check: %w", err)
	}
	rep.liveFiles = n
	for _, u := range a.used() {
		rep.usedBytes += int64(u.size)
	}
	old, young := a.unreferenced(live, notAfter)
	rep.youngBytes = young
	for _, g := range old {
		rep.unrefBytes += int64(g.size)
		rep.unrefRanges++
		if !repair {
			continue
		}
		if err := s.trunkFreeLocal(a, g); err != nil {
			return rep, fmt.Errorf("trunk check: free %v: %w", g, err)
		}
		rep.freedBytes += int64(g.size)
		rep.freedRanges++
		s.log.Info().Stringer("slot", g).Msg("trunk check: unreferenced space freed")
	}
	return rep, nil
}

// liveTrunkSlots replays the binlogs under syncDir and returns the slots of
// the trunk-resident files that exist by them, per trunk ID, and how many
// there are.
func liveTrunkSlots(syncDir string) (map[int32][]extent, int64, error) {
	names, err := liveTrunkNames(syncDir)
	if err != nil {
		return nil, 0, err
	}
	out := map[int32][]extent{}
	var n int64
	for _, name := range names {
		_, t, err := fileid.ParseTrunk(name)
		if err != nil {
			continue
		}
		out[t.TrunkID] = append(out[t.TrunkID], extent{t.Offset, t.SlotSize})
		n++
	}
	return out, n, nil
}

// liveTrunkNames replays the binlogs under syncDir and returns the names
// of the trunk-resident files that exist by them, sorted.
func liveTrunkNames(syncDir string) ([]string, error) {
	files, err := binlogfmt.Files(syncDir)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, name := range files {
		err := binlogfmt.ReadFile(filepath.Join(syncDir, name), func(line string, complete bool) {
			if !complete {
				return
			}
			r, err := binlogfmt.Parse(line)
			if err != nil || len(r.Name) != fileid.TrunkRemoteLen {
				return
			}
			switch r.Op {
			case binlogfmt.OpCreate, binlogfmt.OpCreate + 'a' - 'A':
				live[r.Name] = true
			case binlogfmt.OpDelete, binlogfmt.OpDelete + 'a' - 'A':
				delete(live, r.Name)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	var out []string
	for name := range live {
		if !strings.HasSuffix(name, binlogfmt.MetaSuffix) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}
