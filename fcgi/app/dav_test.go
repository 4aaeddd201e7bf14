package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/metrics/scrape"
	"yunpan/store"
)

// davEnv is an env with a user and an app password for /dav/.
type davEnv struct {
	*env
	user, token, pass string
}

func newDavEnv(t *testing.T, tune func(*config.Config)) *davEnv {
	cfg := testConfig(t, config.UploadInProcess)
	if tune != nil {
		tune(cfg)
	}
	e := newEnv(t, cfg)
	d := &davEnv{env: e, user: "dav" + fmt.Sprint(time.Now().UnixNano()%1e6)}
	d.token = e.user(d.user)
	r := e.post("/apppass?cmd=create", map[string]any{"user": d.user, "token": d.token, "label": "test"})
	expect(t, r, http.StatusOK, CodeAppPassOK)
	d.pass, _ = r.json["password"].(string)
	return d
}

// dav sends a WebDAV request signed in with the app password.
func (d *davEnv) dav(method, path string, body io.Reader, hdr ...string) (int, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.srv.URL+"/dav"+path, body)
	require.NoError(d.t, err)
	req.SetBasicAuth(d.user, d.pass)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := d.srv.Client().Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// davAnswered is how many /dav requests the program has finished.
func (d *davEnv) davAnswered() float64 {
	d.t.Helper()
	ss, err := scrape.Gather(d.a.mw.met.Registry())
	require.NoError(d.t, err)
	n, _ := ss.Sum("yunpan_fcgi_requests_total", "endpoint", "/dav")
	return n
}

func (d *davEnv) get(path string) []byte {
	d.t.Helper()
	st, b := d.dav("GET", path, nil)
	require.Equal(d.t, http.StatusOK, st, "GET %s: %s", path, b)
	return b
}

func (d *davEnv) trashNames() []string {
	d.t.Helper()
	ts, err := d.a.Store().ListTrash(context.Background(), d.user, 0, 100)
	require.NoError(d.t, err)
	var out []string
	for _, t := range ts {
		out = append(out, t.FileName)
	}
	return out
}

func TestAppPasswords(t *testing.T) {
	d := newDavEnv(t, nil)
	st, _ := d.dav("PROPFIND", "/", nil, "Depth", "0")
	require.Equal(t, http.StatusMultiStatus, st)

	// The login password, another user's name and no credentials: 401.
	other := "dav-other" + fmt.Sprint(time.Now().UnixNano()%1e6)
	d.env.user(other)
	for _, cred := range [][2]string{{d.user, pwHash(d.user)}, {other, d.pass}, {"", ""}} {
		req, _ := http.NewRequest("PROPFIND", d.srv.URL+"/dav/", nil)
		if cred[0] != "" {
			req.SetBasicAuth(cred[0], cred[1])
		}
		res, err := d.srv.Client().Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusUnauthorized, res.StatusCode, "%q", cred)
	}

	r := d.post("/apppass?cmd=list", map[string]any{"user": d.user, "token": d.token})
	expect(t, r, http.StatusOK, CodeAppPassOK)
	ps, _ := r.json["passwords"].([]any)
	require.Len(t, ps, 1)
	p := ps[0].(map[string]any)
	require.Equal(t, "test", p["label"])
	require.NotContains(t, string(r.body), d.pass, "a listing never shows a password")

	// No token: 111 before anything else; a bad label or id: 101.
	expect(t, d.post("/apppass?cmd=list", map[string]any{}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, d.post("/apppass?cmd=create", map[string]any{"user": d.user, "token": d.token, "label": " "}), http.StatusBadRequest, CodeAppPassFail)
	expect(t, d.post("/apppass?cmd=revoke", map[string]any{"user": d.user, "token": d.token, "id": 999999}), http.StatusNotFound, CodeAppPassFail)
	expect(t, d.post("/apppass?cmd=nope", map[string]any{"user": d.user, "token": d.token}), http.StatusBadRequest, CodeAppPassFail)

	// Revoked: refused at once.
	expect(t, d.post("/apppass?cmd=revoke", map[string]any{"user": d.user, "token": d.token, "id": p["id"]}), http.StatusOK, CodeAppPassOK)
	st, _ = d.dav("PROPFIND", "/", nil, "Depth", "0")
	require.Equal(t, http.StatusUnauthorized, st)
}

