package app

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// A folder link: made on one's own live folder, browsed with the grant of
// open (folders first, the path from the shared folder down), and its
// files downloaded; nothing outside the shared folder answers but 075,
// whether beside it, above it, trashed, another user's or moved out.
func TestLinkFolder(t *testing.T) {
	s := setupLinks(t)
	anna := func(extra map[string]any) map[string]any {
		m := map[string]any{"user": "anna", "token": s.atok}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	mkdir := func(user, tok string, parent any, name string) any {
		r := s.post("/files?cmd=mkdir", map[string]any{"user": user, "token": tok, "folder_id": parent, "name": name})
		expect(t, r, http.StatusOK, CodeMkdirOK)
		return r.json["item"].(map[string]any)["id"]
	}
	upload := func(user, tok string, folder any, name string, c []byte) any {
		ct, body := multipartBody(t, map[string]string{"user": user, "token": tok, "folder_id": fmt.Sprint(folder)}, name, c, false)
		expect(t, s.do(http.MethodPost, "/upload", body, map[string]string{"Content-Type": ct}), http.StatusOK, CodeUploadOK)
		r := s.post("/files?cmd=list", map[string]any{"user": user, "token": tok, "folder_id": folder, "count": 100})
		for _, it := range r.json["items"].([]any) {
			if m := it.(map[string]any); m["name"] == name {
				return m["id"]
			}
		}
		t.Fatalf("%s not in folder %v", name, folder)
		return nil
	}
	// anna: /top/share/{one.bin, sub/{two.bin}, old/{four.bin} (trashed)}, /top/side/three.bin
	top := mkdir("anna", s.atok, 0, "top")
	share := mkdir("anna", s.atok, top, "share")
	sub := mkdir("anna", s.atok, share, "sub")
	old := mkdir("anna", s.atok, share, "old")
	side := mkdir("anna", s.atok, top, "side")
	c1, c2, c3, c4 := randBytes(3000), randBytes(5000), randBytes(100), randBytes(100)
	one := upload("anna", s.atok, share, "one.bin", c1)
	two := upload("anna", s.atok, sub, "two.bin", c2)
	three := upload("anna", s.atok, side, "three.bin", c3)
	four := upload("anna", s.atok, old, "four.bin", c4)
	expect(t, s.post("/files?cmd=delete", anna(map[string]any{"items": []any{ref("folder", old)}})), http.StatusOK, CodeTrashOK)
	bdir := mkdir("bert", s.btok, 0, "bdir")
	bfile := upload("bert", s.btok, bdir, "b.bin", randBytes(100))

	// create: one's own live folder only.
	create := func(tok string, kind string, id any) resp {
		return s.link("create", map[string]any{"token": tok, "kind": kind, "id": id, "code": "auto", "expires_in_days": 7})
	}
	for _, bad := range []resp{create(s.btok, "folder", share), create(s.atok, "folder", one), create(s.atok, "file", share),
		create(s.atok, "folder", old)} {
		expect(t, bad, http.StatusNotFound, CodeLinkCreateFail)
	}
	r := create(s.atok, "folder", share)
	expect(t, r, http.StatusOK, CodeLinkCreated)
	require.Equal(t, "folder", r.json["kind"])
	require.Equal(t, "share", r.json["file_name"])
	tok, code := r.json["token"].(string), r.json["extract_code"].(string)

	// info: the folder's name, never an md5 or file ID.
	r = s.link("info", map[string]any{"t": tok})
	expect(t, r, http.StatusOK, CodeLinkInfo)
	require.Equal(t, "folder", r.json["kind"])
	require.Equal(t, "share", r.json["file_name"])
	require.Equal(t, "anna-nick", r.json["owner"])
	require.Equal(t, true, r.json["need_code"])

	browse := func(g string, extra map[string]any) resp {
		m := map[string]any{"t": tok, "g": g}
		for k, v := range extra {
			m[k] = v
		}
		return s.link("browse", m)
	}
	// The grant first: the code is needed before anything is shown.
	expect(t, browse("", nil), http.StatusForbidden, CodeLinkBadGrant)
	g := s.grant(tok, code)
	names := func(r resp) []string {
		out := []string{}
		for _, it := range r.json["items"].([]any) {
			out = append(out, it.(map[string]any)["name"].(string))
		}
		return out
	}
	path := func(r resp) []any {
		out := []any{}
		for _, c := range r.json["path"].([]any) {
			out = append(out, c.(map[string]any)["id"])
		}
		return out
	}
	r = browse(g, nil)
	expect(t, r, http.StatusOK, CodeLinkBrowse)
	require.Equal(t, []string{"sub", "one.bin"}, names(r), "folders first; the trashed folder is not there")
	require.Equal(t, []any{share}, path(r))
	require.Equal(t, share, r.json["folder_id"])
	it := r.json["items"].([]any)[1].(map[string]any)
	require.Equal(t, map[string]any{"id": one, "kind": "file", "name": "one.bin", "size": float64(len(c1)), "time": it["time"]}, it)
	require.NotContains(t, string(r.body), sum(c1))
	require.NotContains(t, string(r.body), "group1")
	r = browse(g, map[string]any{"folder_id": sub})
	expect(t, r, http.StatusOK, CodeLinkBrowse)
	require.Equal(t, []string{"two.bin"}, names(r))
	require.Equal(t, []any{share, sub}, path(r))
	r = browse(g, map[string]any{"start": 1, "count": 1})
	require.Equal(t, []string{"one.bin"}, names(r))
	require.Equal(t, false, r.json["more"])
	for _, f := range []any{top, side, old, bdir, one, 999999} {
		expect(t, browse(g, map[string]any{"folder_id": f}), http.StatusNotFound, CodeLinkNoEntry)
	}
	expect(t, browse(g, map[string]any{"folder_id": -1}), http.StatusBadRequest, CodeLinkBrowseFail)
	expect(t, browse(g, map[string]any{"count": 101}), http.StatusBadRequest, CodeLinkBrowseFail)
	fileTok, _, _ := s.create("", 0)
	expect(t, s.link("browse", map[string]any{"t": fileTok, "g": g}), http.StatusForbidden, CodeLinkBadGrant)
	expect(t, s.link("browse", map[string]any{"t": fileTok, "g": s.grant(fileTok, "")}), http.StatusBadRequest, CodeLinkBrowseFail)

	// download: a live file in the shared folder or below it.
	get := func(id any) resp {
		return s.do(http.MethodGet, "/link?cmd=download&t="+tok+"&g="+urlQuery(g)+"&id="+fmt.Sprint(id), nil, nil)
	}
	d := get(two)
	require.Equal(t, http.StatusOK, d.status, "%s", d)
	require.Equal(t, c2, d.body)
	require.Contains(t, d.header.Get("Content-Disposition"), `attachment; filename="two.bin"`)
	require.Equal(t, "nosniff", d.header.Get("X-Content-Type-Options"))
	require.Equal(t, c1, get(one).body)
	for _, f := range []any{three, four, bfile, sub, share, strconv.Itoa(s.id), 999999} {
		expect(t, get(f), http.StatusNotFound, CodeLinkNoEntry)
	}
	for _, f := range []any{"", "x", 0, -1} {
		expect(t, get(f), http.StatusBadRequest, CodeLinkDLFail)
	}
	expect(t, s.do(http.MethodGet, "/link?cmd=download&t="+tok+"&id="+fmt.Sprint(two), nil, nil), http.StatusForbidden, CodeLinkBadGrant)
	// Moved out after the link was made: out of reach.
	expect(t, s.post("/files?cmd=move", anna(map[string]any{"items": []any{ref("file", two)}, "dest": side})), http.StatusOK, CodeMoveOK)
	expect(t, get(two), http.StatusNotFound, CodeLinkNoEntry)
	r = s.link("list", map[string]any{"token": s.atok})
	l0 := r.json["links"].([]any)[1].(map[string]any)
	require.Equal(t, "folder", l0["kind"])
	require.Equal(t, "share", l0["file_name"])
	require.EqualValues(t, 1, l0["downloads"], "counted per link and address")

	// The shared folder trashed: the link is gone, grant or not.
	expect(t, s.post("/files?cmd=delete", anna(map[string]any{"items": []any{ref("folder", share)}})), http.StatusOK, CodeTrashOK)
	expect(t, s.link("info", map[string]any{"t": tok}), http.StatusNotFound, CodeLinkNotFound)
	expect(t, browse(g, nil), http.StatusNotFound, CodeLinkNotFound)
	expect(t, get(one), http.StatusNotFound, CodeLinkNotFound)
	r = s.link("list", map[string]any{"token": s.atok})
	require.Equal(t, "gone", r.json["links"].([]any)[1].(map[string]any)["state"])
}
