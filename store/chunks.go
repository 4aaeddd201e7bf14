package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Chunked uploads (/chunk, docs/api.md §1.15): a session row per
// unfinished upload of a user (table upload_session). The app writes the
// DFS; the store keeps what was committed and who may write next.

// MaxSessionsPerUser bounds a user's unfinished chunked uploads.
const MaxSessionsPerUser = 64

// ErrSessionBusy: another request holds the session (a put or finish
// still running); try again shortly.
var ErrSessionBusy = errors.New("upload session busy")

// Session is one chunked upload as recorded.
type Session struct {
	ID         string // the client's upload ID (32 hex)
	rowID      int64
	User       string
	FileName   string
	Size       int64
	ChunkSize  int64
	MD5        string // claimed at init, "" when not
	FileID     string // the DFS file; "" before the first chunk
	Final      bool   // FileID is the regenerated normal file
	Committed  int64
	MD5State   []byte
	CRC32      uint32
	LastOffset int64
	LastCheck  string // the last chunk's hash as sent: "<sha256 hex>" or "md5:<hex>"
	Created    time.Time
	Updated    time.Time
	Expires    time.Time
	// Dirty: the last request that held the session neither recorded
	// its chunk nor gave the session back clean (it died, or its DFS
	// write failed), so the DFS file may hold bytes past Committed.
	Dirty bool
	lease int64 // busy_until this request set (unix ms), 0 when none
}

// busyDirty is the busy_until a request leaves when it gives a session
// back dirty: long past, so not busy, but not 0 (clean).
const busyDirty = 1

