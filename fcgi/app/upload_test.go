package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// listNames returns user's file names via /myfiles?cmd=normal.
func (e *env) listNames(user, token string) map[string]map[string]any {
	e.t.Helper()
	r := e.post("/myfiles?cmd=normal", map[string]any{"user": user, "token": token, "start": 0, "count": 100})
	require.Equal(e.t, http.StatusOK, r.status, "%s", r)
	out := map[string]map[string]any{}
	files, _ := r.json["files"].([]any)
	for _, f := range files {
		m := f.(map[string]any)
		out[m["file_name"].(string)] = m
	}
	return out
}

// download fetches a file's bytes through GET /download.
func (e *env) download(user, token, md5hex, name string) resp {
	e.t.Helper()
	q := "/download?md5=" + md5hex + "&filename=" + urlQuery(name) + "&user=" + urlQuery(user)
	return e.do(http.MethodGet, q, nil, map[string]string{"Authorization": "Bearer " + token})
}

func TestUploadModes(t *testing.T) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, testConfig(t, mode))
			tok := e.user("up_" + mode)
			u := "up_" + mode
			before := dfsFileCount(t)

			// Fields before the file with its size, as the web client sends
			// them (inprocess mode streams it to the storage).
			c1 := randBytes(3000)
			ct, body := multipartBody(t, map[string]string{"user": u, "token": tok, "size": "3000"}, "a.txt", c1, false)
			r := e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
			expect(t, r, http.StatusOK, CodeUploadOK)
			require.Equal(t, sum(c1), r.json["md5"])

			// Fields after the file, name from a field, with md5 and size
			// claims: the token must be known before the file, from the
			// Authorization header (or cookie) then; in the body only, it is
			// too late and the file is not read.
			c2 := randBytes(70000)
			fields := map[string]string{"user": u, "token": tok, "md5": strings.ToUpper(sum(c2)),
				"filename": "b; '\"--.bin", "size": "70000"}
			ct, body = multipartBody(t, fields, "ignored.dat", c2, true)
			expect(t, e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct}), http.StatusUnauthorized, CodeTokenBad)
			ct, body = multipartBody(t, fields, "ignored.dat", c2, true)
			expect(t, e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct, "Authorization": "Bearer " + tok}), http.StatusOK, CodeUploadOK)

			// The course's one-part layout, with and without size.
			c3 := randBytes(100000)
			// The Qt client claims application/json for this body.
			hdr := map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tok}
			expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, "", "c.png", sum(c3), len(c3), c3), hdr), http.StatusOK, CodeUploadOK)
			c4 := append(randBytes(5000), []byte("\r\n------WebKitFormBoun")...) // a near-boundary inside the data
			expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, tok, "d", sum(c4), -1, c4), nil), http.StatusOK, CodeUploadOK)
			c5 := []byte{}
			expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, tok, "empty.txt", sum(c5), 0, c5), nil), http.StatusOK, CodeUploadOK)
			require.Equal(t, before+5, dfsFileCount(t))

			files := e.listNames(u, tok)
			require.Len(t, files, 5)
			for name, c := range map[string][]byte{"a.txt": c1, "b; '\"--.bin": c2, "c.png": c3, "d": c4, "empty.txt": c5} {
				f := files[name]
				require.NotNil(t, f, name)
				require.Equal(t, sum(c), f["md5"])
				require.EqualValues(t, len(c), f["size"])
				require.Contains(t, f["url"], "http://127.0.0.1:8888/group1/M00/")
				d := e.download(u, tok, sum(c), name)
				require.Equal(t, http.StatusOK, d.status, "%s", d)
				require.True(t, bytes.Equal(c, d.body), name)
			}
			require.Equal(t, "png", files["c.png"]["type"])
			require.Equal(t, "null", files["d"]["type"])
			// The DFS file takes the extension of the name recorded, also
			// when a field after the file part changed it (exec mode: the
			// temp file is renamed for the tool).
			urlExt := func(name string) string {
				u, err := url.Parse(files[name]["url"].(string))
				require.NoError(t, err)
				return path.Ext(u.Path)
			}
			for name, ext := range map[string]string{"a.txt": ".txt", "b; '\"--.bin": ".bin", "c.png": ".png", "empty.txt": ".txt", "d": ""} {
				require.Equal(t, ext, urlExt(name), name)
			}

			// Same bytes again under another name: no second DFS file.
			expect(t, e.uploadMP(u, tok, "a-copy.txt", c1), http.StatusOK, CodeUploadOK)
			// And the same name again: nothing changes.
			expect(t, e.uploadMP(u, tok, "a.txt", c1), http.StatusOK, CodeUploadOK)
			// Streamed again under a third name: the second copy is dropped.
			ct, body = multipartBody(t, map[string]string{"user": u, "token": tok, "size": "3000"}, "a-3.txt", c1, false)
			expect(t, e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct}), http.StatusOK, CodeUploadOK)
			require.Equal(t, before+5, dfsFileCount(t))
			require.Len(t, e.listNames(u, tok), 7)

			// Refusals: no token, wrong token, another user's token.
			r = e.uploadMP(u, "", "x.txt", c1)
			expect(t, r, http.StatusUnauthorized, CodeTokenBad)
			r = e.uploadMP(u, strings.Repeat("0", 32), "x.txt", c1)
			expect(t, r, http.StatusUnauthorized, CodeTokenBad)
			other := e.user("other_" + mode)
			r = e.uploadMP(u, other, "x.txt", c1)
			expect(t, r, http.StatusUnauthorized, CodeTokenBad)
			r = e.do(http.MethodPost, "/upload", onePartBody(u, "", "x.txt", sum(c1), len(c1), c1), nil) // the course sends no token
			expect(t, r, http.StatusUnauthorized, CodeTokenBad)
			r = e.do(http.MethodPost, "/upload", onePartBody(u, tok, "x.txt", sum(c1), len(c1), c1),
				map[string]string{"Authorization": "Bearer nope"}) // a bad header token is refused before the body
			expect(t, r, http.StatusUnauthorized, CodeTokenBad)

			// Content that does not match the claims, or a cut body.
			c6 := randBytes(4000)
			r = e.do(http.MethodPost, "/upload", onePartBody(u, tok, "m.txt", sum(c1), len(c6), c6), nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			require.Contains(t, r.json["msg"], "md5 mismatch")
			r = e.do(http.MethodPost, "/upload", onePartBody(u, tok, "m.txt", sum(c6), len(c6)+10, c6), nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", onePartBody(u, tok, "m.txt", sum(c6), len(c6)-10, c6), nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			// The same as multipart with the fields first (streamed to the
			// storage in inprocess mode): a wrong size or md5 claim is found
			// only after the bytes went out, and what was stored is deleted.
			for _, f := range []map[string]string{
				{"size": fmt.Sprint(len(c6) + 10)}, {"size": fmt.Sprint(len(c6) - 10)},
				{"size": fmt.Sprint(len(c6)), "md5": sum(c1)},
			} {
				f["user"], f["token"] = u, tok
				ct, body := multipartBody(t, f, "m.txt", c6, false)
				r = e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
				expect(t, r, http.StatusBadRequest, CodeUploadFail)
			}
			cut := onePartBody(u, tok, "m.txt", sum(c6), -1, c6)
			r = e.do(http.MethodPost, "/upload", cut[:len(cut)-20], nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", "garbage with no structure", nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", "", nil)
			expect(t, r, http.StatusBadRequest, CodeUploadFail)
			ct, body = multipartBody(t, map[string]string{"user": u, "token": tok}, "", nil, false)
			r = e.do(http.MethodPost, "/upload", bytes.Replace(body, []byte(`name="file"; filename=""`), []byte(`name="other"`), 1), map[string]string{"Content-Type": ct})
			expect(t, r, http.StatusBadRequest, CodeUploadFail)

			// Names: "../" and friends are refused, SQL-looking ones are data.
			for _, bad := range []string{"../etc/passwd", "..", "a/b.txt", "x\x01y"} {
				ct, body := multipartBody(t, map[string]string{"user": u, "token": tok, "filename": bad}, "f.txt", c6, false)
				r = e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
				expect(t, r, http.StatusBadRequest, CodeUploadFail)
				r = e.do(http.MethodPost, "/upload", onePartBody(u, tok, bad, sum(c6), len(c6), c6), nil)
				expect(t, r, http.StatusBadRequest, CodeUploadFail)
			}
			// A path in the part's own filename is reduced to its base.
			expect(t, e.uploadMP(u, tok, "../../escape.txt", c6), http.StatusOK, CodeUploadOK)
			require.Contains(t, e.listNames(u, tok), "escape.txt")

			// Too large: announced, or discovered while reading (chunked).
			big := randBytes(testMax + 1)
			r = e.uploadMP(u, tok, "big.bin", big)
			expect(t, r, http.StatusRequestEntityTooLarge, CodeUploadFail)
			ct, body = multipartBody(t, map[string]string{"user": u, "token": tok}, "big.bin", big, false)
			r = e.do(http.MethodPost, "/upload", io.MultiReader(bytes.NewReader(body)), map[string]string{"Content-Type": ct})
			expect(t, r, http.StatusRequestEntityTooLarge, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", io.MultiReader(bytes.NewReader(onePartBody(u, tok, "big.bin", "", len(big), big))), nil)
			expect(t, r, http.StatusRequestEntityTooLarge, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", io.MultiReader(bytes.NewReader(onePartBody(u, tok, "big.bin", "", -1, big))), nil)
			expect(t, r, http.StatusRequestEntityTooLarge, CodeUploadFail)
			r = e.do(http.MethodGet, "/upload", nil, nil)
			expect(t, r, http.StatusMethodNotAllowed, CodeUploadFail)

			require.Equal(t, before+6, dfsFileCount(t), "refused uploads left DFS files")
			spoolEmpty(t, e)
			var gc int
			require.NoError(t, e.a.st.DB().QueryRow("SELECT COUNT(*) FROM dfs_gc").Scan(&gc))
			require.Zero(t, gc)
		})
	}
}

