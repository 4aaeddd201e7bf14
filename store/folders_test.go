package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/store"
)

var uploads atomic.Int64

// upload records content as user's root entry name (a DFS file ID of its own).
func upload(t testing.TB, s *store.Store, user, name, content string) store.AddResult {
	t.Helper()
	m := sum(content)
	res, err := s.AddUploaded(ctxT(t), store.NewFile{User: user, MD5: m, FileName: name,
		FileID: fmt.Sprintf("group1/M00/00/00/%s-%d.bin", m, uploads.Add(1)), URL: "http://x/", Size: int64(len(content)), Type: "bin"})
	require.NoError(t, err)
	return res
}

func file(id int64) store.ItemRef   { return store.ItemRef{Kind: store.KindFile, ID: id} }
func folder(id int64) store.ItemRef { return store.ItemRef{Kind: store.KindFolder, ID: id} }

// entryID is the id of user's live entry name in folder.
func entryID(t testing.TB, s *store.Store, user string, folder int64, name string) int64 {
	t.Helper()
	return count(t, s, "SELECT id FROM user_file_list WHERE user = ? AND folder_id = ? AND file_name = ? AND trash_id = 0", user, folder, name)
}

func names(es []store.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.FileName)
	}
	return out
}

func TestFolders(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	docs, err := s.Mkdir(ctx, "ann", 0, "Docs")
	require.NoError(t, err)
	require.Equal(t, store.KindFolder, docs.Kind)
	sub, err := s.Mkdir(ctx, "ann", docs.ID, "sub")
	require.NoError(t, err)
	_, err = s.Mkdir(ctx, "ann", 0, "Docs")
	require.ErrorIs(t, err, store.ErrExists)
	_, err = s.Mkdir(ctx, "bob", docs.ID, "x") // another user's folder
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.Mkdir(ctx, "ann", 0, "a/b")
	require.ErrorIs(t, err, store.ErrInvalid)

	upload(t, s, "ann", "b.txt", "bbbb")
	upload(t, s, "ann", "A.txt", "a")
	upload(t, s, "ann", "c.txt", "cc")
	// A file may not take a folder's name: the root's "Docs" is a folder.
	res := upload(t, s, "ann", "Docs", "a file named Docs")
	require.Equal(t, "Docs (1)", res.FileName)

	pg, err := s.ListFolder(ctx, "ann", 0, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"Docs", "A.txt", "b.txt", "c.txt", "Docs (1)"}, names(pg.Items), "folders first, then by name whatever the case")
	require.Equal(t, int64(1), pg.Folders)
	require.False(t, pg.More)
	require.Empty(t, pg.Path)
	pg, err = s.ListFolder(ctx, "ann", 0, store.SortSize, true, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"Docs", "Docs (1)", "b.txt", "c.txt", "A.txt"}, names(pg.Items))
	pg, err = s.ListFolder(ctx, "ann", 0, store.SortName, false, 1, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"A.txt", "b.txt"}, names(pg.Items), "a page past the folders")
	require.True(t, pg.More)
	pg, err = s.ListFolder(ctx, "ann", 0, store.SortTime, false, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"Docs", "b.txt"}, names(pg.Items))

	// Paths resolve a name at a time.
	got, err := s.Lookup(ctx, "ann", 0, "Docs")
	require.NoError(t, err)
	require.Equal(t, docs.ID, got.ID)
	got, err = s.Lookup(ctx, "ann", docs.ID, "sub")
	require.NoError(t, err)
	require.Equal(t, store.KindFolder, got.Kind)
	_, err = s.Lookup(ctx, "bob", 0, "Docs")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Breadcrumbs.
	pg, err = s.ListFolder(ctx, "ann", sub.ID, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []store.Crumb{{ID: docs.ID, Name: "Docs"}, {ID: sub.ID, Name: "sub"}}, pg.Path)
	_, err = s.ListFolder(ctx, "bob", sub.ID, store.SortName, false, 0, 10)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Move files and folders; the course's list shows the root only.
	b, c := entryID(t, s, "ann", 0, "b.txt"), entryID(t, s, "ann", 0, "c.txt")
	require.NoError(t, s.Move(ctx, "ann", []store.ItemRef{file(b), file(c)}, sub.ID))
	items, err := s.ListUserFiles(ctx, "ann", store.OrderNormal, 0, 10)
	require.NoError(t, err)
	require.Len(t, items, 2)
	n, err := s.UserFileCount(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	pg, err = s.ListFolder(ctx, "ann", sub.ID, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"b.txt", "c.txt"}, names(pg.Items))

	// A folder never moves into itself or below itself.
	require.ErrorIs(t, s.Move(ctx, "ann", []store.ItemRef{folder(docs.ID)}, docs.ID), store.ErrIntoItself)
	require.ErrorIs(t, s.Move(ctx, "ann", []store.ItemRef{folder(docs.ID)}, sub.ID), store.ErrIntoItself)
	require.ErrorIs(t, s.Move(ctx, "ann", []store.ItemRef{folder(sub.ID)}, docs.ID+sub.ID+100), store.ErrNotFound)
	require.NoError(t, s.Move(ctx, "ann", []store.ItemRef{folder(sub.ID)}, 0))
	require.NoError(t, s.Move(ctx, "ann", []store.ItemRef{folder(docs.ID)}, sub.ID))

	// All or nothing: the second item's name is taken in the target.
	upload(t, s, "ann", "b.txt", "another b")
	a, b2 := entryID(t, s, "ann", 0, "A.txt"), entryID(t, s, "ann", 0, "b.txt")
	require.ErrorIs(t, s.Move(ctx, "ann", []store.ItemRef{file(a), file(b2)}, sub.ID), store.ErrExists)
	require.Equal(t, a, entryID(t, s, "ann", 0, "A.txt"), "the first item did not move either")
	// Another user's entry, a wrong kind.
	require.ErrorIs(t, s.Move(ctx, "bob", []store.ItemRef{file(a)}, 0), store.ErrNotFound)
	require.ErrorIs(t, s.Move(ctx, "ann", []store.ItemRef{folder(a)}, 0), store.ErrNotFound)

	// Rename: unique per folder across kinds; the same name elsewhere is fine.
	require.ErrorIs(t, s.Rename(ctx, "ann", file(a), "sub"), store.ErrExists)
	require.NoError(t, s.Rename(ctx, "ann", file(a), "c.txt"))
	require.NoError(t, s.Rename(ctx, "ann", folder(sub.ID), "Sub 2"))
	e, err := s.EntryInfo(ctx, "ann", folder(sub.ID))
	require.NoError(t, err)
	require.Equal(t, "Sub 2", e.FileName)

	// Search: substring, any case, % and _ are themselves.
	upload(t, s, "ann", "100%_done.TXT", "pct")
	upload(t, s, "ann", "100x done.txt", "not pct")
	found, err := s.Search(ctx, "ann", "%_D", 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"100%_done.TXT"}, names(found))
	found, err = s.Search(ctx, "ann", "SUB", 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"Sub 2"}, names(found))
	found, err = s.Search(ctx, "ann", ".txt", 0, 10)
	require.NoError(t, err)
	require.Len(t, found, 6)
	found, err = s.Search(ctx, "bob", ".txt", 0, 10)
	require.NoError(t, err)
	require.Empty(t, found)

	// Uploads into a folder, alone and in a group-commit round.
	nf := func(name, content string, folder int64) store.NewFile {
		return store.NewFile{User: "ann", MD5: sum(content), FileName: name, FileID: "group1/M00/00/00/" + name,
			Size: int64(len(content)), FolderID: folder}
	}
	res, err = s.AddUploaded(ctx, nf("in.txt", "in a folder", docs.ID))
	require.NoError(t, err)
	require.Equal(t, "in.txt", res.FileName)
	_, errs, err := s.AddUploadsRound(ctx, []store.NewFile{nf("in.txt", "other", docs.ID), nf("x.txt", "x", 999999)}, true)
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], store.ErrNotFound, "no such folder")
	pg, err = s.ListFolder(ctx, "ann", docs.ID, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"in (1).txt", "in.txt"}, names(pg.Items))
}

