package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
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
// bytes are stored. The recording checks again, atomically. With
// Options.QuotaCacheAge, a usage read less than that age ago (plus what
// this Store recorded since) lets an upload through without asking MySQL;
// a refusal is always confirmed by MySQL first.
func (s *Store) CheckQuota(ctx context.Context, user string, size int64) error {
	now := time.Now()
	if u, ok := s.usage.get(user, now); ok && u.fits(size) {
		return nil
	}
	u := usageEntry{quota: s.opt.Quota}
	quota := sql.NullInt64{Int64: s.opt.Quota, Valid: true}
	err := s.db.QueryRowContext(ctx, "SELECT bytes, COALESCE(quota, ?) FROM user_file_count WHERE user = ?", s.opt.Quota, user).Scan(&u.used, &quota)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return wrapDB("check quota", err)
	}
	u.quota = quota.Int64
	s.usage.put(user, u, now)
	if !u.fits(size) {
		return fmt.Errorf("%w: %d bytes used of %d, %d more do not fit", ErrQuota, u.used, u.quota, size)
	}
	return nil
}

// maxUsageCacheEntries bounds the usage cache; past it, it starts afresh.
const maxUsageCacheEntries = 4096

// usageCache keeps, per user, the usage CheckQuota last read, for uploads
// in a burst: the query was a round trip and a statement per upload. Only
// CheckQuota's pass reads it; the recording checks the quota atomically,
// so a usage that went up elsewhere meanwhile costs at most an upload
// refused after its bytes were stored instead of before.
type usageCache struct {
	age time.Duration // 0: off
	mu  sync.Mutex
	m   map[string]usageEntry
}

type usageEntry struct {
	used, quota int64 // quota 0: unlimited
	at          time.Time
}

func (u usageEntry) fits(size int64) bool { return u.quota <= 0 || u.used+size <= u.quota }

func newUsageCache(age time.Duration) *usageCache {
	return &usageCache{age: age, m: map[string]usageEntry{}}
}

func (c *usageCache) get(user string, now time.Time) (usageEntry, bool) {
	if c.age <= 0 {
		return usageEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.m[user]
	return u, ok && now.Sub(u.at) < c.age
}

func (c *usageCache) put(user string, u usageEntry, now time.Time) {
	if c.age <= 0 {
		return
	}
	u.at = now
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxUsageCacheEntries {
		clear(c.m)
	}
	c.m[user] = u
}

// add counts bytes this Store recorded for user.
func (c *usageCache) add(user string, bytes int64) {
	if c.age <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if u, ok := c.m[user]; ok {
		u.used += bytes
		c.m[user] = u
	}
}

func (c *usageCache) drop(user string) {
	if c.age <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, user)
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
	s.usage.drop(user)
	return wrapDB("set quota", err)
}
