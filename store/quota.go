package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Usage is what a user's entries hold against their quota.
type Usage struct {
	Used  int64 // bytes of the entries, live and trashed (each entry counts its size even when its content is shared)
	Quota int64 // 0: unlimited
	Trash int64 // bytes of the trashed entries (part of Used)
}

// Usage returns the user's usage and quota (user_file_count.bytes, kept
// in the transactions that add and purge entries).
func (s *Store) Usage(ctx context.Context, user string) (Usage, error) {
	if err := checkUser(user); err != nil {
		return Usage{}, err
	}
	u := Usage{Quota: s.opt.Quota}
	var own sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT bytes, quota FROM user_file_count WHERE user = ?", user).Scan(&u.Used, &own)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Usage{}, wrapDB("usage", err)
	}
	if own.Valid {
		u.Quota = own.Int64
	}
	err = s.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(bytes), 0) FROM trash WHERE user = ?", user).Scan(&u.Trash)
	return u, wrapDB("usage", err)
}

// CheckQuota refuses (ErrQuota) adding size bytes to the user's entries
// when their quota cannot take them now: the check before an upload's
// bytes are stored. The recording checks again, atomically.
func (s *Store) CheckQuota(ctx context.Context, user string, size int64) error {
	u, err := s.Usage(ctx, user)
	if err != nil {
		return err
	}
	if u.Quota > 0 && u.Used+size > u.Quota {
		return fmt.Errorf("%w: %d bytes used of %d, %d more do not fit", ErrQuota, u.Used, u.Quota, size)
	}
	return nil
}

// SetQuota gives the user a quota of their own (bytes, 0: unlimited), or
// with nil the default again.
func (s *Store) SetQuota(ctx context.Context, user string, quota *int64) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if quota != nil && *quota < 0 {
		return fmt.Errorf("%w: a quota is 0 (unlimited) or a number of bytes", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO user_file_count (user, count, quota) VALUES (?, 0, ?) ON DUPLICATE KEY UPDATE quota = VALUES(quota)", user, quota)
	return wrapDB("set quota", err)
}
