package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
)

// One MariaDB, Redis and DFS per test binary; every test gets its own
// database and Redis key prefix.
var (
	mdb    *cluster.MariaDB
	rds    *cluster.Redis
	dfsEnv *cluster.DFS
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Go's fuzzing workers re-run this binary (and TestMain) with
	// -test.fuzzworker: they reach the services the coordinator started
	// and exported (FuzzHandlers), and never start or stop any. The parser
	// fuzz targets need no services at all.
	if flagSet("test.fuzzworker") {
		s, ok, err := cluster.ServicesFromEnv()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if ok {
			mdb, rds, dfsEnv = s.MariaDB, s.Redis, s.DFS
		}
		os.Exit(m.Run())
	}
	if fuzzing() && !fuzzingHandlers() {
		os.Exit(m.Run())
	}
	r := &cluster.Runner{}
	mdb = cluster.StartMariaDB(r)
	rds = cluster.StartRedis(r)
	dfsEnv = cluster.StartDFS(r)
	if fuzzing() {
		if err := (cluster.Services{MariaDB: mdb, Redis: rds, DFS: dfsEnv}).Export(); err != nil {
			r.Fatal(err)
		}
	}
	code := m.Run()
	r.Close()
	os.Exit(code)
}

func fuzzing() bool { return flagSet("test.fuzz") || flagSet("test.fuzzworker") }

func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != "" && f.Value.String() != "false"
}

// fuzzingHandlers reports whether -test.fuzz selects FuzzHandlers, the
// fuzz target that needs the services.
func fuzzingHandlers() bool {
	ok, err := regexp.MatchString(flag.Lookup("test.fuzz").Value.String(), "FuzzHandlers")
	return ok || err != nil
}

const testMax = 2 << 20 // max_upload_bytes in tests

// testConfig is an app config on a fresh database.
func testConfig(t testing.TB, mode string) *config.Config {
	if mdb == nil {
		t.Skip("services not started (fuzzing)")
	}
	db := mdb.NewDatabase(t)
	cfg := config.Default()
	cfg.MySQL = mdb.AppMySQL(db)
	cfg.Redis.IP, cfg.Redis.Port, cfg.Redis.KeyPrefix = "127.0.0.1", rds.Port, db+":"
	cfg.DFSClient = dfsEnv.ClientConf
	cfg.FdfsBinDir = dfsEnv.Bin
	cfg.UploadMode = mode
	cfg.BcryptCost = 4
	cfg.TempDir = t.TempDir()
	cfg.MaxUploadBytes = testMax
	cfg.ExecTimeout = 30 * time.Second
	cfg.StorageWebServer = config.Endpoint{IP: "127.0.0.1", Port: 8888}
	cfg.AntiSteal.SecretKey = "test-url-secret-0123456789"
	// The handlers' tests check the fitting HTTP statuses; the course's
	// all-200 rule (the default) has tests of its own (respond_test.go,
	// fcgi/e2e).
	cfg.HTTPStatusCodes = true
	return cfg
}

// env is an App behind an httptest.Server.
type env struct {
	t   testing.TB
	a   *App
	srv *httptest.Server
	cfg *config.Config
}

