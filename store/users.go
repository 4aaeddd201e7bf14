package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"
)

// NewUser is a registration. Password is what the client sends (the course
// clients send the md5 hex of the password); it is stored as bcrypt.
type NewUser struct {
	Name, Nick, Password, Phone, Email string
}

// Register creates a user; ErrExists when the name (in any case, see
// FoldName) or the nickname is taken, ErrBadName for invisible characters.
func (s *Store) Register(ctx context.Context, u NewUser) error {
	if u.Name == "" || u.Password == "" || len(u.Password) > 72 {
		return fmt.Errorf("%w: user name and a password of at most 72 bytes are required", ErrInvalid)
	}
	if u.Nick == "" {
		u.Nick = u.Name
	}
	if err := CheckNewName(u.Name); err != nil {
		return err
	}
	if err := CheckNewName(u.Nick); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), s.opt.BcryptCost)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	_, err = s.db.ExecContext(ctx,
		"INSERT INTO user_info (user_name, user_name_fold, nick_name, password, phone, email) VALUES (?, ?, ?, ?, ?, ?)",
		u.Name, FoldName(u.Name), u.Nick, string(hash), u.Phone, u.Email)
	if isDup(err) {
		return fmt.Errorf("register %q: %w", u.Name, ErrExists)
	}
	return wrapDB("register", err)
}

// hashToken is what we keep of a token: its sha256, hex.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (s *Store) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such user"), s.opt.BcryptCost)
	})
	return s.dummy
}

// Login is LoginFrom without a client address.
func (s *Store) Login(ctx context.Context, user, password string) (string, error) {
	return s.LoginFrom(ctx, user, password, "")
}

// LoginFrom checks the password and issues a new token (32 hex characters
// from crypto/rand) valid for TokenTTL. Repeated failures for the account
// or from the client address addr are throttled (throttle.go): such
// attempts get a *ThrottledError before any password is checked. The
// token's truth is MySQL (user_token); Redis only caches it, so Login
// works while Redis is down.
func (s *Store) LoginFrom(ctx context.Context, user, password, addr string) (string, error) {
	keys := s.throttleKeys(user, addr)
	if err := s.throttleTry(ctx, keys); err != nil {
		return "", err
	}
	var hash string
	err := s.db.QueryRowContext(ctx, "SELECT password FROM user_info WHERE user_name = ?", user).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Same work as a wrong password, so timing does not reveal names.
		bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return "", ErrBadCredentials
	}
	if err != nil {
		return "", wrapDB("login", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return "", ErrBadCredentials
	}
	s.throttleSuccess(ctx, keys)
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("login: token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	th := hashToken(token)
	ttl := s.opt.TokenTTL
	exp := time.Now().Add(ttl).Unix()
	err = s.tx(ctx, "login", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_token WHERE user = ? AND expire_time < ?", user, time.Now().Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO user_token (token_hash, user, expire_time) VALUES (?, ?, ?)", th, user, exp)
		return err
	})
	if err != nil {
		return "", err
	}
	s.cacheToken(ctx, th, user, int64(ttl/time.Second))
	return token, nil
}

// The token cache: "token:<sha256 of the token>" holds the owner and the
// run_id of the Redis instance that wrote it ("owner\x00run_id"), or the
// tombstone "-" once the token is revoked. A Redis that crashed and
// reloaded an older snapshot (or any restarted Redis) has a new run_id, so
// the entries it brought back are only hints: MySQL decides and the entry
// is rewritten. A tombstone is final whatever instance wrote it, and a
// refill never overwrites one (refillScript), so a check that read MySQL
// just before a logout cannot bring the token back either.
const tokenTombstone = "-"

var refillScript = redis.NewScript(1, `
if redis.call('GET', KEYS[1]) == ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1`)

// cacheToken writes a valid token into the cache (best effort).
func (s *Store) cacheToken(ctx context.Context, th, owner string, ttl int64) {
	if ttl <= 0 || !s.rd.up() {
		return
	}
	s.rd.do(ctx, func(c redis.Conn) error {
		run := s.rd.runID() // known once a connection exists
		if run == "" {
			return nil
		}
		_, err := refillScript.Do(c, s.keys.tokenPfx+th, owner+"\x00"+run, ttl, tokenTombstone)
		return err
	})
}

