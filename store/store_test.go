package store_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/internal/cluster"
	"yunpan/store"
)

var (
	mdb *cluster.MariaDB
	rds *cluster.Redis
)

func TestMain(m *testing.M) {
	r := &cluster.Runner{}
	mdb = cluster.StartMariaDB(r)
	rds = cluster.StartRedis(r)
	code := m.Run()
	r.Close()
	os.Exit(code)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open opens a store on a fresh database with its own Redis key prefix.
func open(t testing.TB, redisAddr string) (*store.Store, store.Options) {
	t.Helper()
	db := mdb.NewDatabase(t)
	opt := store.Options{
		MySQL:      mdb.AppMySQL(db).Driver(),
		RedisAddr:  redisAddr,
		KeyPrefix:  db + ":",
		BcryptCost: 4,
		RedisRetry: 100 * time.Millisecond,
		Log:        zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	s, err := store.Open(ctxT(t), opt)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, opt
}

func sum(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func redisConn(t testing.TB, addr string) redis.Conn {
	c, err := redis.Dial("tcp", addr, redis.DialConnectTimeout(time.Second), redis.DialReadTimeout(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func count(t testing.TB, s *store.Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, s.DB().QueryRow(q, args...).Scan(&n))
	return n
}

func TestMigrationsIdempotentAndConcurrent(t *testing.T) {
	ms, err := store.Migrations()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 2)
	db := mdb.NewDatabase(t)
	opt := store.Options{MySQL: mdb.AppMySQL(db).Driver(), RedisAddr: rds.Addr(), BcryptCost: 4}
	// Eight programs starting at once on a database that does not exist yet.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(ctxT(t), opt)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s, err := store.Open(ctxT(t), opt)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, int64(len(ms)), count(t, s, "SELECT COUNT(*) FROM schema_migrations"))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM global_count"))
	require.NoError(t, s.Migrate(ctxT(t)))

	_, err = store.Open(ctxT(t), store.Options{MySQL: mdb.AppMySQL("bad-name;").Driver()})
	require.Error(t, err)
}

func TestUsersAndTokens(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	pwd := sum("secret")
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "alice", Nick: "Alice", Password: pwd}))
	require.ErrorIs(t, s.Register(ctx, store.NewUser{Name: "alice", Nick: "other", Password: pwd}), store.ErrExists)
	require.ErrorIs(t, s.Register(ctx, store.NewUser{Name: "bob", Nick: "Alice", Password: pwd}), store.ErrExists)
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "bob", Password: pwd}))

	var stored string
	require.NoError(t, s.DB().QueryRow("SELECT password FROM user_info WHERE user_name = 'alice'").Scan(&stored))
	require.NotEqual(t, pwd, stored, "password must not be stored as sent")
	require.Contains(t, stored, "$2a$")

	_, err := s.Login(ctx, "alice", sum("wrong"))
	require.ErrorIs(t, err, store.ErrBadCredentials)
	_, err = s.Login(ctx, "nobody", pwd)
	require.ErrorIs(t, err, store.ErrBadCredentials)

	tok, err := s.Login(ctx, "alice", pwd)
	require.NoError(t, err)
	require.Len(t, tok, 32)
	tok2, err := s.Login(ctx, "alice", pwd)
	require.NoError(t, err)
	require.NotEqual(t, tok, tok2)

	u, err := s.CheckToken(ctx, "alice", tok)
	require.NoError(t, err)
	require.Equal(t, "alice", u)
	u, err = s.CheckToken(ctx, "", tok)
	require.NoError(t, err)
	require.Equal(t, "alice", u)
	_, err = s.CheckToken(ctx, "bob", tok)
	require.ErrorIs(t, err, store.ErrBadToken)
	_, err = s.CheckToken(ctx, "alice", "x"+tok[1:])
	require.ErrorIs(t, err, store.ErrBadToken)
	_, err = s.CheckToken(ctx, "alice", "")
	require.ErrorIs(t, err, store.ErrBadToken)

	// Redis holds only a hash of the token, under token:.
	c := redisConn(t, rds.Addr())
	keys, err := redis.Strings(c.Do("KEYS", s.KeyPrefix()+"token:*"))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	for _, k := range keys {
		require.NotContains(t, k, tok)
		ttl, err := redis.Int64(c.Do("TTL", k))
		require.NoError(t, err)
		require.InDelta(t, 86400, ttl, 5)
	}
	// Losing the cache loses nothing: MySQL answers and refills it.
	_, err = c.Do("DEL", redis.Args{}.AddFlat(keys)...)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "alice", tok)
	require.NoError(t, err)
	n, err := redis.Int(c.Do("EXISTS", redis.Args{}.AddFlat(keys)...))
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// Logout revokes that token only.
	require.ErrorIs(t, s.Logout(ctx, "alice", "bad"), store.ErrBadToken)
	require.NoError(t, s.Logout(ctx, "alice", tok))
	_, err = s.CheckToken(ctx, "alice", tok)
	require.ErrorIs(t, err, store.ErrBadToken)
	_, err = s.CheckToken(ctx, "alice", tok2)
	require.NoError(t, err)

	// Expired tokens are refused even if a row is left.
	_, err = s.DB().Exec("UPDATE user_token SET expire_time = 1")
	require.NoError(t, err)
	_, err = c.Do("DEL", redis.Args{}.AddFlat(keys)...)
	require.NoError(t, err)
	_, err = s.CheckToken(ctx, "alice", tok2)
	require.ErrorIs(t, err, store.ErrBadToken)
	n64, err := s.PurgeTokens(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n64)

	require.ErrorIs(t, s.Register(ctx, store.NewUser{Name: "long", Password: string(make([]byte, 73))}), store.ErrInvalid)
}

