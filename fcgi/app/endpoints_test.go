package app

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
)

func TestRegLoginLogout(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	reg := func(name, nick, pwd string) resp {
		return e.post("/reg", map[string]string{"userName": name, "nickName": nick, "firstPwd": pwd, "phone": "13812345678", "email": "a@b.c"})
	}
	expect(t, reg("alice", "Alice", pwHash("pw")), http.StatusOK, CodeRegOK)
	expect(t, reg("alice", "Other", pwHash("pw")), http.StatusConflict, CodeRegExists)
	expect(t, reg("bobby", "Alice", pwHash("pw")), http.StatusConflict, CodeRegExists)
	for _, bad := range []string{"ab", "a'b--c", "../../x", "x y z", strings.Repeat("u", 33), "' OR 1=1 --"} {
		expect(t, reg(bad, "n"+bad, pwHash("pw")), http.StatusBadRequest, CodeRegFail)
	}
	expect(t, reg("carol", "Carol", ""), http.StatusBadRequest, CodeRegFail)
	expect(t, e.post("/reg", map[string]string{"userName": "dave1", "firstPwd": "x", "phone": "abc"}), http.StatusBadRequest, CodeRegFail)
	expect(t, e.post("/reg", map[string]string{"userName": "dave1", "firstPwd": "x", "email": "nope"}), http.StatusBadRequest, CodeRegFail)
	expect(t, e.post("/reg", `{"userName": "x",`), http.StatusBadRequest, CodeRegFail)
	expect(t, e.post("/reg", ``), http.StatusBadRequest, CodeRegFail)
	expect(t, e.post("/reg", `{"userName": "`+strings.Repeat("x", 70000)+`"}`), http.StatusRequestEntityTooLarge, CodeRegFail)
	expect(t, e.do(http.MethodGet, "/reg", nil, nil), http.StatusMethodNotAllowed, CodeRegFail)

	// Login: the Qt client sends the md5 hex of the password.
	r := e.post("/login", map[string]string{"user": "alice", "pwd": pwHash("pw")})
	expect(t, r, http.StatusOK, CodeLoginOK)
	tok := r.json["token"].(string)
	require.Regexp(t, `^[0-9a-f]{32}$`, tok)
	cookies := r.header.Values("Set-Cookie")
	require.Contains(t, strings.Join(cookies, "\n"), "token="+tok)
	require.Contains(t, strings.Join(cookies, "\n"), "HttpOnly")
	for _, body := range []map[string]string{
		{"user": "alice", "pwd": pwHash("wrong")},
		{"user": "nobody", "pwd": pwHash("pw")},
		{"user": "alice' OR '1'='1", "pwd": "x' OR '1'='1"},
		{"user": "alice"},
	} {
		r := e.post("/login", body)
		expect(t, r, http.StatusUnauthorized, CodeLoginFail)
		require.Equal(t, "fail", r.json["token"])
	}
	expect(t, e.post("/login", `[1,2`), http.StatusBadRequest, CodeLoginFail)
	expect(t, e.post("/login?cmd=what", map[string]string{"user": "alice", "pwd": pwHash("pw")}), http.StatusBadRequest, CodeLoginFail)

	// The token works from the body, a bearer header or the cookie.
	count := func(body map[string]any, hdr map[string]string) resp {
		return e.do(http.MethodPost, "/myfiles?cmd=count", body, hdr)
	}
	r = count(map[string]any{"user": "alice", "token": tok}, nil)
	expect(t, r, http.StatusOK, CodeTokenOK)
	require.Equal(t, "0", r.json["num"])
	expect(t, count(map[string]any{"user": "alice"}, map[string]string{"Authorization": "Bearer " + tok}), http.StatusOK, CodeTokenOK)
	expect(t, count(map[string]any{}, map[string]string{"Cookie": "user=alice; token=" + tok}), http.StatusOK, CodeTokenOK)
	// A token is not valid for another user, and the count is not leaked.
	expect(t, reg("bobby", "Bobby", pwHash("pw")), http.StatusOK, CodeRegOK)
	r = count(map[string]any{"user": "bobby", "token": tok}, nil)
	expect(t, r, http.StatusUnauthorized, CodeTokenBad)
	require.NotContains(t, r.json, "num")

	// Logout (/logout and /login?cmd=logout) revokes the token.
	expect(t, e.post("/logout", map[string]any{"user": "alice", "token": "bad"}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, e.post("/logout", map[string]any{"user": "alice", "token": tok}), http.StatusOK, CodeLogoutOK)
	expect(t, count(map[string]any{"user": "alice", "token": tok}, nil), http.StatusUnauthorized, CodeTokenBad)
	r = e.post("/login", map[string]string{"user": "alice", "pwd": pwHash("pw")})
	tok2 := r.json["token"].(string)
	expect(t, e.post("/login?cmd=logout", map[string]any{"user": "alice", "token": tok2}), http.StatusOK, CodeLogoutOK)
	expect(t, e.post("/logout", map[string]any{"user": "alice", "token": tok2}), http.StatusUnauthorized, CodeTokenBad)
}

// fileSetup is two users with a file each (and a shared one).
type fileSetup struct {
	*env
	atok, btok string
	c1, c2     []byte
}

func setupFiles(t *testing.T) *fileSetup {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	s := &fileSetup{env: e, atok: e.user("anna"), btok: e.user("bert"), c1: randBytes(1234), c2: randBytes(4321)}
	expect(t, e.uploadMP("anna", s.atok, "one.txt", s.c1), http.StatusOK, CodeUploadOK)
	expect(t, e.uploadMP("anna", s.atok, "two.jpg", s.c2), http.StatusOK, CodeUploadOK)
	return s
}

func (s *fileSetup) fbody(user, tok string, c []byte, name string) map[string]any {
	return map[string]any{"user": user, "token": tok, "md5": sum(c), "filename": name}
}

func TestMD5InstantUpload(t *testing.T) {
	s := setupFiles(t)
	unknown := randBytes(10)
	body := func(user, tok string, c []byte, name string) map[string]any {
		return map[string]any{"user": user, "token": tok, "md5": sum(c), "fileName": name}
	}
	expect(t, s.post("/md5", body("bert", s.btok, unknown, "u.txt")), http.StatusOK, CodeMD5Unknown)
	// Naming anna's content is not enough; holding it is.
	expect(t, s.post("/md5", body("bert", s.btok, s.c1, "mine.txt")), http.StatusOK, CodeMD5Unknown)
	expect(t, s.instantUpload("bert", s.btok, "mine.txt", s.c1), http.StatusOK, CodeMD5OK)
	expect(t, s.post("/md5", body("bert", s.btok, s.c1, "mine.txt")), http.StatusOK, CodeMD5Exists)
	expect(t, s.post("/md5", body("bert", "", s.c1, "x.txt")), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.post("/md5", body("bert", s.atok, s.c1, "x.txt")), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.post("/md5", map[string]any{"user": "bert", "token": s.btok, "md5": "zz", "fileName": "x"}), http.StatusBadRequest, CodeUploadFail)
	expect(t, s.post("/md5", body("bert", s.btok, s.c1, "../x")), http.StatusBadRequest, CodeUploadFail)
	expect(t, s.post("/md5", "{"), http.StatusBadRequest, CodeUploadFail)
	files := s.listNames("bert", s.btok)
	require.Len(t, files, 1)
	require.Equal(t, sum(s.c1), files["mine.txt"]["md5"])
	var count int
	require.NoError(t, s.a.st.DB().QueryRow("SELECT count FROM file_info WHERE md5 = ?", sum(s.c1)).Scan(&count))
	require.Equal(t, 2, count)
}

func TestMyFiles(t *testing.T) {
	s := setupFiles(t)
	for range 3 {
		expect(t, s.post("/dealfile?cmd=pv", s.fbody("anna", s.atok, s.c2, "two.jpg")), http.StatusOK, CodePVOK)
	}
	page := func(cmd string, start, count any) resp {
		return s.post("/myfiles?cmd="+cmd, map[string]any{"user": "anna", "token": s.atok, "start": start, "count": count})
	}
	r := s.post("/myfiles?cmd=count", map[string]any{"user": "anna", "token": s.atok})
	expect(t, r, http.StatusOK, CodeTokenOK)
	require.Equal(t, "2", r.json["num"])
	names := func(r resp) []string {
		var out []string
		for _, f := range r.json["files"].([]any) {
			out = append(out, f.(map[string]any)["file_name"].(string))
		}
		return out
	}
	r = page("normal", 0, 10)
	expect(t, r, http.StatusOK, CodeListOK)
	require.Equal(t, []string{"one.txt", "two.jpg"}, names(r))
	f := r.json["files"].([]any)[1].(map[string]any)
	for _, k := range []string{"user", "md5", "create_time", "file_name", "share_status", "pv", "url", "size", "type"} {
		require.Contains(t, f, k)
	}
	require.EqualValues(t, 1, f["pv"]) // counted once an hour
	require.EqualValues(t, 0, f["share_status"])
	require.Equal(t, "jpg", f["type"])
	require.Equal(t, "anna", f["user"])
	require.Equal(t, []string{"two.jpg", "one.txt"}, names(page("pvdesc", 0, 10)))
	require.Equal(t, []string{"one.txt", "two.jpg"}, names(page("pvasc", 0, 10)))
	require.Equal(t, []string{"two.jpg"}, names(page("pvasc", "1", "1"))) // strings as numbers
	r = page("normal", 2, 10)
	expect(t, r, http.StatusOK, CodeListFail) // empty page: 015, as the course
	expect(t, page("normal", -1, 10), http.StatusBadRequest, CodeListFail)
	expect(t, page("normal", 0, 100000), http.StatusBadRequest, CodeListFail)
	expect(t, page("normal", "x", 10), http.StatusBadRequest, CodeListFail)
	expect(t, page("bogus", 0, 10), http.StatusBadRequest, CodeListFail)
	expect(t, s.post("/myfiles", map[string]any{"user": "anna", "token": s.atok}), http.StatusBadRequest, CodeListFail)
	expect(t, s.post("/myfiles?cmd=normal", map[string]any{"user": "anna", "token": "x"}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.post("/myfiles?cmd=normal", map[string]any{"user": "anna"}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.post("/myfiles?cmd=normal", "not json"), http.StatusBadRequest, CodeListFail)
	// Bert sees none of Anna's files.
	r = s.post("/myfiles?cmd=normal", map[string]any{"user": "bert", "token": s.btok, "start": 0, "count": 10})
	expect(t, r, http.StatusOK, CodeListFail)
}

func TestDealFile(t *testing.T) {
	s := setupFiles(t)
	cl := dfsClient(t)
	deal := func(cmd string, body any) resp { return s.post("/dealfile?cmd="+cmd, body) }
	a1 := s.fbody("anna", s.atok, s.c1, "one.txt")

	// Refusals for every cmd.
	for _, cmd := range []string{"share", "del", "pv"} {
		fail := map[string]string{"share": CodeShareFail, "del": CodeDelFail, "pv": CodePVFail}[cmd]
		expect(t, deal(cmd, s.fbody("anna", "", s.c1, "one.txt")), http.StatusUnauthorized, CodeTokenBad)
		expect(t, deal(cmd, s.fbody("anna", s.btok, s.c1, "one.txt")), http.StatusUnauthorized, CodeTokenBad)
		// Bert, with his own token, cannot reach Anna's file: it is not his.
		expect(t, deal(cmd, s.fbody("bert", s.btok, s.c1, "one.txt")), http.StatusNotFound, fail)
		expect(t, deal(cmd, s.fbody("anna", s.atok, s.c1, "../one.txt")), http.StatusBadRequest, fail)
		expect(t, deal(cmd, s.fbody("anna", s.atok, s.c1, "one.txt' OR '1'='1")), http.StatusNotFound, fail)
		expect(t, deal(cmd, "{bad"), http.StatusBadRequest, fail)
		expect(t, deal(cmd, `{"user":"`+strings.Repeat("a", 70000)+`"}`), http.StatusRequestEntityTooLarge, fail)
	}
	expect(t, deal("bogus", a1), http.StatusBadRequest, CodeShareFail)
	expect(t, s.post("/dealfile", a1), http.StatusBadRequest, CodeShareFail)

	expect(t, deal("pv", a1), http.StatusOK, CodePVOK)
	expect(t, deal("share", a1), http.StatusOK, CodeShareOK)
	expect(t, deal("share", a1), http.StatusConflict, CodeShareExists)
	files := s.listNames("anna", s.atok)
	require.EqualValues(t, 1, files["one.txt"]["share_status"])
	require.EqualValues(t, 1, files["one.txt"]["pv"])

	// Bert saves the shared file, then Anna deletes hers (and her share):
	// the content stays for Bert. When Bert deletes too and both trashes
	// are emptied, the DFS file goes.
	expect(t, s.post("/dealsharefile?cmd=save", s.fbody("bert", s.btok, s.c1, "one.txt")), http.StatusOK, CodeSaveOK)
	fileID := s.fileID(sum(s.c1))
	expect(t, deal("del", a1), http.StatusOK, CodeDelOK)
	expect(t, deal("del", a1), http.StatusNotFound, CodeDelFail)
	require.Equal(t, "0", s.get("/sharefiles?cmd=count"))
	_, err := cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err)
	expect(t, deal("del", s.fbody("bert", s.btok, s.c1, "one.txt")), http.StatusOK, CodeDelOK)
	// Both entries are in the trash: the content stays until it is emptied.
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.NoError(t, err)
	expect(t, s.post("/trash?cmd=empty", map[string]any{"user": "anna", "token": s.atok}), http.StatusOK, CodeEmptyTrashOK)
	expect(t, s.post("/trash?cmd=empty", map[string]any{"user": "bert", "token": s.btok}), http.StatusOK, CodeEmptyTrashOK)
	_, err = cl.DownloadBytes(context.Background(), fileID, 0, 0)
	require.Error(t, err)
	require.Equal(t, proto.StatusENOENT, proto.StatusOf(err))
	var n int
	require.NoError(t, s.a.st.DB().QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&n))
	require.Zero(t, n)
	r := s.post("/myfiles?cmd=count", map[string]any{"user": "anna", "token": s.atok})
	require.Equal(t, "1", r.json["num"])
}

// fileID reads the DFS file ID of content md5 from the database.
func (e *env) fileID(md5hex string) string {
	var id string
	require.NoError(e.t, e.a.st.DB().QueryRow("SELECT file_id FROM file_info WHERE md5 = ?", md5hex).Scan(&id))
	return id
}

// get returns the body of a GET as a string.
func (e *env) get(path string) string {
	r := e.do(http.MethodGet, path, nil, nil)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r)
	return strings.TrimSpace(string(r.body))
}

