package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
)

// FileItem is one entry of a list ([D] naming in the JSON layer).
type FileItem struct {
	ID          int64 // the user_file_list row (0 in the public list)
	User        string
	MD5         string
	CreateTime  string // "YYYY-mm-dd HH:MM:SS", server local time
	FileName    string
	ShareStatus int
	PV          int64
	FileID      string
	URL         string // as recorded at upload; the app rebuilds it from FileID
	Size        int64
	Type        string
	Thumbs      string // file_info.thumbs: the content's thumbnail slaves (migration 0013)
}

// NewFile is a file just stored in the DFS, to record for User.
type NewFile struct {
	User, MD5, FileName, FileID, URL, Type string
	Size                                   int64
	FolderID                               int64 // the folder it goes to; 0: the root
}

// AddResult tells the caller of AddUploaded what happened to its DFS file.
type AddResult struct {
	FileID   string // the DFS file now holding the content
	Dup      bool   // the content was already stored: the new DFS file is garbage
	GCID     int64  // its dfs_gc row when Dup (delete the file, then GCDone)
	FileName string // the name recorded: the one asked for, or a free "stem (n).ext" when it was taken
}

// add_entry's statuses (migration 0010).
const (
	addOK = iota
	addExists
	addQuota
	addNoContent
	addNoFolder
)

// addStatusErr is the error of an add_entry status.
func addStatusErr(status int) error {
	switch status {
	case addOK:
		return nil
	case addExists:
		return ErrExists
	case addQuota:
		return ErrQuota
	case addNoContent:
		return ErrNoContent
	case addNoFolder:
		return ErrNoFolder
	}
	return fmt.Errorf("add entry: unknown status %d", status)
}

// Order is the sort of a user's list.
type Order int

const (
	OrderNormal Order = iota // upload order (the course had no ORDER BY)
	OrderPVAsc
	OrderPVDesc
)

// MaxFileName is the longest name accepted, in bytes.
const MaxFileName = 255

