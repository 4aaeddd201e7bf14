package app

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
)

// ref is an {"kind","id"} item of a /files or /trash request.
func ref(kind string, id any) map[string]any { return map[string]any{"kind": kind, "id": id} }

// itemNames are the names of a /files or /trash answer's items.
func itemNames(r resp) []string {
	out := []string{}
	items, _ := r.json["items"].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["name"].(string))
	}
	return out
}

func TestFilesAndTrash(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	tok := e.user("fola")
	req := func(extra map[string]any) map[string]any {
		m := map[string]any{"user": "fola", "token": tok}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	c1, c2 := randBytes(1000), randBytes(2000)
	expect(t, e.uploadMP("fola", tok, "a.txt", c1), http.StatusOK, CodeUploadOK)
	// The course's upload of a name the root holds with other content: a free name.
	r := e.uploadMP("fola", tok, "a.txt", c2)
	expect(t, r, http.StatusOK, CodeUploadOK)
	require.Equal(t, "a (1).txt", r.json["file_name"])
	r = e.post("/md5", req(map[string]any{"md5": sum(c2), "fileName": "a.txt"})) // content of one's own: linked at once
	expect(t, r, http.StatusOK, CodeMD5OK)
	require.Equal(t, "a (2).txt", r.json["file_name"])
	r = e.uploadMP("fola", tok, "a.txt", c1)
	expect(t, r, http.StatusOK, CodeUploadOK)
	require.Equal(t, "already in your files", r.json["msg"])

	r = e.post("/files?cmd=mkdir", req(map[string]any{"name": "Docs"}))
	expect(t, r, http.StatusOK, CodeMkdirOK)
	docs := r.json["item"].(map[string]any)["id"]
	require.Equal(t, "folder", r.json["item"].(map[string]any)["kind"])
	expect(t, e.post("/files?cmd=mkdir", req(map[string]any{"name": "docs"})), http.StatusOK, CodeMkdirOK) // names are case-sensitive
	expect(t, e.post("/files?cmd=mkdir", req(map[string]any{"name": "Docs"})), http.StatusConflict, CodeNameTaken)
	expect(t, e.post("/files?cmd=mkdir", req(map[string]any{"name": "a.txt"})), http.StatusConflict, CodeNameTaken)
	expect(t, e.post("/files?cmd=mkdir", req(map[string]any{"name": "x", "folder_id": 999999})), http.StatusNotFound, CodeFolderNotFound)

	r = e.post("/files?cmd=list", req(map[string]any{"sort": "size", "order": "desc"}))
	expect(t, r, http.StatusOK, CodeFolderListOK)
	require.Equal(t, []string{"docs", "Docs", "a (2).txt", "a (1).txt", "a.txt"}, itemNames(r), "ties: by id, in the same direction")
	items := r.json["items"].([]any)
	a := items[4].(map[string]any)
	require.Equal(t, "file", a["kind"])
	require.Equal(t, sum(c1), a["md5"])
	require.Equal(t, "a.txt", a["file_name"])
	require.Equal(t, "a.txt", a["filename"])
	require.Contains(t, a["url"], "?e=", "signed like /myfiles")
	require.EqualValues(t, 2, r.json["folder_count"])

	// Move a.txt into Docs: the course's list shows the root only.
	expect(t, e.post("/files?cmd=move", req(map[string]any{"items": []any{ref("file", a["id"])}, "dest": docs})), http.StatusOK, CodeMoveOK)
	require.NotContains(t, e.listNames("fola", tok), "a.txt")
	r = e.post("/myfiles?cmd=count", req(nil))
	require.Equal(t, "2", r.json["num"])
	r = e.post("/files?cmd=list", req(map[string]any{"folder_id": docs}))
	expect(t, r, http.StatusOK, CodeFolderListOK)
	require.Equal(t, []string{"a.txt"}, itemNames(r))
	require.Equal(t, []any{map[string]any{"id": 0.0, "name": ""}, map[string]any{"id": docs, "name": "Docs"}}, r.json["path"])
	expect(t, e.post("/files?cmd=move", req(map[string]any{"items": []any{ref("folder", docs)}, "dest": docs})), http.StatusBadRequest, CodeMoveIntoItself)
	// The course's calls still reach it by (md5, name), e.g. a download.
	expect(t, e.post("/download", req(map[string]any{"md5": sum(c1), "filename": "a.txt"})), http.StatusOK, CodeDownloadOK)

	// Rename, info, search.
	expect(t, e.post("/files?cmd=rename", req(map[string]any{"item": ref("file", a["id"]), "name": "b.txt"})), http.StatusOK, CodeRenameOK)
	r = e.post("/files?cmd=info", req(map[string]any{"item": ref("file", a["id"])}))
	expect(t, r, http.StatusOK, CodeInfoOK)
	require.Equal(t, "b.txt", r.json["item"].(map[string]any)["name"])
	require.Len(t, r.json["path"], 2)
	expect(t, e.post("/files?cmd=rename", req(map[string]any{"item": ref("folder", docs), "name": "docs"})), http.StatusConflict, CodeNameTaken)
	r = e.post("/files?cmd=search", req(map[string]any{"q": "A ("}))
	expect(t, r, http.StatusOK, CodeSearchOK)
	require.Equal(t, []string{"a (1).txt", "a (2).txt"}, itemNames(r))

	// Delete the folder: to the trash with what it holds.
	expect(t, e.post("/files?cmd=delete", req(map[string]any{"items": []any{ref("folder", docs)}})), http.StatusOK, CodeTrashOK)
	expect(t, e.post("/files?cmd=list", req(map[string]any{"folder_id": docs})), http.StatusNotFound, CodeFolderNotFound)
	r = e.post("/trash?cmd=list", req(nil))
	expect(t, r, http.StatusOK, CodeTrashListOK)
	require.Equal(t, []string{"Docs"}, itemNames(r))
	tr := r.json["items"].([]any)[0].(map[string]any)
	require.EqualValues(t, 1, tr["files"])
	require.EqualValues(t, len(c1), tr["bytes"])
	r = e.post("/files?cmd=usage", req(nil))
	expect(t, r, http.StatusOK, CodeUsageOK)
	require.EqualValues(t, len(c1)+2*len(c2), r.json["used"], "each entry counts, the trashed one too")
	require.EqualValues(t, len(c1), r.json["trash"])
	require.EqualValues(t, 10<<30, r.json["quota"])

	expect(t, e.post("/trash?cmd=restore", req(map[string]any{"items": []any{ref("folder", docs)}})), http.StatusOK, CodeRestoreOK)
	r = e.post("/files?cmd=list", req(map[string]any{"folder_id": docs}))
	require.Equal(t, []string{"b.txt"}, itemNames(r))

	// Deleted for good from the trash: c1's last reference goes, and its DFS file.
	fileID := e.fileID(sum(c1))
	expect(t, e.post("/dealfile?cmd=del", req(map[string]any{"md5": sum(c1), "filename": "b.txt"})), http.StatusOK, CodeDelOK)
	cl := dfsClient(t)
	_, err := cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err, "kept while in the trash")
	expect(t, e.post("/trash?cmd=delete", req(map[string]any{"items": []any{ref("file", a["id"])}})), http.StatusOK, CodePurgeOK)
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	expect(t, e.post("/trash?cmd=delete", req(map[string]any{"items": []any{ref("file", a["id"])}})), http.StatusNotFound, CodeFolderNotFound)

	// Another user sees none of it.
	tok2 := e.user("folb")
	expect(t, e.post("/files?cmd=list", map[string]any{"user": "folb", "token": tok2, "folder_id": docs}), http.StatusNotFound, CodeFolderNotFound)
	expect(t, e.post("/files?cmd=delete", map[string]any{"user": "folb", "token": tok2, "items": []any{ref("folder", docs)}}), http.StatusNotFound, CodeFolderNotFound)
	expect(t, e.post("/files?cmd=list", map[string]any{"user": "folb", "token": tok}), http.StatusUnauthorized, CodeTokenBad)
	// Bounded multi-select.
	many := make([]any, 1001)
	for i := range many {
		many[i] = ref("file", i+1)
	}
	expect(t, e.post("/files?cmd=delete", req(map[string]any{"items": many})), http.StatusBadRequest, CodeTrashFail)
	expect(t, e.post("/trash?cmd=empty", req(nil)), http.StatusOK, CodeEmptyTrashOK)
}