func TestShareFilesAndDealShareFile(t *testing.T) {
	s := setupFiles(t)
	a1, a2 := s.fbody("anna", s.atok, s.c1, "one.txt"), s.fbody("anna", s.atok, s.c2, "two.jpg")
	expect(t, s.post("/dealfile?cmd=share", a1), http.StatusOK, CodeShareOK)
	expect(t, s.post("/dealfile?cmd=share", a2), http.StatusOK, CodeShareOK)

	// count: a bare integer, public, GET or POST.
	r := s.post("/sharefiles?cmd=count", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "2", strings.TrimSpace(string(r.body)))
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	require.Equal(t, "2", s.get("/sharefiles?cmd=count"))

	r = s.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10})
	expect(t, r, http.StatusOK, CodeListOK)
	files := r.json["files"].([]any)
	require.Len(t, files, 2)
	f0 := files[0].(map[string]any)
	require.Equal(t, "one.txt", f0["file_name"])
	require.Equal(t, "anna", f0["user"])
	require.EqualValues(t, 1, f0["share_status"])
	expect(t, s.post("/sharefiles?cmd=normal", map[string]any{"start": 5, "count": 10}), http.StatusOK, CodeListFail)
	r = s.do(http.MethodGet, "/sharefiles?cmd=normal&start=1&count=1", nil, nil)
	expect(t, r, http.StatusOK, CodeListOK)
	require.Len(t, r.json["files"], 1)

	// pv from the share list (token required now), then the ranking.
	sharePV := func(body map[string]any) resp { return s.post("/dealsharefile?cmd=pv", body) }
	for range 3 {
		expect(t, sharePV(s.fbody("bert", s.btok, s.c2, "two.jpg")), http.StatusOK, CodePVOK)
	}
	expect(t, sharePV(map[string]any{"user": "bert", "md5": sum(s.c2), "filename": "two.jpg"}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.do(http.MethodPost, "/dealsharefile?cmd=pv", map[string]any{"md5": sum(s.c2), "filename": "two.jpg"},
		map[string]string{"Authorization": "Bearer " + s.btok}), http.StatusOK, CodePVOK)
	expect(t, sharePV(s.fbody("bert", s.btok, s.c2, "nope.jpg")), http.StatusNotFound, CodePVFail)
	r = s.post("/sharefiles?cmd=pvdesc", map[string]any{"start": 0, "count": 10})
	expect(t, r, http.StatusOK, CodeListOK)
	rank := r.json["files"].([]any)
	require.Len(t, rank, 2)
	require.Equal(t, "two.jpg", rank[0].(map[string]any)["filename"])
	require.EqualValues(t, 1, rank[0].(map[string]any)["pv"]) // bert's downloads count once an hour
	require.Equal(t, sum(s.c2), rank[0].(map[string]any)["md5"])
	require.Equal(t, "one.txt", rank[1].(map[string]any)["filename"])
	expect(t, s.post("/sharefiles?cmd=pvdesc", map[string]any{"start": 2, "count": 10}), http.StatusOK, CodeListFail)
	expect(t, s.post("/sharefiles?cmd=bogus", nil), http.StatusBadRequest, CodeListFail)
	expect(t, s.post("/sharefiles?cmd=normal", "{{"), http.StatusBadRequest, CodeListFail)
	expect(t, s.do(http.MethodDelete, "/sharefiles?cmd=count", nil, nil), http.StatusMethodNotAllowed, CodeListFail)

	// save: not one's own, not twice, only shared files.
	save := func(body map[string]any) resp { return s.post("/dealsharefile?cmd=save", body) }
	expect(t, save(a1), http.StatusConflict, CodeSaveExists)
	expect(t, save(s.fbody("bert", s.btok, s.c1, "one.txt")), http.StatusOK, CodeSaveOK)
	expect(t, save(s.fbody("bert", s.btok, s.c1, "one.txt")), http.StatusConflict, CodeSaveExists)
	expect(t, save(s.fbody("bert", s.btok, s.c1, "renamed.txt")), http.StatusNotFound, CodeSaveFail)
	expect(t, save(s.fbody("bert", "", s.c1, "one.txt")), http.StatusUnauthorized, CodeTokenBad)

	// cancel: only the sharer.
	cancel := func(body map[string]any) resp { return s.post("/dealsharefile?cmd=cancel", body) }
	expect(t, cancel(s.fbody("bert", s.btok, s.c2, "two.jpg")), http.StatusForbidden, CodeCancelFail)
	expect(t, cancel(s.fbody("bert", s.atok, s.c2, "two.jpg")), http.StatusUnauthorized, CodeTokenBad)
	expect(t, cancel(a2), http.StatusOK, CodeCancelOK)
	expect(t, cancel(a2), http.StatusNotFound, CodeCancelFail)
	require.Equal(t, "1", s.get("/sharefiles?cmd=count"))
	r = s.post("/sharefiles?cmd=pvdesc", nil)
	require.Len(t, r.json["files"], 1)
	require.EqualValues(t, 0, s.listNames("anna", s.atok)["two.jpg"]["share_status"])

	for _, cmd := range []string{"pv", "cancel", "save"} {
		fail := map[string]string{"pv": CodePVFail, "cancel": CodeCancelFail, "save": CodeSaveFail}[cmd]
		expect(t, s.post("/dealsharefile?cmd="+cmd, "nope"), http.StatusBadRequest, fail)
		expect(t, s.post("/dealsharefile?cmd="+cmd, s.fbody("anna", s.atok, s.c1, "a/../b")), http.StatusBadRequest, fail)
		expect(t, s.post("/dealsharefile?cmd="+cmd, `{"md5":"`+strings.Repeat("0", 70000)+`"}`), http.StatusRequestEntityTooLarge, fail)
		expect(t, s.do(http.MethodGet, "/dealsharefile?cmd="+cmd, nil, nil), http.StatusMethodNotAllowed, fail)
	}
	expect(t, s.post("/dealsharefile?cmd=bogus", a1), http.StatusBadRequest, CodeCancelFail)
}

