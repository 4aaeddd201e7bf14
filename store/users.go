package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/crypto/bcrypt"
)

// NewUser is a registration. Password is what the client sends (the course
// clients send the md5 hex of the password); it is stored as bcrypt.
type NewUser struct {
	Name, Nick, Password, Phone, Email string
}

// Register creates a user; ErrExists when the name or nickname is taken.
func (s *Store) Register(ctx context.Context, u NewUser) error {
	if u.Name == "" || u.Password == "" || len(u.Password) > 72 {
		return fmt.Errorf("%w: user name and a password of at most 72 bytes are required", ErrInvalid)
	}
	if u.Nick == "" {
		u.Nick = u.Name
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), s.opt.BcryptCost)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	_, err = s.db.ExecContext(ctx,
		"INSERT INTO user_info (user_name, nick_name, password, phone, email) VALUES (?, ?, ?, ?, ?)",
		u.Name, u.Nick, string(hash), u.Phone, u.Email)
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

// Login checks the password and issues a new token (32 hex characters from
// crypto/rand) valid for TokenTTL. Tokens are kept in Redis (the fast path)
// and in MySQL (so that checks survive a Redis outage); issuing one needs
// both, so Login fails with ErrRedisDown when Redis is down.
func (s *Store) Login(ctx context.Context, user, password string) (string, error) {
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
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("login: token: %w", err)
	}
	token := hex.EncodeToString(raw[:])
	th := hashToken(token)
	ttl := s.opt.TokenTTL
	exp := time.Now().Add(ttl).Unix()
	err = s.rd.do(ctx, func(c redis.Conn) error {
		_, err := c.Do("SET", s.keys.tokenPfx+th, user, "EX", int64(ttl/time.Second))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return "", fmt.Errorf("%w (%w)", ErrRedisDown, err)
		}
		return "", fmt.Errorf("login: %w", err)
	}
	err = s.tx(ctx, "login", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM user_token WHERE user = ? AND expire_time < ?", user, time.Now().Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO user_token (token_hash, user, expire_time) VALUES (?, ?, ?)", th, user, exp)
		return err
	})
	if err != nil {
		s.rd.do(context.WithoutCancel(ctx), func(c redis.Conn) error { _, err := c.Do("DEL", s.keys.tokenPfx+th); return err })
		return "", err
	}
	return token, nil
}

// CheckToken returns the user a token belongs to. When user is not empty
// the token must belong to that user. Redis answers first; on a miss or
// when Redis is down, MySQL decides (and refills Redis).
func (s *Store) CheckToken(ctx context.Context, user, token string) (string, error) {
	if token == "" || len(token) > 256 {
		return "", ErrBadToken
	}
	th := hashToken(token)
	key := s.keys.tokenPfx + th
	if s.rd.up() {
		var owner string
		err := s.rd.do(ctx, func(c redis.Conn) error {
			var err error
			owner, err = redis.String(c.Do("GET", key))
			return err
		})
		if err == nil {
			if user != "" && owner != user {
				return "", ErrBadToken
			}
			return owner, nil
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
	now := time.Now().Unix()
	if exp <= now || (user != "" && owner != user) {
		return "", ErrBadToken
	}
	if s.rd.up() {
		s.rd.do(ctx, func(c redis.Conn) error {
			_, err := c.Do("SET", key, owner, "EX", exp-now)
			return err
		})
	}
	return owner, nil
}

// Logout revokes a token of user. It needs Redis (the token would stay
// cached there otherwise): ErrRedisDown when it is down.
func (s *Store) Logout(ctx context.Context, user, token string) error {
	if _, err := s.CheckToken(ctx, user, token); err != nil {
		return err
	}
	key := s.keys.tokenPfx + hashToken(token)
	del := func() error {
		return s.rd.do(ctx, func(c redis.Conn) error { _, err := c.Do("DEL", key); return err })
	}
	if err := del(); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return fmt.Errorf("%w (%w)", ErrRedisDown, err)
		}
		return err
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM user_token WHERE token_hash = ?", hashToken(token)); err != nil {
		return wrapDB("logout", err)
	}
	// Again: a CheckToken that read MySQL before our DELETE may have
	// refilled the cache in between.
	del()
	return nil
}

// PurgeTokens deletes expired tokens from MySQL (Redis expires its own).
func (s *Store) PurgeTokens(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM user_token WHERE expire_time < ?", time.Now().Unix())
	if err != nil {
		return 0, wrapDB("purge tokens", err)
	}
	return res.RowsAffected()
}
