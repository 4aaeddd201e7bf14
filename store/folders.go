package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Folders (migration 0010): a folder is a user_file_list row of kind
// KindFolder; every entry has a folder_id (0: the root) and a trash_id (0:
// live). Names are unique among a folder's live entries, files and folders
// together. Every change of a user's entries locks the user's
// user_file_count row first (lockUser), so that one user's changes of
// names and places run one at a time: no two moves can make a cycle, no
// two entries can take one name.

// Kind is what an entry is.
type Kind int

// The kinds of entries.
const (
	KindFile   Kind = 0
	KindFolder Kind = 1
)

func (k Kind) String() string {
	if k == KindFolder {
		return "folder"
	}
	return "file"
}

// ParseKind reads "file" or "folder".
func ParseKind(s string) (Kind, bool) {
	switch s {
	case "file":
		return KindFile, true
	case "folder":
		return KindFolder, true
	}
	return 0, false
}

// ItemRef names one of a user's entries.
type ItemRef struct {
	Kind Kind
	ID   int64
}

// ErrNoFolder is the ErrNotFound of a folder that is not the user's live
// folder.
var ErrNoFolder = fmt.Errorf("%w: no such folder", ErrNotFound)

// notFound is the ErrNotFound of an entry of kind k.
func notFound(k Kind) error {
	if k == KindFolder {
		return ErrNoFolder
	}
	return fmt.Errorf("%w: no such file", ErrNotFound)
}

// ErrIntoItself refuses moving a folder into itself or a folder below it.
var ErrIntoItself = fmt.Errorf("%w: a folder cannot move into itself or a folder below it", ErrInvalid)

// MaxItems bounds the entries one Move, Trash, Restore or PurgeTrash call
// takes.
const MaxItems = 1000

// Entry is a file or a folder of a user. For a folder, FileName is its
// name and the content fields (MD5, FileID, URL, Type) are empty.
type Entry struct {
	FileItem
	ID       int64
	Kind     Kind
	FolderID int64 // the parent folder; 0: the root
}

// Crumb is one folder of a path.
type Crumb struct {
	ID   int64
	Name string
}

// FolderPage is one page of a folder: its path from the root (the root
// itself not included), how many folders it holds, the entries of the
// page, folders first, and whether more follow.
type FolderPage struct {
	Path    []Crumb
	Folders int64
	Items   []Entry
	More    bool
}

// Sort is the order of a folder page.
type Sort int

// The orders of a folder page (folders always come first).
const (
	SortName Sort = iota // the lower-cased name
	SortTime             // creation time
	SortSize             // bytes (folders: by name)
)

// sortCols are the columns of the indexes idx_list_name, _time, _size.
var sortCols = map[Sort]string{SortName: "name_fold", SortTime: "create_time", SortSize: "size"}

// lockedEntry is an entry row read FOR UPDATE.
type lockedEntry struct {
	ID, FolderID, TrashID, Size int64
	Kind                        Kind
	MD5, Name                   string
	Shared                      int
}

const lockedCols = "id, kind, folder_id, trash_id, md5, file_name, shared_status, size"

func (e *lockedEntry) dest() []any {
	return []any{&e.ID, &e.Kind, &e.FolderID, &e.TrashID, &e.MD5, &e.Name, &e.Shared, &e.Size}
}

// lockUser locks (creating it if needed) the user's user_file_count row:
// the first lock of every change of a user's entries.
func lockUser(ctx context.Context, tx *sql.Tx, user string) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO user_file_count (user, count) VALUES (?, 0) ON DUPLICATE KEY UPDATE count = count", user)
	return err
}

// lockRef locks the user's entry ref, live or trashed.
func lockRef(ctx context.Context, tx *sql.Tx, user string, ref ItemRef) (lockedEntry, error) {
	var e lockedEntry
	err := tx.QueryRowContext(ctx, "SELECT "+lockedCols+" FROM user_file_list WHERE id = ? AND user = ? AND kind = ? FOR UPDATE",
		ref.ID, user, ref.Kind).Scan(e.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return e, notFound(ref.Kind)
	}
	return e, err
}

// lockLive is lockRef for a live entry.
func lockLive(ctx context.Context, tx *sql.Tx, user string, ref ItemRef) (lockedEntry, error) {
	e, err := lockRef(ctx, tx, user, ref)
	if err == nil && e.TrashID != 0 {
		return e, notFound(ref.Kind)
	}
	return e, err
}

