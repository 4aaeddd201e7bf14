package store

import (
	"context"
	"fmt"
	"time"
)

// GCEntry is a DFS file waiting to be deleted.
type GCEntry struct {
	ID       int64
	FileID   string
	Reason   string
	Attempts int
}

// QueueGC records fileID for deletion outside a transaction (a DFS file
// whose delete failed and that no row references). Returns the row id.
func (s *Store) QueueGC(ctx context.Context, fileID, reason string) (int64, error) {
	r, err := s.db.ExecContext(ctx, "INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (?, ?, ?)",
		fileID, reason, time.Now().Unix())
	if err != nil {
		return 0, wrapDB("queue gc", err)
	}
	return r.LastInsertId()
}

// GCDone removes a handled row.
func (s *Store) GCDone(ctx context.Context, id int64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM dfs_gc WHERE id = ?", id)
	return wrapDB("gc done", err)
}

// GCFailed records a failed attempt; the row is retried later with an
// exponential backoff (10 s doubling, at most an hour).
func (s *Store) GCFailed(ctx context.Context, id int64, cause error) error {
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := s.db.ExecContext(ctx, `UPDATE dfs_gc SET attempts = attempts + 1, last_error = ?,
		next_try = ? + LEAST(3600, 10 * POW(2, LEAST(attempts, 12))) WHERE id = ?`, msg, time.Now().Unix(), id)
	return wrapDB("gc failed", err)
}

// PendingGC lists up to limit rows due now.
func (s *Store) PendingGC(ctx context.Context, limit int) ([]GCEntry, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, file_id, reason, attempts FROM dfs_gc WHERE next_try <= ? ORDER BY next_try LIMIT ?",
		time.Now().Unix(), limit)
	if err != nil {
		return nil, wrapDB("pending gc", err)
	}
	defer rows.Close()
	var out []GCEntry
	for rows.Next() {
		var e GCEntry
		if err := rows.Scan(&e.ID, &e.FileID, &e.Reason, &e.Attempts); err != nil {
			return nil, wrapDB("pending gc", err)
		}
		out = append(out, e)
	}
	return out, wrapDB("pending gc", rows.Err())
}

// RunGC deletes the due DFS files with del (which must treat "no such
// file" as success) and returns how many rows it cleared.
func (s *Store) RunGC(ctx context.Context, del func(ctx context.Context, fileID string) error) (int, error) {
	due, err := s.PendingGC(ctx, 100)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, e := range due {
		if err := del(ctx, e.FileID); err != nil {
			s.log.Warn().Err(err).Str("file_id", e.FileID).Int("attempts", e.Attempts+1).Msg("dfs gc: delete failed")
			if err := s.GCFailed(ctx, e.ID, err); err != nil {
				return done, err
			}
			continue
		}
		if err := s.GCDone(ctx, e.ID); err != nil {
			return done, fmt.Errorf("dfs gc: %w", err)
		}
		done++
	}
	return done, nil
}