// The quota refuses an upload before its bytes are stored when its size
// is known, and atomically when it is recorded otherwise; instant uploads
// and saves are refused too. Course clients get their endpoint's failure
// code, with HTTP 200 in the course's mode.
func TestQuotaRefusals(t *testing.T) {
	cfg := testConfig(t, config.UploadInProcess)
	cfg.QuotaBytes = 3000
	e := newEnv(t, cfg)
	tok := e.user("quo")
	tok2 := e.user("quo2")
	big := randBytes(2000)
	expect(t, e.uploadMP("quo", tok, "one.bin", big), http.StatusOK, CodeUploadOK)
	before := dfsFileCount(t)

	// Size known before the file: refused before a byte is stored.
	other := randBytes(1500)
	ct, body := multipartBody(t, map[string]string{"user": "quo", "token": tok, "size": "1500"}, "two.bin", other, false)
	r := e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
	expect(t, r, http.StatusInsufficientStorage, CodeUploadFail)
	require.True(t, strings.HasPrefix(r.json["msg"].(string), "quota exceeded"), "%s", r)
	// No size: stored, then refused when recorded, and the copy deleted.
	r = e.uploadMP("quo", tok, "two.bin", other)
	expect(t, r, http.StatusInsufficientStorage, CodeUploadFail)
	require.Equal(t, before, dfsFileCount(t), "nothing of the refused uploads stays in the DFS")
	// Dedup does not make a second entry free.
	r = e.post("/md5", map[string]any{"user": "quo", "token": tok, "md5": sum(big), "fileName": "copy.bin"})
	expect(t, r, http.StatusInsufficientStorage, CodeUploadFail)
	expect(t, e.post("/dealfile?cmd=share", map[string]any{"user": "quo", "token": tok, "md5": sum(big), "filename": "one.bin"}), http.StatusOK, CodeShareOK)
	expect(t, e.uploadMP("quo2", tok2, "mine.bin", randBytes(1500)), http.StatusOK, CodeUploadOK)
	expect(t, e.post("/dealsharefile?cmd=save", map[string]any{"user": "quo2", "token": tok2, "md5": sum(big), "filename": "one.bin"}),
		http.StatusInsufficientStorage, CodeSaveFail)

	// The course's mode: HTTP 200 with the code.
	ccfg := *cfg
	ccfg.HTTPStatusCodes = false
	ccfg.TempDir = t.TempDir()
	ce := newEnv(t, &ccfg)
	r = ce.uploadMP("quo", tok, "two.bin", other)
	expect(t, r, http.StatusOK, CodeUploadFail)
	require.Contains(t, r.json["msg"], "quota exceeded")

	// The trash counts until it is emptied.
	expect(t, e.post("/dealfile?cmd=del", map[string]any{"user": "quo", "token": tok, "md5": sum(big), "filename": "one.bin"}), http.StatusOK, CodeDelOK)
	expect(t, e.uploadMP("quo", tok, "two.bin", other), http.StatusInsufficientStorage, CodeUploadFail)
	expect(t, e.post("/trash?cmd=empty", map[string]any{"user": "quo", "token": tok}), http.StatusOK, CodeEmptyTrashOK)
	expect(t, e.uploadMP("quo", tok, "two.bin", other), http.StatusOK, CodeUploadOK)
	r = e.post("/files?cmd=usage", map[string]any{"user": "quo", "token": tok})
	expect(t, r, http.StatusOK, CodeUsageOK)
	require.EqualValues(t, 1500, r.json["used"])
	require.EqualValues(t, 3000, r.json["quota"])
	spoolEmpty(t, e)
}