// liveFolder reports whether folder is 0 (the root) or a live folder of
// user.
func liveFolder(ctx context.Context, q querier, user string, folder int64) (bool, error) {
	if folder == 0 {
		return true, nil
	}
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM user_file_list WHERE id = ? AND user = ? AND kind = 1 AND trash_id = 0", folder, user).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func checkUser(user string) error {
	if user == "" {
		return fmt.Errorf("%w: user required", ErrInvalid)
	}
	return nil
}

// Mkdir makes folder name in parent (0: the root). ErrExists when the
// parent holds an entry of that name, ErrNotFound when parent is not the
// user's live folder.
func (s *Store) Mkdir(ctx context.Context, user string, parent int64, name string) (Entry, error) {
	if err := checkUser(user); err != nil {
		return Entry{}, err
	}
	if err := CheckNewFileName(name); err != nil {
		return Entry{}, err
	}
	var id int64
	err := s.tx(ctx, "mkdir", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		ok, err := liveFolder(ctx, tx, user, parent)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoFolder
		}
		r, err := tx.ExecContext(ctx, "INSERT INTO user_file_list (user, md5, file_name, folder_id, kind) VALUES (?, '', ?, ?, 1)", user, name, parent)
		if isDup(err) {
			return fmt.Errorf("%w: the folder holds an entry of that name", ErrExists)
		}
		if err != nil {
			return err
		}
		id, err = r.LastInsertId()
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	return s.EntryInfo(ctx, user, ItemRef{Kind: KindFolder, ID: id})
}

// entryCols reads an Entry (scanEntry) from user_file_list u LEFT JOIN
// file_info f.
const entryCols = "u.id, u.kind, u.folder_id, u.user, u.md5, DATE_FORMAT(u.create_time, '%Y-%m-%d %H:%i:%s'), u.file_name, " +
	"u.shared_status, u.pv, COALESCE(f.file_id, ''), COALESCE(f.url, ''), u.size, COALESCE(f.type, '')"

func (s *Store) entries(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapDB("entries", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.Kind, &e.FolderID, &e.User, &e.MD5, &e.CreateTime, &e.FileName,
			&e.ShareStatus, &e.PV, &e.FileID, &e.URL, &e.Size, &e.Type); err != nil {
			return nil, wrapDB("entries", err)
		}
		out = append(out, e)
	}
	return out, wrapDB("entries", rows.Err())
}

// EntryInfo returns the user's live entry ref, or ErrNotFound.
func (s *Store) EntryInfo(ctx context.Context, user string, ref ItemRef) (Entry, error) {
	es, err := s.entries(ctx, "SELECT "+entryCols+" FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5"+
		" WHERE u.id = ? AND u.user = ? AND u.kind = ? AND u.trash_id = 0", ref.ID, user, ref.Kind)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, notFound(ref.Kind)
	}
	return es[0], nil
}

// Lookup returns the user's live entry name in folder (0: the root), or
// ErrNotFound: a path is resolved one name at a time from the root.
func (s *Store) Lookup(ctx context.Context, user string, folder int64, name string) (Entry, error) {
	es, err := s.entries(ctx, "SELECT "+entryCols+" FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5"+
		" WHERE u.user = ? AND u.folder_id = ? AND u.file_name = ? AND u.trash_id = 0", user, folder, name)
	if err != nil {
		return Entry{}, err
	}
	if len(es) == 0 {
		return Entry{}, fmt.Errorf("%w: no entry %q", ErrNotFound, name)
	}
	return es[0], nil
}

