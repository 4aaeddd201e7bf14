package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// The ranking cache (FILE_PUBLIC_ZSET + FILE_NAME_HASH, member = md5 +
// file_name as in the course: md5 is exactly 32 hex characters, so the
// member splits without a separator) is kept exact with a version: MySQL's
// global_count.version is bumped by every share-list change in the same
// transaction, and FILE_PUBLIC_ZSET:built holds the version the cache
// reflects. A change is applied to Redis only when the cache is at the
// version just before it; otherwise, or when Redis was unreachable, the
// next ranking read sees a different version and rebuilds from MySQL.

const shareCounter = "share_file_list"

// addShareCount moves the share counter and returns the new version.
func addShareCount(ctx context.Context, tx *sql.Tx, delta int) error {
	_, err := tx.ExecContext(ctx, "UPDATE global_count SET count = GREATEST(count + ?, 0), version = version + 1 WHERE name = ?", delta, shareCounter)
	return err
}

func shareVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (count, version int64, err error) {
	err = q.QueryRowContext(ctx, "SELECT count, version FROM global_count WHERE name = ?", shareCounter).Scan(&count, &version)
	return
}

// rankScript applies one change if the cache is at version ARGV[1].
var rankScript = redis.NewScript(3, `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'add' then
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4])
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
else
  redis.call('ZREM', KEYS[2], ARGV[4])
  redis.call('HDEL', KEYS[3], ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1`)

// rankApply applies a share-list change made at version ver (best effort).
func (s *Store) rankApply(ctx context.Context, ver int64, op, md5, name string, score int64) {
	if !s.rd.up() {
		return
	}
	s.rd.do(ctx, func(c redis.Conn) error {
		_, err := rankScript.Do(c, s.keys.built, s.keys.publicZSet, s.keys.nameHash,
			strconv.FormatInt(ver-1, 10), strconv.FormatInt(ver, 10), op, md5+name, name, score)
		return err
	})
}

