package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The trash (migration 0010): deleting an entry moves it, with everything
// under it, to a trash row; its rows keep their place and name and carry
// the trash row's id, so they hold no name and are listed nowhere but in
// the trash. They still count: file_info.count counts every file row and
// the quota every entry's bytes until the trash row is purged (for good:
// the rows go, the references with them, and content no row references any
// more is queued in dfs_gc in the same transaction).

// TrashItem is one entry of the trash list.
type TrashItem struct {
	Entry
	TrashID    int64
	DeleteTime string // "YYYY-mm-dd HH:MM:SS"
	ExpireTime int64  // unix seconds: purged after
	Files      int64  // file entries in it (1 for a file)
	Bytes      int64  // their bytes
}

// GCFile is a DFS file whose last reference went: delete it, then
// GCDone(GCID).
type GCFile struct {
	FileID string
	GCID   int64
	Thumbs string // its thumbnail slaves (file_info.thumbs): they go with it
}

// unshared is a share a change removed, for the ranking cache.
type unshared struct {
	ver       int64
	md5, name string
}

// TrashTTL is how long a trashed entry is kept.
func (s *Store) TrashTTL() time.Duration { return s.opt.TrashTTL }

// subtree returns id and the ids of the live entries below it.
func subtree(ctx context.Context, tx *sql.Tx, user string, id int64) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE sub (id) AS (
		SELECT ? UNION ALL
		SELECT u.id FROM user_file_list u JOIN sub ON u.folder_id = sub.id WHERE u.user = ? AND u.trash_id = 0
	) SELECT id FROM sub`, id, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// inList is "?, ?, …" for n placeholders.
func inList(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// trashTx moves live entry e and everything under it to a new trash row
// and removes their shares (the user's row is locked).
func (s *Store) trashTx(ctx context.Context, tx *sql.Tx, user string, e lockedEntry) (int64, []unshared, error) {
	ids, err := subtree(ctx, tx, user, e.ID)
	if err != nil {
		return 0, nil, err
	}
	r, err := tx.ExecContext(ctx, "INSERT INTO trash (user, entry_id, folder_id, expire_time) VALUES (?, ?, ?, ?)",
		user, e.ID, e.FolderID, time.Now().Add(s.opt.TrashTTL).Unix())
	if err != nil {
		return 0, nil, err
	}
	tid, err := r.LastInsertId()
	if err != nil {
		return 0, nil, err
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		args := []any{tid}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET trash_id = ? WHERE id IN ("+inList(n)+")", args...); err != nil {
			return 0, nil, err
		}
		ids = ids[n:]
	}
	// Its shares go, as the course's delete did.
	rows, err := tx.QueryContext(ctx, "SELECT md5, file_name FROM user_file_list WHERE trash_id = ? AND shared_status = 1", tid)
	if err != nil {
		return 0, nil, err
	}
	var un []unshared
	for rows.Next() {
		var u unshared
		if err := rows.Scan(&u.md5, &u.name); err != nil {
			rows.Close()
			return 0, nil, err
		}
		un = append(un, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	kept := un[:0]
	for _, u := range un {
		r, err := tx.ExecContext(ctx, "DELETE FROM share_file_list WHERE user = ? AND md5 = ? AND file_name = ?", user, u.md5, u.name)
		if err != nil {
			return 0, nil, err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			continue
		}
		if err := addShareCount(ctx, tx, -1); err != nil {
			return 0, nil, err
		}
		if _, u.ver, err = shareVersion(ctx, tx); err != nil {
			return 0, nil, err
		}
		kept = append(kept, u)
	}
	if len(un) > 0 {
		if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET shared_status = 0 WHERE trash_id = ? AND shared_status = 1", tid); err != nil {
			return 0, nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE trash t, (SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM user_file_list
		WHERE trash_id = ? AND kind = 0) c SET t.files = c.n, t.bytes = c.b WHERE t.id = ?`, tid, tid); err != nil {
		return 0, nil, err
	}
	return tid, kept, nil
}

