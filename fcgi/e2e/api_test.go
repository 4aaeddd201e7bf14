package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
)

// TestAPI drives every endpoint and command through Nginx: the happy path
// and the refusals (no token, wrong token, another user's file, bad JSON,
// oversized body, unknown cmd, SQL metacharacters and "../" in names), and
// downloads straight from the storage location (full and Range). With
// http_status_codes on, refusals come with fitting 4xx statuses (the
// course's all-200 rule: security_api_test.go, courseclient_test.go).
func TestAPI(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{Cfg: map[string]any{"http_status_codes": true}})
	w := newWeb(t, s)
	logsOnFailure(t, s)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	alice := w.login(w.register("alice"+suffix, "alice-password"))
	bob := w.login(w.register("bob"+suffix, "bob-password"))

	t.Run("static", func(t *testing.T) {
		w := w.with(t)
		r := w.do("GET", "/", "", nil)
		require.Equal(t, 200, r.status)
		require.Contains(t, string(r.body), `id="app"`)
		require.Contains(t, r.header.Get("Content-Type"), "text/html")
		r = w.do("GET", "/app.js", "", nil)
		require.Equal(t, 200, r.status)
		require.Contains(t, r.header.Get("Content-Type"), "javascript")
		require.Equal(t, 404, w.do("GET", "/nope.html", "", nil).status)
	})

	t.Run("register", func(t *testing.T) {
		w := w.with(t)
		// The same name again, and the same nickname under another name.
		w.expect("003", "/reg", map[string]any{"userName": alice.name, "nickName": "other", "firstPwd": alice.pwd, "phone": "13800000000", "email": "x@example.com"})
		w.expect("003", "/reg", map[string]any{"userName": "carol" + suffix, "nickName": "nick " + alice.name, "firstPwd": alice.pwd, "phone": "13800000000", "email": "x@example.com"})
		// Bad bodies are refused, never a 5xx.
		for _, body := range []string{`{"userName":`, `not json`, `[]`, `{}`, `{"userName":"","firstPwd":""}`, `{"a":1}{"b":2}`} {
			w.expect("004", "/reg", body)
		}
		// An empty body.
		w.check(w.do("POST", "/reg", "application/json", nil), "004", "empty body")
	})

	t.Run("sql metacharacters in names", func(t *testing.T) {
		w := w.with(t)
		// A user name full of SQL: either refused outright or stored as data;
		// in both cases the tables survive and other users still log in.
		evil := "x'; DROP TABLE user_info; --" + suffix
		r := w.post("/reg", map[string]any{"userName": evil, "nickName": evil, "firstPwd": md5hex([]byte("p")), "phone": "13800000000", "email": "e@example.com"})
		require.Less(t, r.status, 500, "%s", r)
		require.Contains(t, []string{"002", "004"}, r.code(), "%s", r)
		if r.code() == "002" {
			r = w.expect("000", "/login", map[string]any{"user": evil, "pwd": md5hex([]byte("p"))})
			require.Len(t, r.str("token"), 32)
		}
		w.expect("001", "/login", map[string]any{"user": "' OR '1'='1", "pwd": "' OR '1'='1"})
		w.login(alice)

		// File names are data: quotes, semicolons, percent and Chinese are
		// kept byte for byte.
		name := `it's "q"; DROP TABLE file_info; -- 100% 文件.txt`
		data := []byte("sql in a file name " + suffix)
		w.check(w.upload(alice, name, data), "008", "upload %q", name)
		l := w.myFiles(alice, "normal", 0, 100)
		require.NotNil(t, find(l.files(), name), "%s", l)
		// And through the other endpoints that take a name.
		w.expect("016", "/dealfile?cmd=pv", alice.body("md5", md5hex(data), "filename", name))
		w.expect("025", "/download", alice.body("md5", md5hex(data), "filename", name))
		w.expect("013", "/dealfile?cmd=del", alice.body("md5", md5hex(data), "filename", name))
	})

	t.Run("path traversal in names", func(t *testing.T) {
		w := w.with(t)
		before := listDir(t, filepath.Dir(s.Cfg))
		for _, name := range []string{"../../../../tmp/yunpan-evil.txt", "..", `..\..\evil.txt`, "a/../../b.txt"} {
			up := w.upload(alice, name, []byte("traversal "+name))
			if up.code() == "008" {
				// Stored under a name without any path in it.
				l := w.myFiles(alice, "normal", 0, 100)
				for _, f := range l.files() {
					require.NotContains(t, fileName(f), "/", "%v", f)
					require.NotEqual(t, "..", fileName(f))
					if f["md5"] == md5hex([]byte("traversal "+name)) {
						w.expect("013", "/dealfile?cmd=del", alice.body("md5", f["md5"], "filename", fileName(f)))
					}
				}
			} else {
				w.check(up, "009", "upload %q", name)
			}
			// The endpoints that take a name in JSON refuse such names.
			w.expect("011", "/dealfile?cmd=share", alice.body("md5", md5hex([]byte("x")), "filename", name))
			w.expect("009", "/md5", alice.body("md5", md5hex([]byte("x")), "fileName", name))
		}
		_, err := os.Stat("/tmp/yunpan-evil.txt")
		require.True(t, os.IsNotExist(err), "a file escaped: %v", err)
		require.Equal(t, before, listDir(t, filepath.Dir(s.Cfg)), "files appeared beside the config")
	})

	t.Run("login", func(t *testing.T) {
		w := w.with(t)
		w.expect("001", "/login", map[string]any{"user": alice.name, "pwd": md5hex([]byte("wrong"))})
		w.expect("001", "/login", map[string]any{"user": "nobody" + suffix, "pwd": alice.pwd})
		w.expect("001", "/login", `{"user":`)
		w.expect("001", "/login", `{}`)
	})

	data := make([]byte, 300<<10+17)
	rand.Read(data)
	sum := md5hex(data)
	const name = "report 2024.pdf"

	t.Run("upload and instant upload", func(t *testing.T) {
		w := w.with(t)
		// Unknown content: a real upload is needed.
		w.expect("007", "/md5", alice.body("md5", sum, "fileName", name))
		up := w.upload(alice, name, data)
		require.Equal(t, 200, up.status, "%s", up)
		require.Equal(t, "008", up.code(), "%s", up)
		// The same user and name again: already there.
		w.expect("005", "/md5", alice.body("md5", sum, "fileName", name))
		// Another user with the same content: naming its md5 is not enough,
		// proving to hold it is (instant upload).
		w.expect("007", "/md5", bob.body("md5", sum, "fileName", "bob copy.pdf"))
		w.check(w.instantUpload(bob, "bob copy.pdf", data), "006", "instant upload")
		// Token checks.
		w.expect("111", "/md5", map[string]any{"user": alice.name, "md5": sum, "fileName": name})
		w.expect("111", "/md5", map[string]any{"user": alice.name, "token": strings.Repeat("0", 32), "md5": sum, "fileName": name})
		w.expect("111", "/md5", map[string]any{"user": bob.name, "token": alice.token, "md5": sum, "fileName": name})
		// Upload refuses a missing or wrong token.
		r := w.upload(account{name: alice.name}, "x.txt", []byte("no token"))
		require.Equal(t, "111", r.code(), "%s", r)
		r = w.upload(account{name: alice.name, token: bob.token}, "x.txt", []byte("bad token"))
		require.Equal(t, "111", r.code(), "%s", r)
		// Bodies that are no upload at all, and a wrong md5 claim.
		w.check(w.do("POST", "/upload", "application/octet-stream", strings.NewReader("garbage")), "009", "garbage")
		w.check(w.do("POST", "/upload", "multipart/form-data; boundary=xyz", strings.NewReader("--xyz\r\nbroken")), "009", "broken multipart")
		w.check(w.upload(alice, "claims.txt", []byte("abc"), "md5", md5hex([]byte("abd"))), "009", "md5 mismatch")
		w.check(w.upload(alice, "claims.txt", []byte("abc"), "size", "4"), "009", "size mismatch")
	})

	t.Run("course upload format", func(t *testing.T) {
		w := w.with(t)
		body := []byte("the Qt client's body layout " + suffix)
		w.check(w.courseUpload(alice, "qt.txt", body), "008", "course upload")
		w.expect("013", "/dealfile?cmd=del", alice.body("md5", md5hex(body), "filename", "qt.txt"))
	})

	t.Run("oversized body", func(t *testing.T) {
		w := w.with(t)
		// Nginx refuses from the Content-Length, before the program runs,
		// a body beyond the file limit plus the multipart envelope.
		big := bytes.Repeat([]byte{'x'}, 50<<20+config.UploadOverhead+1)
		r := w.upload(alice, "big.bin", big)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r)
		require.Equal(t, "413", r.code(), "%s", r)
		require.Contains(t, r.header.Get("Content-Type"), "application/json")
		require.Less(t, len(r.body), 200)
		// Any endpoint, not only /upload.
		r = w.do("POST", "/login", "application/json", bytes.NewReader(big))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		require.Equal(t, "413", r.code(), "%s", r)
	})

	t.Run("bad bodies", func(t *testing.T) {
		w := w.with(t)
		// Every JSON endpoint refuses broken, empty, oversized and mistyped
		// bodies with its failure code and a 4xx, never a 5xx.
		huge := `{"user":"` + strings.Repeat("a", 100<<10) + `"}`
		for path, code := range map[string]string{
			"/reg": "004", "/login": "001", "/md5": "009", "/myfiles?cmd=normal": "015", "/myfiles?cmd=count": "015",
			"/dealfile?cmd=share": "011", "/dealfile?cmd=del": "014", "/dealfile?cmd=pv": "017",
			"/dealsharefile?cmd=pv": "017", "/dealsharefile?cmd=cancel": "019", "/dealsharefile?cmd=save": "022",
			"/download": "026",
		} {
			for _, body := range []string{`{"user":`, `null`, `"str"`, `{"user":1,"token":[]}`, huge} {
				r := w.post(path, body)
				require.True(t, r.status >= 400 && r.status < 500, "%s %.40q: %s", path, body, r)
				// Nginx refuses the oversized one itself ("413").
				require.Contains(t, []string{code, "111", "413"}, r.code(), "%s %.40q: %s", path, body, r)
			}
			r := w.do("POST", path, "application/json", nil)
			require.True(t, r.status >= 400 && r.status < 500, "%s empty: %s", path, r)
		}
		r := w.post("/myfiles?cmd=normal", alice.body("start", "x", "count", 10))
		require.Equal(t, 400, r.status, "%s", r)
	})

	t.Run("my files", func(t *testing.T) {
		w := w.with(t)
		r := w.expect("110", "/myfiles?cmd=count", alice.body())
		require.Equal(t, int64(1), num(r.obj["num"]), "%s", r)
		r = w.expect("111", "/myfiles?cmd=count", map[string]any{"user": alice.name, "token": "bad"})
		require.NotContains(t, r.obj, "num", "the count leaks without a token: %s", r)

		for _, cmd := range []string{"normal", "pvasc", "pvdesc"} {
			r = w.myFiles(alice, cmd, 0, 10)
			w.check(r, "000", "myfiles %s", cmd)
			f := find(r.files(), name)
			require.NotNil(t, f, "%s: %s", cmd, r)
			require.Equal(t, sum, f["md5"])
			require.Equal(t, alice.name, f["user"])
			require.Equal(t, int64(len(data)), num(f["size"]))
			require.Equal(t, "pdf", f["type"])
			require.Equal(t, int64(0), num(f["pv"]))
			url, _ := f["url"].(string)
			require.True(t, strings.HasPrefix(url, s.URL+"/group1/M00/"), "url %q", url)
		}
		// Past the end: the course's 015.
		w.expect("015", "/myfiles?cmd=normal", alice.body("start", 10, "count", 10))
		w.expect("111", "/myfiles?cmd=normal", map[string]any{"user": alice.name, "token": bob.token, "start": 0, "count": 10})
		r = w.post("/myfiles?cmd=nosuch", alice.body("start", 0, "count", 10))
		require.Equal(t, 400, r.status, "%s", r)
		require.Equal(t, "015", r.code(), "%s", r)
		require.Nil(t, r.files())
		r = w.post("/myfiles?cmd=normal", `{"user":`)
		require.Equal(t, 400, r.status, "%s", r)
		require.Nil(t, r.files())
		r = w.post("/myfiles?cmd=normal", alice.body("start", -1, "count", 10))
		require.Equal(t, 400, r.status, "%s", r)
		// Bob's instant upload is in his list under his name.
		r = w.myFiles(bob, "normal", 0, 10)
		require.NotNil(t, find(r.files(), "bob copy.pdf"), "%s", r)
	})

	var url string
	t.Run("download", func(t *testing.T) {
		w := w.with(t)
		r := w.expect("025", "/download", alice.body("md5", sum, "filename", name))
		url = r.str("url")
		require.True(t, strings.HasPrefix(url, s.URL+"/group1/M00/"), "%s", r)
		w.expect("111", "/download", map[string]any{"user": alice.name, "token": "x", "md5": sum, "filename": name})
		// Bob cannot get a link to a file he does not have.
		w.expect("026", "/download", bob.body("md5", sum, "filename", name))

		resp, err := httpClient.Get(url)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, data, got)
		require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
		require.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))

		// curl -r 100-199
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Range", "bytes=100-199")
		resp, err = httpClient.Do(req)
		require.NoError(t, err)
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusPartialContent, resp.StatusCode)
		require.Equal(t, data[100:200], got)
		require.Equal(t, fmt.Sprintf("bytes 100-199/%d", len(data)), resp.Header.Get("Content-Range"))
		// The tail, and a range past the end.
		req.Header.Set("Range", "bytes=-10")
		resp, err = httpClient.Do(req)
		require.NoError(t, err)
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, data[len(data)-10:], got)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", len(data)+5))
		resp, err = httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)

		// The program's own download (GET /download), Range included.
		q := "/download?md5=" + sum + "&filename=" + strings.ReplaceAll(name, " ", "%20")
		r = w.do("GET", q, "", nil, "Authorization", "Bearer "+alice.token)
		require.Equal(t, 200, r.status, "%s", r)
		require.Equal(t, data, r.body)
		r = w.do("GET", q, "", nil, "Authorization", "Bearer "+alice.token, "Range", "bytes=100-199")
		require.Equal(t, http.StatusPartialContent, r.status, "%s", r)
		require.Equal(t, data[100:200], r.body)
		r = w.do("GET", q, "", nil, "Authorization", "Bearer "+bob.token)
		require.Equal(t, 404, r.status, "%s", r)
		r = w.do("GET", q, "", nil)
		require.Equal(t, 401, r.status, "%s", r)

		// ?attachment=<name> asks the browser to save under that name.
		resp, err = httpClient.Get(url + "&attachment=report%202024.pdf")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, `attachment; filename*=UTF-8''report%202024.pdf`, resp.Header.Get("Content-Disposition"))

		// Paths that are no stored file (unsigned: 403 before anything else).
		for _, p := range []string{"/group1/M00/00/00/nosuchfile.pdf", "/group1/M01/00/00/x.pdf", "/group9/M00/00/00/x.pdf",
			"/group1/M00/../../../etc/passwd", "/group1/M00/00/00/../../../../etc/passwd", "/group1/M00/00/00/%2e%2e%2f%2e%2e%2fetc%2fpasswd"} {
			r := w.do("GET", p, "", nil)
			require.Contains(t, []int{400, 403, 404}, r.status, "%s: %s", p, r)
			require.NotContains(t, string(r.body), "root:")
		}
	})

	t.Run("pv", func(t *testing.T) {
		w := w.with(t)
		r := w.expect("016", "/dealfile?cmd=pv", alice.body("md5", sum, "filename", name))
		require.Equal(t, true, r.obj["counted"], "%s", r)
		// Within the hour a repeat is answered but not counted.
		r = w.expect("016", "/dealfile?cmd=pv", alice.body("md5", sum, "filename", name))
		require.Equal(t, false, r.obj["counted"], "%s", r)
		w.expect("111", "/dealfile?cmd=pv", map[string]any{"user": alice.name, "md5": sum, "filename": name})
		w.expect("017", "/dealfile?cmd=pv", alice.body("md5", md5hex([]byte("none")), "filename", name))
		w.expect("017", "/dealfile?cmd=pv", alice.body("md5", "not-an-md5", "filename", name))
		w.expect("017", "/dealfile?cmd=pv", bob.body("md5", sum, "filename", name)) // not his entry
		r = w.myFiles(alice, "pvdesc", 0, 10)
		require.Equal(t, int64(1), num(find(r.files(), name)["pv"]), "%s", r)
	})

	t.Run("share", func(t *testing.T) {
		w := w.with(t)
		before := w.post("/sharefiles?cmd=count", "")
		// Bob cannot share Alice's entry, and nobody shares without a token.
		w.expect("011", "/dealfile?cmd=share", bob.body("md5", sum, "filename", name))
		w.expect("111", "/dealfile?cmd=share", map[string]any{"user": alice.name, "token": "", "md5": sum, "filename": name})
		w.expect("010", "/dealfile?cmd=share", alice.body("md5", sum, "filename", name))
		w.expect("012", "/dealfile?cmd=share", alice.body("md5", sum, "filename", name))
		w.expect("011", "/dealfile?cmd=nosuch", alice.body("md5", sum, "filename", name))
		w.expect("011", "/dealfile", alice.body("md5", sum, "filename", name))

		after := w.post("/sharefiles?cmd=count", "")
		require.Equal(t, 200, after.status, "%s", after)
		require.Equal(t, countOf(before)+1, countOf(after), "%s -> %s", before, after)
		r := w.expect("000", "/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 50})
		f := find(r.files(), name)
		require.NotNil(t, f, "%s", r)
		require.Equal(t, alice.name, f["user"])
		require.Equal(t, int64(1), num(f["share_status"]))
		r = w.myFiles(alice, "normal", 0, 10)
		require.Equal(t, int64(1), num(find(r.files(), name)["share_status"]), "%s", r)
	})

	t.Run("public pv and ranking", func(t *testing.T) {
		w := w.with(t)
		for i := 0; i < 3; i++ {
			w.expect("016", "/dealsharefile?cmd=pv", bob.body("md5", sum, "filename", name))
		}
		w.expect("017", "/dealsharefile?cmd=pv", bob.body("md5", md5hex([]byte("none")), "filename", name))
		w.expect("111", "/dealsharefile?cmd=pv", map[string]any{"user": bob.name, "md5": sum, "filename": name})
		r := w.expect("000", "/sharefiles?cmd=pvdesc", map[string]any{"start": 0, "count": 10})
		fs := r.files()
		require.NotEmpty(t, fs, "%s", r)
		require.Equal(t, name, fileName(fs[0]), "%s", r)
		require.Equal(t, int64(1), num(fs[0]["pv"]), "one user's downloads count once an hour: %s", r)
		w.expect("015", "/sharefiles?cmd=pvdesc", map[string]any{"start": 1000, "count": 10})
		w.expect("015", "/sharefiles?cmd=normal", map[string]any{"start": 1000, "count": 10})
		r = w.post("/sharefiles?cmd=nosuch", map[string]any{"start": 0, "count": 10})
		require.Equal(t, 400, r.status, "%s", r)
		require.Nil(t, r.files())
		// The public list needs no login, and takes GET as well.
		r = w.do("GET", "/sharefiles?cmd=pvdesc&start=0&count=5", "", nil)
		w.check(r, "000", "GET ranking")
		require.Equal(t, name, fileName(r.files()[0]))
	})

	t.Run("save and cancel", func(t *testing.T) {
		w := w.with(t)
		// Bob saves Alice's public file; again is 021.
		w.expect("020", "/dealsharefile?cmd=save", bob.body("md5", sum, "filename", name))
		w.expect("021", "/dealsharefile?cmd=save", bob.body("md5", sum, "filename", name))
		w.expect("022", "/dealsharefile?cmd=save", bob.body("md5", md5hex([]byte("never shared")), "filename", "x.txt"))
		w.expect("111", "/dealsharefile?cmd=save", map[string]any{"user": bob.name, "token": "nope", "md5": sum, "filename": name})
		l := w.myFiles(bob, "normal", 0, 10)
		require.NotNil(t, find(l.files(), name), "%s", l)
		// Only the sharer cancels.
		r := w.expect("019", "/dealsharefile?cmd=cancel", bob.body("md5", sum, "filename", name))
		require.Equal(t, http.StatusForbidden, r.status)
		w.expect("111", "/dealsharefile?cmd=cancel", map[string]any{"user": alice.name, "md5": sum, "filename": name})
		w.expect("018", "/dealsharefile?cmd=cancel", alice.body("md5", sum, "filename", name))
		r = w.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 50})
		require.Nil(t, find(r.files(), name), "%s", r)
		r = w.post("/sharefiles?cmd=pvdesc", map[string]any{"start": 0, "count": 50})
		require.Nil(t, find(r.files(), name), "%s", r)
		w.expect("019", "/dealsharefile?cmd=nosuch", alice.body("md5", sum, "filename", name))
	})

	t.Run("image host", func(t *testing.T) { imageHost(w.with(t), alice) }) // image_test.go

	t.Run("delete", func(t *testing.T) {
		w := w.with(t)
		// Bob cannot delete Alice's entry (he has his own copies only).
		w.expect("014", "/dealfile?cmd=del", bob.body("md5", sum, "filename", "no such name"))
		w.expect("111", "/dealfile?cmd=del", map[string]any{"user": alice.name, "token": bob.token, "md5": sum, "filename": name})
		w.expect("013", "/dealfile?cmd=del", alice.body("md5", sum, "filename", name))
		w.expect("014", "/dealfile?cmd=del", alice.body("md5", sum, "filename", name))
		// The content stays while Bob still references it.
		resp, err := httpClient.Get(url)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		w.expect("013", "/dealfile?cmd=del", bob.body("md5", sum, "filename", name))
		w.expect("013", "/dealfile?cmd=del", bob.body("md5", sum, "filename", "bob copy.pdf"))
		// Deleted entries wait in the trash; emptied, nobody references
		// the content: the DFS file goes (possibly a moment later).
		w.expect("053", "/trash?cmd=empty", alice.body())
		w.expect("053", "/trash?cmd=empty", bob.body())
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := httpClient.Get(url)
			require.NoError(t, err)
			resp.Body.Close()
			if resp.StatusCode == 404 {
				break
			}
			require.True(t, time.Now().Before(deadline), "the DFS file is still served after the last delete")
			time.Sleep(100 * time.Millisecond)
		}
		w.expect("007", "/md5", alice.body("md5", sum, "fileName", name))
	})

	t.Run("logout", func(t *testing.T) {
		w := w.with(t)
		w.expect("110", "/myfiles?cmd=count", bob.body())
		w.expect("023", "/logout", bob.body())
		w.expect("111", "/myfiles?cmd=count", bob.body())
		w.expect("111", "/logout", bob.body())
		// Alice's session is not touched by Bob's logout.
		w.expect("110", "/myfiles?cmd=count", alice.body())
	})

	t.Run("methods", func(t *testing.T) {
		w := w.with(t)
		// The API takes POSTs; a GET never changes anything or crashes.
		for _, p := range []string{"/login", "/reg", "/md5", "/myfiles?cmd=count", "/dealfile?cmd=del", "/sharefiles?cmd=normal", "/dealsharefile?cmd=cancel", "/download", "/upload", "/logout"} {
			r := w.do("GET", p, "", nil)
			require.Less(t, r.status, 500, "%s: %s", p, r)
		}
	})
}

// countOf reads /sharefiles?cmd=count: the course answers a bare integer;
// {"num": n} is accepted too.
func countOf(r reply) int64 {
	if r.obj != nil {
		if v, ok := r.obj["num"]; ok {
			return num(v)
		}
		if v, ok := r.obj["count"]; ok {
			return num(v)
		}
	}
	return num(strings.TrimSpace(string(r.body)))
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.Contains(p, string(filepath.Separator)+"nginx"+string(filepath.Separator)) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