func TestDownload(t *testing.T) {
	cfg := testConfig(t, config.UploadExec)
	cfg.AntiSteal = config.AntiSteal{CheckToken: true, SecretKey: "FastDFS1234567890", TokenTTL: 900 * time.Second}
	e := newEnv(t, cfg)
	atok, btok := e.user("dl_a"), e.user("dl_b")
	c := randBytes(300000)
	expect(t, e.uploadMP("dl_a", atok, "pic.png", c), http.StatusOK, CodeUploadOK)
	id := e.fileID(sum(c))

	// POST: the storage URL, signed, expiring after token_ttl.
	r := e.post("/download", map[string]any{"user": "dl_a", "token": atok, "md5": sum(c), "filename": "pic.png"})
	expect(t, r, http.StatusOK, CodeDownloadOK)
	u := r.json["url"].(string)
	require.True(t, strings.HasPrefix(u, "http://127.0.0.1:8888/"+id+"?e="), u)
	exp := u[strings.Index(u, "?e=")+3 : strings.Index(u, "&st=")]
	expn, err := strconv.ParseInt(exp, 10, 64)
	require.NoError(t, err)
	require.InDelta(t, time.Now().Add(900*time.Second).Unix(), expn, 5)
	require.True(t, strings.HasSuffix(u, "&st="+SignPath("/"+id, exp, "FastDFS1234567890")), u)
	// Known answer: base64url(md5("1700000000/group1/M00/00/00/x.jpg key")), as
	// `echo -n '1700000000/group1/M00/00/00/x.jpg key' | openssl md5 -binary | base64 | tr +/ -_ | tr -d =`.
	sumKA := md5.Sum([]byte("1700000000/group1/M00/00/00/x.jpg key"))
	require.Equal(t, base64.RawURLEncoding.EncodeToString(sumKA[:]), SignPath("/group1/M00/00/00/x.jpg", "1700000000", "key"))
	// List URLs are signed too.
	require.Contains(t, e.listNames("dl_a", atok)["pic.png"]["url"], "&st=")

	// GET streams the bytes; ranges work; HEAD has no body.
	d := e.download("dl_a", atok, sum(c), "pic.png")
	require.Equal(t, http.StatusOK, d.status)
	require.Equal(t, c, d.body)
	require.Equal(t, "image/png", d.header.Get("Content-Type"))
	require.Contains(t, d.header.Get("Content-Disposition"), `filename="pic.png"`)
	rg := e.do(http.MethodGet, "/download?md5="+sum(c)+"&filename=pic.png", nil, map[string]string{"Authorization": "Bearer " + atok, "Range": "bytes=100-199"})
	require.Equal(t, http.StatusPartialContent, rg.status)
	require.Equal(t, c[100:200], rg.body)
	require.Equal(t, "bytes 100-199/300000", rg.header.Get("Content-Range"))
	rg = e.do(http.MethodGet, "/download?md5="+sum(c)+"&filename=pic.png", nil, map[string]string{"Cookie": "token=" + atok, "Range": "bytes=-10"})
	require.Equal(t, http.StatusPartialContent, rg.status)
	require.Equal(t, c[len(c)-10:], rg.body)
	rg = e.do(http.MethodGet, "/download?md5="+sum(c)+"&filename=pic.png", nil, map[string]string{"Cookie": "token=" + atok, "Range": "bytes=999999-"})
	expect(t, rg, http.StatusRequestedRangeNotSatisfiable, CodeDownloadFail)
	h := e.do(http.MethodHead, "/download?md5="+sum(c)+"&filename=pic.png", nil, map[string]string{"Cookie": "token=" + atok})
	require.Equal(t, http.StatusOK, h.status)
	require.Empty(t, h.body)
	require.Equal(t, "300000", h.header.Get("Content-Length"))
	rd := e.srv.Client()
	rd.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/download?redirect=1&md5="+sum(c)+"&filename=pic.png", nil)
	req.Header.Set("Authorization", "Bearer "+atok)
	res, err := rd.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Contains(t, res.Header.Get("Location"), "/"+id+"?e=")

	// Refusals: no token, a wrong one, another user's private file, bad input.
	expect(t, e.download("dl_a", "", sum(c), "pic.png"), http.StatusUnauthorized, CodeTokenBad)
	expect(t, e.download("dl_a", "bad", sum(c), "pic.png"), http.StatusUnauthorized, CodeTokenBad)
	expect(t, e.download("dl_b", btok, sum(c), "pic.png"), http.StatusNotFound, CodeDownloadFail)
	expect(t, e.post("/download", map[string]any{"user": "dl_b", "token": btok, "md5": sum(c), "filename": "pic.png"}), http.StatusNotFound, CodeDownloadFail)
	expect(t, e.download("dl_a", atok, sum(c), "../pic.png"), http.StatusBadRequest, CodeDownloadFail)
	expect(t, e.download("dl_a", atok, "abc", "pic.png"), http.StatusBadRequest, CodeDownloadFail)
	expect(t, e.post("/download", "{"), http.StatusBadRequest, CodeDownloadFail)
	expect(t, e.do(http.MethodPut, "/download", nil, nil), http.StatusMethodNotAllowed, CodeDownloadFail)

	// Shared files are public.
	expect(t, e.post("/dealfile?cmd=share", map[string]any{"user": "dl_a", "token": atok, "md5": sum(c), "filename": "pic.png"}), http.StatusOK, CodeShareOK)
	d = e.do(http.MethodGet, "/download?md5="+sum(c)+"&filename=pic.png", nil, nil)
	require.Equal(t, http.StatusOK, d.status)
	require.Equal(t, c, d.body)
	expect(t, e.download("dl_b", btok, sum(c), "pic.png"), http.StatusOK, "")
}
