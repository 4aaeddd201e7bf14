package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxAppPasswords bounds how many app passwords one user keeps.
const MaxAppPasswords = 50

// AppPassword is one of a user's app passwords, as listed (never the secret).
type AppPassword struct {
	ID       int64
	Label    string
	Created  string // "YYYY-mm-dd HH:MM:SS", server local time
	LastUsed string // likewise; "" when never used
}

// appPassEncoding writes secrets in lower-case base32 without padding: no
// characters a shell, a URL or a config file would have to escape.
var appPassEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newAppSecret is 160 random bits as 32 characters, grouped by 4 with
// dashes for reading aloud: "abcd-efgh-…".
func newAppSecret() string {
	var b [20]byte
	rand.Read(b[:])
	s := appPassEncoding.EncodeToString(b[:])
	var out strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			out.WriteByte('-')
		}
		out.WriteString(s[i : i+4])
	}
	return out.String()
}

// normAppSecret drops the dashes and spaces a person may type or leave out.
func normAppSecret(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// CreateAppPassword makes a new app password for user and returns it: the
// only time the secret is seen. label says where it is used (1–64 bytes).
func (s *Store) CreateAppPassword(ctx context.Context, user, label string) (id int64, secret string, err error) {
	label = strings.TrimSpace(label)
	if label == "" || len(label) > 64 || !utf8.ValidString(label) {
		return 0, "", fmt.Errorf("%w: a label of 1 to 64 bytes is required", ErrInvalid)
	}
	if err := CheckNewName(label); err != nil {
		return 0, "", err
	}
	secret = newAppSecret()
	err = s.tx(ctx, "create app password", func(tx *sql.Tx) error {
		var n int
		// Locks the user's rows, so concurrent creations cannot pass the bound.
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM app_password WHERE user = ? FOR UPDATE", user).Scan(&n); err != nil {
			return err
		}
		if n >= MaxAppPasswords {
			return fmt.Errorf("%w: at most %d app passwords; revoke one first", ErrInvalid, MaxAppPasswords)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO app_password (user, label, pass_hash) VALUES (?, ?, ?)",
			user, label, hashToken(normAppSecret(secret)))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, "", err
	}
	return id, secret, nil
}

// AppPasswords lists user's app passwords, newest first.
func (s *Store) AppPasswords(ctx context.Context, user string) ([]AppPassword, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT id, label, DATE_FORMAT(create_time, '%Y-%m-%d %H:%i:%s'), COALESCE(DATE_FORMAT(last_used, '%Y-%m-%d %H:%i:%s'), '')"+
			" FROM app_password WHERE user = ? ORDER BY id DESC LIMIT ?", user, MaxAppPasswords)
	if err != nil {
		return nil, wrapDB("list app passwords", err)
	}
	defer rows.Close()
	out := []AppPassword{}
	for rows.Next() {
		var p AppPassword
		if err := rows.Scan(&p.ID, &p.Label, &p.Created, &p.LastUsed); err != nil {
			return nil, wrapDB("list app passwords", err)
		}
		out = append(out, p)
	}
	return out, wrapDB("list app passwords", rows.Err())
}

// RevokeAppPassword deletes one of user's app passwords; ErrNotFound when
// user has no such one.
func (s *Store) RevokeAppPassword(ctx context.Context, user string, id int64) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM app_password WHERE id = ? AND user = ?", id, user)
	if err != nil {
		return wrapDB("revoke app password", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("app password %d: %w", id, ErrNotFound)
	}
	return nil
}

// CheckAppPassword accepts (user, secret) when secret is one of user's app
// passwords, and records its use (at most once a minute, to spare writes).
// ErrBadCredentials otherwise.
func (s *Store) CheckAppPassword(ctx context.Context, user, secret string) error {
	secret = normAppSecret(secret)
	if user == "" || len(secret) != 32 {
		return ErrBadCredentials
	}
	var owner string
	var id int64
	var stale bool
	err := s.db.QueryRowContext(ctx,
		"SELECT id, user, last_used IS NULL OR last_used < NOW() - INTERVAL 1 MINUTE FROM app_password WHERE pass_hash = ?",
		hashToken(secret)).Scan(&id, &owner, &stale)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != user) {
		return ErrBadCredentials
	}
	if err != nil {
		return wrapDB("check app password", err)
	}
	if stale {
		if _, err := s.db.ExecContext(ctx, "UPDATE app_password SET last_used = CURRENT_TIMESTAMP WHERE id = ?", id); err != nil {
			s.log.Warn().Err(err).Msg("app password: last use not recorded")
		}
	}
	return nil
}