// CheckToken returns the user a token belongs to. When user is not empty
// the token must belong to that user. A cache entry written by the running
// Redis instance answers; anything else (a miss, Redis down, an entry an
// earlier instance left) is decided by MySQL, which refills the cache.
func (s *Store) CheckToken(ctx context.Context, user, token string) (string, error) {
	if token == "" || len(token) > 256 {
		return "", ErrBadToken
	}
	th := hashToken(token)
	now := time.Now()
	if owner, ok := s.tokens.get(th, now); ok {
		if user != "" && owner != user {
			return "", ErrBadToken
		}
		return owner, nil
	}
	key := s.keys.tokenPfx + th
	if s.rd.up() {
		s.retryRevokes(ctx)
		var v string
		err := s.rd.do(ctx, func(c redis.Conn) error {
			var err error
			v, err = redis.String(c.Do("GET", key))
			return err
		})
		if err == nil {
			if v == tokenTombstone {
				return "", ErrBadToken
			}
			owner, run, _ := strings.Cut(v, "\x00")
			if run != "" && run == s.rd.runID() {
				if user != "" && owner != user {
					return "", ErrBadToken
				}
				s.tokens.put(th, owner, now, time.Time{})
				return owner, nil
			}
		}
	}
	var owner string
	var exp int64
	err := s.db.QueryRowContext(ctx, "SELECT user, expire_time FROM user_token WHERE token_hash = ?", th).Scan(&owner, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrBadToken
	}
	if err != nil {
		return "", wrapDB("check token", err)
	}
	if exp <= now.Unix() || (user != "" && owner != user) {
		return "", ErrBadToken
	}
	s.cacheToken(ctx, th, owner, exp-time.Now().Unix())
	s.tokens.put(th, owner, now, time.Unix(exp, 0))
	return owner, nil
}

// Logout revokes a token of user: its MySQL row goes (the truth, so logout
// works while Redis is down), then the cache gets a tombstone. A tombstone
// that cannot be written now is retried by the next token check of this
// process; a Redis that was down comes back with a new run_id and its old
// entries are checked against MySQL anyway.
func (s *Store) Logout(ctx context.Context, user, token string) error {
	if token == "" || len(token) > 256 {
		return ErrBadToken
	}
	th := hashToken(token)
	s.tokens.drop(th)
	res, err := s.db.ExecContext(ctx, "DELETE FROM user_token WHERE token_hash = ? AND user = ? AND expire_time > ?", th, user, time.Now().Unix())
	if err != nil {
		return wrapDB("logout", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrBadToken
	}
	if err := s.tombstone(ctx, th); err != nil {
		s.log.Warn().Err(err).Msg("logout: token revoked in MySQL; the cache entry is removed once Redis answers")
		s.revokes.add(th)
	}
	return nil
}

func (s *Store) tombstone(ctx context.Context, th string) error {
	return s.rd.do(ctx, func(c redis.Conn) error {
		_, err := c.Do("SET", s.keys.tokenPfx+th, tokenTombstone, "EX", int64(s.opt.TokenTTL/time.Second))
		return err
	})
}

// revokeQueue holds tombstones not yet written (Redis unreachable at
// logout); bounded: past the bound the oldest go (those tokens are revoked
// in MySQL all the same).
type revokeQueue struct {
	mu sync.Mutex
	th []string
}

const maxPendingRevokes = 4096

func (q *revokeQueue) add(th string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.th) >= maxPendingRevokes {
		q.th = q.th[1:]
	}
	q.th = append(q.th, th)
}

func (q *revokeQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	th := q.th
	q.th = nil
	return th
}

// retryRevokes writes the pending tombstones before the cache is trusted.
func (s *Store) retryRevokes(ctx context.Context) {
	for _, th := range s.revokes.take() {
		if err := s.tombstone(ctx, th); err != nil {
			s.revokes.add(th)
			return
		}
	}
}

// PurgeTokens deletes expired tokens from MySQL (Redis expires its own),
// and the expired throttle, challenge, download-count and link guard
// records.
func (s *Store) PurgeTokens(ctx context.Context) (int64, error) {
	now := time.Now().Unix()
	res, err := s.db.ExecContext(ctx, "DELETE FROM user_token WHERE expire_time < ?", now)
	if err != nil {
		return 0, wrapDB("purge tokens", err)
	}
	for _, q := range []string{
		"DELETE FROM login_throttle WHERE last_try < ? AND locked_until < ?",
		"DELETE FROM md5_challenge WHERE expire_time < ?",
		"DELETE FROM pv_seen WHERE seen_until < ?",
	} {
		args := []any{now}
		if strings.Contains(q, "locked_until") {
			args = []any{now - int64(throttleWindow/time.Second), now * 1000}
		}
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			return 0, wrapDB("purge", err)
		}
	}
	if err := s.purgeLinkGuard(ctx, time.Now()); err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
