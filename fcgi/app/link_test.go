package app

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
)

// linkSetup is anna with a file, her entry's id, and bert.
type linkSetup struct {
	*env
	atok, btok string
	content    []byte
	id         int
}

func setupLinks(t *testing.T) *linkSetup {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	s := &linkSetup{env: e, atok: e.user("anna"), btok: e.user("bert"), content: randBytes(70000)}
	// An HTML file: whoever opens the link must get it as an attachment.
	expect(t, e.uploadMP("anna", s.atok, "page.html", s.content), http.StatusOK, CodeUploadOK)
	f := e.listNames("anna", s.atok)["page.html"]
	require.NotNil(t, f)
	s.id = int(f["id"].(float64))
	require.NotZero(t, s.id)
	return s
}

func (s *linkSetup) link(cmd string, body map[string]any) resp {
	return s.post("/link?cmd="+cmd, body)
}

// create makes a link of anna's file and returns its token and code.
func (s *linkSetup) create(code string, days int) (string, string, int) {
	s.t.Helper()
	r := s.link("create", map[string]any{"token": s.atok, "kind": "file", "id": s.id, "code": code, "expires_in_days": days})
	expect(s.t, r, http.StatusOK, CodeLinkCreated)
	tok := r.json["token"].(string)
	require.Equal(s.t, "http://"+s.cfg.WebServer.IP+"/#/s/"+tok, r.json["url"])
	return tok, r.json["extract_code"].(string), int(r.json["id"].(float64))
}

// open opens a link and returns the answer and how long it took.
func (s *linkSetup) open(tok, code string) (resp, time.Duration) {
	began := time.Now()
	r := s.link("open", map[string]any{"t": tok, "code": code})
	return r, time.Since(began)
}

func (s *linkSetup) grant(tok, code string) string {
	s.t.Helper()
	r, _ := s.open(tok, code)
	expect(s.t, r, http.StatusOK, CodeLinkOpened)
	g := r.json["grant"].(string)
	require.Equal(s.t, "/link?cmd=download&t="+tok+"&g="+g, r.json["download_url"])
	return g
}

func (s *linkSetup) fetch(tok, g string, hdr map[string]string) resp {
	return s.do(http.MethodGet, "/link?cmd=download&t="+tok+"&g="+urlQuery(g), nil, hdr)
}