func TestRedisDown(t *testing.T) {
	r := cluster.StartRedis(t)
	s, _ := open(t, r.Addr())
	ctx := ctxT(t)
	pwd := sum("pw")
	require.NoError(t, s.Register(ctx, store.NewUser{Name: "carol", Password: pwd}))
	tok, err := s.Login(ctx, "carol", pwd)
	require.NoError(t, err)
	require.NoError(t, addT(t, s, "carol", sum("c1"), "c1.txt"))
	require.NoError(t, s.Share(ctx, "carol", sum("c1"), "c1.txt"))
	_, err = s.AddSharePV(ctx, sum("c1"), "c1.txt")
	require.NoError(t, err)

	r.Kill()
	// MySQL holds the tokens: login and logout work without Redis.
	tok2, err := s.Login(ctx, "carol", pwd)
	require.NoError(t, err)
	_, err = s.Login(ctx, "carol", sum("bad"))
	require.ErrorIs(t, err, store.ErrBadCredentials)
	u, err := s.CheckToken(ctx, "carol", tok)
	require.NoError(t, err)
	require.Equal(t, "carol", u)
	require.NoError(t, s.Logout(ctx, "carol", tok))
	_, err = s.CheckToken(ctx, "carol", tok)
	require.ErrorIs(t, err, store.ErrBadToken)
	u, err = s.CheckToken(ctx, "carol", tok2)
	require.NoError(t, err)
	require.Equal(t, "carol", u)
	rank, err := s.Ranking(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []store.RankItem{{MD5: sum("c1"), FileName: "c1.txt", PV: 1}}, rank)
	pv, err := s.AddSharePV(ctx, sum("c1"), "c1.txt")
	require.NoError(t, err)
	require.Equal(t, int64(2), pv)
	require.NoError(t, addT(t, s, "carol", sum("c2"), "c2.txt"))
	require.NoError(t, s.Share(ctx, "carol", sum("c2"), "c2.txt"))
	files, err := s.ListUserFiles(ctx, "carol", store.OrderNormal, 0, 10)
	require.NoError(t, err)
	require.Len(t, files, 2)

	// Back up (empty): the ranking is rebuilt.
	r.Restart(t)
	require.Eventually(t, func() bool { return s.RedisUp(ctx) == nil }, 10*time.Second, 50*time.Millisecond)
	_, err = s.Login(ctx, "carol", pwd)
	require.NoError(t, err)
	rank, err = s.Ranking(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []store.RankItem{{MD5: sum("c1"), FileName: "c1.txt", PV: 2}, {MD5: sum("c2"), FileName: "c2.txt", PV: 0}}, rank)
	c := redisConn(t, r.Addr())
	n, err := redis.Int(c.Do("ZCARD", s.KeyPrefix()+"FILE_PUBLIC_ZSET"))
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestFilesReferenceCounting(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	m := sum("content")
	const users = 50
	// 50 users upload the same bytes at once: each upload stored its own
	// DFS file; exactly one survives in file_info and 49 are queued to go.
	var wg sync.WaitGroup
	res := make([]store.AddResult, users)
	errs := make([]error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = s.AddUploaded(ctx, store.NewFile{User: fmt.Sprintf("u%02d", i), MD5: m, FileName: "same.bin",
				FileID: fmt.Sprintf("group1/M00/00/00/f%02d.bin", i), URL: "http://x/", Size: 7, Type: "bin"})
		}()
	}
	wg.Wait()
	dups := 0
	var kept string
	for i := range users {
		require.NoError(t, errs[i])
		if res[i].Dup {
			dups++
			require.NotZero(t, res[i].GCID)
		} else {
			kept = fmt.Sprintf("group1/M00/00/00/f%02d.bin", i)
		}
	}
	require.Equal(t, users-1, dups)
	for i := range users {
		require.Equal(t, kept, res[i].FileID)
	}
	require.Equal(t, int64(users), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", m))
	require.Equal(t, int64(users), count(t, s, "SELECT COUNT(*) FROM user_file_list WHERE md5 = ?", m))
	require.Equal(t, int64(users), count(t, s, "SELECT SUM(count) FROM user_file_count"))
	require.Equal(t, int64(users-1), count(t, s, "SELECT COUNT(*) FROM dfs_gc"))

	// The same user and name again: nothing recorded.
	_, err := s.AddUploaded(ctx, store.NewFile{User: "u00", MD5: m, FileName: "same.bin", FileID: "group1/M00/00/00/zz.bin", Type: "bin"})
	require.ErrorIs(t, err, store.ErrExists)
	// Instant upload under another name and of unknown content.
	require.NoError(t, s.LinkExisting(ctx, "u00", m, "copy.bin"))
	require.ErrorIs(t, s.LinkExisting(ctx, "u00", m, "copy.bin"), store.ErrExists)
	require.ErrorIs(t, s.LinkExisting(ctx, "u00", sum("nothing"), "x"), store.ErrNoContent)
	require.Equal(t, int64(users+1), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", m))
	n, err := s.UserFileCount(ctx, "u00")
	require.NoError(t, err)
	require.Equal(t, int64(2), n)

	// Everyone deletes at once; only the last delete frees the DFS file.
	_, err = s.DeleteFile(ctx, "u00", m, "missing")
	require.ErrorIs(t, err, store.ErrNotFound)
	dres, err := s.DeleteFile(ctx, "u00", m, "copy.bin")
	require.NoError(t, err)
	require.Empty(t, dres.FileID)
	freed := make(chan store.DeleteResult, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.DeleteFile(ctx, fmt.Sprintf("u%02d", i), m, "same.bin")
			errs[i] = err
			if r.FileID != "" {
				freed <- r
			}
		}()
	}
	wg.Wait()
	close(freed)
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, freed, 1)
	last := <-freed
	require.Equal(t, kept, last.FileID)
	require.Equal(t, int64(0), count(t, s, "SELECT COUNT(*) FROM file_info"))
	require.Equal(t, int64(0), count(t, s, "SELECT COUNT(*) FROM user_file_list"))
	require.Equal(t, int64(0), count(t, s, "SELECT SUM(count) FROM user_file_count"))
	require.Equal(t, int64(users), count(t, s, "SELECT COUNT(*) FROM dfs_gc"))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM dfs_gc WHERE file_id = ? AND reason = 'delete'", kept))
}