func newEnv(t testing.TB, cfg *config.Config) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := New(ctx, cfg, Options{Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	require.NoError(t, err)
	srv := httptest.NewServer(a.Mux())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &env{t: t, a: a, srv: srv, cfg: cfg}
}

// resp is a decoded answer.
type resp struct {
	status int
	body   []byte
	json   map[string]any
	header http.Header
}

func (r resp) code() string {
	s, _ := r.json["code"].(string)
	return s
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request; body may be a string/[]byte (raw) or anything else
// (JSON-encoded).
func (e *env) do(method, path string, body any, hdr map[string]string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := resp{status: res.StatusCode, body: b, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(b, &out.json)
	}
	return out
}

func (e *env) post(path string, body any) resp { return e.do(http.MethodPost, path, body, nil) }

// proofMD5 is md5(nonce || the bytes of the ranges) of a /md5 challenge.
func proofMD5(ch map[string]any, content []byte) (string, string) {
	nonce, _ := ch["nonce"].(string)
	h := md5.New()
	h.Write([]byte(nonce))
	rs, _ := ch["ranges"].([]any)
	for _, r := range rs {
		p, _ := r.([]any)
		off, n := int(p[0].(float64)), int(p[1].(float64))
		h.Write(content[off:min(off+n, len(content))])
	}
	return nonce, hex.EncodeToString(h.Sum(nil))
}

// instantUpload links content the user holds through /md5's challenge.
func (e *env) instantUpload(user, tok, name string, content []byte) resp {
	e.t.Helper()
	q := map[string]any{"user": user, "token": tok, "md5": sum(content), "fileName": name, "size": len(content)}
	r := e.post("/md5", q)
	expect(e.t, r, http.StatusOK, CodeMD5Unknown)
	ch, _ := r.json["challenge"].(map[string]any)
	q["nonce"], q["proof"] = proofMD5(ch, content)
	return e.post("/md5", q)
}

// expect checks status and code.
func expect(t testing.TB, r resp, status int, code string) {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r)
	if code != "" {
		require.Equal(t, code, r.code(), "%s", r)
	}
	if r.status != http.StatusOK || code != "" {
		require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/json"), "content type %q", r.header.Get("Content-Type"))
	}
}

func pwHash(p string) string {
	h := md5.Sum([]byte(p))
	return hex.EncodeToString(h[:])
}

func sum(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

// user registers and logs in a user, returning the token.
func (e *env) user(name string) string {
	e.t.Helper()
	r := e.post("/reg", map[string]string{"userName": name, "nickName": name + "-nick", "firstPwd": pwHash(name), "phone": "13800000000", "email": name + "@x.org"})
	expect(e.t, r, http.StatusOK, CodeRegOK)
	r = e.post("/login", map[string]string{"user": name, "pwd": pwHash(name)})
	expect(e.t, r, http.StatusOK, CodeLoginOK)
	tok, _ := r.json["token"].(string)
	require.Len(e.t, tok, 32)
	return tok
}

// multipartBody builds a curl -F style body; fields go before the file
// unless after is set.
func multipartBody(t testing.TB, fields map[string]string, fileName string, content []byte, after bool) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	writeFields := func() {
		for _, k := range []string{"user", "token", "md5", "filename", "size", "folder_id"} {
			if v, ok := fields[k]; ok {
				require.NoError(t, mw.WriteField(k, v))
			}
		}
	}
	if !after {
		writeFields()
	}
	fw, err := mw.CreateFormFile("file", fileName)
	require.NoError(t, err)
	fw.Write(content)
	if after {
		writeFields()
	}
	require.NoError(t, mw.Close())
	return mw.FormDataContentType(), b.Bytes()
}

// onePartBody is the course Qt client's layout (docs/api.md §1.5).
func onePartBody(user, token, name, md5hex string, size int, content []byte) []byte {
	var b bytes.Buffer
	boundary := "------WebKitFormBoundary88asdgewtgewx"
	b.WriteString(boundary + "\r\n")
	b.WriteString("Content-Disposition: form-data; ")
	fmt.Fprintf(&b, `user="%s" filename="%s" md5="%s"`, user, name, md5hex)
	if token != "" {
		fmt.Fprintf(&b, ` token="%s"`, token)
	}
	if size >= 0 {
		fmt.Fprintf(&b, " size=%d", size)
	}
	b.WriteString("\r\nContent-Type: application/octet-stream\r\n\r\n")
	b.Write(content)
	b.WriteString("\r\n" + boundary)
	return b.Bytes()
}

// uploadMP uploads content with multipart.
func (e *env) uploadMP(user, token, name string, content []byte) resp {
	e.t.Helper()
	ct, body := multipartBody(e.t, map[string]string{"user": user, "token": token}, name, content, false)
	return e.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct})
}

// dfsClient is a client library instance for checks.
func dfsClient(t testing.TB) *client.Client {
	cc, err := conf.LoadClient(dfsEnv.ClientConf)
	require.NoError(t, err)
	c, err := client.New(cc)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func dfsFileCount(t testing.TB) int {
	fs, err := dfsEnv.Files()
	require.NoError(t, err)
	return len(fs)
}

// spoolEmpty checks no upload temp file is left behind.
func spoolEmpty(t testing.TB, e *env) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(e.a.tmpDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	require.NoError(t, err)
	require.Empty(t, files)
	all, err := filepath.Glob(filepath.Join(e.cfg.TempDir, "*"))
	require.NoError(t, err)
	require.Equal(t, []string{e.a.tmpDir}, all)
}