// The course's calls name root entries by (md5, name); a name the root
// holds with other content is recorded under a free name.
func TestRootNamesUnique(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	require.Equal(t, "r.txt", upload(t, s, "ann", "r.txt", "one").FileName)
	require.Equal(t, "r (1).txt", upload(t, s, "ann", "r.txt", "two").FileName)
	res, err := s.AddUploaded(ctx, store.NewFile{User: "ann", MD5: sum("two"), FileName: "r.txt", FileID: "group1/M00/00/00/x.bin", Size: 3})
	require.ErrorIs(t, err, store.ErrExists, "asked again: the free name it got holds it")
	require.Equal(t, "r (1).txt", res.FileName)
	_, err = s.AddUploaded(ctx, store.NewFile{User: "ann", MD5: sum("one"), FileName: "r.txt", FileID: "group1/M00/00/00/y.bin", Size: 3})
	require.ErrorIs(t, err, store.ErrExists, "the same content under the same name")
	got, err := s.LinkInto(ctx, "ann", 0, sum("one"), "r (1).txt")
	require.NoError(t, err)
	require.Equal(t, "r (1) (1).txt", got)
	got, err = s.LinkInto(ctx, "ann", 0, sum("two"), ".bashrc")
	require.NoError(t, err)
	require.Equal(t, ".bashrc", got)
	got, err = s.LinkInto(ctx, "ann", 0, sum("one"), ".bashrc")
	require.NoError(t, err)
	require.Equal(t, ".bashrc (1)", got, "a leading dot starts no extension")

	require.NoError(t, s.Share(ctx, "ann", sum("one"), "r.txt"))
	got, err = s.SaveSharedInto(ctx, "bob", 0, sum("one"), "r.txt")
	require.NoError(t, err)
	require.Equal(t, "r.txt", got)
	require.Equal(t, "r.txt", upload(t, s, "cat", "r.txt", "cat's").FileName)
	got, err = s.SaveSharedInto(ctx, "cat", 0, sum("one"), "r.txt")
	require.NoError(t, err)
	require.Equal(t, "r (1).txt", got)

	long := strings.Repeat("长", 80) + ".txt" // 244 bytes
	c, err := s.NameCandidate(ctx, long, 12)
	require.NoError(t, err)
	require.LessOrEqual(t, len(c), store.MaxFileName)
	require.True(t, strings.HasSuffix(c, "长 (12).txt"), c)
}