func TestLinkOwnerCalls(t *testing.T) {
	s := setupLinks(t)
	create := func(body map[string]any) resp { return s.link("create", body) }
	// The token first: nothing is looked at without one.
	expect(t, create(map[string]any{"id": s.id}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, create(map[string]any{"token": "bad", "id": s.id}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.link("list", map[string]any{}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, s.link("revoke", map[string]any{"token": "bad", "id": 1}), http.StatusUnauthorized, CodeTokenBad)
	// Bert cannot link Anna's file.
	expect(t, create(map[string]any{"token": s.btok, "id": s.id}), http.StatusNotFound, CodeLinkCreateFail)
	for _, bad := range []map[string]any{
		{"token": s.atok},
		{"token": s.atok, "id": -1},
		{"token": s.atok, "id": s.id, "kind": "album"},
		{"token": s.atok, "id": s.id, "code": "abc"},
		{"token": s.atok, "id": s.id, "code": "ab-1"},
		{"token": s.atok, "id": s.id, "code": "abcde"},
		{"token": s.atok, "id": s.id, "expires_in_days": 3},
		{"token": s.atok, "id": "x"},
	} {
		expect(t, create(bad), http.StatusBadRequest, CodeLinkCreateFail)
	}
	expect(t, s.post("/link?cmd=create", "{"), http.StatusBadRequest, CodeLinkCreateFail)
	expect(t, s.post("/link?cmd=bogus", map[string]any{"token": s.atok}), http.StatusBadRequest, CodeLinkCreateFail)
	expect(t, s.do(http.MethodGet, "/link?cmd=create", nil, nil), http.StatusMethodNotAllowed, CodeLinkCreateFail)

	auto, autoCode, autoID := s.create("auto", 7)
	require.Regexp(t, `^[a-z0-9]{4}$`, autoCode)
	require.Regexp(t, `^[A-Za-z0-9_-]{22}$`, auto)
	custom, customCode, _ := s.create("AB12", 0)
	require.Equal(t, "ab12", customCode)
	free, freeCode, _ := s.create("", 30)
	require.Empty(t, freeCode)
	require.NotEqual(t, auto, custom)

	// The list: newest first, paged, with the file and the state; the
	// code is not in it (only its hash is kept).
	r := s.link("list", map[string]any{"token": s.atok, "start": 0, "count": 2})
	expect(t, r, http.StatusOK, CodeLinkList)
	require.EqualValues(t, 3, r.json["total"])
	links := r.json["links"].([]any)
	require.Len(t, links, 2)
	l0 := links[0].(map[string]any)
	require.Equal(t, free, l0["token"])
	require.Equal(t, "page.html", l0["file_name"])
	require.EqualValues(t, len(s.content), l0["size"])
	require.Equal(t, false, l0["need_code"])
	require.Equal(t, "active", l0["state"])
	require.InDelta(t, time.Now().Add(30*24*time.Hour).Unix(), l0["expire_time"], 5)
	require.Equal(t, true, links[1].(map[string]any)["need_code"])
	require.NotContains(t, string(r.body), customCode)
	r = s.link("list", map[string]any{"token": s.atok, "start": 2, "count": 2})
	expect(t, r, http.StatusOK, CodeLinkList)
	require.Len(t, r.json["links"], 1)
	expect(t, s.link("list", map[string]any{"token": s.atok, "count": 101}), http.StatusBadRequest, CodeLinkListFail)
	expect(t, s.link("list", map[string]any{"token": s.atok, "start": -1}), http.StatusBadRequest, CodeLinkListFail)
	r = s.link("list", map[string]any{"token": s.btok})
	expect(t, r, http.StatusOK, CodeLinkList)
	require.EqualValues(t, 0, r.json["total"])

	// Revoke: not Bert's to revoke; Anna's once (twice is fine).
	expect(t, s.link("revoke", map[string]any{"token": s.btok, "id": autoID}), http.StatusNotFound, CodeLinkRevokeFail)
	expect(t, s.link("info", map[string]any{"t": auto}), http.StatusOK, CodeLinkInfo)
	expect(t, s.link("revoke", map[string]any{"token": s.atok}), http.StatusBadRequest, CodeLinkRevokeFail)
	expect(t, s.link("revoke", map[string]any{"token": s.atok, "id": 99999}), http.StatusNotFound, CodeLinkRevokeFail)
	expect(t, s.link("revoke", map[string]any{"token": s.atok, "id": autoID}), http.StatusOK, CodeLinkRevoked)
	expect(t, s.link("revoke", map[string]any{"token": s.atok, "id": autoID}), http.StatusOK, CodeLinkRevoked)
	expect(t, s.link("info", map[string]any{"t": auto}), http.StatusNotFound, CodeLinkNotFound)
	r = s.link("list", map[string]any{"token": s.atok, "start": 2, "count": 1})
	require.Equal(t, "revoked", r.json["links"].([]any)[0].(map[string]any)["state"])
}

func TestLinkPublicCalls(t *testing.T) {
	s := setupLinks(t)
	tok, code, id := s.create("auto", 7)
	free, _, _ := s.create("", 0)

	// info: what the landing page shows, never the md5 or the file ID.
	r := s.link("info", map[string]any{"t": tok})
	expect(t, r, http.StatusOK, CodeLinkInfo)
	require.Equal(t, "page.html", r.json["file_name"])
	require.EqualValues(t, len(s.content), r.json["size"])
	require.Equal(t, "anna-nick", r.json["owner"])
	require.Equal(t, true, r.json["need_code"])
	require.Equal(t, "file", r.json["kind"])
	require.NotContains(t, string(r.body), sum(s.content))
	require.NotContains(t, string(r.body), s.fileID(sum(s.content)))
	require.NotContains(t, string(r.body), "group1")
	for _, bad := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "", "../etc", strings.Repeat("x", 300)} {
		expect(t, s.link("info", map[string]any{"t": bad}), http.StatusNotFound, CodeLinkNotFound)
	}
	expect(t, s.post("/link?cmd=info", "{"), http.StatusBadRequest, CodeLinkNotFound)
	expect(t, s.do(http.MethodGet, "/link?cmd=info&t="+tok, nil, nil), http.StatusMethodNotAllowed, CodeLinkNotFound)

	// A link without a code opens at once.
	gFree := s.grant(free, "")

	// A wrong code and an unknown link answer no sooner than the floor.
	wrong, took := s.open(tok, "zzzz")
	if code == "zzzz" {
		wrong, took = s.open(tok, "yyyy")
	}
	expect(t, wrong, http.StatusForbidden, CodeLinkWrongCode)
	require.GreaterOrEqual(t, took, linkOpenFloor)
	r, took = s.open("AAAAAAAAAAAAAAAAAAAAAA", code)
	expect(t, r, http.StatusNotFound, CodeLinkNotFound)
	require.GreaterOrEqual(t, took, linkOpenFloor)
	g := s.grant(tok, strings.ToUpper(code)) // codes are not case-sensitive

	// download: the bytes, as an attachment, never sniffed, sandboxed.
	d := s.fetch(tok, g, nil)
	require.Equal(t, http.StatusOK, d.status, "%s", d)
	require.Equal(t, s.content, d.body)
	require.Equal(t, "application/octet-stream", d.header.Get("Content-Type"))
	require.Contains(t, d.header.Get("Content-Disposition"), `attachment; filename="page.html"`)
	require.Equal(t, "nosniff", d.header.Get("X-Content-Type-Options"))
	require.Equal(t, "sandbox", d.header.Get("Content-Security-Policy"))
	d = s.fetch(tok, g, map[string]string{"Range": "bytes=100-199"})
	require.Equal(t, http.StatusPartialContent, d.status)
	require.Equal(t, s.content[100:200], d.body)
	expect(t, s.fetch(tok, g, map[string]string{"Range": "bytes=999999-"}), http.StatusRequestedRangeNotSatisfiable, CodeLinkDLFail)
	h := s.do(http.MethodHead, "/link?cmd=download&t="+tok+"&g="+urlQuery(g), nil, nil)
	require.Equal(t, http.StatusOK, h.status)
	require.Equal(t, strconv.Itoa(len(s.content)), h.header.Get("Content-Length"))
	require.Equal(t, s.content, s.fetch(tok, g, nil).body)
	// Counted once per address per hour.
	r = s.link("list", map[string]any{"token": s.atok})
	for _, l := range r.json["links"].([]any) {
		m := l.(map[string]any)
		if m["id"] == float64(id) {
			require.EqualValues(t, 1, m["downloads"])
			require.EqualValues(t, 1, m["views"])
		}
	}

	// Grants: required, bound to their link, unforgeable, expiring.
	exp := time.Now().Add(time.Minute).Unix()
	expired, err := s.a.linkGrant(context.Background(), tok, time.Now().Add(-time.Second))
	require.NoError(t, err)
	long, err := s.a.linkGrant(context.Background(), tok, time.Now().Add(24*time.Hour))
	require.NoError(t, err)
	for _, bad := range []string{"", "x", gFree, strconv.FormatInt(exp, 10) + "." + strings.Repeat("A", 43), expired, long, g + "x"} {
		expect(t, s.fetch(tok, bad, nil), http.StatusForbidden, CodeLinkBadGrant)
	}
	expect(t, s.do(http.MethodPost, "/link?cmd=download&t="+tok+"&g="+urlQuery(g), nil, nil), http.StatusMethodNotAllowed, CodeLinkDLFail)

	// Expired, revoked, entry deleted: 067 alike, grants or not.
	_, err = s.a.st.DB().Exec("UPDATE share_link SET expire_time = ? WHERE token = ?", time.Now().Unix()-1, free)
	require.NoError(t, err)
	expect(t, s.link("info", map[string]any{"t": free}), http.StatusNotFound, CodeLinkNotFound)
	r, _ = s.open(free, "")
	expect(t, r, http.StatusNotFound, CodeLinkNotFound)
	expect(t, s.fetch(free, gFree, nil), http.StatusNotFound, CodeLinkNotFound)
	expect(t, s.post("/dealfile?cmd=del", map[string]any{"user": "anna", "token": s.atok, "md5": sum(s.content), "filename": "page.html"}),
		http.StatusOK, CodeDelOK)
	expect(t, s.link("info", map[string]any{"t": tok}), http.StatusNotFound, CodeLinkNotFound)
	expect(t, s.fetch(tok, g, nil), http.StatusNotFound, CodeLinkNotFound)
	r, _ = s.open(tok, code)
	expect(t, r, http.StatusNotFound, CodeLinkNotFound)
	r = s.link("list", map[string]any{"token": s.atok})
	states := map[string]bool{}
	for _, l := range r.json["links"].([]any) {
		states[l.(map[string]any)["state"].(string)] = true
	}
	require.Equal(t, map[string]bool{"expired": true, "gone": true}, states)
}

// Five wrong codes lock the link for everyone, right code or not, with
// retry_after, and the answers come as late as for a wrong code; under
// the course's all-200 rule the download keeps its statuses.
func TestLinkGuardLock(t *testing.T) {
	s := setupLinks(t)
	tok, code, _ := s.create("auto", 0)
	wrong := "zzzz"
	if code == wrong {
		wrong = "yyyy"
	}
	for range 5 {
		r, _ := s.open(tok, wrong)
		expect(t, r, http.StatusForbidden, CodeLinkWrongCode)
	}
	r, took := s.open(tok, code)
	expect(t, r, http.StatusTooManyRequests, CodeLinkThrottled)
	require.GreaterOrEqual(t, took, linkOpenFloor)
	secs := r.json["retry_after"].(float64)
	require.True(t, secs > 0 && secs <= 600, "%v", secs)
	require.Equal(t, strconv.Itoa(int(secs)), r.header.Get("Retry-After"))
	// A right code before the lock gives its attempt back.
	tok2, code2, _ := s.create("auto", 0)
	for range 10 {
		s.grant(tok2, code2)
	}

	cfg := testConfig(t, config.UploadInProcess)
	cfg.HTTPStatusCodes = false
	e := newEnv(t, cfg)
	expect(t, e.post("/link?cmd=info", map[string]any{"t": tok}), http.StatusOK, CodeLinkNotFound)
	expect(t, e.do(http.MethodGet, "/link?cmd=download&t="+tok, nil, nil), http.StatusForbidden, CodeLinkBadGrant)
}