// FolderPath returns the folders from the root down to folder (the root
// itself not included; empty for the root), or ErrNotFound when folder is
// not the user's live folder.
func (s *Store) FolderPath(ctx context.Context, user string, folder int64) ([]Crumb, error) {
	if folder == 0 {
		return []Crumb{}, nil
	}
	rows, err := s.db.QueryContext(ctx, `WITH RECURSIVE p (id, folder_id, file_name, depth) AS (
		SELECT id, folder_id, file_name, 0 FROM user_file_list WHERE id = ? AND user = ? AND kind = 1 AND trash_id = 0
		UNION ALL
		SELECT u.id, u.folder_id, u.file_name, p.depth + 1 FROM user_file_list u JOIN p ON u.id = p.folder_id
		 WHERE u.user = ? AND u.kind = 1 AND p.depth < 10000
	) SELECT id, file_name FROM p ORDER BY depth DESC`, folder, user, user)
	if err != nil {
		return nil, wrapDB("folder path", err)
	}
	defer rows.Close()
	out := []Crumb{}
	for rows.Next() {
		var c Crumb
		if err := rows.Scan(&c.ID, &c.Name); err != nil {
			return nil, wrapDB("folder path", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapDB("folder path", err)
	}
	if len(out) == 0 {
		return nil, ErrNoFolder
	}
	return out, nil
}

// pageQuery is the query of a page of one kind of a folder's entries: the
// ids come from the index of the sort alone (idx_list_name, _time, _size:
// equality on user, folder_id, trash_id, kind, then the sort column and the
// primary key), so a page costs its offset in index entries, whatever the
// folder holds; only the page's rows are read and joined.
func pageQuery(sort Sort, desc bool) string {
	col := sortCols[sort]
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	return "SELECT " + entryCols + " FROM (SELECT id FROM user_file_list WHERE user = ? AND folder_id = ? AND trash_id = 0 AND kind = ?" +
		" ORDER BY " + col + " " + dir + ", id " + dir + " LIMIT ?, ?) p JOIN user_file_list u ON u.id = p.id" +
		" LEFT JOIN file_info f ON f.md5 = u.md5 ORDER BY u." + col + " " + dir + ", u.id " + dir
}

// PageQuery is the folder page query for sort (tests EXPLAIN it).
func PageQuery(sort Sort, desc bool) string { return pageQuery(sort, desc) }

// ListFolder returns a page of the user's live folder (0: the root):
// folders first, then files, each in sort order (folders by name when
// sorting by size), from start, at most count entries.
func (s *Store) ListFolder(ctx context.Context, user string, folder int64, sort Sort, desc bool, start, count int) (FolderPage, error) {
	if err := checkUser(user); err != nil {
		return FolderPage{}, err
	}
	if err := checkPage(start, count); err != nil {
		return FolderPage{}, err
	}
	if _, ok := sortCols[sort]; !ok {
		return FolderPage{}, fmt.Errorf("%w: unknown sort", ErrInvalid)
	}
	var pg FolderPage
	var err error
	if pg.Path, err = s.FolderPath(ctx, user, folder); err != nil {
		return FolderPage{}, err
	}
	// The folders are counted (a page needs where the files start); the
	// files are not: counting 100,000 of them costs more than the page.
	err = s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_file_list WHERE user = ? AND folder_id = ? AND trash_id = 0 AND kind = 1",
		user, folder).Scan(&pg.Folders)
	if err != nil {
		return FolderPage{}, wrapDB("list folder", err)
	}
	pg.Items = []Entry{}
	if int64(start) < pg.Folders {
		fsort := sort
		if sort == SortSize {
			fsort = SortName
		}
		fs, err := s.entries(ctx, pageQuery(fsort, desc), user, folder, KindFolder, start, count)
		if err != nil {
			return FolderPage{}, err
		}
		pg.Items = append(pg.Items, fs...)
	}
	if left := count - len(pg.Items); left >= 0 {
		// One entry more than the page tells whether another page follows.
		off := max(int64(start)-pg.Folders, 0)
		fs, err := s.entries(ctx, pageQuery(sort, desc), user, folder, KindFile, off, left+1)
		if err != nil {
			return FolderPage{}, err
		}
		if len(fs) > left {
			pg.More, fs = true, fs[:left]
		}
		pg.Items = append(pg.Items, fs...)
	}
	return pg, nil
}

// escapeLike makes s match itself in a LIKE pattern (escape character '\').
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search returns a page of the user's live entries (folders first, then
// files, by name) whose name holds q, whatever its case.
func (s *Store) Search(ctx context.Context, user, q string, start, count int) ([]Entry, error) {
	if err := checkUser(user); err != nil {
		return nil, err
	}
	if err := checkPage(start, count); err != nil {
		return nil, err
	}
	if strings.TrimSpace(q) == "" || len(q) > MaxFileName {
		return nil, fmt.Errorf("%w: the search needs 1 to %d bytes of text", ErrInvalid, MaxFileName)
	}
	// LOWER in SQL as name_fold's own expression, so both fold alike.
	return s.entries(ctx, "SELECT "+entryCols+" FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5"+
		" WHERE u.user = ? AND u.trash_id = 0 AND u.name_fold LIKE CONCAT('%', LOWER(?), '%')"+
		" ORDER BY u.kind DESC, u.name_fold, u.id LIMIT ?, ?", user, escapeLike(q), start, count)
}

// Rename gives the user's live entry ref the name name. ErrExists when its
// folder holds another entry of that name; a shared file's share is
// renamed too (ErrAlreadyShared when a public file has that md5 and name).
func (s *Store) Rename(ctx context.Context, user string, ref ItemRef, name string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if err := CheckNewFileName(name); err != nil {
		return err
	}
	return s.tx(ctx, "rename", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		e, err := lockLive(ctx, tx, user, ref)
		if err != nil {
			return err
		}
		return placeTx(ctx, tx, user, e, e.FolderID, name)
	})
}

