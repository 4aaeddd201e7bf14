package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Share links (分享链接, migration 0011): a link to one of a user's entries
// that anyone holding its token, and its extraction code when it has one,
// can open without an account. A link is live until it is revoked or
// expires, and while the entry it points to is there; every other state
// answers ErrNotFound alike, so that nobody learns what became of a link.

// The kinds of links: to a file entry or to a folder entry (both
// user_file_list.id). A folder link reaches the folder and everything
// live below it, never above it.
const (
	LinkKindFile   = "file"
	LinkKindFolder = "folder"
)

// LinkCodeLen is the length of an extraction code: [a-z0-9], as Baidu's.
const LinkCodeLen = 4

// NewLink is a link to create.
type NewLink struct {
	User      string
	Kind      string // LinkKindFile or LinkKindFolder
	ItemID    int64
	Code      string        // "" for none, else LinkCodeLen of [a-z0-9]
	ExpiresIn time.Duration // 0: never
}

// Link is a share link with what it points to.
type Link struct {
	ID         int64
	Token      string
	User       string
	Nick       string // the owner's nickname (OpenLink only)
	Kind       string
	ItemID     int64
	HasCode    bool
	ExpireTime int64 // unix seconds, 0: never
	Revoked    bool
	Downloads  int64
	Views      int64
	CreateTime string // "YYYY-mm-dd HH:MM:SS"
	// The entry, unless Gone (a folder's name only).
	Gone     bool
	FileName string
	MD5      string
	FileID   string
	Size     int64
	Type     string

	codeHash string
}

// Link states, as the owner's list shows them.
const (
	LinkActive  = "active"
	LinkExpired = "expired"
	LinkRevoked = "revoked"
	LinkGone    = "gone" // the entry was deleted
)

// State is what became of the link at now.
func (l Link) State(now time.Time) string {
	switch {
	case l.Revoked:
		return LinkRevoked
	case l.ExpireTime != 0 && l.ExpireTime <= now.Unix():
		return LinkExpired
	case l.Gone:
		return LinkGone
	}
	return LinkActive
}

// File is the entry as a FileItem (for streaming it).
func (l Link) File() FileItem {
	return FileItem{User: l.User, MD5: l.MD5, FileName: l.FileName, FileID: l.FileID, Size: l.Size, Type: l.Type}
}