// applyUnshares updates the ranking cache after the commit.
func (s *Store) applyUnshares(ctx context.Context, un []unshared) {
	for _, u := range un {
		s.rankApply(ctx, u.ver, "rem", u.md5, u.name, 0)
	}
}

// purgeTx deletes trash row tid and its entries for good (the user's row
// is locked): one reference less per file entry, content without
// references queued in dfs_gc.
func purgeTx(ctx context.Context, tx *sql.Tx, user string, tid int64) ([]GCFile, error) {
	type ref struct {
		md5   string
		n     int64
		bytes int64
	}
	rows, err := tx.QueryContext(ctx, "SELECT md5, COUNT(*), SUM(size) FROM user_file_list WHERE trash_id = ? AND user = ? AND kind = 0 GROUP BY md5 ORDER BY md5", tid, user)
	if err != nil {
		return nil, err
	}
	var refs []ref
	var files, bytes int64
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.md5, &r.n, &r.bytes); err != nil {
			rows.Close()
			return nil, err
		}
		refs = append(refs, r)
		files += r.n
		bytes += r.bytes
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM user_file_list WHERE trash_id = ? AND user = ?", tid, user); err != nil {
		return nil, err
	}
	var gc []GCFile
	for _, r := range refs {
		if _, err := tx.ExecContext(ctx, "UPDATE file_info SET count = count - ? WHERE md5 = ?", r.n, r.md5); err != nil {
			return nil, err
		}
		var count int64
		var fileID, thumbs string
		err := tx.QueryRowContext(ctx, "SELECT count, file_id, thumbs FROM file_info WHERE md5 = ? FOR UPDATE", r.md5).Scan(&count, &fileID, &thumbs)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if count > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM file_info WHERE md5 = ?", r.md5); err != nil {
			return nil, err
		}
		id, err := queueGC(ctx, tx, fileID, "delete")
		if err != nil {
			return nil, err
		}
		gc = append(gc, GCFile{FileID: fileID, GCID: id, Thumbs: thumbs})
	}
	if _, err := tx.ExecContext(ctx, "UPDATE user_file_count SET count = GREATEST(count - ?, 0), bytes = GREATEST(bytes - ?, 0) WHERE user = ?",
		files, bytes, user); err != nil {
		return nil, err
	}
	_, err = tx.ExecContext(ctx, "DELETE FROM trash WHERE id = ?", tid)
	return gc, err
}

