package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/stretchr/testify/require"

	"yunpan/store"
)

func TestFoldName(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", "ALICE": "alice", "a_B-c.D": "a_b-c.d", "Straße": "straße",
		"K": "k", "\u212A": "k", "ſ": "s", "ΣΑΣ": "σασ"} {
		require.Equal(t, want, store.FoldName(in), "%q", in)
	}
	for _, bad := range []string{"a\u202Eb", "a\u200Bb", "a\u200Db", "a\uFEFF", "a\u2066b\u2069", "a\u2028b", "a\x00b", "a\u00ADb"} {
		require.ErrorIs(t, store.CheckNewFileName(bad), store.ErrInvalid, "%q", bad)
		require.ErrorIs(t, store.CheckNewName(bad), store.ErrBadName, "%q", bad)
	}
	require.NoError(t, store.CheckNewFileName("报告 ü 😀.txt"))
}

// User names are unique in any case, also after the migration on a
// database that already holds accounts differing only in case.
func TestUserNameFoldMigration(t *testing.T) {
	s, opt := open(t, rds.Addr())
	ctx := ctxT(t)
	pwd := sum("pw")
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "Dave", Password: pwd}))
	require.ErrorIs(t, s.Register(ctx, store.NewUser{Name: "dAVE", Password: pwd}), store.ErrExists)
	require.ErrorIs(t, s.Register(ctx, store.NewUser{Name: "evil", Nick: "a\u202Eb", Password: pwd}), store.ErrBadName)

	// The database as it was before: no fold column, "eve" and "EVE".
	db := s.DB()
	for _, q := range []string{"DROP INDEX uq_user_name_fold ON user_info", "ALTER TABLE user_info DROP COLUMN user_name_fold",
		"DELETE FROM schema_migrations WHERE version = 5",
		"INSERT INTO user_info (user_name, nick_name, password) VALUES ('eve', 'eve', 'x'), ('EVE', 'EVE', 'y'), ('Eve', 'Eve', 'z')"} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	s2, err := store.Open(ctx, opt) // migrates again
	require.NoError(t, err)
	defer s2.Close()
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_info WHERE user_name_fold = 'eve'").Scan(&n))
	require.Equal(t, 1, n, "the oldest keeps the plain fold")
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM user_info WHERE user_name IN ('eve', 'EVE', 'Eve')").Scan(&n))
	require.Equal(t, 3, n, "existing accounts are kept")
	require.ErrorIs(t, s2.Register(ctx, store.NewUser{Name: "eVe", Password: pwd}), store.ErrExists)
	require.ErrorIs(t, s2.Register(ctx, store.NewUser{Name: "DAVE", Password: pwd}), store.ErrExists)
}

func TestLoginThrottleStore(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	pwd := sum("pw")
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "frank", Password: pwd}))
	for range 5 {
		_, err := s.LoginFrom(ctx, "frank", sum("bad"), "10.0.0.1")
		require.ErrorIs(t, err, store.ErrBadCredentials)
	}
	_, err := s.LoginFrom(ctx, "FRANK", pwd, "10.0.0.2")
	var thr *store.ThrottledError
	require.True(t, errors.As(err, &thr), "%v", err)
	require.Equal(t, int64(1), thr.RetrySeconds())
	require.Eventually(t, func() bool { _, err := s.LoginFrom(ctx, "frank", pwd, "10.0.0.2"); return err == nil },
		10*time.Second, 100*time.Millisecond)
	// The success cleared the account: five more tries before a lock.
	for range 5 {
		_, err := s.LoginFrom(ctx, "frank", sum("bad"), "10.0.0.3")
		require.ErrorIs(t, err, store.ErrBadCredentials)
	}
}

// A cache entry an earlier Redis instance wrote (a reloaded snapshot) is
// checked against MySQL; a tombstone is never overwritten by a refill.
func TestTokenCacheStaleEntries(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	pwd := sum("pw")
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "gina", Password: pwd}))
	tok, err := s.Login(ctx, "gina", pwd)
	require.NoError(t, err)
	h := sha256.Sum256([]byte(tok))
	key := s.KeyPrefix() + "token:" + hex.EncodeToString(h[:])
	c := redisConn(t, rds.Addr())
	v, err := redis.String(c.Do("GET", key))
	require.NoError(t, err)
	require.Contains(t, v, "gina\x00")

	require.NoError(t, s.Logout(ctx, "gina", tok))
	// What a snapshot taken before the logout brings back.
	_, err = c.Do("SET", key, "gina\x00an-earlier-instance", "EX", 3600)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "gina", tok)
	require.ErrorIs(t, err, store.ErrBadToken)
	// An entry in the old format (the user name alone) is no proof either.
	_, err = c.Do("SET", key, "gina", "EX", 3600)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "gina", tok)
	require.ErrorIs(t, err, store.ErrBadToken)

	// A valid token read from MySQL does not overwrite a tombstone.
	tok2, err := s.Login(ctx, "gina", pwd)
	require.NoError(t, err)
	h2 := sha256.Sum256([]byte(tok2))
	key2 := s.KeyPrefix() + "token:" + hex.EncodeToString(h2[:])
	_, err = c.Do("DEL", key2)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "gina", tok2) // refills
	require.NoError(t, err)
	_, err = c.Do("SET", key2, "-", "EX", 3600)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "gina", tok2)
	require.ErrorIs(t, err, store.ErrBadToken)
}

// With TokenCacheAge, an accepted token is trusted for that long only: a
// logout through another store (another program) is refused once the age
// has passed, and a logout through this one at once.
func TestTokenCacheAge(t *testing.T) {
	other, opt := open(t, rds.Addr())
	ctx := ctxT(t)
	pwd := sum("pw")
	require.NoError(t, other.Register(ctx, store.NewUser{Name: "hana", Password: pwd}))
	opt.TokenCacheAge = store.MaxTokenCacheAge
	s, err := store.Open(ctx, opt)
	require.NoError(t, err)
	defer s.Close()

	tok, err := other.Login(ctx, "hana", pwd)
	require.NoError(t, err)
	owner, err := s.CheckToken(ctx, "", tok)
	require.NoError(t, err)
	require.Equal(t, "hana", owner)
	_, err = s.CheckToken(ctx, "someone-else", tok)
	require.ErrorIs(t, err, store.ErrBadToken, "a cached token is still bound to its owner")

	loggedOut := time.Now()
	require.NoError(t, other.Logout(ctx, "hana", tok))
	// Past the age (measured from the logout, which is later than the
	// check that filled the cache), the token is refused.
	time.Sleep(time.Until(loggedOut.Add(store.MaxTokenCacheAge)))
	_, err = s.CheckToken(ctx, "hana", tok)
	require.ErrorIs(t, err, store.ErrBadToken)

	// A logout through this store ends the token here at once.
	tok2, err := other.Login(ctx, "hana", pwd)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "hana", tok2)
	require.NoError(t, err)
	require.NoError(t, s.Logout(ctx, "hana", tok2))
	_, err = s.CheckToken(ctx, "hana", tok2)
	require.ErrorIs(t, err, store.ErrBadToken)
}