// ValidLinkToken reports whether s has the shape of a link token (16
// random bytes, base64url without padding).
func ValidLinkToken(s string) bool {
	if len(s) != 22 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidLinkCode reports whether s is an extraction code: LinkCodeLen of
// [a-z0-9].
func ValidLinkCode(s string) bool {
	if len(s) != LinkCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const codeAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewLinkCode draws an extraction code from crypto/rand.
func NewLinkCode() string {
	b := make([]byte, LinkCodeLen)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(codeAlphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		b[i] = codeAlphabet[n.Int64()]
	}
	return string(b)
}

// linkCodeHash is what is kept of a code: keyed by the token, so one
// table of hashes does not fit every link; the guard (LinkGuardTry) is
// what makes four characters enough.
func linkCodeHash(token, code string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckCode reports whether code opens l (always true without a code).
// Upper case is taken as lower case.
func (l Link) CheckCode(code string) bool {
	if !l.HasCode {
		return true
	}
	got := linkCodeHash(l.Token, strings.ToLower(code))
	return hmac.Equal([]byte(got), []byte(l.codeHash))
}

// linkEntries is the one query that says which entries links reach:
// user's live entries among ids, files with their content and folders by
// name, with their kind. An entry in the trash is not reached (its link
// answers "gone" until it is restored); a trashed folder's whole subtree
// carries its trash id, so a live folder's ancestors are live too.
func linkEntries(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, user string, ids []int64) (map[int64]Link, error) {
	out := map[int64]Link{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{user}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, "SELECT u.id, u.kind, u.file_name, u.md5, COALESCE(f.file_id, ''), COALESCE(f.size, 0), COALESCE(f.type, '')"+
		" FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5 AND u.kind = 0"+
		" WHERE u.user = ? AND u.trash_id = 0 AND u.id IN (?"+strings.Repeat(", ?", len(ids)-1)+")"+
		" AND (u.kind = 1 OR f.md5 IS NOT NULL)", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var kind Kind
		var e Link
		if err := rows.Scan(&id, &kind, &e.FileName, &e.MD5, &e.FileID, &e.Size, &e.Type); err != nil {
			return nil, err
		}
		e.Kind = LinkKindFile
		if kind == KindFolder {
			e.Kind, e.MD5 = LinkKindFolder, ""
		}
		out[id] = e
	}
	return out, rows.Err()
}

// withEntry fills in l's entry from es, or marks it Gone: an entry of
// another kind than the link's is not its entry.
func (l *Link) withEntry(es map[int64]Link) {
	e, ok := es[l.ItemID]
	if !ok || e.Kind != l.Kind {
		l.Gone = true
		return
	}
	l.FileName, l.MD5, l.FileID, l.Size, l.Type = e.FileName, e.MD5, e.FileID, e.Size, e.Type
}

// CreateLink makes a link to one of nl.User's entries. ErrNotFound when
// the user has no such entry, ErrInvalid for a bad kind, code or expiry.
func (s *Store) CreateLink(ctx context.Context, nl NewLink) (Link, error) {
	switch {
	case nl.User == "":
		return Link{}, fmt.Errorf("%w: no user", ErrInvalid)
	case nl.Kind != LinkKindFile && nl.Kind != LinkKindFolder:
		return Link{}, fmt.Errorf("%w: kind must be %q or %q", ErrInvalid, LinkKindFile, LinkKindFolder)
	case nl.Code != "" && !ValidLinkCode(nl.Code):
		return Link{}, fmt.Errorf("%w: the extraction code is %d of a-z and 0-9", ErrInvalid, LinkCodeLen)
	case nl.ExpiresIn < 0:
		return Link{}, fmt.Errorf("%w: negative expiry", ErrInvalid)
	}
	l := Link{User: nl.User, Kind: nl.Kind, ItemID: nl.ItemID, HasCode: nl.Code != ""}
	if nl.ExpiresIn > 0 {
		l.ExpireTime = time.Now().Add(nl.ExpiresIn).Unix()
	}
	err := s.tx(ctx, "create link", func(tx *sql.Tx) error {
		es, err := linkEntries(ctx, tx, nl.User, []int64{nl.ItemID})
		if err != nil {
			return err
		}
		if l.withEntry(es); l.Gone {
			return ErrNotFound
		}
		for attempt := 0; ; attempt++ {
			b := make([]byte, 16)
			rand.Read(b)
			l.Token = base64.RawURLEncoding.EncodeToString(b)
			var code any
			if nl.Code != "" {
				l.codeHash = linkCodeHash(l.Token, nl.Code)
				code = l.codeHash
			}
			var exp any
			if l.ExpireTime != 0 {
				exp = l.ExpireTime
			}
			r, err := tx.ExecContext(ctx, "INSERT INTO share_link (token, user, kind, item_id, code_hash, expire_time) VALUES (?, ?, ?, ?, ?, ?)",
				l.Token, l.User, l.Kind, l.ItemID, code, exp)
			if isDup(err) && attempt < 3 {
				continue // 128 random bits met again: draw anew
			}
			if err != nil {
				return err
			}
			l.ID, err = r.LastInsertId()
			return err
		}
	})
	if err != nil {
		return Link{}, err
	}
	l.CreateTime = time.Now().Format(time.DateTime)
	return l, nil
}

const linkCols = "l.id, l.token, l.user, l.kind, l.item_id, COALESCE(l.code_hash, ''), COALESCE(l.expire_time, 0), l.revoked, l.downloads, l.views, " +
	"DATE_FORMAT(l.create_time, '%Y-%m-%d %H:%i:%s')"

func scanLink(sc interface{ Scan(...any) error }, extra ...any) (Link, error) {
	var l Link
	err := sc.Scan(append([]any{&l.ID, &l.Token, &l.User, &l.Kind, &l.ItemID, &l.codeHash, &l.ExpireTime, &l.Revoked,
		&l.Downloads, &l.Views, &l.CreateTime}, extra...)...)
	l.HasCode = l.codeHash != ""
	return l, err
}

// ListLinks returns a page of user's links, newest first, with the
// number of links the user has.
func (s *Store) ListLinks(ctx context.Context, user string, start, count int) ([]Link, int64, error) {
	if err := checkPage(start, count); err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM share_link WHERE user = ?", user).Scan(&total); err != nil {
		return nil, 0, wrapDB("list links", err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+linkCols+" FROM share_link l WHERE l.user = ? ORDER BY l.id DESC LIMIT ?, ?", user, start, count)
	if err != nil {
		return nil, 0, wrapDB("list links", err)
	}
	out := []Link{}
	var ids []int64
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			rows.Close()
			return nil, 0, wrapDB("list links", err)
		}
		out = append(out, l)
		ids = append(ids, l.ItemID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, wrapDB("list links", err)
	}
	es, err := linkEntries(ctx, s.db, user, ids)
	if err != nil {
		return nil, 0, wrapDB("list links", err)
	}
	for i := range out {
		out[i].withEntry(es)
	}
	return out, total, nil
}

// RevokeLink ends user's link id for good (again: no error). ErrNotFound
// when user has no such link, whoever else may have it.
func (s *Store) RevokeLink(ctx context.Context, user string, id int64) error {
	r, err := s.db.ExecContext(ctx, "UPDATE share_link SET revoked = 1 WHERE id = ? AND user = ?", id, user)
	if err != nil {
		return wrapDB("revoke link", err)
	}
	if n, _ := r.RowsAffected(); n == 1 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM share_link WHERE id = ? AND user = ?", id, user).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return wrapDB("revoke link", err)
}

// OpenLink returns the live link with token and its entry; ErrNotFound
// alike for a token that never was, a revoked or expired link, and an
// entry that is no longer there.
func (s *Store) OpenLink(ctx context.Context, token string) (Link, error) {
	if !ValidLinkToken(token) {
		return Link{}, ErrNotFound
	}
	var nick string
	l, err := scanLink(s.db.QueryRowContext(ctx, "SELECT "+linkCols+", COALESCE(n.nick_name, l.user) FROM share_link l"+
		" LEFT JOIN user_info n ON n.user_name = l.user WHERE l.token = ?", token), &nick)
	if errors.Is(err, sql.ErrNoRows) {
		return Link{}, ErrNotFound
	}
	if err != nil {
		return Link{}, wrapDB("open link", err)
	}
	l.Nick = nick
	es, err := linkEntries(ctx, s.db, l.User, []int64{l.ItemID})
	if err != nil {
		return Link{}, wrapDB("open link", err)
	}
	l.withEntry(es)
	if l.State(time.Now()) != LinkActive {
		return Link{}, ErrNotFound
	}
	return l, nil
}

// CountLinkDownload counts one download of link id, once per client
// address per PVWindow (counted false for a repeat).
func (s *Store) CountLinkDownload(ctx context.Context, id int64, addr string) (bool, error) {
	return s.countLink(ctx, "downloads", id, addr)
}

// CountLinkView counts one opening of link id's landing page, once per
// client address per PVWindow.
func (s *Store) CountLinkView(ctx context.Context, id int64, addr string) (bool, error) {
	return s.countLink(ctx, "views", id, addr)
}

func (s *Store) countLink(ctx context.Context, col string, id int64, addr string) (bool, error) {
	var counted bool
	err := s.tx(ctx, "count link "+col, func(tx *sql.Tx) error {
		var err error
		key := hashToken(fmt.Sprintf("link %s\x00a:%s\x00%d", col, addr, id))
		if counted, err = markSeen(ctx, tx, []string{key}); err != nil || !counted {
			return err
		}
		// col is one of two constants (CountLinkDownload, CountLinkView).
		_, err = tx.ExecContext(ctx, "UPDATE share_link SET "+col+" = "+col+" + 1 WHERE id = ?", id)
		return err
	})
	return counted, err
}

// LinkSecret is the key that signs download grants: 32 random bytes, made
// by the first program that asks and kept in MySQL, so that every program
// signs and checks alike.
func (s *Store) LinkSecret(ctx context.Context) ([]byte, error) {
	b := make([]byte, 32)
	rand.Read(b)
	if _, err := s.db.ExecContext(ctx, "INSERT IGNORE INTO link_secret (id, secret) VALUES (1, ?)", hex.EncodeToString(b)); err != nil {
		return nil, wrapDB("link secret", err)
	}
	var h string
	if err := s.db.QueryRowContext(ctx, "SELECT secret FROM link_secret WHERE id = 1").Scan(&h); err != nil {
		return nil, wrapDB("link secret", err)
	}
	key, err := hex.DecodeString(h)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("link secret: the stored key is not hex of 16 bytes or more")
	}
	return key, nil
}