// Trash moves the user's live entries (a folder with everything under it)
// to the trash, all or none. An entry under a folder trashed by the same
// call goes with it.
func (s *Store) Trash(ctx context.Context, user string, refs []ItemRef) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if len(refs) == 0 || len(refs) > MaxItems {
		return fmt.Errorf("%w: 1 to %d items", ErrInvalid, MaxItems)
	}
	var un []unshared
	err := s.tx(ctx, "trash", func(tx *sql.Tx) error {
		un = nil
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		made := map[int64]bool{}
		for _, ref := range refs {
			e, err := lockRef(ctx, tx, user, ref)
			if err != nil {
				return err
			}
			if e.TrashID != 0 {
				if made[e.TrashID] {
					continue
				}
				return fmt.Errorf("%w: no such %s", ErrNotFound, ref.Kind)
			}
			tid, u, err := s.trashTx(ctx, tx, user, e)
			if err != nil {
				return err
			}
			made[tid] = true
			un = append(un, u...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.applyUnshares(ctx, un)
	return nil
}

// lockTrash locks the trash row holding the user's entry ref.
func lockTrash(ctx context.Context, tx *sql.Tx, user string, ref ItemRef) (tid, folder int64, err error) {
	err = tx.QueryRowContext(ctx, `SELECT t.id, t.folder_id FROM trash t JOIN user_file_list u ON u.id = t.entry_id
		WHERE t.entry_id = ? AND t.user = ? AND u.kind = ? FOR UPDATE`, ref.ID, user, ref.Kind).Scan(&tid, &folder)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: no such %s in the trash", ErrNotFound, ref.Kind)
	}
	return tid, folder, err
}

// Restored tells where Restore put an entry back.
type Restored struct {
	ItemRef
	FolderID int64
	Name     string // its name there: the old one, or a free "stem (n).ext"
}

// Restore puts the user's trashed entries back, all or none: each into the
// folder it was deleted from, or the root when that folder is gone or
// trashed itself, under its name or, when that is taken there, the first
// free "stem (n).ext".
func (s *Store) Restore(ctx context.Context, user string, refs []ItemRef) ([]Restored, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	if len(refs) == 0 || len(refs) > MaxItems {
		return nil, fmt.Errorf("%w: 1 to %d items", ErrInvalid, MaxItems)
	}
	var out []Restored
	err := s.tx(ctx, "restore", func(tx *sql.Tx) error {
		out = out[:0]
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		for _, ref := range refs {
			tid, folder, err := lockTrash(ctx, tx, user, ref)
			if err != nil {
				return err
			}
			ok, err := liveFolder(ctx, tx, user, folder)
			if err != nil {
				return err
			}
			if !ok {
				folder = 0
			}
			var name string
			if err := tx.QueryRowContext(ctx, "SELECT file_name FROM user_file_list WHERE id = ?", ref.ID).Scan(&name); err != nil {
				return err
			}
			free, err := freeName(ctx, tx, user, folder, name)
			if err != nil {
				return err
			}
			// The entry keeps its trash_id until its place is set, so it
			// never holds a name twice meanwhile.
			if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET folder_id = ?, file_name = ? WHERE id = ?", folder, free, ref.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET trash_id = 0 WHERE trash_id = ? AND user = ?", tid, user); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM trash WHERE id = ?", tid); err != nil {
				return err
			}
			out = append(out, Restored{ItemRef: ref, FolderID: folder, Name: free})
		}
		return nil
	})
	return out, err
}

// freeName is name, or the first name_candidate(name, n) that no live
// entry of folder holds (the user's row is locked).
func freeName(ctx context.Context, tx *sql.Tx, user string, folder int64, name string) (string, error) {
	cand := name
	for i := 1; ; i++ {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM user_file_list WHERE user = ? AND folder_id = ? AND file_name = ? AND trash_id = 0",
			user, folder, cand).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return cand, nil
		}
		if err != nil {
			return "", err
		}
		if i > 10000 {
			return "", fmt.Errorf("no free name for %q", name)
		}
		if err := tx.QueryRowContext(ctx, "SELECT name_candidate(?, ?)", name, i).Scan(&cand); err != nil {
			return "", err
		}
	}
}

// NameCandidate is the n-th free name tried for name: "stem (n).ext"
// (the SQL function name_candidate, migration 0010).
func (s *Store) NameCandidate(ctx context.Context, name string, n int) (string, error) {
	var out string
	err := s.db.QueryRowContext(ctx, "SELECT name_candidate(?, ?)", name, n).Scan(&out)
	return out, wrapDB("name candidate", err)
}

// PurgeTrash deletes the user's trashed entries for good, all or none,
// and returns the DFS files to delete now (each already queued in dfs_gc).
func (s *Store) PurgeTrash(ctx context.Context, user string, refs []ItemRef) ([]GCFile, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	if len(refs) == 0 || len(refs) > MaxItems {
		return nil, fmt.Errorf("%w: 1 to %d items", ErrInvalid, MaxItems)
	}
	var gc []GCFile
	err := s.tx(ctx, "purge trash", func(tx *sql.Tx) error {
		gc = nil
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		for _, ref := range refs {
			tid, _, err := lockTrash(ctx, tx, user, ref)
			if err != nil {
				return err
			}
			g, err := purgeTx(ctx, tx, user, tid)
			if err != nil {
				return err
			}
			gc = append(gc, g...)
		}
		return nil
	})
	return gc, err
}

