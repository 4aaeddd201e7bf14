package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// mark is one sync thread's cursor into the binlog (docs/protocol.md §5.3), persisted in
// base_path/data/sync/<dest_ip>_<port>.mark (<dest_id>.mark with storage
// IDs) as the seven key=value lines FastDFS writes.
type mark struct {
	BinlogIndex    int
	BinlogOffset   int64
	NeedSyncOld    bool
	SyncOldDone    bool
	UntilTimestamp int64
	ScanRowCount   int64
	SyncRowCount   int64
}

// markKeys are the required keys, in the order they are written.
var markKeys = []string{"binlog_index", "binlog_offset", "need_sync_old", "sync_old_done",
	"until_timestamp", "scan_row_count", "sync_row_count"}

// markFileName is the mark file of a destination: by ID when storage IDs are
// used, else by IP and port (docs/protocol.md §5.3).
func markFileName(useIDs bool, id, ip string, port int) string {
	if useIDs && id != "" {
		return id + ".mark"
	}
	return strings.ReplaceAll(ip, ":", "_") + "_" + strconv.Itoa(port) + ".mark"
}

// encode is the file text.
func (m *mark) encode() []byte {
	return []byte(fmt.Sprintf("binlog_index=%d\nbinlog_offset=%d\nneed_sync_old=%d\nsync_old_done=%d\n"+
		"until_timestamp=%d\nscan_row_count=%d\nsync_row_count=%d\n",
		m.BinlogIndex, m.BinlogOffset, b2i(m.NeedSyncOld), b2i(m.SyncOldDone),
		m.UntilTimestamp, m.ScanRowCount, m.SyncRowCount))
}

// decodeMark parses a mark file; every key must be present and numeric, and
// the position must be sane. A file that fails is not trusted.
func decodeMark(data []byte) (*mark, error) {
	kv := parseKV(data)
	var v [7]int64
	for i, k := range markKeys {
		s, ok := kv[k]
		if !ok {
			return nil, fmt.Errorf("mark file: %s missing", k)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("mark file: %s=%q: %w", k, s, err)
		}
		v[i] = n
	}
	m := &mark{BinlogIndex: int(v[0]), BinlogOffset: v[1], NeedSyncOld: v[2] != 0, SyncOldDone: v[3] != 0,
		UntilTimestamp: v[4], ScanRowCount: v[5], SyncRowCount: v[6]}
	if m.BinlogIndex < 0 || m.BinlogIndex > 999999 || m.BinlogOffset < 0 {
		return nil, fmt.Errorf("mark file: position %d/%d out of range", m.BinlogIndex, m.BinlogOffset)
	}
	return m, nil
}

// loadMark reads a mark file; (nil, nil) when there is none.
func loadMark(path string) (*mark, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeMark(data)
}

// save writes the mark file atomically (temp + rename), so a crash leaves the
// old or the new cursor, never half of one. It is not fsynced: after a crash
// an older cursor only means records are pushed again, which the
// destination answers with EEXIST/ENOENT.
func (m *mark) save(path string) error {
	return writeFileAtomic(path, m.encode(), false)
}

// removeMark deletes the mark file of a peer (tracker changelog: DELETED).
func (s *Storage) removeMark(name string) {
	p := filepath.Join(s.dataDir, "sync", name)
	if err := os.Remove(p); err == nil {
		s.log.Info().Str("mark", name).Msg("mark file of a deleted storage removed")
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn().Err(err).Str("mark", name).Msg("remove mark file")
	}
}

// renameMark follows a peer's IP change (tracker changelog: IP_CHANGED).
func (s *Storage) renameMark(oldName, newName string) {
	dir := filepath.Join(s.dataDir, "sync")
	if err := os.Rename(filepath.Join(dir, oldName), filepath.Join(dir, newName)); err == nil {
		s.log.Info().Str("from", oldName).Str("to", newName).Msg("mark file renamed after an IP change")
	} else if !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn().Err(err).Str("mark", oldName).Msg("rename mark file")
	}
}
