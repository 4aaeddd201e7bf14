package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/store"
)

// Share links: made only on one's own entry, opened by token (and code),
// listed, revoked, expiring, and dead with their entry; every dead state
// answers alike.
func TestShareLinks(t *testing.T) {
	s, opt := open(t, rds.Addr())
	ctx := ctxT(t)
	for _, u := range []string{"lina", "omar"} {
		require.NoError(t, s.Register(ctx, store.NewUser{Name: u, Nick: u + " nick", Password: sum("pw")}))
	}
	_, err := s.AddUploaded(ctx, store.NewFile{User: "lina", MD5: sum("a"), FileName: "a.txt", FileID: "group1/M00/00/00/a.txt", Size: 1, Type: "txt"})
	require.NoError(t, err)
	id := count(t, s, "SELECT id FROM user_file_list WHERE user = 'lina'")

	// Only one's own entry, only known kinds, only a well-formed code.
	_, err = s.CreateLink(ctx, store.NewLink{User: "omar", Kind: store.LinkKindFile, ItemID: id})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.CreateLink(ctx, store.NewLink{User: "lina", Kind: "album", ItemID: id})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = s.CreateLink(ctx, store.NewLink{User: "lina", Kind: store.LinkKindFile, ItemID: id, Code: "AB12"})
	require.ErrorIs(t, err, store.ErrInvalid)

	code := store.NewLinkCode()
	require.True(t, store.ValidLinkCode(code), code)
	l, err := s.CreateLink(ctx, store.NewLink{User: "lina", Kind: store.LinkKindFile, ItemID: id, Code: code, ExpiresIn: 7 * 24 * time.Hour})
	require.NoError(t, err)
	require.True(t, store.ValidLinkToken(l.Token), l.Token)
	require.InDelta(t, time.Now().Add(7*24*time.Hour).Unix(), l.ExpireTime, 5)
	// What is kept of the code is neither the code nor its plain hash.
	var kept string
	require.NoError(t, s.DB().QueryRow("SELECT code_hash FROM share_link WHERE id = ?", l.ID).Scan(&kept))
	require.Len(t, kept, 64)
	require.NotContains(t, kept, code)

	got, err := s.OpenLink(ctx, l.Token)
	require.NoError(t, err)
	require.Equal(t, "a.txt", got.FileName)
	require.Equal(t, "lina nick", got.Nick)
	require.Equal(t, "group1/M00/00/00/a.txt", got.FileID)
	require.True(t, got.HasCode)
	require.True(t, got.CheckCode(code))
	require.False(t, got.CheckCode("zzzz"))
	require.False(t, got.CheckCode(""))
	open := func(tok string) error { _, err := s.OpenLink(ctx, tok); return err }
	require.ErrorIs(t, open("AAAAAAAAAAAAAAAAAAAAAA"), store.ErrNotFound)
	require.ErrorIs(t, open("not a token"), store.ErrNotFound)

	free, err := s.CreateLink(ctx, store.NewLink{User: "lina", Kind: store.LinkKindFile, ItemID: id})
	require.NoError(t, err)
	require.NotEqual(t, l.Token, free.Token)
	fl, err := s.OpenLink(ctx, free.Token)
	require.NoError(t, err)
	require.True(t, fl.CheckCode(""))
	require.Zero(t, fl.ExpireTime)

	// Counted once per address per hour.
	for _, addr := range []string{"10.0.0.1", "10.0.0.1", "10.0.0.2"} {
		_, err := s.CountLinkDownload(ctx, l.ID, addr)
		require.NoError(t, err)
	}
	_, err = s.CountLinkView(ctx, l.ID, "10.0.0.1")
	require.NoError(t, err)

	// The list: newest first, with the entry and the counts.
	links, total, err := s.ListLinks(ctx, "lina", 0, 10)
	require.NoError(t, err)
	require.EqualValues(t, 2, total)
	require.Equal(t, []int64{free.ID, l.ID}, []int64{links[0].ID, links[1].ID})
	require.EqualValues(t, 2, links[1].Downloads)
	require.EqualValues(t, 1, links[1].Views)
	require.Equal(t, "a.txt", links[1].FileName)
	require.Equal(t, store.LinkActive, links[1].State(time.Now()))
	links, total, err = s.ListLinks(ctx, "omar", 0, 10)
	require.NoError(t, err)
	require.Zero(t, total)
	require.Empty(t, links)

	// Revoke: only the owner; twice is fine.
	require.ErrorIs(t, s.RevokeLink(ctx, "omar", l.ID), store.ErrNotFound)
	require.NoError(t, open(l.Token))
	require.NoError(t, s.RevokeLink(ctx, "lina", l.ID))
	require.NoError(t, s.RevokeLink(ctx, "lina", l.ID))
	require.ErrorIs(t, s.RevokeLink(ctx, "lina", 999999), store.ErrNotFound)
	require.ErrorIs(t, open(l.Token), store.ErrNotFound)

	// Expired.
	_, err = s.DB().Exec("UPDATE share_link SET expire_time = ? WHERE id = ?", time.Now().Unix()-1, free.ID)
	require.NoError(t, err)
	require.ErrorIs(t, open(free.Token), store.ErrNotFound)

	// The entry deleted: the link dies with it, and stays dead when the
	// same name comes back (a new entry).
	live, err := s.CreateLink(ctx, store.NewLink{User: "lina", Kind: store.LinkKindFile, ItemID: id})
	require.NoError(t, err)
	require.NoError(t, open(live.Token))
	_, err = s.DeleteFile(ctx, "lina", sum("a"), "a.txt")
	require.NoError(t, err)
	require.ErrorIs(t, open(live.Token), store.ErrNotFound)
	_, err = s.AddUploaded(ctx, store.NewFile{User: "lina", MD5: sum("a"), FileName: "a.txt", FileID: "group1/M00/00/00/a.txt", Size: 1, Type: "txt"})
	require.NoError(t, err)
	require.ErrorIs(t, open(live.Token), store.ErrNotFound)
	links, _, err = s.ListLinks(ctx, "lina", 0, 10)
	require.NoError(t, err)
	now := time.Now()
	require.Equal(t, []string{store.LinkGone, store.LinkExpired, store.LinkRevoked},
		[]string{links[0].State(now), links[1].State(now), links[2].State(now)})

	// The grant key: made once, the same for every store.
	k1, err := s.LinkSecret(ctx)
	require.NoError(t, err)
	s2, err := store.Open(ctx, opt)
	require.NoError(t, err)
	defer s2.Close()
	k2, err := s2.LinkSecret(ctx)
	require.NoError(t, err)
	require.Len(t, k1, 32)
	require.Equal(t, k1, k2)
}

