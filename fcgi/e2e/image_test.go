package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/internal/thumb/thumbtest"
)

// imageHost: through Nginx, an uploaded JPEG gets its thumbnails (the list
// offers one), /image serves it privately with the token and publicly once
// shared, inline and sandboxed, with 304 on If-None-Match; without a token
// a private image is refused.
func imageHost(w *web, a account) {
	t := w.t
	jpg := thumbtest.JPEG(600, 300, 6)
	const name = "holiday.jpg"
	w.check(w.upload(a, name, jpg), "008", "upload %s", name)
	var thumbURL string
	require.Eventually(t, func() bool {
		f := find(w.myFiles(a, "normal", 0, 100).files(), name)
		thumbURL, _ = f["thumb"].(string)
		return thumbURL != ""
	}, time.Minute, 50*time.Millisecond, "the list offers a thumbnail")
	require.True(t, strings.HasPrefix(thumbURL, "/image?"), thumbURL)

	r := w.do("GET", thumbURL, "", nil)
	require.Equal(t, http.StatusUnauthorized, r.status, "%s", r)
	r = w.do("GET", thumbURL, "", nil, "Authorization", "Bearer "+a.token)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "image/jpeg", r.header.Get("Content-Type"))
	require.Equal(t, "private, no-store", r.header.Get("Cache-Control"))
	require.True(t, strings.HasPrefix(r.header.Get("Content-Disposition"), "inline"))
	require.True(t, slices.Contains(r.header.Values("Content-Security-Policy"), "sandbox"), "%v", r.header)
	require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))

	w.expect("010", "/dealfile?cmd=share", a.body("md5", md5hex(jpg), "filename", name))
	pub := "/image?" + url.Values{"md5": {md5hex(jpg)}, "filename": {name}}.Encode()
	r = w.do("GET", pub, "", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, jpg, r.body)
	require.Equal(t, "public, max-age=31536000, immutable", r.header.Get("Cache-Control"))
	etag := r.header.Get("ETag")
	require.Equal(t, `"`+md5hex(jpg)+`"`, etag)
	r = w.do("GET", pub, "", nil, "If-None-Match", etag)
	require.Equal(t, http.StatusNotModified, r.status, "%s", r)
	r = w.do("GET", pub+"&size=800", "", nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	require.Equal(t, "image/jpeg", r.header.Get("Content-Type"))
	w.expect("013", "/dealfile?cmd=del", a.body("md5", md5hex(jpg), "filename", name))
	// Gone: without a token, as a private file (which one, it does not say).
	require.Equal(t, http.StatusUnauthorized, w.do("GET", pub, "", nil).status)
}