// Share publishes user's entry (md5, name). ErrNotFound when the user has
// no such entry, ErrAlreadyShared when it (or the same md5 and name of
// another user) is already public.
func (s *Store) Share(ctx context.Context, user, md5, name string) error {
	if err := checkNewRef(user, md5, name); err != nil {
		return err
	}
	var ver int64
	err := s.tx(ctx, "share", func(tx *sql.Tx) error {
		if err := lockUser(ctx, tx, user); err != nil {
			return err
		}
		e, err := courseEntry(ctx, tx, user, md5, name)
		if err != nil {
			return err
		}
		id := e.ID
		if e.Shared != 0 {
			return ErrAlreadyShared
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO share_file_list (user, md5, file_name, pv) VALUES (?, ?, ?, 0)", user, md5, name); err != nil {
			if isDup(err) {
				return ErrAlreadyShared
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET shared_status = 1 WHERE id = ?", id); err != nil {
			return err
		}
		if err := addShareCount(ctx, tx, 1); err != nil {
			return err
		}
		_, ver, err = shareVersion(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	s.rankApply(ctx, ver, "add", md5, name, 0)
	return nil
}

// CancelShare withdraws a share. Only the sharer may: ErrForbidden for
// another user's share, ErrNotFound when (md5, name) is not shared.
func (s *Store) CancelShare(ctx context.Context, user, md5, name string) error {
	if err := checkRef(user, md5, name); err != nil {
		return err
	}
	var ver int64
	err := s.tx(ctx, "cancel share", func(tx *sql.Tx) error {
		// Lock order as everywhere: user_file_list, then share_file_list.
		var ufl int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM user_file_list WHERE user = ? AND md5 = ? AND file_name = ? AND shared_status = 1 LIMIT 1 FOR UPDATE",
			user, md5, name).Scan(&ufl)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var id int64
		var owner string
		err = tx.QueryRowContext(ctx, "SELECT id, user FROM share_file_list WHERE md5 = ? AND file_name = ? FOR UPDATE", md5, name).Scan(&id, &owner)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if owner != user {
			return ErrForbidden
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM share_file_list WHERE id = ?", id); err != nil {
			return err
		}
		if ufl != 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE user_file_list SET shared_status = 0 WHERE id = ?", ufl); err != nil {
				return err
			}
		}
		if err := addShareCount(ctx, tx, -1); err != nil {
			return err
		}
		_, ver, err = shareVersion(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	s.rankApply(ctx, ver, "rem", md5, name, 0)
	return nil
}

// AddSharePV counts a download from the public list and returns the new pv.
func (s *Store) AddSharePV(ctx context.Context, md5, name string) (int64, error) {
	pv, _, err := s.addSharePV(ctx, md5, name, nil)
	return pv, err
}

// AddSharePVOnce counts a download of a public file by user from client
// address addr ("" when unknown) once per hour: a repeat by the same user
// or from the same address within PVWindow leaves the count and the
// ranking as they are (counted false) and is no error.
func (s *Store) AddSharePVOnce(ctx context.Context, user, addr, md5, name string) (pv int64, counted bool, err error) {
	seen := []string{seenKey("share", "u:"+user, md5, name)}
	if addr != "" {
		seen = append(seen, seenKey("share", "a:"+addr, md5, name))
	}
	return s.addSharePV(ctx, md5, name, seen)
}

func (s *Store) addSharePV(ctx context.Context, md5, name string, seen []string) (int64, bool, error) {
	if !ValidMD5(md5) || !ValidFileName(name) {
		return 0, false, ErrInvalid
	}
	var pv int64
	var counted bool
	err := s.tx(ctx, "share pv", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT pv FROM share_file_list WHERE md5 = ? AND file_name = ? FOR UPDATE", md5, name).Scan(&pv)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if counted, err = markSeen(ctx, tx, seen); err != nil || !counted {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE share_file_list SET pv = pv + 1 WHERE md5 = ? AND file_name = ?", md5, name); err != nil {
			return err
		}
		pv++
		return nil
	})
	if err != nil || !counted {
		return pv, false, err
	}
	// GT keeps the highest pv when concurrent updates land out of order; XX
	// does not resurrect a share cancelled meanwhile.
	ok := s.rd.up() && s.rd.do(ctx, func(c redis.Conn) error {
		_, err := c.Do("ZADD", s.keys.publicZSet, "XX", "GT", pv, md5+name)
		return err
	}) == nil
	if !ok {
		// The cache may now lag: make the next reader rebuild it.
		if _, err := s.db.ExecContext(ctx, "UPDATE global_count SET version = version + 1 WHERE name = ?", shareCounter); err != nil {
			s.log.Warn().Err(err).Msg("share pv: cannot invalidate the ranking cache")
		}
	}
	return pv, true, nil
}

// PVWindow is how long a download by one user or from one address counts
// once.
const PVWindow = time.Hour

// seenKey names one (kind, who, file) in pv_seen.
func seenKey(kind, who, md5, name string) string {
	return hashToken(kind + "\x00" + who + "\x00" + md5 + "\x00" + name)
}

// markSeen reports whether none of keys was seen within PVWindow and, if
// so, records them all. No keys: always fresh.
func markSeen(ctx context.Context, tx *sql.Tx, keys []string) (bool, error) {
	now := time.Now().Unix()
	for _, k := range keys {
		var until int64
		err := tx.QueryRowContext(ctx, "SELECT seen_until FROM pv_seen WHERE k = ? FOR UPDATE", k).Scan(&until)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		if until > now {
			return false, nil
		}
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, "INSERT INTO pv_seen (k, seen_until) VALUES (?, ?) ON DUPLICATE KEY UPDATE seen_until = VALUES(seen_until)",
			k, now+int64(PVWindow/time.Second)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// ShareCount is the number of public files.
func (s *Store) ShareCount(ctx context.Context) (int64, error) {
	n, _, err := shareVersion(ctx, s.db)
	return n, wrapDB("share count", err)
}

// RankItem is one line of the download ranking.
type RankItem struct {
	MD5, FileName string
	PV            int64
}

// Ranking returns a page of the public files by pv, highest first: from
// Redis (rebuilt from MySQL when its version differs), or from MySQL when
// Redis is down.
func (s *Store) Ranking(ctx context.Context, start, count int) ([]RankItem, error) {
	if err := checkPage(start, count); err != nil {
		return nil, err
	}
	if s.rd.up() {
		items, err := s.rankingRedis(ctx, start, count)
		if err == nil {
			return items, nil
		}
		s.log.Warn().Err(err).Msg("ranking from redis failed, using mysql")
	}
	rows, err := s.db.QueryContext(ctx, "SELECT md5, file_name, pv FROM share_file_list ORDER BY pv DESC, id ASC LIMIT ?, ?", start, count)
	if err != nil {
		return nil, wrapDB("ranking", err)
	}
	defer rows.Close()
	out := []RankItem{}
	for rows.Next() {
		var it RankItem
		if err := rows.Scan(&it.MD5, &it.FileName, &it.PV); err != nil {
			return nil, wrapDB("ranking", err)
		}
		out = append(out, it)
	}
	return out, wrapDB("ranking", rows.Err())
}

func (s *Store) rankingRedis(ctx context.Context, start, count int) ([]RankItem, error) {
	n, ver, err := shareVersion(ctx, s.db)
	if err != nil {
		return nil, wrapDB("ranking", err)
	}
	var out []RankItem
	err = s.rd.do(ctx, func(c redis.Conn) error {
		c.Send("GET", s.keys.built)
		c.Send("ZCARD", s.keys.publicZSet)
		c.Flush()
		built, err := redis.String(c.Receive())
		if err != nil && !errors.Is(err, redis.ErrNil) {
			return err
		}
		card, err := redis.Int64(c.Receive())
		if err != nil {
			return err
		}
		if built != strconv.FormatInt(ver, 10) || card != n {
			if err := s.rebuildRanking(ctx, c, ver); err != nil {
				return err
			}
		}
		vals, err := redis.Strings(c.Do("ZREVRANGE", s.keys.publicZSet, start, start+count-1, "WITHSCORES"))
		if err != nil {
			return err
		}
		out = make([]RankItem, 0, len(vals)/2)
		for i := 0; i+1 < len(vals); i += 2 {
			m := vals[i]
			if len(m) <= 32 {
				continue
			}
			pv, _ := strconv.ParseFloat(vals[i+1], 64)
			out = append(out, RankItem{MD5: m[:32], FileName: m[32:], PV: int64(pv)})
		}
		return nil
	})
	return out, err
}

// rebuildRanking replaces the cache with MySQL's share list (read after
// ver, so the cache is at least as new as ver) in one MULTI.
func (s *Store) rebuildRanking(ctx context.Context, c redis.Conn, ver int64) error {
	rows, err := s.db.QueryContext(ctx, "SELECT md5, file_name, pv FROM share_file_list")
	if err != nil {
		return wrapDB("ranking rebuild", err)
	}
	defer rows.Close()
	z := redis.Args{}.Add(s.keys.publicZSet)
	h := redis.Args{}.Add(s.keys.nameHash)
	for rows.Next() {
		var md5, name string
		var pv int64
		if err := rows.Scan(&md5, &name, &pv); err != nil {
			return wrapDB("ranking rebuild", err)
		}
		z = z.Add(pv, md5+name)
		h = h.Add(md5+name, name)
	}
	if err := rows.Err(); err != nil {
		return wrapDB("ranking rebuild", err)
	}
	c.Send("MULTI")
	c.Send("DEL", s.keys.publicZSet, s.keys.nameHash)
	if len(z) > 1 {
		c.Send("ZADD", z...)
		c.Send("HSET", h...)
	}
	c.Send("SET", s.keys.built, ver, "EX", int64(RankingRebuildEvery.Seconds()))
	_, err = c.Do("EXEC")
	if err == nil {
		s.log.Debug().Int64("version", ver).Int("members", (len(z)-1)/2).Msg("ranking cache rebuilt")
	}
	return err
}