// The code guard: so many attempts per link and per address within the
// window, counted before the code is checked; a right code takes its
// attempt back; a token that does not exist is counted alike.
func TestLinkGuard(t *testing.T) {
	_, opt := open(t, rds.Addr())
	opt.LinkCodeFailures, opt.LinkAddrFailures, opt.LinkGuardWindow = 3, 5, 2*time.Second
	s, err := store.Open(ctxT(t), opt)
	require.NoError(t, err)
	defer s.Close()
	ctx := ctxT(t)
	locked := func(err error) bool {
		var thr *store.ThrottledError
		return errors.As(err, &thr) && thr.RetryAfter > 0 && thr.RetryAfter <= 2*time.Second
	}
	const tokA, tokB, tokC = "AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB", "CCCCCCCCCCCCCCCCCCCCCC"
	for range 3 {
		require.NoError(t, s.LinkGuardTry(ctx, tokA, "10.1.0.1"))
	}
	require.True(t, locked(s.LinkGuardTry(ctx, tokA, "10.1.0.2")), "the link is locked for every address")
	// Another link from the first address: two more of its five.
	require.NoError(t, s.LinkGuardTry(ctx, tokB, "10.1.0.1"))
	s.LinkGuardPass(ctx, tokB, "10.1.0.1") // a right code gives its attempt back
	require.NoError(t, s.LinkGuardTry(ctx, tokB, "10.1.0.1"))
	require.NoError(t, s.LinkGuardTry(ctx, tokC, "10.1.0.1"))
	require.True(t, locked(s.LinkGuardTry(ctx, tokC, "10.1.0.1")), "the address has used its five")
	require.NoError(t, s.LinkGuardTry(ctx, tokC, "10.1.0.3"))
	// The window ends: both are free again.
	require.Eventually(t, func() bool { return s.LinkGuardTry(ctx, tokA, "10.1.0.1") == nil }, 10*time.Second, 100*time.Millisecond)
	_, err = s.PurgeTokens(ctx)
	require.NoError(t, err)
}
