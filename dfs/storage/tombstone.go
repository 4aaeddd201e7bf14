package storage

import (
	"bufio"
	"bytes"
	"errors"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	binlogfmt "yunpan/dfs/binlog"
	"yunpan/dfs/fileid"
)

// Tombstones: the names this storage deleted (or renamed away) lately, so that
// a peer replaying records it had pushed before its crash cannot bring those
// files back. Why, which records, and how long: docs/protocol.md §12.3.
var (
	tombstoneKeep = 7 * 24 * time.Hour
	tombstoneMax  = 1 << 18
)

// tombstones is the set, filled from the binlog at start-up (loadTombstones)
// and by every record the binlog writes (note).
type tombstones struct {
	mu   sync.Mutex
	keep int64 // seconds
	max  int
	m    map[tombKey]int64 // name → time of its latest delete (binlog timestamp)
	// ring holds the additions in order, for eviction: n of them from
	// head, wrapping. It grows by doubling up to max and no further, so the
	// set's memory stays near 2^18 × (8 + 16) bytes plus the map's.
	ring []tombEntry
	head int
	n    int
}

// tombKey stands for a name: 64 bits of hash instead of the name itself,
// whose bytes (44 to 60 and more) would be most of the set's memory at its
// 2^18 names. Two names of one key (a chance of about 2^18 / 2^64 for a
// name looked up) would share their tombstone.
type tombKey uint64

var tombSeed = maphash.MakeSeed()

func tombKeyOf(name string) tombKey { return tombKey(maphash.String(tombSeed, name)) }

type tombEntry struct {
	key tombKey
	ts  int64
}

func newTombstones(keep time.Duration, max int) *tombstones {
	return &tombstones{keep: int64(keep / time.Second), max: max, m: map[tombKey]int64{}}
}

// note takes one binlog record: a delete (D/d) removes its name, a rename
// (R/r: "<new> <old>") its old name.
func (t *tombstones) note(ts int64, op byte, name, extra string) {
	switch op {
	case opDelete, 'd':
		t.add(name, ts)
	case opRename, 'r':
		t.add(strings.TrimSpace(extra), ts)
	}
}

func (t *tombstones) add(name string, ts int64) {
	if t == nil || name == "" {
		return
	}
	now := wallNow().Unix()
	if ts < now-t.keep {
		return
	}
	k := tombKeyOf(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[k]; ok && old >= ts {
		return
	}
	t.m[k] = ts
	if t.n == t.max {
		t.popLocked() // the oldest addition beyond max
	}
	if t.n == len(t.ring) {
		grown := make([]tombEntry, min(max(2*len(t.ring), 1024), t.max))
		for i := range t.n {
			grown[i] = t.ring[(t.head+i)%len(t.ring)]
		}
		t.ring, t.head = grown, 0
	}
	t.ring[(t.head+t.n)%len(t.ring)] = tombEntry{k, ts}
	t.n++
	t.evictLocked(now)
}

// popLocked drops the oldest addition, and its name unless a later delete
// superseded it.
func (t *tombstones) popLocked() {
	e := t.ring[t.head]
	if t.m[e.key] == e.ts {
		delete(t.m, e.key)
	}
	t.ring[t.head] = tombEntry{}
	t.head = (t.head + 1) % len(t.ring)
	t.n--
}

// evictLocked drops the additions older than keep from the front (the
// binlog is nearly in time order; a straggler further back goes when it
// reaches the front or by count).
func (t *tombstones) evictLocked(now int64) {
	for t.n > 0 && t.ring[t.head].ts < now-t.keep {
		t.popLocked()
	}
}

// len is the number of names held.
func (t *tombstones) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// covers reports whether a delete of name at ts is already remembered: a
// unique name deleted lately at all, another name deleted at ts or later.
func (t *tombstones) covers(name string, ts int64) bool {
	if t == nil {
		return false
	}
	k := tombKeyOf(name)
	t.mu.Lock()
	dt, ok := t.m[k]
	t.mu.Unlock()
	return ok && (dt >= ts || uniqueName(name))
}

// resurrects reports whether a sync record that creates name, made on its
// source at ts, would only bring back a file deleted here (rules above).
func (t *tombstones) resurrects(name string, ts int64) bool {
	if t == nil {
		return false
	}
	base := strings.TrimSuffix(name, metaSuffix)
	kb, kn := tombKeyOf(base), tombKeyOf(name)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[kb]; ok && uniqueName(base) {
		return true
	}
	dt, ok := t.m[kn]
	return ok && ts < dt
}

// uniqueName reports whether a logic filename is one the storages never
// issue twice: a normal (44 characters) or trunk (60, trunk flag) name, by
// the length rule of §6.7. Slave names repeat when uploaded again.
func uniqueName(remote string) bool {
	info, _, err := fileid.Decode(remote)
	if err != nil {
		return false
	}
	return len(remote) == fileid.NormalRemoteLen || len(remote) == fileid.TrunkRemoteLen && info.IsTrunk()
}

// loadTombstones reads the deletes and renames of the binlog files
// binlog.000 … binlog.<last> that were written to within tombstoneKeep.
// It never fails: an unreadable file only means fewer tombstones (logged).
func loadTombstones(dir string, last int, log zerolog.Logger) *tombstones {
	t := newTombstones(tombstoneKeep, tombstoneMax)
	since := time.Now().Add(-tombstoneKeep)
	t0 := time.Now()
	for i := 0; i <= last; i++ {
		p := filepath.Join(dir, binlogName(i))
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.ModTime().Before(since) {
			continue // compressed away, or nothing recent in it
		}
		if err == nil {
			err = t.loadFile(p)
		}
		if err != nil {
			log.Warn().Err(err).Str("binlog", p).Msg("tombstones: binlog not read")
		}
	}
	log.Info().Int("tombstones", t.len()).Dur("took", time.Since(t0)).Msg("deleted files loaded from the binlog")
	return t
}

func (t *tombstones) loadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := sc.Bytes()
		// Parse only what can matter: "<ts> <op> …" with op D, d, R or r.
		i := bytes.IndexByte(line, ' ')
		if i < 0 || i+2 >= len(line) || line[i+2] != ' ' {
			continue
		}
		switch line[i+1] {
		case opDelete, 'd', opRename, 'r':
		default:
			continue
		}
		if rec, err := binlogfmt.Parse(string(line)); err == nil {
			t.note(rec.TS, rec.Op, rec.Name, rec.Extra)
		}
	}
	return sc.Err()
}

// deletedHere reports whether a sync record creating name with the source's
// timestamp ts would only resurrect a file deleted here; the caller then
// answers success without storing or logging anything. The record still
// counts as received from its source (SYNC_REPORT).
func (sess *session) deletedHere(name string, ts int64) bool {
	s := sess.s
	if !s.binlog.tombs.resurrects(name, ts) {
		return false
	}
	s.repl.noteSynced(sess.peer.srcID, ts)
	s.log.Info().Str("file", name).Int64("ts", ts).Str("source", sess.peer.srcID).
		Msg("sync record for a file deleted here ignored")
	return true
}
