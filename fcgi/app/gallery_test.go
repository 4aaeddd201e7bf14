package app

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/thumb/thumbtest"
)

// TestGallery: /image?cmd=gallery lists the caller's images (by their
// content's type, whatever the case), newest first and paged, each with
// the /image addresses of its thumbnails once made and of the original
// (the owner's while private, the public one once shared); the token is
// checked before anything else; other users' files and non-images stay
// out; bad pages and methods get 094.
func TestGallery(t *testing.T) {
	e := newEnv(t, testConfig(t, config.UploadInProcess))
	tok := e.user("gal")
	bobTok := e.user("gal_bob")
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	gallery := func(body map[string]any) resp {
		return e.post("/image?cmd=gallery", body)
	}

	jpg := thumbtest.JPEG(300, 200, 0)
	png := thumbtest.PNG(120, 90)
	upper := thumbtest.JPEG(64, 48, 0)
	for _, u := range []struct {
		name string
		b    []byte
	}{
		{"first.jpg", jpg}, {"notes.txt", []byte("no picture here")}, {"second.png", png},
		{"picture.dat", thumbtest.PNG(80, 60)}, // an image's bytes, but not its type: /image refuses it
		{"LOUD.JPG", upper},
	} {
		expect(t, e.uploadMP("gal", tok, u.name, u.b), http.StatusOK, CodeUploadOK)
	}
	expect(t, e.uploadMP("gal_bob", bobTok, "bobs.jpg", thumbtest.JPEG(50, 50, 0)), http.StatusOK, CodeUploadOK)
	waitThumbs(t, e, sum(jpg))

	// The token first: a missing or bad one is 111 whatever the rest says.
	expect(t, gallery(map[string]any{"start": 0, "count": 10}), http.StatusUnauthorized, CodeTokenBad)
	expect(t, gallery(map[string]any{"token": "0123456789abcdef0123456789abcdef", "count": 1000}), http.StatusUnauthorized, CodeTokenBad)

	r := gallery(map[string]any{"token": tok, "start": 0, "count": 10})
	expect(t, r, http.StatusOK, CodeGallery)
	require.EqualValues(t, 3, r.json["total"])
	files := r.json["files"].([]any)
	var names []string
	for _, f := range files {
		names = append(names, f.(map[string]any)["file_name"].(string))
	}
	require.Equal(t, []string{"LOUD.JPG", "second.png", "first.jpg"}, names, "newest first, images only")

	first := files[2].(map[string]any)
	require.Equal(t, sum(jpg), first["md5"])
	require.EqualValues(t, len(jpg), first["size"])
	require.EqualValues(t, 0, first["share_status"])
	require.NotZero(t, first["id"])
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, first["time"])
	own := url.Values{"md5": {sum(jpg)}, "filename": {"first.jpg"}, "user": {"gal"}}
	require.Equal(t, "/image?"+own.Encode(), first["url"])
	own.Set("size", "150x150")
	require.Equal(t, "/image?"+own.Encode(), first["thumb"])
	own.Set("size", "800")
	require.Equal(t, "/image?"+own.Encode(), first["thumb800"])
	for _, k := range []string{"url", "thumb", "thumb800"} {
		u := first[k].(string)
		expect(t, e.do(http.MethodGet, u, nil, nil), http.StatusUnauthorized, CodeTokenBad)
		img := e.do(http.MethodGet, u, nil, bearer)
		require.Equal(t, http.StatusOK, img.status, "%s %s", k, img)
		require.Equal(t, "image/jpeg", img.header.Get("Content-Type"), k)
	}

	// Shared: the public addresses, which work without a token.
	expect(t, e.post("/dealfile?cmd=share", map[string]any{"token": tok, "md5": sum(jpg), "filename": "first.jpg"}), http.StatusOK, CodeShareOK)
	r = gallery(map[string]any{"token": tok, "start": 2, "count": 1})
	expect(t, r, http.StatusOK, CodeGallery)
	require.EqualValues(t, 3, r.json["total"])
	require.Len(t, r.json["files"], 1)
	first = r.json["files"].([]any)[0].(map[string]any)
	require.EqualValues(t, 1, first["share_status"])
	pub := url.Values{"md5": {sum(jpg)}, "filename": {"first.jpg"}}
	require.Equal(t, "/image?"+pub.Encode(), first["url"])
	img := e.do(http.MethodGet, first["url"].(string), nil, nil)
	require.Equal(t, http.StatusOK, img.status, "%s", img)
	require.Equal(t, jpg, img.body)

	// Past the end: an empty page, still 093.
	r = gallery(map[string]any{"token": tok, "start": 3, "count": 10})
	expect(t, r, http.StatusOK, CodeGallery)
	require.Empty(t, r.json["files"])

	// Each user sees their own.
	r = e.do(http.MethodPost, "/image?cmd=gallery", `{"start":"0","count":"5"}`, map[string]string{"Authorization": "Bearer " + bobTok})
	expect(t, r, http.StatusOK, CodeGallery)
	require.EqualValues(t, 1, r.json["total"])
	require.Equal(t, "bobs.jpg", r.json["files"].([]any)[0].(map[string]any)["file_name"])

	// Refusals.
	expect(t, gallery(map[string]any{"token": tok, "count": 101}), http.StatusBadRequest, CodeGalleryFail)
	expect(t, gallery(map[string]any{"token": tok, "count": 0}), http.StatusBadRequest, CodeGalleryFail)
	expect(t, gallery(map[string]any{"token": tok, "start": -1}), http.StatusBadRequest, CodeGalleryFail)
	expect(t, e.do(http.MethodPost, "/image?cmd=gallery", "{not json", bearer), http.StatusBadRequest, CodeGalleryFail)
	expect(t, e.do(http.MethodGet, "/image?cmd=gallery", nil, bearer), http.StatusMethodNotAllowed, CodeGalleryFail)
	expect(t, e.post("/image?cmd=bogus", map[string]any{"token": tok}), http.StatusBadRequest, CodeGalleryFail)
}