func TestTrash(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	docs, err := s.Mkdir(ctx, "ann", 0, "docs")
	require.NoError(t, err)
	inner, err := s.Mkdir(ctx, "ann", docs.ID, "inner")
	require.NoError(t, err)
	upload(t, s, "ann", "x.txt", "shared content")
	upload(t, s, "bob", "y.txt", "shared content") // bob holds it too
	upload(t, s, "ann", "z.txt", "ann alone")
	x, z := entryID(t, s, "ann", 0, "x.txt"), entryID(t, s, "ann", 0, "z.txt")
	require.NoError(t, s.Move(ctx, "ann", []store.ItemRef{file(x)}, inner.ID))
	require.NoError(t, s.Share(ctx, "ann", sum("shared content"), "x.txt"))

	// The folder goes with everything under it; its share too.
	require.NoError(t, s.Trash(ctx, "ann", []store.ItemRef{folder(docs.ID), file(x)}))
	n, err := s.ShareCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, int64(2), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", sum("shared content")), "trashed entries still count")
	pg, err := s.ListFolder(ctx, "ann", 0, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"z.txt"}, names(pg.Items))
	_, err = s.ListFolder(ctx, "ann", inner.ID, store.SortName, false, 0, 10)
	require.ErrorIs(t, err, store.ErrNotFound)
	ts, err := s.ListTrash(ctx, "ann", 0, 10)
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.Equal(t, "docs", ts[0].FileName)
	require.Equal(t, int64(1), ts[0].Files)
	require.Equal(t, int64(len("shared content")), ts[0].Bytes)
	u, err := s.Usage(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, int64(len("shared content")+len("ann alone")), u.Used)
	require.Equal(t, int64(len("shared content")), u.Trash)

	// A new "docs" takes the name; the restored one gets a free name.
	_, err = s.Mkdir(ctx, "ann", 0, "docs")
	require.NoError(t, err)
	rs, err := s.Restore(ctx, "ann", []store.ItemRef{folder(docs.ID)})
	require.NoError(t, err)
	require.Equal(t, []store.Restored{{ItemRef: folder(docs.ID), FolderID: 0, Name: "docs (1)"}}, rs)
	pg, err = s.ListFolder(ctx, "ann", inner.ID, store.SortName, false, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"x.txt"}, names(pg.Items), "the folder came back whole")

	// A file whose folder is trashed is restored to the root.
	require.NoError(t, s.Trash(ctx, "ann", []store.ItemRef{file(x)}))
	require.NoError(t, s.Trash(ctx, "ann", []store.ItemRef{folder(docs.ID)}))
	require.ErrorIs(t, s.Trash(ctx, "ann", []store.ItemRef{file(x)}), store.ErrNotFound)
	rs, err = s.Restore(ctx, "ann", []store.ItemRef{file(x)})
	require.NoError(t, err)
	require.Equal(t, int64(0), rs[0].FolderID)
	require.ErrorIs(t, func() error { _, err := s.Restore(ctx, "bob", []store.ItemRef{folder(docs.ID)}); return err }(), store.ErrNotFound)

	// Purge: the folder's rows go, z's content has no reference left.
	gc, err := s.PurgeTrash(ctx, "ann", []store.ItemRef{folder(docs.ID)})
	require.NoError(t, err)
	require.Empty(t, gc)
	require.Zero(t, count(t, s, "SELECT COUNT(*) FROM user_file_list WHERE id IN (?, ?)", docs.ID, inner.ID))
	require.NoError(t, s.Trash(ctx, "ann", []store.ItemRef{file(z)}))
	// The collector's pass purges what expired.
	_, err = s.DB().Exec("UPDATE trash SET expire_time = 0 WHERE entry_id = ?", z)
	require.NoError(t, err)
	gc, err = s.PurgeExpired(ctx, 100)
	require.NoError(t, err)
	require.Len(t, gc, 1)
	require.True(t, strings.HasPrefix(gc[0].FileID, "group1/M00/00/00/"+sum("ann alone")), gc[0].FileID)
	require.Zero(t, count(t, s, "SELECT COUNT(*) FROM file_info WHERE md5 = ?", sum("ann alone")))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM dfs_gc WHERE id = ?", gc[0].GCID))

	// The course's del trashes; empty purges everything.
	require.NoError(t, s.TrashFile(ctx, "ann", sum("shared content"), "x.txt"))
	_, err = s.EmptyTrash(ctx, "ann")
	require.NoError(t, err)
	ts, err = s.ListTrash(ctx, "ann", 0, 10)
	require.NoError(t, err)
	require.Empty(t, ts)
	require.Equal(t, int64(1), count(t, s, "SELECT count FROM file_info WHERE md5 = ?", sum("shared content")), "bob's reference")
	u, err = s.Usage(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, store.Usage{}, u)
	checkCounts(t, s)
}