// ValidMD5 reports whether s is 32 lower-case hex digits.
func ValidMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidFileName accepts the names a user sees: UTF-8, 1..255 bytes, no
// control characters, no '/' or '\\' (there are no folders), not "." or
// "..". Names are data only (never paths on our side), so quotes, ';',
// '%' and the like are fine.
func ValidFileName(s string) bool {
	if s == "" || len(s) > MaxFileName || !utf8.ValidString(s) || s == "." || s == ".." {
		return false
	}
	if strings.TrimSpace(s) == "" {
		return false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func checkRef(user, md5, name string) error {
	if user == "" || !ValidMD5(md5) || !ValidFileName(name) {
		return fmt.Errorf("%w: user, md5 (32 lower-case hex) and file name required", ErrInvalid)
	}
	return nil
}

// checkNewRef is checkRef for calls that create or publish an entry: the
// name must pass CheckNewFileName too.
func checkNewRef(user, md5, name string) error {
	if err := checkRef(user, md5, name); err != nil {
		return err
	}
	return CheckNewFileName(name)
}

// FileByMD5 returns the DFS file ID holding content md5, if any.
func (s *Store) FileByMD5(ctx context.Context, md5 string) (string, bool, error) {
	var id string
	err := s.db.QueryRowContext(ctx, "SELECT file_id FROM file_info WHERE md5 = ?", md5).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, wrapDB("file by md5", err)
	}
	return id, true, nil
}

// AddUploaded records f after its upload to the DFS, in the user's folder
// f.FolderID (0: the root; ErrNotFound when it is not the user's live
// folder). When the content is already known (a concurrent or earlier upload
// of the same bytes), the existing file is referenced (count + 1) and
// f.FileID is queued in dfs_gc in the same transaction; the caller deletes
// it and calls GCDone. A name the folder holds with other content (or as a
// folder) is recorded under a free name "stem (n).ext" (AddResult.FileName).
// With ErrExists (the folder holds this md5 under this name, or under the
// free name it would get: AddResult.FileName) or ErrQuota (the user's
// quota cannot take f.Size more bytes) nothing is recorded and the caller
// deletes f.FileID itself.
// Concurrent calls share one transaction (addbatch.go).
func (s *Store) AddUploaded(ctx context.Context, f NewFile) (AddResult, error) {
	if err := checkNewRef(f.User, f.MD5, f.FileName); err != nil {
		return AddResult{}, err
	}
	// The transaction runs inside the server (migrations 0004, 0009): once
	// CALL is sent its outcome is known only from the answer, so a caller
	// that goes away must not cut it short (the connection would be closed
	// and the outcome unknown); the driver's read timeout bounds it.
	ctx = context.WithoutCancel(ctx)
	res, err := s.adds.add(ctx, f)
	if err == nil {
		s.usage.add(f.User, f.Size)
	}
	return res, err
}

// addOne records one upload with add_upload (AddUploaded's semantics).
func (s *Store) addOne(ctx context.Context, f NewFile) (AddResult, error) {
	for attempt := 1; ; attempt++ {
		res := AddResult{}
		var status int
		err := s.db.QueryRowContext(ctx, "CALL add_upload(?, ?, ?, ?, ?, ?, ?, ?, ?)",
			f.User, f.MD5, f.FileName, f.FileID, f.URL, f.Size, f.Type, s.opt.Quota, f.FolderID).Scan(&res.FileID, &res.GCID, &status, &res.FileName)
		var me *mysql.MySQLError
		switch {
		case err == nil:
			if err := addStatusErr(status); err != nil {
				return AddResult{FileName: res.FileName}, err // ErrExists: the name that holds it
			}
			res.Dup = res.GCID > 0
			return res, nil
		case isDeadlock(err) && attempt < maxTxAttempts:
			time.Sleep(time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond)
			continue
		case errors.As(err, &me), errors.Is(err, driver.ErrBadConn):
			// The server answered with an error (the procedure rolled
			// back), or the connection was found dead before sending.
			return AddResult{}, wrapDB("add upload", err)
		default:
			// CALL went out and no answer came back: it may have committed.
			return AddResult{}, fmt.Errorf("add upload: %w (%w)", ErrCommitUnknown, err)
		}
	}
}

// addEntry links known content md5 as a new entry of user in folder
// (add_entry inside tx): the name recorded (a free one when name is
// taken by other content), ErrExists (with the name) when the folder holds
// this content under it, ErrNoContent when md5 is unknown, ErrQuota.
func (s *Store) addEntry(ctx context.Context, tx *sql.Tx, user string, folder int64, md5, name string) (string, error) {
	if _, err := tx.ExecContext(ctx, "CALL add_entry(?, ?, ?, ?, '', '', 0, '', ?, @st, @nm, @fid, @gc)",
		user, folder, md5, name, s.opt.Quota); err != nil {
		return "", err
	}
	var status int
	var got string
	if err := tx.QueryRowContext(ctx, "SELECT @st, @nm").Scan(&status, &got); err != nil {
		return "", err
	}
	return got, addStatusErr(status)
}

// LinkExisting is the instant upload (/md5): reference content already
// stored, in the root folder. ErrExists (code 005), ErrNoContent (007).
func (s *Store) LinkExisting(ctx context.Context, user, md5, name string) error {
	_, err := s.LinkInto(ctx, user, 0, md5, name)
	return err
}

// LinkInto references content already stored as user's entry name in
// folder (0: the root) and returns the name recorded: name, or a free
// "stem (n).ext" when the folder holds name with other content.
// ErrExists (with the name) when it holds this content under this name or
// the free name it would get, ErrNoContent,
// ErrQuota, ErrNotFound for a folder that is not the user's live folder.
func (s *Store) LinkInto(ctx context.Context, user string, folder int64, md5, name string) (string, error) {
	if err := checkNewRef(user, md5, name); err != nil {
		return "", err
	}
	var got string
	err := s.tx(ctx, "instant upload", func(tx *sql.Tx) error {
		var err error
		got, err = s.addEntry(ctx, tx, user, folder, md5, name)
		return err
	})
	return got, err
}

// SaveShared copies a shared file into user's root folder (转存) by
// reference. Only a currently shared (md5, name) can be saved: ErrNotFound
// otherwise, ErrExists when the user already has it (which includes the
// sharer).
func (s *Store) SaveShared(ctx context.Context, user, md5, name string) error {
	_, err := s.SaveSharedInto(ctx, user, 0, md5, name)
	return err
}

// SaveSharedInto is SaveShared into folder; it returns the name recorded
// (a free "stem (n).ext" when name is taken there by other content).
func (s *Store) SaveSharedInto(ctx context.Context, user string, folder int64, md5, name string) (string, error) {
	if err := checkNewRef(user, md5, name); err != nil {
		return "", err
	}
	var got string
	err := s.tx(ctx, "save share", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM share_file_list WHERE md5 = ? AND file_name = ? LOCK IN SHARE MODE", md5, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		got, err = s.addEntry(ctx, tx, user, folder, md5, name)
		if errors.Is(err, ErrNoContent) {
			return ErrNotFound
		}
		return err
	})
	return got, err
}