func TestDAVPutCutShortLeavesNothing(t *testing.T) {
	d := newDavEnv(t, nil)
	before := dfsFileCount(t)
	for _, chunked := range []bool{false, true} {
		// A body that fails half way: the client gives up, the program
		// sees the body end early.
		body := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte("x"), 100_000)), errReader{})
		req, err := http.NewRequest("PUT", d.srv.URL+"/dav/cut.bin", body)
		require.NoError(t, err)
		if !chunked {
			req.ContentLength = 200_000
		}
		req.SetBasicAuth(d.user, d.pass)
		done := d.davAnswered()
		res, err := d.srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		// The program has seen the body end early and finished the request.
		require.Eventually(t, func() bool { return d.davAnswered() > done }, 30*time.Second, 10*time.Millisecond)
		st, _ := d.dav("PROPFIND", "/cut.bin", nil, "Depth", "0")
		require.Equal(t, http.StatusNotFound, st, "chunked %v", chunked)
	}
	// The new DFS copies were deleted, not left behind.
	require.Equal(t, before, dfsFileCount(t))
	spoolEmpty(t, d.env)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("network down") }

func TestDAVOverwriteCopyAndQuota(t *testing.T) {
	d := newDavEnv(t, func(c *config.Config) { c.QuotaBytes = 10_000 })
	put := func(path, content string, want int) {
		t.Helper()
		st, b := d.dav("PUT", path, strings.NewReader(content))
		require.Equal(t, want, st, "PUT %s: %s", path, b)
	}
	put("/a.txt", "version one", http.StatusCreated)
	put("/a.txt", "version two", http.StatusCreated)
	require.Equal(t, "version two", string(d.get("/a.txt")))
	require.Equal(t, []string{"a.txt"}, d.trashNames(), "the overwritten version is in the trash")
	put("/a.txt", "version two", http.StatusCreated)
	require.Len(t, d.trashNames(), 1, "the same bytes again change nothing")

	// COPY references the content: no new DFS file.
	files := dfsFileCount(t)
	st, b := d.dav("COPY", "/a.txt", nil, "Destination", d.srv.URL+"/dav/b.txt")
	require.Equal(t, http.StatusCreated, st, "%s", b)
	require.Equal(t, "version two", string(d.get("/b.txt")))
	require.Equal(t, files, dfsFileCount(t))

	// A folder: MKCOL, MOVE into it, listing.
	st, _ = d.dav("MKCOL", "/docs", nil)
	require.Equal(t, http.StatusCreated, st)
	st, _ = d.dav("MOVE", "/b.txt", nil, "Destination", d.srv.URL+"/dav/docs/c.txt")
	require.Equal(t, http.StatusCreated, st)
	st, b = d.dav("PROPFIND", "/docs", nil, "Depth", "1")
	require.Equal(t, http.StatusMultiStatus, st)
	require.Contains(t, string(b), "/dav/docs/c.txt")
	st, _ = d.dav("MKCOL", "/missing/x", nil)
	require.Equal(t, http.StatusConflict, st)
	st, _ = d.dav("DELETE", "/", nil)
	require.NotEqual(t, http.StatusNoContent, st, "the root stays")

	// Quota: used is a.txt twice (one trashed) and c.txt; more than what
	// is left is refused before the body is read.
	u, err := d.a.Store().Usage(context.Background(), d.user)
	require.NoError(t, err)
	require.Equal(t, int64(3*len("version one")), u.Used)
	put("/big.bin", strings.Repeat("z", 10_000), http.StatusInsufficientStorage)
	st, _ = d.dav("PROPFIND", "/big.bin", nil, "Depth", "0")
	require.Equal(t, http.StatusNotFound, st)

	// Names the app refuses are refused here too.
	put("/bad\u202ename.txt", "x", http.StatusBadRequest)
	_, err = d.a.Store().EntryByPath(context.Background(), d.user, "/docs/c.txt")
	require.NoError(t, err)
	_, err = d.a.Store().EntryByPath(context.Background(), d.user, "/docs/nope")
	require.ErrorIs(t, err, store.ErrNotFound)
}
