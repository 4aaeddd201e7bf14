package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Redis key names. The ranking keys keep the course's names; tokens live
// under "token:" so that no user name can collide with them (docs/api.md §7.5).
type keys struct {
	publicZSet string // FILE_PUBLIC_ZSET: member md5+file_name, score pv
	nameHash   string // FILE_NAME_HASH: member → file_name
	built      string // FILE_PUBLIC_ZSET:built: present while the zset is known good
	tokenPfx   string // token:<sha256 hex of the token> → user name
}

func newKeys(prefix string) keys {
	return keys{
		publicZSet: prefix + "FILE_PUBLIC_ZSET",
		nameHash:   prefix + "FILE_NAME_HASH",
		built:      prefix + "FILE_PUBLIC_ZSET:built",
		tokenPfx:   prefix + "token:",
	}
}

// RankingRebuildEvery bounds how long a ranking cache that drifted from
// MySQL (a Redis write lost while Redis was flaky) is served.
const RankingRebuildEvery = 5 * time.Minute

// redisClient is a bounded redigo pool with a breaker: after a failure,
// optional uses skip Redis for RedisRetry instead of paying a timeout on
// every request.
type redisClient struct {
	pool      *redis.Pool
	retry     time.Duration
	downUntil atomic.Int64 // unix nanos
	run       atomic.Value // string: run_id of the instance the last connection reached
}

func newRedis(opt Options) *redisClient {
	dialOpts := []redis.DialOption{
		redis.DialConnectTimeout(500 * time.Millisecond),
		redis.DialReadTimeout(2 * time.Second),
		redis.DialWriteTimeout(2 * time.Second),
		redis.DialDatabase(opt.RedisDB),
	}
	if opt.RedisPassword != "" {
		dialOpts = append(dialOpts, redis.DialPassword(opt.RedisPassword))
	}
	addr := opt.RedisAddr
	rc := &redisClient{retry: opt.RedisRetry}
	rc.run.Store("")
	rc.pool = &redis.Pool{
		MaxIdle:     8,
		MaxActive:   opt.RedisMaxConns,
		Wait:        true,
		IdleTimeout: 2 * time.Minute,
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			c, err := redis.DialContext(ctx, "tcp", addr, dialOpts...)
			if err != nil {
				return nil, err
			}
			// Every connection to a restarted Redis is a new one: the
			// instance's run_id is learned before the connection is used.
			info, err := redis.String(c.Do("INFO", "server"))
			if err != nil {
				c.Close()
				return nil, err
			}
			rc.run.Store(runIDOf(info))
			return c, nil
		},
		TestOnBorrow: func(c redis.Conn, t time.Time) error {
			if time.Since(t) < 10*time.Second {
				return nil
			}
			_, err := c.Do("PING")
			return err
		},
	}
	return rc
}

// runIDOf finds "run_id:<hex>" in an INFO reply ("" when absent).
func runIDOf(info string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	return ""
}

// runID is the run_id of the Redis instance the pool talks to ("" when
// unknown: no cache entry is then trusted).
func (r *redisClient) runID() string { return r.run.Load().(string) }

func (r *redisClient) close() { r.pool.Close() }

// up reports whether optional uses should try Redis now.
func (r *redisClient) up() bool { return time.Now().UnixNano() >= r.downUntil.Load() }

func (r *redisClient) markDown() { r.downUntil.Store(time.Now().Add(r.retry).UnixNano()) }

// do runs fn on a pooled connection with a deadline. Errors other than
// "no such key" or a server reply error open the breaker.
func (r *redisClient) do(ctx context.Context, fn func(redis.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := r.pool.GetContext(ctx)
	if err != nil {
		r.markDown()
		return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
	}
	defer c.Close()
	err = fn(c)
	if err == nil || errors.Is(err, redis.ErrNil) {
		if r.downUntil.Load() != 0 {
			r.downUntil.Store(0) // it answered: close the breaker
		}
		return err
	}
	var re redis.Error
	if errors.As(err, &re) {
		return fmt.Errorf("redis: %w", err)
	}
	r.markDown()
	return fmt.Errorf("%w: redis: %w", ErrUnavailable, err)
}

// RedisUp pings Redis now (ignoring the breaker).
func (s *Store) RedisUp(ctx context.Context) error {
	return s.rd.do(ctx, func(c redis.Conn) error {
		_, err := c.Do("PING")
		return err
	})
}
