// Package store is the cloud disk's state: MySQL (users, files, reference
// counts, shares, tokens, pending DFS deletes) and Redis (token cache, the
// share ranking). MySQL is the source of truth; when Redis is down every
// call keeps working from MySQL.
//
// Every statement uses placeholders. Multi-row changes run in one
// transaction, counters change with `count = count ± 1` under row locks, and
// a transaction that loses a deadlock (1213) is retried.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"
)

// Errors callers map to protocol codes. Wrapped errors match with errors.Is.
var (
	ErrExists         = errors.New("already exists")
	ErrNotFound       = errors.New("not found")
	ErrForbidden      = errors.New("belongs to another user")
	ErrAlreadyShared  = errors.New("already shared")
	ErrNoContent      = errors.New("content unknown")
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrBadToken       = errors.New("invalid or expired token")
	ErrInvalid        = errors.New("invalid argument")
	// ErrQuota refuses a new entry the user's quota cannot take.
	ErrQuota = errors.New("quota exceeded")
	// ErrUnavailable wraps failures to reach MySQL, Redis (for the calls
	// that need it) or the DFS: the caller answers 503.
	ErrUnavailable = errors.New("service unavailable")
	// ErrRedisDown is an ErrUnavailable from Redis.
	ErrRedisDown = fmt.Errorf("%w: redis is down", ErrUnavailable)
	// ErrCommitUnknown is the ErrUnavailable of a transaction whose
	// connection broke during COMMIT: it may or may not have committed.
	ErrCommitUnknown = fmt.Errorf("%w: the connection broke during COMMIT, the outcome is unknown", ErrUnavailable)
)

// Options configures Open.
type Options struct {
	MySQL         *mysql.Config // database set; created if missing
	RedisAddr     string
	RedisPassword string
	RedisDB       int
	KeyPrefix     string        // prefix for every Redis key (tests; "" in production)
	TokenTTL      time.Duration // default 24 h
	BcryptCost    int           // default 10
	RedisRetry    time.Duration // how long to skip Redis after it failed (default 1 s)
	MaxOpenConns  int           // MySQL pool bound (default 16)
	RedisMaxConns int           // Redis pool bound (default 32)
	// Login throttling (throttle.go): failures allowed per account and per
	// client address before the doubling locks start, and the longest lock.
	LoginUserFailures int           // default 5
	LoginAddrFailures int           // default 20
	LoginMaxLock      time.Duration // default 15 min
	// Share links' extraction codes (linkguard.go): wrong codes allowed
	// per link and per client address within the window.
	LinkCodeFailures int           // default DefaultLinkCodeFailures
	LinkAddrFailures int           // default DefaultLinkAddrFailures
	LinkGuardWindow  time.Duration // default DefaultLinkGuardWindow
	// TokenCacheAge > 0 lets CheckToken trust a token it accepted for this
	// long without asking Redis again (at most MaxTokenCacheAge; 0: off).
	// A logout in another process takes effect within that age.
	TokenCacheAge time.Duration
	// QuotaCacheAge > 0 lets CheckQuota pass an upload by a usage read
	// less than this long ago (quota.go); 0: every check asks MySQL.
	QuotaCacheAge time.Duration
	// Quota is the bytes a user's entries (live and trashed) may hold
	// unless the user has a quota of their own (SetQuota); 0: unlimited.
	Quota int64
	// TrashTTL is how long a trashed entry is kept (default 30 days).
	TrashTTL time.Duration
	Log      zerolog.Logger
}

// Store is safe for concurrent use.
type Store struct {
	db        *sql.DB
	rd        *redisClient
	opt       Options
	log       zerolog.Logger
	keys      keys
	dummy     []byte // bcrypt hash compared against for unknown users (same timing)
	dummyOnce sync.Once
	revokes   revokeQueue // token tombstones Redis did not take yet
	tokens    *tokenCache // tokencache.go
	usage     *usageCache // quota.go
	adds      *addBatcher // addbatch.go
}

var dbNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Open connects to MySQL (creating the database if it does not exist),
// applies the pending migrations and sets up the Redis pool. Redis being
// down does not fail Open.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.MySQL == nil {
		return nil, fmt.Errorf("store: no mysql config")
	}
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 24 * time.Hour
	}
	if opt.BcryptCost == 0 {
		opt.BcryptCost = 10
	}
	if opt.RedisRetry <= 0 {
		opt.RedisRetry = time.Second
	}
	if opt.MaxOpenConns <= 0 {
		opt.MaxOpenConns = 16
	}
	if opt.RedisMaxConns <= 0 {
		opt.RedisMaxConns = 32
	}
	if opt.LoginUserFailures <= 0 {
		opt.LoginUserFailures = 5
	}
	if opt.LoginAddrFailures <= 0 {
		opt.LoginAddrFailures = 20
	}
	if opt.LoginMaxLock <= 0 {
		opt.LoginMaxLock = 15 * time.Minute
	}
	if opt.LinkCodeFailures <= 0 {
		opt.LinkCodeFailures = DefaultLinkCodeFailures
	}
	if opt.LinkAddrFailures <= 0 {
		opt.LinkAddrFailures = DefaultLinkAddrFailures
	}
	if opt.LinkGuardWindow <= 0 {
		opt.LinkGuardWindow = DefaultLinkGuardWindow
	}
	if opt.TrashTTL <= 0 {
		opt.TrashTTL = 30 * 24 * time.Hour
	}
	if opt.Quota < 0 {
		opt.Quota = 0
	}
	mc := opt.MySQL.Clone()
	if !dbNameRE.MatchString(mc.DBName) {
		return nil, fmt.Errorf("store: database name %q: want [A-Za-z0-9_]{1,64}", mc.DBName)
	}
	if mc.Timeout == 0 {
		mc.Timeout = 5 * time.Second
	}
	if mc.ReadTimeout == 0 {
		mc.ReadTimeout = 30 * time.Second
	}
	if mc.WriteTimeout == 0 {
		mc.WriteTimeout = 30 * time.Second
	}
	mc.AllowNativePasswords = true
	// The driver fills in the placeholders itself (escaping for the
	// connection's charset) instead of a server-side prepare, execute and
	// close per statement: a third of the round trips, and half of
	// MariaDB's work on an upload (make bench, pprof).
	mc.InterpolateParams = true
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	// Bound lock waits well below the read timeout.
	mc.Params["innodb_lock_wait_timeout"] = "10"
	if err := ensureDatabase(ctx, mc); err != nil {
		return nil, err
	}
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(opt.MaxOpenConns)
	db.SetMaxIdleConns(opt.MaxOpenConns)
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	s := &Store{db: db, opt: opt, log: opt.Log, keys: newKeys(opt.KeyPrefix), tokens: newTokenCache(opt.TokenCacheAge),
		usage: newUsageCache(opt.QuotaCacheAge)}
	s.adds = newAddBatcher(s)
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s.rd = newRedis(opt)
	return s, nil
}

// ensureDatabase creates mc.DBName when the server says it is unknown.
func ensureDatabase(ctx context.Context, mc *mysql.Config) error {
	db, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	err = db.PingContext(ctx)
	db.Close()
	var me *mysql.MySQLError
	if err == nil || !errors.As(err, &me) || me.Number != 1049 {
		if err != nil {
			return classify(fmt.Errorf("store: connect %s: %w", mc.Addr, err))
		}
		return nil
	}
	root := mc.Clone()
	root.DBName = ""
	db, err = sql.Open("mysql", root.FormatDSN())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer db.Close()
	// The name is validated by dbNameRE: identifiers cannot be placeholders.
	_, err = db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+mc.DBName+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	if err != nil {
		return classify(fmt.Errorf("store: create database %s: %w", mc.DBName, err))
	}
	return nil
}

// Close closes the MySQL and Redis pools.
func (s *Store) Close() error {
	if s.adds != nil {
		s.adds.close()
	}
	if s.rd != nil {
		s.rd.close()
	}
	return s.db.Close()
}

// DB is the MySQL pool (tests and tools).
func (s *Store) DB() *sql.DB { return s.db }

// KeyPrefix is the Redis key prefix in use.
func (s *Store) KeyPrefix() string { return s.opt.KeyPrefix }

const maxTxAttempts = 20

// tx runs fn in a READ COMMITTED transaction, retrying it when InnoDB picks
// it as a deadlock victim. fn must not keep state between attempts.
func (s *Store) tx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil {
			return nil
		}
		if isDeadlock(err) && attempt < maxTxAttempts && ctx.Err() == nil {
			s.log.Debug().Str("op", what).Int("attempt", attempt).Msg("deadlock, retrying")
			// Jittered backoff so the losers do not collide again.
			d := time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond
			select {
			case <-time.After(d):
				continue
			case <-ctx.Done():
			}
		}
		return wrapDB(what, err)
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	err = tx.Commit()
	var me *mysql.MySQLError
	if err != nil && !errors.As(err, &me) && !errors.Is(err, driver.ErrBadConn) &&
		!errors.Is(err, sql.ErrTxDone) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// COMMIT was sent but no answer came back (the server died or the
		// network broke): the caller must not act as if nothing was stored.
		// A server error, a connection found dead before sending, or a
		// context ended before COMMIT all mean it was rolled back.
		return fmt.Errorf("%w (%w)", ErrCommitUnknown, err)
	}
	return err
}

func isDeadlock(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

func isDup(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// sentinel reports whether err is one of ours (passed through untouched).
func sentinel(err error) bool {
	for _, e := range []error{ErrExists, ErrNotFound, ErrForbidden, ErrAlreadyShared, ErrNoContent,
		ErrBadCredentials, ErrBadToken, ErrInvalid, ErrUnavailable, ErrQuota} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// wrapDB adds context to a database error and marks connection failures
// as ErrUnavailable.
func wrapDB(what string, err error) error {
	if err == nil || sentinel(err) {
		return err
	}
	return classify(fmt.Errorf("%s: %w", what, err))
}

// classify wraps err in ErrUnavailable when it means MySQL cannot be
// reached (as opposed to a statement failing).
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var ne net.Error
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1053, 1205, 2002, 2003, 2006, 2013: // too many conns, shutdown, lock wait, gone
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return err
}