func TestShares(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	m := sum("shared")
	for _, u := range []string{"ann", "ben"} {
		require.NoError(t, addT(t, s, u, m, "doc.pdf"))
	}
	require.ErrorIs(t, s.Share(ctx, "ann", m, "nope.pdf"), store.ErrNotFound)
	require.NoError(t, s.Share(ctx, "ann", m, "doc.pdf"))
	require.ErrorIs(t, s.Share(ctx, "ann", m, "doc.pdf"), store.ErrAlreadyShared)
	// Same content and name by someone else: globally unique, like the course.
	require.ErrorIs(t, s.Share(ctx, "ben", m, "doc.pdf"), store.ErrAlreadyShared)
	require.ErrorIs(t, s.CancelShare(ctx, "ben", m, "doc.pdf"), store.ErrForbidden)
	require.ErrorIs(t, s.CancelShare(ctx, "ben", m, "other.pdf"), store.ErrNotFound)
	n, err := s.ShareCount(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)

	// Save: only shared files, not twice, not one's own.
	require.NoError(t, s.SaveShared(ctx, "cat", m, "doc.pdf"))
	require.ErrorIs(t, s.SaveShared(ctx, "cat", m, "doc.pdf"), store.ErrExists)
	require.ErrorIs(t, s.SaveShared(ctx, "ann", m, "doc.pdf"), store.ErrExists)
	require.ErrorIs(t, s.SaveShared(ctx, "cat", m, "unshared.pdf"), store.ErrNotFound)
	require.Equal(t, int64(3), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", m))

	// 100 concurrent pv updates lose nothing, in MySQL and in the ranking.
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddSharePV(ctx, m, "doc.pdf")
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	require.NoError(t, addT(t, s, "ann", sum("second"), "b.txt"))
	require.NoError(t, s.Share(ctx, "ann", sum("second"), "b.txt"))
	_, err = s.AddSharePV(ctx, sum("second"), "b.txt")
	require.NoError(t, err)
	rank, err := s.Ranking(ctx, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []store.RankItem{{MD5: m, FileName: "doc.pdf", PV: 100}, {MD5: sum("second"), FileName: "b.txt", PV: 1}}, rank)
	c := redisConn(t, rds.Addr())
	score, err := redis.Int(c.Do("ZSCORE", s.KeyPrefix()+"FILE_PUBLIC_ZSET", m+"doc.pdf"))
	require.NoError(t, err)
	require.Equal(t, 100, score)
	name, err := redis.String(c.Do("HGET", s.KeyPrefix()+"FILE_NAME_HASH", m+"doc.pdf"))
	require.NoError(t, err)
	require.Equal(t, "doc.pdf", name)
	rank, err = s.Ranking(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, rank, 1)
	_, err = s.AddSharePV(ctx, m, "unknown")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A drifted cache (someone wrote into it) is repaired on the next
	// share-list change; a cancel is applied incrementally.
	require.NoError(t, s.CancelShare(ctx, "ann", sum("second"), "b.txt"))
	rank, err = s.Ranking(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, rank, 1)
	ok, err := redis.Bool(c.Do("HEXISTS", s.KeyPrefix()+"FILE_NAME_HASH", sum("second")+"b.txt"))
	require.NoError(t, err)
	require.False(t, ok)

	// Deleting a shared file removes the owner's share and the counter.
	dres, err := s.DeleteFile(ctx, "ann", m, "doc.pdf")
	require.NoError(t, err)
	require.True(t, dres.Unshared)
	n, err = s.ShareCount(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(0), n)
	rank, err = s.Ranking(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, rank)
	card, err := redis.Int(c.Do("ZCARD", s.KeyPrefix()+"FILE_PUBLIC_ZSET"))
	require.NoError(t, err)
	require.Zero(t, card)
	items, err := s.ListShared(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, items)
}

func TestListsAndNames(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	names := []string{"a'b\";--.txt", "%_x.txt", "Robert'); DROP TABLE user_file_list;--", "空 格.txt", "A.txt", "a.txt"}
	for i, n := range names {
		require.NoError(t, addT(t, s, "dan", sum(n), n), n)
		for range i {
			require.NoError(t, s.AddPV(ctx, "dan", sum(n), n))
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", `a\b`, "a\x00b", "tab\tname", string(make([]byte, 256)), "\xff"} {
		require.False(t, store.ValidFileName(bad), "%q", bad)
		_, err := s.AddUploaded(ctx, store.NewFile{User: "dan", MD5: sum(bad), FileName: bad, FileID: "g/x"})
		require.ErrorIs(t, err, store.ErrInvalid)
	}
	require.ErrorIs(t, s.AddPV(ctx, "dan", sum("nope"), "nope"), store.ErrNotFound)
	n, err := s.UserFileCount(ctx, "dan")
	require.NoError(t, err)
	require.Equal(t, int64(len(names)), n)

	all, err := s.ListUserFiles(ctx, "dan", store.OrderNormal, 0, 100)
	require.NoError(t, err)
	require.Len(t, all, len(names))
	for i, it := range all {
		require.Equal(t, names[i], it.FileName)
		require.Equal(t, sum(names[i]), it.MD5)
		require.Equal(t, int64(i), it.PV)
		require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, it.CreateTime)
	}
	desc, err := s.ListUserFiles(ctx, "dan", store.OrderPVDesc, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []string{names[5], names[4]}, []string{desc[0].FileName, desc[1].FileName})
	asc, err := s.ListUserFiles(ctx, "dan", store.OrderPVAsc, 1, 2)
	require.NoError(t, err)
	require.Equal(t, []string{names[1], names[2]}, []string{asc[0].FileName, asc[1].FileName})
	empty, err := s.ListUserFiles(ctx, "dan", store.OrderNormal, 100, 10)
	require.NoError(t, err)
	require.Empty(t, empty)
	_, err = s.ListUserFiles(ctx, "dan", store.OrderNormal, -1, 10)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.ListUserFiles(ctx, "dan", store.OrderNormal, 0, 0)
	require.ErrorIs(t, err, store.ErrInvalid)
	other, err := s.ListUserFiles(ctx, "dan' OR '1'='1", store.OrderNormal, 0, 10)
	require.NoError(t, err)
	require.Empty(t, other)

	it, err := s.UserFile(ctx, "dan", sum(names[2]), names[2])
	require.NoError(t, err)
	require.Equal(t, names[2], it.FileName)
	_, err = s.UserFile(ctx, "eve", sum(names[2]), names[2])
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, int64(len(names)), count(t, s, "SELECT COUNT(*) FROM user_file_list"))
}