// openWithQuota is a store on a fresh database whose default quota is
// quota bytes.
func openWithQuota(t *testing.T, quota int64) *store.Store {
	t.Helper()
	_, opt := open(t, rds.Addr())
	opt.MySQL = mdb.AppMySQL(mdb.NewDatabase(t)).Driver()
	opt.Quota = quota
	s, err := store.Open(ctxT(t), opt)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestQuota(t *testing.T) {
	s := openWithQuota(t, 10)
	ctx := ctxT(t)
	upload(t, s, "ann", "six", "123456")
	_, err := s.AddUploaded(ctx, store.NewFile{User: "ann", MD5: sum("12345"), FileName: "five", FileID: "g/5", Size: 5})
	require.ErrorIs(t, err, store.ErrQuota)
	require.ErrorIs(t, s.CheckQuota(ctx, "ann", 5), store.ErrQuota)
	require.NoError(t, s.CheckQuota(ctx, "ann", 4))
	// Dedup does not make an entry free: a second entry counts again.
	_, err = s.LinkInto(ctx, "ann", 0, sum("123456"), "six again")
	require.ErrorIs(t, err, store.ErrQuota)
	// The trash counts until it is purged.
	require.NoError(t, s.TrashFile(ctx, "ann", sum("123456"), "six"))
	require.ErrorIs(t, s.CheckQuota(ctx, "ann", 5), store.ErrQuota)
	_, err = s.EmptyTrash(ctx, "ann")
	require.NoError(t, err)
	require.NoError(t, s.CheckQuota(ctx, "ann", 10))
	// A quota of one's own; 0 is unlimited.
	zero := int64(0)
	require.NoError(t, s.SetQuota(ctx, "ann", &zero))
	upload(t, s, "ann", "big", strings.Repeat("x", 100))
	u, err := s.Usage(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, store.Usage{Used: 100, Quota: 0}, u)
	require.NoError(t, s.SetQuota(ctx, "ann", nil))
	u, err = s.Usage(ctx, "ann")
	require.NoError(t, err)
	require.Equal(t, int64(10), u.Quota)
	require.Zero(t, count(t, s, "SELECT COUNT(*) FROM file_info WHERE md5 = ?", sum("12345")), "nothing of the refused upload recorded")
	checkCounts(t, s)
}

// Free names: many files of one name get "stem (n).ext" in turn; the
// search for this content among them is literal (LIKE's % and _ in a name
// match only themselves).
func TestFreeNames(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	for i := range 30 {
		want := "x.bin"
		if i > 0 {
			want = fmt.Sprintf("x (%d).bin", i)
		}
		require.Equal(t, want, upload(t, s, "fn", "x.bin", fmt.Sprint("content ", i)).FileName)
	}
	_, err := s.AddUploaded(ctx, store.NewFile{User: "fn", MD5: sum("content 17"), FileName: "x.bin", FileID: "group1/M00/00/00/z.bin", Size: 10})
	require.ErrorIs(t, err, store.ErrExists, "found under the free name it got")

	require.Equal(t, "axb (1).txt", upload(t, s, "fn", "axb (1).txt", "one").FileName)
	require.Equal(t, "a_b.txt", upload(t, s, "fn", "a_b.txt", "two").FileName)
	require.Equal(t, "a_b (1).txt", upload(t, s, "fn", "a_b.txt", "one").FileName, "not the content of axb (1).txt")
	require.Equal(t, "100%", upload(t, s, "fn", "100%", "three").FileName, "a name without an extension")
	require.Equal(t, "100% (1)", upload(t, s, "fn", "100%", "four").FileName)
	checkCounts(t, s)
}

// Uploads racing for the last of a quota: exactly as many as fit are
// recorded, whatever their order, and the usage is their sum.
func TestQuotaConcurrent(t *testing.T) {
	s := openWithQuota(t, 30)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	var ok, refused atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content := fmt.Sprintf("%03d", i) // 3 bytes each, all different
			_, err := s.AddUploaded(ctx, store.NewFile{User: "quo", MD5: sum(content), FileName: content, FileID: "g/" + content, Size: 3})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrQuota):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 10, ok.Load())
	require.EqualValues(t, 10, refused.Load())
	u, err := s.Usage(ctx, "quo")
	require.NoError(t, err)
	require.Equal(t, int64(30), u.Used)
	checkCounts(t, s)
}

