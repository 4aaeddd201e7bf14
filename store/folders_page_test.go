package store_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/store"
)

// seedFolder puts n files (100 contents, 1000 rows per INSERT) into a new
// folder of user and returns the folder's id.
func seedFolder(t testing.TB, s *store.Store, user string, n int) int64 {
	t.Helper()
	ctx := ctxT(t)
	f, err := s.Mkdir(ctx, user, 0, "big")
	require.NoError(t, err)
	db := s.DB()
	var q strings.Builder
	for i := range 100 {
		m := sum(fmt.Sprint("content ", i))
		_, err := db.ExecContext(ctx, "INSERT INTO file_info (md5, file_id, url, size, type, count) VALUES (?, ?, '', ?, 'bin', 0)",
			m, "group1/M00/00/00/"+m+".bin", i*100)
		require.NoError(t, err)
	}
	for done := 0; done < n; {
		k := min(1000, n-done)
		q.Reset()
		q.WriteString("INSERT INTO user_file_list (user, md5, file_name, folder_id, size, create_time) VALUES ")
		args := make([]any, 0, 6*k)
		for j := range k {
			i := done + j
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, FROM_UNIXTIME(?))")
			args = append(args, user, sum(fmt.Sprint("content ", i%100)), fmt.Sprintf("File %07d.bin", (i*7919)%n), f.ID, (i%100)*100, 1700000000+i)
		}
		_, err := db.ExecContext(ctx, q.String(), args...)
		require.NoError(t, err)
		done += k
	}
	_, err = db.ExecContext(ctx, "UPDATE file_info f SET count = (SELECT COUNT(*) FROM user_file_list u WHERE u.md5 = f.md5)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "ANALYZE TABLE user_file_list")
	require.NoError(t, err)
	return f.ID
}

// A folder page reads its rows from the sort's index: no full scan and no
// sort of the folder's rows, whatever the sort and direction.
func TestFolderPageUsesIndex(t *testing.T) {
	s, _ := open(t, rds.Addr())
	id := seedFolder(t, s, "big", 3000)
	for _, sort := range []store.Sort{store.SortName, store.SortTime, store.SortSize} {
		for _, desc := range []bool{false, true} {
			q := store.PageQuery(sort, desc)
			rows, err := s.DB().Query("EXPLAIN "+q, "big", id, store.KindFile, 1500, 50)
			require.NoError(t, err)
			cols, err := rows.Columns()
			require.NoError(t, err)
			found := false
			for rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				require.NoError(t, rows.Scan(ptrs...))
				row := map[string]string{}
				for i, c := range cols {
					row[c] = vals[i].String
				}
				if row["select_type"] != "DERIVED" {
					continue
				}
				found = true
				want := map[store.Sort]string{store.SortName: "idx_list_name", store.SortTime: "idx_list_time", store.SortSize: "idx_list_size"}[sort]
				require.Equal(t, want, row["key"], "sort %d desc %v: %v", sort, desc, row)
				require.Equal(t, "ref", row["type"], "%v", row)
				require.NotContains(t, row["Extra"], "filesort", "%v", row)
			}
			require.NoError(t, rows.Err())
			rows.Close()
			require.True(t, found, "no derived table in the plan of %s", q)
		}
	}
	pg, err := s.ListFolder(ctxT(t), "big", id, store.SortName, false, 2990, 20)
	require.NoError(t, err)
	require.Len(t, pg.Items, 10)
	require.Equal(t, "File 0002999.bin", pg.Items[9].FileName)
	require.False(t, pg.More)
}

// BenchmarkFolderPage lists pages of 50 of a folder of 100,000 files by
// name: the first, the middle and the last page.
func BenchmarkFolderPage(b *testing.B) {
	s, _ := open(b, rds.Addr())
	id := seedFolder(b, s, "big", 100_000)
	ctx := ctxT(b)
	for _, start := range []int{0, 50_000, 99_950} {
		for _, sort := range []store.Sort{store.SortName, store.SortSize} {
			b.Run(fmt.Sprintf("sort%d/start%d", sort, start), func(b *testing.B) {
				for b.Loop() {
					pg, err := s.ListFolder(ctx, "big", id, sort, false, start, 50)
					if err != nil || len(pg.Items) != 50 {
						b.Fatal(err, len(pg.Items))
					}
				}
			})
		}
	}
}