// DeleteResult tells the caller of DeleteFile what to do next.
type DeleteResult struct {
	Unshared bool   // the entry was shared; its share is gone too
	FileID   string // the last reference went: delete this DFS file...
	GCID     int64  // ...then call GCDone(GCID)
	Thumbs   string // ...and these thumbnail slaves of it (file_info.thumbs)
}

// DeleteFile removes user's entry (md5, name) for good (the root's, else
// one in a folder): its share if any, the user counters, and one reference;
// at zero references the file_info row goes and the DFS file is queued in
// dfs_gc in the same transaction, so a crash before the DFS delete leaves a
// retryable record, not an orphan. (/dealfile?cmd=del moves the entry to
// the trash instead: TrashFile.)
func (s *Store) DeleteFile(ctx context.Context, user, md5, name string) (DeleteResult, error) {
	if err := checkRef(user, md5, name); err != nil {
		return DeleteResult{}, err
	}
	var res DeleteResult
	var un []unshared
	err := s.tx(ctx, "delete", func(tx *sql.Tx) error {
		res = DeleteResult{}
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		e, err := courseEntry(ctx, tx, user, md5, name)
		if err != nil {
			return err
		}
		tid, u, err := s.trashTx(ctx, tx, user, e)
		if err != nil {
			return err
		}
		un = u
		gc, err := purgeTx(ctx, tx, user, tid)
		if err != nil {
			return err
		}
		res.Unshared = len(un) > 0
		if len(gc) > 0 {
			res.FileID, res.GCID, res.Thumbs = gc[0].FileID, gc[0].GCID, gc[0].Thumbs
		}
		return nil
	})
	if err != nil {
		return DeleteResult{}, err
	}
	s.applyUnshares(ctx, un)
	return res, nil
}

// TrashFile moves user's entry (md5, name) (the root's, else one in a
// folder) to the trash (/dealfile?cmd=del): Trash with the entry's id.
func (s *Store) TrashFile(ctx context.Context, user, md5, name string) error {
	if err := checkRef(user, md5, name); err != nil {
		return err
	}
	var un []unshared
	err := s.tx(ctx, "trash", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		e, err := courseEntry(ctx, tx, user, md5, name)
		if err != nil {
			return err
		}
		_, un, err = s.trashTx(ctx, tx, user, e)
		return err
	})
	if err != nil {
		return err
	}
	s.applyUnshares(ctx, un)
	return nil
}