// checkCounts asserts the counters are exact: file_info.count is the
// number of file rows (live and trashed), user_file_count.count and bytes
// the user's, every trash row's entries are there.
func checkCounts(t testing.TB, s *store.Store) {
	t.Helper()
	for _, q := range []string{
		`SELECT COUNT(*) FROM file_info f WHERE f.count <> (SELECT COUNT(*) FROM user_file_list u WHERE u.md5 = f.md5 AND u.kind = 0)`,
		`SELECT COUNT(*) FROM user_file_list u LEFT JOIN file_info f ON f.md5 = u.md5 WHERE u.kind = 0 AND f.id IS NULL`,
		`SELECT COUNT(*) FROM user_file_count c WHERE c.count <> (SELECT COUNT(*) FROM user_file_list u WHERE u.user = c.user AND u.kind = 0)
			OR c.bytes <> (SELECT COALESCE(SUM(size), 0) FROM user_file_list u WHERE u.user = c.user AND u.kind = 0)`,
		`SELECT COUNT(*) FROM user_file_list u WHERE u.trash_id <> 0 AND NOT EXISTS (SELECT 1 FROM trash t WHERE t.id = u.trash_id)`,
		`SELECT COUNT(*) FROM trash t WHERE NOT EXISTS (SELECT 1 FROM user_file_list u WHERE u.id = t.entry_id AND u.trash_id = t.id)`,
		`SELECT COUNT(*) FROM dfs_gc g JOIN file_info f ON f.file_id = g.file_id`, // never a referenced file
	} {
		require.Zero(t, count(t, s, q), q)
	}
}

