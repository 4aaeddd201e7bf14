package store

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"
)

// The guard on extraction codes. Every attempt at a link's code is
// counted in MySQL before the code is checked, per link (keyed by the
// sha256 of the token asked for, so that a token that does not exist
// costs and answers the same) and per client address: concurrent guesses
// serialise on the counter rows, so a burst cannot slip past the limit,
// and every program shares the count. A key that had its share of
// failures within the window refuses further attempts until the window,
// which starts with its first failure, is over. A right code takes its own
// attempt back.

// Defaults of the guard (Options.LinkCodeFailures, LinkAddrFailures,
// LinkGuardWindow).
const (
	DefaultLinkCodeFailures = 5
	DefaultLinkAddrFailures = 20
	DefaultLinkGuardWindow  = 10 * time.Minute
)

func (s *Store) linkGuardKeys(token, addr string) []throttleKey {
	keys := []throttleKey{{"l:" + hashToken(token), s.opt.LinkCodeFailures}}
	if addr != "" {
		a := "a:" + addr
		if len(a) > 200 {
			a = a[:200]
		}
		keys = append(keys, throttleKey{a, s.opt.LinkAddrFailures})
	}
	// A fixed lock order: two attempts never wait on each other crosswise.
	sort.Slice(keys, func(i, j int) bool { return keys[i].k < keys[j].k })
	return keys
}

// LinkGuardTry counts an attempt at the code of the link token from
// client address addr ("" when unknown), or refuses it with a
// *ThrottledError while the link or the address has used up its failures
// of the window. Call LinkGuardPass when the code was right.
func (s *Store) LinkGuardTry(ctx context.Context, token, addr string) error {
	keys := s.linkGuardKeys(token, addr)
	win := int64(s.opt.LinkGuardWindow / time.Second)
	var refused *ThrottledError
	err := s.tx(ctx, "link guard", func(tx *sql.Tx) error {
		refused = nil
		now := time.Now()
		type row struct {
			failures int
			start    int64
		}
		rows := make([]row, len(keys))
		for i, k := range keys {
			err := tx.QueryRowContext(ctx, "SELECT failures, window_start FROM link_guard WHERE k = ? FOR UPDATE", k.k).
				Scan(&rows[i].failures, &rows[i].start)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if now.Unix()-rows[i].start >= win {
				rows[i] = row{} // the window is over: start again
			}
			if rows[i].failures >= k.free {
				wait := time.Unix(rows[i].start+win, 0).Sub(now)
				if refused == nil || wait > refused.RetryAfter {
					refused = &ThrottledError{RetryAfter: wait}
				}
			}
		}
		if refused != nil {
			return nil
		}
		for i, k := range keys {
			start := rows[i].start
			if rows[i].failures == 0 {
				start = now.Unix()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO link_guard (k, failures, window_start) VALUES (?, ?, ?)
				ON DUPLICATE KEY UPDATE failures = VALUES(failures), window_start = VALUES(window_start)`,
				k.k, rows[i].failures+1, start); err != nil {
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

// LinkGuardPass takes back the attempt of a right code (best effort: a
// failure only leaves a count behind).
func (s *Store) LinkGuardPass(ctx context.Context, token, addr string) {
	for _, k := range s.linkGuardKeys(token, addr) {
		if _, err := s.db.ExecContext(ctx, "UPDATE link_guard SET failures = GREATEST(failures - 1, 0) WHERE k = ?", k.k); err != nil {
			s.log.Warn().Err(err).Msg("link guard: taking an attempt back failed")
		}
	}
}

// purgeLinkGuard deletes the counters whose window is over.
func (s *Store) purgeLinkGuard(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM link_guard WHERE window_start < ?", now.Add(-s.opt.LinkGuardWindow).Unix())
	return wrapDB("purge link guard", err)
}