// courseEntry locks user's live file entry (md5, name), the root's first:
// the course's way of naming an entry.
func courseEntry(ctx context.Context, tx *sql.Tx, user, md5, name string) (lockedEntry, error) {
	var e lockedEntry
	err := tx.QueryRowContext(ctx, "SELECT "+lockedCols+" FROM user_file_list WHERE user = ? AND md5 = ? AND file_name = ? AND kind = 0 AND trash_id = 0 ORDER BY folder_id <> 0, id LIMIT 1 FOR UPDATE",
		user, md5, name).Scan(e.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// AddPV adds one download to user's own entry (/dealfile?cmd=pv).
func (s *Store) AddPV(ctx context.Context, user, md5, name string) error {
	_, err := s.addPV(ctx, user, md5, name, nil)
	return err
}

// AddPVOnce is AddPV counted once per PVWindow for the entry; a repeat is
// no error (counted false).
func (s *Store) AddPVOnce(ctx context.Context, user, md5, name string) (counted bool, err error) {
	return s.addPV(ctx, user, md5, name, []string{seenKey("own", "u:"+user, md5, name)})
}

func (s *Store) addPV(ctx context.Context, user, md5, name string, seen []string) (bool, error) {
	if err := checkRef(user, md5, name); err != nil {
		return false, err
	}
	var counted bool
	err := s.tx(ctx, "pv", func(tx *sql.Tx) error {
		e, err := courseEntry(ctx, tx, user, md5, name)
		if err != nil {
			return err
		}
		id := e.ID
		if counted, err = markSeen(ctx, tx, seen); err != nil || !counted {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE user_file_list SET pv = pv + 1 WHERE id = ?", id)
		return err
	})
	return counted, err
}

// UserFileCount is the number of the user's live files in the root folder
// (what ListUserFiles lists).
func (s *Store) UserFileCount(ctx context.Context, user string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_file_list WHERE user = ? AND folder_id = 0 AND trash_id = 0 AND kind = 0", user).Scan(&n)
	return n, wrapDB("user file count", err)
}

// MaxPage bounds one list page.
const MaxPage = 1000

func checkPage(start, count int) error {
	if start < 0 || count <= 0 || count > MaxPage {
		return fmt.Errorf("%w: start >= 0 and 1 <= count <= %d", ErrInvalid, MaxPage)
	}
	return nil
}

const itemCols = "DATE_FORMAT(%[1]s.create_time, '%%Y-%%m-%%d %%H:%%i:%%s'), %[1]s.file_name, %[1]s.pv, f.file_id, f.url, f.size, f.type, f.thumbs"

// ListUserFiles returns a page of user's live files in the root folder
// (the course's list). Ties are broken by id, so pages are stable.
func (s *Store) ListUserFiles(ctx context.Context, user string, order Order, start, count int) ([]FileItem, error) {
	if err := checkPage(start, count); err != nil {
		return nil, err
	}
	by := "u.id"
	switch order {
	case OrderPVAsc:
		by = "u.pv ASC, u.id ASC"
	case OrderPVDesc:
		by = "u.pv DESC, u.id ASC"
	}
	q := "SELECT u.id, u.user, u.md5, u.shared_status, " + fmt.Sprintf(itemCols, "u") +
		" FROM user_file_list u JOIN file_info f ON f.md5 = u.md5 WHERE u.user = ? AND u.folder_id = 0 AND u.trash_id = 0 AND u.kind = 0 ORDER BY " + by + " LIMIT ?, ?"
	return s.items(ctx, q, user, start, count)
}

// ListShared returns a page of the public list, in share order.
func (s *Store) ListShared(ctx context.Context, start, count int) ([]FileItem, error) {
	if err := checkPage(start, count); err != nil {
		return nil, err
	}
	q := "SELECT 0, s.user, s.md5, 1, " + fmt.Sprintf(itemCols, "s") +
		" FROM share_file_list s JOIN file_info f ON f.md5 = s.md5 ORDER BY s.id LIMIT ?, ?"
	return s.items(ctx, q, start, count)
}

func (s *Store) items(ctx context.Context, q string, args ...any) ([]FileItem, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrapDB("list", err)
	}
	defer rows.Close()
	out := []FileItem{}
	for rows.Next() {
		var it FileItem
		if err := rows.Scan(&it.ID, &it.User, &it.MD5, &it.ShareStatus, &it.CreateTime, &it.FileName, &it.PV,
			&it.FileID, &it.URL, &it.Size, &it.Type, &it.Thumbs); err != nil {
			return nil, wrapDB("list", err)
		}
		out = append(out, it)
	}
	return out, wrapDB("list", rows.Err())
}

// UserFile returns user's live entry (md5, name) (the root's, else one in
// a folder: the content is the same), or ErrNotFound.
func (s *Store) UserFile(ctx context.Context, user, md5, name string) (FileItem, error) {
	if err := checkRef(user, md5, name); err != nil {
		return FileItem{}, err
	}
	q := "SELECT u.id, u.user, u.md5, u.shared_status, " + fmt.Sprintf(itemCols, "u") +
		" FROM user_file_list u JOIN file_info f ON f.md5 = u.md5 WHERE u.user = ? AND u.md5 = ? AND u.file_name = ? AND u.trash_id = 0 AND u.kind = 0 ORDER BY u.folder_id <> 0, u.id LIMIT 1"
	it, err := s.items(ctx, q, user, md5, name)
	if err != nil {
		return FileItem{}, err
	}
	if len(it) == 0 {
		return FileItem{}, ErrNotFound
	}
	return it[0], nil
}

// SharedFile returns the public entry (md5, name), or ErrNotFound.
func (s *Store) SharedFile(ctx context.Context, md5, name string) (FileItem, error) {
	if !ValidMD5(md5) || !ValidFileName(name) {
		return FileItem{}, fmt.Errorf("%w: md5 and file name required", ErrInvalid)
	}
	q := "SELECT 0, s.user, s.md5, 1, " + fmt.Sprintf(itemCols, "s") +
		" FROM share_file_list s JOIN file_info f ON f.md5 = s.md5 WHERE s.md5 = ? AND s.file_name = ?"
	it, err := s.items(ctx, q, md5, name)
	if err != nil {
		return FileItem{}, err
	}
	if len(it) == 0 {
		return FileItem{}, ErrNotFound
	}
	return it[0], nil
}

// queueGC records a DFS file to delete. next_try leaves the request that
// queued it time to delete it itself.
func queueGC(ctx context.Context, tx *sql.Tx, fileID, reason string) (int64, error) {
	r, err := tx.ExecContext(ctx, "INSERT INTO dfs_gc (file_id, reason, next_try) VALUES (?, ?, ?)",
		fileID, reason, time.Now().Add(time.Minute).Unix())
	if err != nil {
		return 0, err
	}
	return r.LastInsertId()
}