// placeTx puts the locked live entry e into folder dest under name (both
// may be its own): ErrExists when dest holds another entry of that name; a
// shared file's share is renamed with it (ErrAlreadyShared when a public
// file has that md5 and name).
func placeTx(ctx context.Context, tx *sql.Tx, user string, e lockedEntry, dest int64, name string) error {
	if e.FolderID == dest && e.Name == name {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET folder_id = ?, file_name = ? WHERE id = ?", dest, name, e.ID); err != nil {
		if isDup(err) {
			return fmt.Errorf("%w: the folder holds an entry named %q", ErrExists, name)
		}
		return err
	}
	if e.Shared == 0 || e.Name == name {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE share_file_list SET file_name = ? WHERE user = ? AND md5 = ? AND file_name = ?",
		name, user, e.MD5, e.Name); err != nil {
		if isDup(err) {
			return ErrAlreadyShared
		}
		return err
	}
	// The ranking cache is rebuilt at its next read.
	return addShareCount(ctx, tx, 0)
}

// intoTx checks that dest (0: the root) is the user's live folder and
// returns it and its ancestors: where no moved folder may go.
func (s *Store) intoTx(ctx context.Context, tx *sql.Tx, user string, dest int64) (map[int64]bool, error) {
	above := map[int64]bool{}
	if dest == 0 {
		return above, nil
	}
	ok, err := liveFolder(ctx, tx, user, dest)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNoFolder
	}
	path, err := s.folderPathTx(ctx, tx, user, dest)
	if err != nil {
		return nil, err
	}
	for _, c := range path {
		above[c.ID] = true
	}
	return above, nil
}

// Move moves the user's live entries into folder dest (0: the root), all
// or none: ErrExists when dest holds an entry of a moved one's name,
// ErrInvalid when a folder would move into itself or below itself,
// ErrNotFound for an entry or a dest that is not the user's and live.
func (s *Store) Move(ctx context.Context, user string, refs []ItemRef, dest int64) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if len(refs) == 0 || len(refs) > MaxItems {
		return fmt.Errorf("%w: 1 to %d items", ErrInvalid, MaxItems)
	}
	return s.tx(ctx, "move", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		above, err := s.intoTx(ctx, tx, user, dest)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			e, err := lockLive(ctx, tx, user, ref)
			if err != nil {
				return err
			}
			if e.Kind == KindFolder && above[e.ID] {
				return ErrIntoItself
			}
			if err := placeTx(ctx, tx, user, e, dest, e.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// folderPathTx is FolderPath inside tx.
func (s *Store) folderPathTx(ctx context.Context, tx *sql.Tx, user string, folder int64) ([]Crumb, error) {
	rows, err := tx.QueryContext(ctx, `WITH RECURSIVE p (id, folder_id, depth) AS (
		SELECT id, folder_id, 0 FROM user_file_list WHERE id = ? AND user = ? AND kind = 1
		UNION ALL
		SELECT u.id, u.folder_id, p.depth + 1 FROM user_file_list u JOIN p ON u.id = p.folder_id
		 WHERE u.user = ? AND u.kind = 1 AND p.depth < 10000
	) SELECT id FROM p`, folder, user, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Crumb
	for rows.Next() {
		var c Crumb
		if err := rows.Scan(&c.ID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