func TestGC(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	id, err := s.QueueGC(ctx, "group1/M00/00/00/a.bin", "test")
	require.NoError(t, err)
	fail := errors.New("storage down")
	var calls []string
	n, err := s.RunGC(ctx, func(_ context.Context, f string) error { calls = append(calls, f); return fail })
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, []string{"group1/M00/00/00/a.bin"}, calls)
	// Backed off: not due again right away.
	due, err := s.PendingGC(ctx, 10)
	require.NoError(t, err)
	require.Empty(t, due)
	_, err = s.DB().Exec("UPDATE dfs_gc SET next_try = 0 WHERE id = ?", id)
	require.NoError(t, err)
	n, err = s.RunGC(ctx, func(context.Context, string) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, int64(0), count(t, s, "SELECT COUNT(*) FROM dfs_gc"))
}

// addT records an upload of (md5, name) for user with a made-up file ID.
func addT(t testing.TB, s *store.Store, user, md5, name string) error {
	t.Helper()
	_, err := s.AddUploaded(ctxT(t), store.NewFile{User: user, MD5: md5, FileName: name,
		FileID: "group1/M00/00/00/" + md5 + ".bin", URL: "http://x/", Size: 1, Type: "bin"})
	return err
}

// One group-commit round records each upload as add_upload would alone:
// names of any characters intact, a repeat of (user, md5, name) refused
// alone, known content referenced and its new copy queued, and a round the
// server refuses is recorded upload by upload.
func TestAddUploadsRound(t *testing.T) {
	for _, min := range []int{2, 1000} { // add_uploads_set, add_uploads
		t.Run(fmt.Sprint("setBatchMin=", min), func(t *testing.T) {
			store.SetBatchMin(t, min)
			testAddUploadsRound(t)
		})
	}
}

