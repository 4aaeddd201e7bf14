package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// OrphanReason is the dfs_gc reason of files queued by the reconciliation.
const OrphanReason = "orphan"

// OrphanState is what QueueOrphan found for a file ID.
type OrphanState int

const (
	OrphanQueued     OrphanState = iota // nothing knew it: queued in dfs_gc now
	OrphanReferenced                    // a file_info row references it
	OrphanInGC                          // dfs_gc already holds it
)

// idBatch bounds the IN lists of KnownFileIDs.
const idBatch = 500

// KnownFileIDs reports which of ids a file_info row references and which
// the dfs_gc queue holds (plain reads: a first pass that leaves most IDs
// out cheaply; QueueOrphan checks again under locks).
func (s *Store) KnownFileIDs(ctx context.Context, ids []string) (referenced, queued map[string]bool, err error) {
	referenced, queued = map[string]bool{}, map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), idBatch)
		batch := make([]any, n)
		for i, id := range ids[:n] {
			batch[i] = id
		}
		ids = ids[n:]
		in := strings.Repeat(",?", n)[1:]
		for _, q := range []struct {
			sql string
			set map[string]bool
		}{
			{"SELECT file_id FROM file_info WHERE file_id IN (" + in + ")", referenced},
			{"SELECT file_id FROM upload_session WHERE file_id IN (" + in + ")", referenced},
			{"SELECT file_id FROM dfs_gc WHERE file_id IN (" + in + ")", queued},
		} {
			if err := s.collect(ctx, q.set, q.sql, batch...); err != nil {
				return nil, nil, wrapDB("known file ids", err)
			}
		}
	}
	return referenced, queued, nil
}

func (s *Store) collect(ctx context.Context, set map[string]bool, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		set[id] = true
	}
	return rows.Err()
}

// QueueOrphan queues fileID in dfs_gc (reason "orphan", due at once) unless
// a file_info row references it or dfs_gc already holds it. The checks are
// locking reads in the transaction that inserts: an upload or instant
// upload whose row for fileID is written but not yet committed makes it
// wait and is then seen, so a file being recorded is never queued. (An
// upload that records fileID only after this commits is what the caller's
// grace period rules out, and the collector checks FileIDReferenced again
// before deleting.)
func (s *Store) QueueOrphan(ctx context.Context, fileID string) (OrphanState, error) {
	var state OrphanState
	err := s.tx(ctx, "queue orphan", func(tx *sql.Tx) error {
		state = OrphanQueued
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM file_info WHERE file_id = ? LIMIT 1 FOR UPDATE", fileID).Scan(&id)
		if err == nil {
			state = OrphanReferenced
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// A chunked upload's file, unfinished or being recorded.
		err = tx.QueryRowContext(ctx, "SELECT id FROM upload_session WHERE file_id = ? LIMIT 1 FOR UPDATE", fileID).Scan(&id)
		if err == nil {
			state = OrphanReferenced
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, "SELECT id FROM dfs_gc WHERE file_id = ? LIMIT 1 FOR UPDATE", fileID).Scan(&id)
		if err == nil {
			state = OrphanInGC
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (?, ?, ?)",
			fileID, OrphanReason, time.Now().Unix())
		return err
	})
	return state, err
}

// FileIDReferenced reports whether a file_info row or an unfinished
// chunked upload (upload_session) references fileID. The collector asks
// before every delete: a DFS file the database uses is never deleted,
// whatever queued it.
func (s *Store) FileIDReferenced(ctx context.Context, fileID string) (bool, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM file_info WHERE file_id = ?
		UNION ALL SELECT id FROM upload_session WHERE file_id = ? LIMIT 1`, fileID, fileID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrapDB("file id referenced", err)
	}
	return true, nil
}