// NewSession records a new chunked upload for s.User and fills s.ID with a
// fresh random upload ID. ErrInvalid when the user already has
// MaxSessionsPerUser unfinished uploads.
func (st *Store) NewSession(ctx context.Context, s *Session, ttl time.Duration) error {
	if s.User == "" || s.Size <= 0 || s.ChunkSize <= 0 || len(s.MD5State) == 0 {
		return fmt.Errorf("%w: user, size, chunk size and md5 state required", ErrInvalid)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return fmt.Errorf("upload id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	now := time.Now()
	err := st.tx(ctx, "new upload session", func(tx *sql.Tx) error {
		var n int
		// Locking read of the user's rows, so that concurrent inits cannot
		// pass the bound together.
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT id FROM upload_session WHERE user = ? FOR UPDATE) t",
			s.User).Scan(&n); err != nil {
			return err
		}
		if n >= MaxSessionsPerUser {
			return fmt.Errorf("%w: %d unfinished uploads already; finish or cancel some first", ErrInvalid, n)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_session (upload_id, user, file_name, size, chunk_size, md5,
			md5_state, create_time, update_time, expire_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, s.User, s.FileName, s.Size, s.ChunkSize, s.MD5, s.MD5State,
			now.Unix(), now.Unix(), now.Add(ttl).Unix())
		return err
	})
	if err != nil {
		return err
	}
	s.ID, s.Committed, s.LastOffset = id, 0, -1
	s.Created, s.Updated, s.Expires = now, now, now.Add(ttl)
	return nil
}

const sessionCols = `id, upload_id, user, file_name, size, chunk_size, md5, file_id, final, committed, md5_state, crc32,
	last_offset, last_check, busy_until, create_time, update_time, expire_time`

type scanner interface{ Scan(...any) error }

func scanSession(r scanner) (*Session, int64, error) {
	var s Session
	var busy, c, u, e int64
	if err := r.Scan(&s.rowID, &s.ID, &s.User, &s.FileName, &s.Size, &s.ChunkSize, &s.MD5, &s.FileID, &s.Final, &s.Committed,
		&s.MD5State, &s.CRC32, &s.LastOffset, &s.LastCheck, &busy, &c, &u, &e); err != nil {
		return nil, 0, err
	}
	s.Created, s.Updated, s.Expires = time.Unix(c, 0), time.Unix(u, 0), time.Unix(e, 0)
	return &s, busy, nil
}

// SessionOf returns user's live session id. ErrNotFound when there is
// none: unknown, expired, finished, aborted or another user's (they are
// not told apart, so an ID reveals nothing about other users).
func (st *Store) SessionOf(ctx context.Context, user, id string) (*Session, error) {
	s, _, err := st.sessionOf(ctx, st.db, user, id, "")
	return s, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (st *Store) sessionOf(ctx context.Context, q queryer, user, id, lock string) (*Session, int64, error) {
	if len(id) != 32 || !isHex(id) {
		return nil, 0, fmt.Errorf("upload session: %w", ErrNotFound)
	}
	s, busy, err := scanSession(q.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM upload_session WHERE upload_id = ?"+lock, id))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (s.User != user || time.Now().After(s.Expires))) {
		return nil, 0, fmt.Errorf("upload session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, 0, wrapDB("upload session", err)
	}
	return s, busy, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// LeaseSession takes user's session id for one request for at most d: no
// other request can take it until Release or Commit, or until d has
// passed (a request that died holding it). With atOffset >= 0 it is
// taken only while committed == atOffset. ErrSessionBusy when another
// request holds it; ErrNotFound as SessionOf. The returned session is as
// recorded; a committed offset other than atOffset comes back with a nil
// error and no lease (s.Leased() false), for the caller to answer with.
func (st *Store) LeaseSession(ctx context.Context, user, id string, atOffset int64, d time.Duration) (*Session, error) {
	var out *Session
	err := st.tx(ctx, "lease upload session", func(tx *sql.Tx) error {
		s, busy, err := st.sessionOf(ctx, tx, user, id, " FOR UPDATE")
		if err != nil {
			return err
		}
		out = s
		// A lease that ran out, or one given back dirty, was never ended by
		// a commit or a clean release.
		s.Dirty = busy != 0
		if atOffset >= 0 && s.Committed != atOffset {
			return nil
		}
		now := time.Now().UnixMilli()
		if busy > now {
			return ErrSessionBusy
		}
		lease := max(now+d.Milliseconds(), busy+1) // never a value an earlier holder had
		if _, err := tx.ExecContext(ctx, "UPDATE upload_session SET busy_until = ? WHERE id = ?", lease, s.rowID); err != nil {
			return err
		}
		s.lease = lease
		return nil
	})
	if errors.Is(err, ErrSessionBusy) {
		return nil, err
	}
	return out, err
}

// Leased reports whether s holds its session's lease.
func (s *Session) Leased() bool { return s.lease != 0 }

// ReleaseSession gives the lease back without changing anything else;
// dirty when the DFS file may now hold bytes past Committed (the next
// holder sees Dirty).
func (st *Store) ReleaseSession(ctx context.Context, s *Session, dirty bool) error {
	if s.lease == 0 {
		return nil
	}
	busy := 0
	if dirty {
		busy = busyDirty
	}
	_, err := st.db.ExecContext(ctx, "UPDATE upload_session SET busy_until = ? WHERE id = ? AND busy_until = ?", busy, s.rowID, s.lease)
	s.lease = 0
	return wrapDB("release upload session", err)
}

// CommitChunk records what a leased put stored: s's FileID, Committed,
// MD5State, CRC32, LastOffset and LastCheck as set by the caller, a new
// expiry (now + ttl), and gives the lease back. ErrSessionBusy when the
// lease was lost meanwhile (it ran out and another request took it, or the
// session expired and was removed): nothing is recorded then.
func (st *Store) CommitChunk(ctx context.Context, s *Session, ttl time.Duration) error {
	now := time.Now()
	res, err := st.db.ExecContext(ctx, `UPDATE upload_session SET file_id = ?, committed = ?, md5_state = ?, crc32 = ?,
		last_offset = ?, last_check = ?, busy_until = 0, update_time = ?, expire_time = ? WHERE id = ? AND busy_until = ?`,
		s.FileID, s.Committed, s.MD5State, s.CRC32, s.LastOffset, s.LastCheck, now.Unix(), now.Add(ttl).Unix(), s.rowID, s.lease)
	if err != nil {
		return wrapDB("commit chunk", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("commit chunk: lease lost: %w", ErrSessionBusy)
	}
	s.lease = 0
	s.Updated, s.Expires = now, now.Add(ttl)
	return nil
}

// MarkFinal records, under the lease, that s.FileID (now the regenerated
// normal file) holds the whole content.
func (st *Store) MarkFinal(ctx context.Context, s *Session) error {
	res, err := st.db.ExecContext(ctx, "UPDATE upload_session SET file_id = ?, final = 1 WHERE id = ? AND busy_until = ?",
		s.FileID, s.rowID, s.lease)
	if err != nil {
		return wrapDB("mark upload final", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("mark upload final: lease lost: %w", ErrSessionBusy)
	}
	s.Final = true
	return nil
}

// DropSession removes s's row. With queue, its DFS file (if any) is
// queued in dfs_gc in the same transaction and the dfs_gc row id returned
// (0: nothing queued), for the caller to delete the file and call GCDone.
// Without queue the file is the caller's (recorded by an upload, or
// already deleted).
func (st *Store) DropSession(ctx context.Context, s *Session, queue bool, reason string) (int64, error) {
	var gcID int64
	err := st.tx(ctx, "drop upload session", func(tx *sql.Tx) error {
		gcID = 0
		if _, err := tx.ExecContext(ctx, "DELETE FROM upload_session WHERE id = ?", s.rowID); err != nil {
			return err
		}
		if !queue || s.FileID == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (?, ?, ?)",
			s.FileID, reason, time.Now().Unix())
		if err != nil {
			return err
		}
		gcID, err = res.LastInsertId()
		return err
	})
	return gcID, err
}

// ListSessions returns user's unfinished uploads, the most recently
// used first.
func (st *Store) ListSessions(ctx context.Context, user string) ([]*Session, error) {
	rows, err := st.db.QueryContext(ctx, "SELECT "+sessionCols+" FROM upload_session WHERE user = ? AND expire_time >= ? ORDER BY update_time DESC, id DESC LIMIT ?",
		user, time.Now().Unix(), MaxSessionsPerUser)
	if err != nil {
		return nil, wrapDB("list upload sessions", err)
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		s, _, err := scanSession(rows)
		if err != nil {
			return nil, wrapDB("list upload sessions", err)
		}
		out = append(out, s)
	}
	return out, wrapDB("list upload sessions", rows.Err())
}

// ExpireSessions removes up to limit sessions idle past their expiry and
// not held by a request, queuing their DFS files in dfs_gc in the same
// transaction (the collector's pass deletes them). Returns how many went.
func (st *Store) ExpireSessions(ctx context.Context, limit int) (int, error) {
	n := 0
	err := st.tx(ctx, "expire upload sessions", func(tx *sql.Tx) error {
		n = 0
		now := time.Now()
		rows, err := tx.QueryContext(ctx, "SELECT id, file_id FROM upload_session WHERE expire_time < ? AND busy_until < ? ORDER BY expire_time LIMIT ? FOR UPDATE",
			now.Unix(), now.UnixMilli(), limit)
		if err != nil {
			return err
		}
		type victim struct {
			id     int64
			fileID string
		}
		var vs []victim
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.id, &v.fileID); err != nil {
				rows.Close()
				return err
			}
			vs = append(vs, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, v := range vs {
			if _, err := tx.ExecContext(ctx, "DELETE FROM upload_session WHERE id = ?", v.id); err != nil {
				return err
			}
			if v.fileID != "" {
				if _, err := tx.ExecContext(ctx, "INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (?, 'chunk-expired', ?)",
					v.fileID, now.Unix()); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}

// FileIDRecorded reports whether a file_info row references fileID (a
// finished chunked upload whose answer was lost: finishing again must not
// delete what is recorded).
func (st *Store) FileIDRecorded(ctx context.Context, fileID string) (bool, error) {
	var id int64
	err := st.db.QueryRowContext(ctx, "SELECT id FROM file_info WHERE file_id = ? LIMIT 1", fileID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrapDB("file id recorded", err)
	}
	return true, nil
}