func TestUploadExecFailures(t *testing.T) {
	cfg := testConfig(t, config.UploadExec)
	dir := t.TempDir()
	cfg.FdfsBinDir = dir
	cfg.ExecTimeout = 500 * time.Millisecond
	e := newEnv(t, cfg)
	tok := e.user("execfail")
	c := randBytes(1000)

	// No tool: 503, nothing recorded, no temp file left.
	r := e.uploadMP("execfail", tok, "a.txt", c)
	expect(t, r, http.StatusServiceUnavailable, CodeUploadFail)

	// A tool that prints garbage, one that fails, one that hangs.
	for _, script := range []string{"echo not-a-file-id", "echo boom >&2; exit 3", "sleep 30"} {
		writeScript(t, dir+"/fdfs_upload_file", script)
		start := time.Now()
		r = e.uploadMP("execfail", tok, "a.txt", c)
		expect(t, r, http.StatusServiceUnavailable, CodeUploadFail)
		require.Less(t, time.Since(start), 1500*time.Millisecond)
	}
	require.Empty(t, e.listNames("execfail", tok))
	spoolEmpty(t, e)
}

// TestUploadDBFailure: when the database refuses the rows after the DFS
// stored the file, the DFS file is deleted again.
func TestUploadDBFailure(t *testing.T) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, testConfig(t, mode))
			tok := e.user("dbfail")
			before := dfsFileCount(t)
			db := e.a.st.DB()
			_, err := db.Exec("RENAME TABLE user_file_count TO ufc_away")
			require.NoError(t, err)
			c := randBytes(2000)
			r := e.uploadMP("dbfail", tok, "a.txt", c)
			expect(t, r, http.StatusInternalServerError, CodeUploadFail)
			r = e.do(http.MethodPost, "/upload", onePartBody("dbfail", tok, "b.txt", sum(c), len(c), c), nil)
			expect(t, r, http.StatusInternalServerError, CodeUploadFail)
			_, err = db.Exec("RENAME TABLE ufc_away TO user_file_count")
			require.NoError(t, err)
			require.Equal(t, before, dfsFileCount(t), "orphan DFS file after a DB failure")
			var n int
			require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM file_info").Scan(&n))
			require.Zero(t, n)
			require.Empty(t, e.listNames("dbfail", tok))
			// And it works again.
			expect(t, e.uploadMP("dbfail", tok, "a.txt", c), http.StatusOK, CodeUploadOK)
			require.Equal(t, before+1, dfsFileCount(t))
		})
	}
}