// Five users hold the same content, twice each (one DFS file); 50
// deletes, restores and purges run at once. The counts end exact and the
// DFS file is there exactly while a row references it.
func TestTrashConcurrentDFS(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	content := randBytes(4000)
	users := []string{"tc0", "tc1", "tc2", "tc3", "tc4"}
	toks := map[string]string{}
	ids := map[string][]float64{}
	for i, u := range users {
		toks[u] = e.user(u)
		if i == 0 {
			expect(t, e.uploadMP(u, toks[u], "c.bin", content), http.StatusOK, CodeUploadOK)
		} else {
			expect(t, e.instantUpload(u, toks[u], "c.bin", content), http.StatusOK, CodeMD5OK)
		}
		expect(t, e.post("/md5", map[string]any{"user": u, "token": toks[u], "md5": sum(content), "fileName": "d.bin"}), http.StatusOK, CodeMD5OK)
		r := e.post("/files?cmd=list", map[string]any{"user": u, "token": toks[u]})
		for _, it := range r.json["items"].([]any) {
			ids[u] = append(ids[u], it.(map[string]any)["id"].(float64))
		}
	}
	fileID := e.fileID(sum(content))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(i), 11))
			u := users[rnd.IntN(len(users))]
			body := map[string]any{"user": u, "token": toks[u], "items": []any{ref("file", ids[u][rnd.IntN(len(ids[u]))])}}
			path := []string{"/files?cmd=delete", "/trash?cmd=restore", "/trash?cmd=delete"}[i%3]
			r := e.post(path, body)
			if r.code() != CodeFolderNotFound && r.status != http.StatusOK {
				t.Errorf("%s %v: %s", path, body["items"], r)
			}
		}()
	}
	wg.Wait()
	db := e.a.st.DB()
	var refs, count int64
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM user_file_list WHERE md5 = ?", sum(content)).Scan(&refs))
	db.QueryRow("SELECT count FROM file_info WHERE md5 = ?", sum(content)).Scan(&count)
	require.Equal(t, refs, count, "file_info.count counts every entry, live or trashed")
	_, err := dfsClient(t).DownloadBytes(context.Background(), fileID, 0, 0)
	if refs > 0 {
		require.NoError(t, err, "referenced: still stored")
	} else {
		require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	}
	// Everyone deletes and empties: the file goes.
	for _, u := range users {
		r := e.post("/files?cmd=list", map[string]any{"user": u, "token": toks[u]})
		var all []any
		for _, it := range r.json["items"].([]any) {
			all = append(all, ref("file", it.(map[string]any)["id"]))
		}
		if len(all) > 0 {
			expect(t, e.post("/files?cmd=delete", map[string]any{"user": u, "token": toks[u], "items": all}), http.StatusOK, CodeTrashOK)
		}
		expect(t, e.post("/trash?cmd=empty", map[string]any{"user": u, "token": toks[u]}), http.StatusOK, CodeEmptyTrashOK)
	}
	_, err = dfsClient(t).DownloadBytes(context.Background(), fileID, 0, 0)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "%v", err)
	var left int64
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&left))
	require.Zero(t, left, "every DFS delete done")
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM file_info").Scan(&left))
	require.Zero(t, left)
}