func testAddUploadsRound(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	m1, m2 := sum("one"), sum("two")
	odd := `a'b"c\d %_;--.txt`
	nf := func(user, md5, name, id string) store.NewFile {
		return store.NewFile{User: user, MD5: md5, FileName: name, FileID: id, URL: "http://x/" + id, Size: 3, Type: "txt"}
	}
	res, errs, err := s.AddUploadsRound(ctx, []store.NewFile{
		nf("u1", m1, odd, "group1/M00/00/00/a.txt"),
		nf("u1", m1, odd, "group1/M00/00/00/b.txt"), // the same entry again
		nf("u2", m1, "日本語 ✓.txt", "group1/M00/00/00/c.txt"),
		nf("u2", m2, "<x>&y.txt", "group1/M00/00/00/d.txt"),
	}, true)
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.Equal(t, store.AddResult{FileID: "group1/M00/00/00/a.txt", FileName: odd}, res[0])
	require.ErrorIs(t, errs[1], store.ErrExists)
	require.NoError(t, errs[2])
	require.True(t, res[2].Dup)
	require.NotZero(t, res[2].GCID)
	require.Equal(t, "group1/M00/00/00/a.txt", res[2].FileID)
	require.NoError(t, errs[3])
	require.Equal(t, store.AddResult{FileID: "group1/M00/00/00/d.txt", FileName: "<x>&y.txt"}, res[3])

	names := func(user string) []string {
		items, err := s.ListUserFiles(ctx, user, store.OrderNormal, 0, 10)
		require.NoError(t, err)
		var out []string
		for _, it := range items {
			out = append(out, it.FileName)
		}
		return out
	}
	require.Equal(t, []string{odd}, names("u1"))
	require.ElementsMatch(t, []string{"日本語 ✓.txt", "<x>&y.txt"}, names("u2"))
	require.Equal(t, int64(2), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", m1))
	require.Equal(t, int64(1), count(t, s, "SELECT count FROM user_file_count WHERE user = 'u1'"))
	require.Equal(t, int64(2), count(t, s, "SELECT count FROM user_file_count WHERE user = 'u2'"))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM dfs_gc WHERE file_id = 'group1/M00/00/00/c.txt'"))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM dfs_gc"))

	// A round with an upload the server refuses (a type longer than the
	// column): the others are recorded all the same.
	round := []store.NewFile{
		nf("u3", sum("three"), "ok.txt", "group1/M00/00/00/e.txt"),
		{User: "u3", MD5: sum("four"), FileName: "bad.txt", FileID: "group1/M00/00/00/f.txt", Type: strings.Repeat("t", 300)},
	}
	_, _, err = s.AddUploadsRound(ctx, round, true)
	require.Error(t, err, "the server takes a type longer than its column")
	res, errs, err = s.AddUploadsRound(ctx, round, false)
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.Equal(t, "group1/M00/00/00/e.txt", res[0].FileID)
	require.Error(t, errs[1])
	require.Equal(t, []string{"ok.txt"}, names("u3"))
}

