package tracker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// File names under base_path/data. The registry uses our own JSON format
// (docs/protocol.md Appendix B: the C tracker's .dat files only matter for copying
// between C trackers); the changelog keeps FastDFS's line format because
// storages read it through CHANGELOG_REQ.
const (
	registryFile  = "tracker_registry.json"
	changelogFile = "storage_changelog.dat"
	// changelogChunk bounds one CHANGELOG_REQ answer (< 8 KiB, §4.6).
	changelogChunk = 8191
	// snapshotFormat versions registryFile.
	snapshotFormat = 1
)

// snapshot is the saved registry.
type snapshot struct {
	Format            int      `json:"format"`
	SavedAt           int64    `json:"saved_at"`
	CurrentWriteGroup int      `json:"current_write_group"`
	Groups            []*group `json:"groups"`
}

// save writes the registry if it changed (or always with force),
// atomically through a temporary file and rename.
func (t *Tracker) save(force bool) error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	if !t.reg.dirty && !force {
		t.mu.Unlock()
		return nil
	}
	b, err := json.MarshalIndent(snapshot{
		Format:            snapshotFormat,
		SavedAt:           time.Now().Unix(),
		CurrentWriteGroup: t.reg.currentWriteGroup,
		Groups:            t.reg.groups,
	}, "", "  ")
	t.reg.dirty = false
	t.mu.Unlock()
	if err == nil {
		err = writeAtomic(filepath.Join(t.dataDir, registryFile), b)
	}
	if err != nil {
		t.mu.Lock()
		t.reg.dirty = true // try again next time
		t.mu.Unlock()
		return fmt.Errorf("save registry: %w", err)
	}
	return nil
}

// writeAtomic replaces path with b so a crash leaves the old or the new
// file, never a torn one.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}

// loadRegistry reads the saved registry. Nobody is connected after a
// restart, so connected statuses become OFFLINE until the storage joins
// again; sync states, DELETED and the like are kept.
func loadRegistry(dir string) (*registry, error) {
	r := newRegistry()
	b, err := os.ReadFile(filepath.Join(dir, registryFile))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load registry: %w", err)
	}
	var snap snapshot
	if err := json.Unmarshal(b, &snap); err != nil {
		// Refuse to start rather than overwrite what we cannot read.
		return nil, fmt.Errorf("load registry %s: %w", filepath.Join(dir, registryFile), err)
	}
	if snap.Format != snapshotFormat {
		return nil, fmt.Errorf("load registry: format %d, want %d", snap.Format, snapshotFormat)
	}
	for _, g := range snap.Groups {
		if g == nil || !fileid.ValidGroup(g.Name) || r.group(g.Name) != nil {
			return nil, fmt.Errorf("load registry: bad or duplicate group entry")
		}
		var list []*storage
		seen := map[string]bool{}
		for _, s := range g.Storages {
			if s == nil || s.ID == "" || seen[s.ID] {
				return nil, fmt.Errorf("load registry: group %s: bad or duplicate storage entry", g.Name)
			}
			seen[s.ID] = true
			if s.Status == proto.StatusOnline || s.Status == proto.StatusActive || !knownStatus(s.Status) {
				s.Status = proto.StatusOffline
			}
			if s.RWMode == proto.RWNone {
				s.RWMode = proto.RWBoth // without storage IDs every storage is read-write
			}
			s.fixPaths()
			list = append(list, s)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
		g.Storages = list
		g.chg = 1
		if g.TrunkServer != "" {
			g.trunkChg = 1 // beat answers carry the loaded trunk server
		}
		g.rebuild()
		r.addGroup(g)
	}
	r.currentWriteGroup = snap.CurrentWriteGroup
	r.dirty = false
	return r, nil
}

// changelog is storage_changelog.dat: one line per deletion or IP change,
// read by storages through CHANGELOG_REQ (§4.6).
type changelog struct {
	path string
	n    int64 // current size
}

func openChangelog(path string) (*changelog, error) {
	c := &changelog{path: path}
	st, err := os.Stat(path)
	switch {
	case err == nil:
		c.n = st.Size()
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("changelog: %w", err)
	}
	return c, nil
}

func (c *changelog) size() int64 { return c.n }

func (c *changelog) append(line string) error {
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := f.WriteString(line)
	c.n += int64(n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// read returns whole lines from off, at most changelogChunk bytes, and the
// offset after them. An offset past the end (a replaced file) skips to the
// end.
func (c *changelog) read(off int64) ([]byte, int64, error) {
	if off < 0 || off > c.n {
		off = c.n
	}
	if off == c.n {
		return nil, off, nil
	}
	f, err := os.Open(c.path)
	if err != nil {
		return nil, off, err
	}
	defer f.Close()
	buf := make([]byte, min(c.n-off, changelogChunk))
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, off, err
	}
	buf = buf[:n]
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i+1]
	}
	return buf, off + int64(len(buf)), nil
}

// logChange appends a changelog line for s's current status:
// `<ts> <group> <id> <status> <new_id>\n` (§4.6).
func (t *Tracker) logChange(g *group, s *storage, newID string) {
	line := fmt.Sprintf("%d %s %s %d %s\n", time.Now().Unix(), g.Name, s.ID, s.Status, newID)
	if err := t.changelog.append(line); err != nil {
		t.log.Error().Err(err).Str("storage", s.ID).Msg("write changelog")
	}
}