func TestCopyUntil(t *testing.T) {
	delim := []byte("\r\n--xyz")
	for _, tc := range []struct{ in, want string }{
		{"abc\r\n--xyz--", "abc"},
		{"\r\n--xyz", ""},
		{"a\r\n--xy\r\n--xyzrest", "a\r\n--xy"},
		{strings.Repeat("q", 100000) + "\r\n--xyz", strings.Repeat("q", 100000)},
	} {
		var out bytes.Buffer
		require.NoError(t, CopyUntil(&out, bufioReader(tc.in), delim))
		require.Equal(t, tc.want, out.String())
	}
	var out bytes.Buffer
	require.Error(t, CopyUntil(&out, bufioReader("no delimiter here"), delim))
	_ = context.Background
}

// TestUploadStreamed: in inprocess mode a file of at least streamMin bytes
// whose size is known goes straight to the storage (multipart with the
// fields first, and the course's one-part layout), within the bound on
// streams; claims that turn out wrong are refused and what was stored is
// deleted.
func TestUploadStreamed(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	const u = "streamer"
	tok := e.user(u)
	before := dfsFileCount(t)
	mp := func(f map[string]string, name string, data []byte) resp {
		f["user"], f["token"] = u, tok
		ct, body := multipartBody(t, f, name, data, false)
		return e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
	}
	files := map[string][]byte{}
	upload := func(name string, size int, onePart, wantStreamed bool) {
		t.Helper()
		data := randBytes(size)
		files[name] = data
		n := e.a.streamed.Load()
		if onePart {
			expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, tok, name, sum(data), len(data), data), nil),
				http.StatusOK, CodeUploadOK)
		} else {
			expect(t, mp(map[string]string{"size": fmt.Sprint(len(data))}, name, data), http.StatusOK, CodeUploadOK)
		}
		require.Equal(t, wantStreamed, e.a.streamed.Load() == n+1, "%s (%d bytes) streamed", name, size)
	}
	upload("big.bin", spoolMem+1000, false, true)
	upload("big2.bin", spoolMem+2000, true, true)
	upload("photo.jpg", 100<<10, false, true)
	upload("mid2.bin", streamMin, true, true)
	upload("small.bin", streamMin-1, false, false)
	upload("small2.bin", 4096, true, false)
	// Every stream slot taken: spooled instead (a temp file above spoolMem).
	for range MaxStreamedUploads {
		e.a.streams <- struct{}{}
	}
	upload("busy.bin", spoolMem+3000, false, false)
	upload("busy2.bin", streamMin+3000, true, false)
	for range MaxStreamedUploads {
		<-e.a.streams
	}
	require.Equal(t, before+len(files), dfsFileCount(t))
	for name, c := range files {
		d := e.download(u, tok, sum(c), name)
		require.Equal(t, http.StatusOK, d.status, "%s", d)
		require.True(t, bytes.Equal(c, d.body), name)
	}
	big := files["big.bin"]

	other := randBytes(spoolMem + 3000)
	for _, f := range []map[string]string{
		{"size": fmt.Sprint(len(other) + 10)}, {"size": fmt.Sprint(len(other) - 10)},
		{"size": fmt.Sprint(len(other)), "md5": sum(big)},
	} {
		expect(t, mp(f, "m.bin", other), http.StatusBadRequest, CodeUploadFail)
	}
	expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, tok, "m.bin", sum(other), len(other)-10, other), nil),
		http.StatusBadRequest, CodeUploadFail)
	expect(t, e.do(http.MethodPost, "/upload", onePartBody(u, tok, "m.bin", sum(big), len(other), other), nil),
		http.StatusBadRequest, CodeUploadFail)
	require.Equal(t, before+len(files), dfsFileCount(t), "refused streamed uploads left DFS files")
	require.NotContains(t, e.listNames(u, tok), "m.bin")
}

// An upload to the storage remembered from the tracker's last answer that
// fails is made again against a fresh answer: a storage gone away costs a
// retry, not the upload.
func TestUploadStaleTarget(t *testing.T) {
	for _, mode := range []string{config.UploadExec, config.UploadInProcess} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, testConfig(t, mode))
			u := "stale_" + mode
			tok := e.user(u)
			gone := "127.0.0.1:" + strconv.Itoa(freePortT(t))
			st := &e.a.storeTarget
			st.mu.Lock()
			st.addr, st.pathIndex, st.until = gone, 0, time.Now().Add(time.Hour)
			st.mu.Unlock()
			c := randBytes(4000)
			expect(t, e.uploadMP(u, tok, "s.bin", c), http.StatusOK, CodeUploadOK)
			st.mu.Lock()
			now := st.addr
			st.mu.Unlock()
			require.NotEqual(t, gone, now, "the failed storage is forgotten")
			require.NotEmpty(t, now)
			d := e.download(u, tok, sum(c), "s.bin")
			require.Equal(t, http.StatusOK, d.status, "%s", d)
			require.True(t, bytes.Equal(c, d.body))
		})
	}
}

// freePortT is a TCP port nothing listens on (a moment ago).
func freePortT(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