// A round records what the same uploads recorded one after the other in
// its order would: the uploads of the common case (set-based in
// add_uploads) and those add_entry records alone (a name taken, a name or
// content twice in the round, a missing folder, the quota) side by side.
func TestAddUploadsRoundAsInOrder(t *testing.T) {
	ctx := ctxT(t)
	const fid = "group1/M00/00/00/"
	ten := int64(10)
	type setup struct {
		s      *store.Store
		folder int64
	}
	prepare := func() setup {
		s, _ := open(t, rds.Addr())
		pre := func(user, name, content string) { // file IDs the same in both databases
			_, err := s.AddUploaded(ctx, store.NewFile{User: user, MD5: sum(content), FileName: name,
				FileID: fid + "pre-" + name, URL: "http://x/", Size: int64(len(content)), Type: "bin"})
			require.NoError(t, err)
		}
		pre("a", "taken.txt", "x")
		pre("z", "known.bin", "known")
		dir, err := s.Mkdir(ctx, "a", 0, "F")
		require.NoError(t, err)
		require.NoError(t, s.SetQuota(ctx, "q", &ten))
		pre("q", "eight", "12345678")
		return setup{s, dir.ID}
	}
	round := func(folder int64) []store.NewFile {
		nf := func(user, content, name string, folder int64, id string) store.NewFile {
			return store.NewFile{User: user, MD5: sum(content), FileName: name, FileID: fid + id, URL: "http://x/" + id,
				Size: int64(len(content)), Type: "bin", FolderID: folder}
		}
		return []store.NewFile{
			nf("b", "one", "one.txt", 0, "1"),
			nf("b", "known", "two.txt", 0, "2"), // known content: a duplicate copy
			nf("c", "m2", "x.txt", 0, "3"),
			nf("a", "m3", "taken.txt", 0, "4"),     // "taken (1).txt"
			nf("a", "m4", "taken (1).txt", 0, "5"), // taken by the one before
			nf("a", "x", "taken.txt", 0, "6"),      // already there
			nf("a", "m5", "in.txt", folder, "7"),   // into a folder
			nf("d", "m6", "dup.txt", 0, "8"),       // content twice in the round
			nf("d", "m6", "dup2.txt", 0, "9"),      //
			nf("e", "m7", "e.txt", folder, "10"),   // not e's folder
			nf("q", "1", "q1", 0, "11"),            // fits
			nf("q", "22", "q2", 0, "12"),           // over the quota
			nf("f", "m10", "same.txt", 0, "13"),    // a name twice in the round
			nf("f", "m11", "same.txt", 0, "14"),    //
			nf("g", "m12", "g.txt", 0, "15"),       // common case
			nf("g", "m13", "g (1).txt", 0, "16"),   //
			nf("g", "m14", "sp ace .txt", 0, "17"), //
		}
	}
	type outcome struct {
		Res store.AddResult
		Err string
	}
	state := func(s *store.Store) []string {
		var out []string
		for _, q := range []string{
			"SELECT CONCAT_WS('|', user, md5, file_name, folder_id, trash_id, size, kind) FROM user_file_list ORDER BY 1",
			"SELECT CONCAT_WS('|', md5, file_id, url, size, type, count) FROM file_info ORDER BY 1",
			"SELECT CONCAT_WS('|', user, count, bytes, COALESCE(quota, '-')) FROM user_file_count ORDER BY 1",
			"SELECT CONCAT_WS('|', file_id, reason) FROM dfs_gc ORDER BY 1",
		} {
			rows, err := s.DB().QueryContext(ctx, q)
			require.NoError(t, err)
			for rows.Next() {
				var l string
				require.NoError(t, rows.Scan(&l))
				out = append(out, l)
			}
			require.NoError(t, rows.Err())
			rows.Close()
		}
		return out
	}
	outcomes := func(res []store.AddResult, errs []error) []outcome {
		out := make([]outcome, len(res))
		for i := range res {
			out[i].Res = res[i]
			out[i].Res.GCID = 0 // ids differ; Dup says whether there is one
			if errs[i] != nil {
				out[i].Err = errs[i].Error()
			}
		}
		return out
	}

	one := prepare()
	fs := round(one.folder)
	var res1 []store.AddResult
	var errs1 []error
	for _, f := range fs {
		r, err := one.s.AddUploaded(ctx, f)
		res1, errs1 = append(res1, r), append(errs1, err)
	}
	two := prepare()
	require.Equal(t, one.folder, two.folder)
	res2, errs2, err := two.s.AddUploadsRound(ctx, round(two.folder), true)
	require.NoError(t, err)
	for i := range res2 {
		require.Equal(t, res2[i].Dup, res2[i].GCID > 0, "upload %d", i+1)
	}
	require.Equal(t, outcomes(res1, errs1), outcomes(res2, errs2))
	require.Equal(t, state(one.s), state(two.s))
	require.True(t, res2[1].Dup)
	require.Equal(t, "taken (1) (1).txt", res2[4].FileName)
	require.ErrorIs(t, errs2[11], store.ErrQuota)
}
