package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Paths: a user's tree addressed by slash paths ("/a/b.txt"), as WebDAV
// clients see it. Each step is one Lookup on the unique key (user,
// folder_id, file_name, trash_id).

// MaxPathDepth bounds how many folders a path may go down.
const MaxPathDepth = 64

// MaxChildren bounds how many entries Children returns (a WebDAV listing of
// one folder).
const MaxChildren = 100_000

// RootEntry is the root folder as an Entry (id 0).
func RootEntry(user string) Entry {
	return Entry{Kind: KindFolder, FileItem: FileItem{User: user}}
}

// EntryByPath returns the user's live entry at path ("/" or "" is the
// root), or ErrNotFound.
func (s *Store) EntryByPath(ctx context.Context, user, path string) (Entry, error) {
	if err := checkUser(user); err != nil {
		return Entry{}, err
	}
	e := RootEntry(user)
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > MaxPathDepth {
		return Entry{}, fmt.Errorf("%w: a path of at most %d names", ErrNotFound, MaxPathDepth)
	}
	for _, name := range parts {
		if name == "" {
			continue
		}
		if e.Kind != KindFolder {
			return Entry{}, fmt.Errorf("%w: %q is a file", ErrNotFound, e.FileName)
		}
		next, err := s.Lookup(ctx, user, e.ID, name)
		if err != nil {
			return Entry{}, err
		}
		e = next
	}
	return e, nil
}

// Children returns every live entry of the user's folder (0: the root),
// folders first, by name; ErrInvalid past MaxChildren.
func (s *Store) Children(ctx context.Context, user string, folder int64) ([]Entry, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	es, err := s.entries(ctx, "SELECT "+entryCols+" FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5"+
		" WHERE u.user = ? AND u.folder_id = ? AND u.trash_id = 0 ORDER BY u.kind DESC, u.name_fold, u.id LIMIT ?",
		user, folder, MaxChildren+1)
	if err != nil {
		return nil, err
	}
	if len(es) > MaxChildren {
		return nil, fmt.Errorf("%w: a folder of more than %d entries cannot be listed at once", ErrInvalid, MaxChildren)
	}
	return es, nil
}

// MoveTo moves the user's live entry ref into folder dest (0: the root)
// under name, in one transaction (Move and Rename in one step): ErrExists
// when dest holds that name, ErrIntoItself, ErrNotFound, ErrNoFolder.
func (s *Store) MoveTo(ctx context.Context, user string, ref ItemRef, dest int64, name string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if err := CheckNewFileName(name); err != nil {
		return err
	}
	return s.tx(ctx, "move", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		above, err := s.intoTx(ctx, tx, user, dest)
		if err != nil {
			return err
		}
		e, err := lockLive(ctx, tx, user, ref)
		if err != nil {
			return err
		}
		if e.Kind == KindFolder && above[e.ID] {
			return ErrIntoItself
		}
		return placeTx(ctx, tx, user, e, dest, name)
	})
}

// PutFile records content as the user's file name in folder, replacing
// the file of that name there, which goes to the trash (an overwrite can
// be undone). With f.FileID empty it references content already stored
// (ErrNoContent when there is none); else f.FileID is a new DFS copy, and
// AddResult.Dup tells that the content was known and the copy is garbage.
// The same content already there under that name changes nothing (Dup for
// a new copy). ErrExists when a folder has the name, ErrQuota, ErrNotFound
// when folder is not the user's live folder.
func (s *Store) PutFile(ctx context.Context, user string, folder int64, f NewFile) (AddResult, error) {
	if err := checkNewRef(user, f.MD5, f.FileName); err != nil {
		return AddResult{}, err
	}
	var res AddResult
	var un []unshared
	err := s.tx(ctx, "put file", func(tx *sql.Tx) error {
		res, un = AddResult{FileID: f.FileID, FileName: f.FileName}, nil
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		var old lockedEntry
		err := tx.QueryRowContext(ctx, "SELECT "+lockedCols+" FROM user_file_list WHERE user = ? AND folder_id = ? AND file_name = ? AND trash_id = 0 FOR UPDATE",
			user, folder, f.FileName).Scan(old.dest()...)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case old.Kind == KindFolder:
			return fmt.Errorf("%w: %q is a folder", ErrExists, f.FileName)
		case old.MD5 == f.MD5:
			if f.FileID != "" {
				res.Dup = true // nothing references the new copy
			}
			return nil
		default:
			_, u, err := s.trashTx(ctx, tx, user, old)
			if err != nil {
				return err
			}
			un = u
		}
		if _, err := tx.ExecContext(ctx, "CALL add_entry(?, ?, ?, ?, ?, ?, ?, ?, ?, @st, @nm, @fid, @gc)",
			user, folder, f.MD5, f.FileName, f.FileID, f.URL, f.Size, f.Type, s.opt.Quota); err != nil {
			return err
		}
		var status int
		if err := tx.QueryRowContext(ctx, "SELECT @st, @fid, @gc").Scan(&status, &res.FileID, &res.GCID); err != nil {
			return err
		}
		res.Dup = res.GCID > 0
		return addStatusErr(status)
	})
	if err != nil {
		return AddResult{}, err
	}
	s.applyUnshares(ctx, un)
	return res, nil
}