// Several users hold the same content; 50 deletes, restores and purges
// run at once: the counts end exact and the content is queued for the
// DFS delete exactly when its last reference went.
func TestTrashConcurrent(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	content := "the same bytes"
	ids := map[string][]int64{}
	for _, u := range users {
		f, err := s.Mkdir(ctx, u, 0, "f")
		require.NoError(t, err)
		for i := range 3 {
			upload(t, s, u, fmt.Sprintf("c%d", i), content)
			id := entryID(t, s, u, 0, fmt.Sprintf("c%d", i))
			if i == 2 {
				require.NoError(t, s.Move(ctx, u, []store.ItemRef{file(id)}, f.ID))
			}
			ids[u] = append(ids[u], id)
		}
		ids[u] = append(ids[u], -f.ID) // negative: the folder
	}
	ref := func(id int64) store.ItemRef {
		if id < 0 {
			return folder(-id)
		}
		return file(id)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var gcs []store.GCFile
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			u := users[rnd.IntN(len(users))]
			r := ref(ids[u][rnd.IntN(len(ids[u]))])
			var err error
			switch i % 3 {
			case 0:
				err = s.Trash(ctx, u, []store.ItemRef{r})
			case 1:
				_, err = s.Restore(ctx, u, []store.ItemRef{r})
			case 2:
				var gc []store.GCFile
				if err = s.Trash(ctx, u, []store.ItemRef{r}); err == nil || errorsIsNotFound(err) {
					gc, err = s.PurgeTrash(ctx, u, []store.ItemRef{r})
				}
				mu.Lock()
				gcs = append(gcs, gc...)
				mu.Unlock()
			}
			if err != nil && !errorsIsNotFound(err) {
				t.Errorf("%s %v: %v", u, r, err)
			}
		}()
	}
	wg.Wait()
	checkCounts(t, s)
	refs := count(t, s, "SELECT COUNT(*) FROM user_file_list WHERE md5 = ?", sum(content))
	queued := count(t, s, "SELECT COUNT(*) FROM dfs_gc WHERE reason = 'delete'") // 'duplicate': the uploads' own copies
	if refs > 0 {
		require.Equal(t, refs, count(t, s, "SELECT count FROM file_info WHERE md5 = ?", sum(content)))
		require.Zero(t, queued)
	} else {
		require.Zero(t, count(t, s, "SELECT COUNT(*) FROM file_info"))
		require.Equal(t, int64(1), queued)
		require.Len(t, gcs, 1)
	}
	// Everything purged: the content is queued once.
	for _, u := range users {
		live, err := s.ListFolder(ctx, u, 0, store.SortName, false, 0, 100)
		require.NoError(t, err)
		var all []store.ItemRef
		for _, e := range live.Items {
			all = append(all, store.ItemRef{Kind: e.Kind, ID: e.ID})
		}
		if len(all) > 0 {
			require.NoError(t, s.Trash(ctx, u, all))
		}
		_, err = s.EmptyTrash(ctx, u)
		require.NoError(t, err)
	}
	checkCounts(t, s)
	require.Zero(t, count(t, s, "SELECT COUNT(*) FROM file_info"))
	require.Equal(t, int64(1), count(t, s, "SELECT COUNT(*) FROM dfs_gc WHERE reason = 'delete'"))
	require.Zero(t, count(t, s, "SELECT COUNT(*) FROM user_file_list"))
}

func errorsIsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// Migration 0010 makes existing rows valid: root entries of one user
// sharing a name (other content) are renamed deterministically, the
// oldest keeping it, a renamed share follows its entry; sizes and byte
// counters are filled in. Run again, it changes nothing.
func TestMigrationFoldersExistingRows(t *testing.T) {
	s, _ := open(t, rds.Addr())
	ctx := ctxT(t)
	db := s.DB()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	// The rows as the course's schema allowed them.
	exec("DROP INDEX uq_user_folder_name ON user_file_list")
	for i, c := range []string{"one", "two", "three"} {
		m := sum(c)
		exec("INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (?, ?, '', ?, 'txt', 1)", m, "group1/M00/00/00/"+c, 10*(i+1))
		exec("INSERT INTO user_file_list (user, md5, file_name) VALUES ('ann', ?, 'n.txt')", m)
	}
	exec("INSERT INTO user_file_list (user, md5, file_name) VALUES ('bob', ?, 'n.txt')", sum("one"))
	exec("UPDATE file_info SET count = 2 WHERE md5 = ?", sum("one"))
	exec("INSERT INTO user_file_count (user, count) VALUES ('ann', 3), ('bob', 1)")
	exec("UPDATE user_file_list SET shared_status = 1 WHERE md5 = ? AND user = 'ann'", sum("three"))
	exec("INSERT INTO share_file_list (user, md5, file_name) VALUES ('ann', ?, 'n.txt')", sum("three"))
	exec("UPDATE global_count SET count = 1 WHERE name = 'share_file_list'")
	ids := []int64{}
	for _, c := range []string{"one", "two", "three"} {
		ids = append(ids, count(t, s, "SELECT id FROM user_file_list WHERE user = 'ann' AND md5 = ?", sum(c)))
	}
	exec("DELETE FROM schema_migrations WHERE version = 10")

	for range 2 {
		require.NoError(t, s.Migrate(ctx))
		items, err := s.ListUserFiles(ctx, "ann", store.OrderNormal, 0, 10)
		require.NoError(t, err)
		require.Equal(t, []string{"n.txt", fmt.Sprintf("n (%d).txt", ids[1]), fmt.Sprintf("n (%d).txt", ids[2])},
			[]string{items[0].FileName, items[1].FileName, items[2].FileName})
		require.Equal(t, int64(20), items[1].Size)
		sh, err := s.ListShared(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, sh, 1)
		require.Equal(t, items[2].FileName, sh[0].FileName, "the share follows its entry")
		u, err := s.Usage(ctx, "ann")
		require.NoError(t, err)
		require.Equal(t, int64(60), u.Used)
		checkCounts(t, s)
		exec("DELETE FROM schema_migrations WHERE version = 10") // and once more
	}
	require.NoError(t, s.Migrate(ctx))
}

// With QuotaCacheAge, CheckQuota passes uploads by a usage it read a moment
// ago plus what this Store recorded since, and confirms every refusal with
// MySQL; what another process changed meanwhile is refused by the
// recording.
func TestQuotaCacheAge(t *testing.T) {
	ctx := ctxT(t)
	_, opt := open(t, rds.Addr())
	opt.MySQL = mdb.AppMySQL(mdb.NewDatabase(t)).Driver()
	opt.Quota = 10
	other, err := store.Open(ctx, opt)
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	opt.QuotaCacheAge = time.Hour
	s, err := store.Open(ctx, opt)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	require.NoError(t, s.CheckQuota(ctx, "ann", 10))
	upload(t, s, "ann", "six", "123456") // counted in the cached usage
	require.ErrorIs(t, s.CheckQuota(ctx, "ann", 5), store.ErrQuota)
	require.NoError(t, s.CheckQuota(ctx, "ann", 4))
	// A usage that went down elsewhere is seen at the next refusal.
	require.NoError(t, other.TrashFile(ctx, "ann", sum("123456"), "six"))
	_, err = other.EmptyTrash(ctx, "ann")
	require.NoError(t, err)
	require.NoError(t, s.CheckQuota(ctx, "ann", 10))
	// One that went up elsewhere passes the check; the recording refuses.
	upload(t, other, "ann", "eight", "12345678")
	require.NoError(t, s.CheckQuota(ctx, "ann", 5))
	_, err = s.AddUploaded(ctx, store.NewFile{User: "ann", MD5: sum("12345"), FileName: "five", FileID: "g/5", Size: 5})
	require.ErrorIs(t, err, store.ErrQuota)
	// A quota set here is read again.
	one := int64(1)
	require.NoError(t, s.SetQuota(ctx, "ann", &one))
	require.ErrorIs(t, s.CheckQuota(ctx, "ann", 0), store.ErrQuota)
}
