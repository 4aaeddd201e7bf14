package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Login throttling. Every attempt is counted, per account (the folded user
// name, whether it exists or not) and per client address, in MySQL before
// the password is checked: concurrent guesses serialise on the counter rows,
// so a burst cannot slip past the limit, and the state is shared by every
// program and survives Redis. After the free failures each further one
// locks the key for a doubling delay (1 s, 2 s, 4 s, … up to the maximum);
// attempts during a lock are refused without running bcrypt and do not
// count. A success clears the account's counter and takes back its own
// count from the address. Counters start over after throttleWindow
// without attempts.

// throttleWindow is how long a counter is remembered after its last attempt.
const throttleWindow = 15 * time.Minute

// ThrottledError refuses a login attempt; RetryAfter is when to try again.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed login attempts, try again in %d s", e.RetrySeconds())
}

// RetrySeconds is RetryAfter rounded up to whole seconds (at least 1).
func (e *ThrottledError) RetrySeconds() int64 {
	return max(1, int64(math.Ceil(e.RetryAfter.Seconds())))
}

type throttleKey struct {
	k    string
	free int // failures allowed before locking
}

// throttleKeys are the counters of an attempt, in a fixed order (rows are
// locked in that order, so two attempts never wait on each other crosswise).
func (s *Store) throttleKeys(user, addr string) []throttleKey {
	keys := []throttleKey{{"u:" + FoldName(user), s.opt.LoginUserFailures}}
	if addr != "" {
		keys = append(keys, throttleKey{"a:" + addr, s.opt.LoginAddrFailures})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].k < keys[j].k })
	for i := range keys {
		if len(keys[i].k) > 200 {
			keys[i].k = keys[i].k[:200]
		}
	}
	return keys
}

// lockFor is the lock after n failures with free allowed.
func (s *Store) lockFor(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := time.Second << min(n-free, 20)
	return min(d, s.opt.LoginMaxLock)
}

// throttleTry refuses an attempt on a locked key (*ThrottledError) and
// otherwise counts it on every key.
func (s *Store) throttleTry(ctx context.Context, keys []throttleKey) error {
	var refused *ThrottledError
	err := s.tx(ctx, "login throttle", func(tx *sql.Tx) error {
		refused = nil
		now := time.Now()
		type row struct {
			failures      int
			lastTry, lock int64
		}
		rows := make([]row, len(keys))
		for i, k := range keys {
			err := tx.QueryRowContext(ctx, "SELECT failures, last_try, locked_until FROM login_throttle WHERE k = ? FOR UPDATE", k.k).
				Scan(&rows[i].failures, &rows[i].lastTry, &rows[i].lock)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if wait := time.UnixMilli(rows[i].lock).Sub(now); wait > 0 && (refused == nil || wait > refused.RetryAfter) {
				refused = &ThrottledError{RetryAfter: wait}
			}
		}
		if refused != nil {
			return nil
		}
		for i, k := range keys {
			n := rows[i].failures + 1
			if now.Unix()-rows[i].lastTry > int64(throttleWindow/time.Second) {
				n = 1
			}
			var lock int64
			if d := s.lockFor(n, k.free); d > 0 {
				lock = now.Add(d).UnixMilli()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO login_throttle (k, failures, last_try, locked_until) VALUES (?, ?, ?, ?)
				ON DUPLICATE KEY UPDATE failures = VALUES(failures), last_try = VALUES(last_try), locked_until = VALUES(locked_until)`,
				k.k, n, now.Unix(), lock); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	return nil
}

// throttleSuccess clears the account's counter and takes the attempt back
// from the address's (best effort: a failure only leaves a count behind).
func (s *Store) throttleSuccess(ctx context.Context, keys []throttleKey) {
	for _, k := range keys {
		q := "DELETE FROM login_throttle WHERE k = ?"
		if k.k[0] == 'a' {
			q = "UPDATE login_throttle SET failures = GREATEST(failures - 1, 0) WHERE k = ?"
		}
		if _, err := s.db.ExecContext(ctx, q, k.k); err != nil {
			s.log.Warn().Err(err).Msg("login throttle: reset failed")
		}
	}
}