// purgeBatch bounds the trash rows one transaction of EmptyTrash or
// PurgeExpired deletes.
const purgeBatch = 100

// EmptyTrash deletes everything in the user's trash for good (a
// transaction per purgeBatch trash rows) and returns the DFS files to
// delete now.
func (s *Store) EmptyTrash(ctx context.Context, user string) ([]GCFile, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	var all []GCFile
	for {
		var gc []GCFile
		var n int
		err := s.tx(ctx, "empty trash", func(tx *sql.Tx) error {
			gc, n = nil, 0
			if err := lockUser(ctx, tx, user); err != nil {
				return err
			}
			ids, err := trashIDs(ctx, tx, "SELECT id FROM trash WHERE user = ? ORDER BY id LIMIT ?", user, purgeBatch)
			if err != nil {
				return err
			}
			for _, tid := range ids {
				g, err := purgeTx(ctx, tx, user, tid)
				if err != nil {
					return err
				}
				gc = append(gc, g...)
			}
			n = len(ids)
			return nil
		})
		all = append(all, gc...)
		if err != nil || n < purgeBatch {
			return all, err
		}
	}
}

func trashIDs(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// PurgeExpired deletes up to limit trash rows older than TrashTTL for good
// (the collector's pass) and returns the DFS files to delete now.
func (s *Store) PurgeExpired(ctx context.Context, limit int) ([]GCFile, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, user FROM trash WHERE expire_time <= ? ORDER BY expire_time LIMIT ?", time.Now().Unix(), limit)
	if err != nil {
		return nil, wrapDB("purge expired", err)
	}
	type due struct {
		id   int64
		user string
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.user); err != nil {
			rows.Close()
			return nil, wrapDB("purge expired", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapDB("purge expired", err)
	}
	var all []GCFile
	for _, d := range ds {
		var gc []GCFile
		err := s.tx(ctx, "purge expired", func(tx *sql.Tx) error {
			gc = nil
			if err := lockUser(ctx, tx, d.user); err != nil {
				return err
			}
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM trash WHERE id = ? AND user = ? FOR UPDATE", d.id, d.user).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // restored or purged meanwhile
			}
			if err != nil {
				return err
			}
			gc, err = purgeTx(ctx, tx, d.user, d.id)
			return err
		})
		if err != nil {
			return all, err
		}
		all = append(all, gc...)
	}
	return all, nil
}

// ListTrash returns a page of the user's trash, most recently deleted
// first.
func (s *Store) ListTrash(ctx context.Context, user string, start, count int) ([]TrashItem, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	if err := checkPage(start, count); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+entryCols+", t.id, DATE_FORMAT(t.delete_time, '%Y-%m-%d %H:%i:%s'), t.expire_time, t.files, t.bytes"+
		" FROM trash t JOIN user_file_list u ON u.id = t.entry_id LEFT JOIN file_info f ON f.md5 = u.md5"+
		" WHERE t.user = ? ORDER BY t.id DESC LIMIT ?, ?", user, start, count)
	if err != nil {
		return nil, wrapDB("list trash", err)
	}
	defer rows.Close()
	out := []TrashItem{}
	for rows.Next() {
		var t TrashItem
		e := &t.Entry
		if err := rows.Scan(&e.ID, &e.Kind, &e.FolderID, &e.User, &e.MD5, &e.CreateTime, &e.FileName,
			&e.ShareStatus, &e.PV, &e.FileID, &e.URL, &e.Size, &e.Type,
			&t.TrashID, &t.DeleteTime, &t.ExpireTime, &t.Files, &t.Bytes); err != nil {
			return nil, wrapDB("list trash", err)
		}
		out = append(out, t)
	}
	return out, wrapDB("list trash", rows.Err())
}
