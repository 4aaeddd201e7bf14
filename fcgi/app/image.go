package app

import (
	"net/http"
	"net/url"
	"strings"

	"yunpan/internal/inline"
	"yunpan/internal/thumb"
)

// handleImage is /image?md5=…&filename=…[&user=…][&size=150x150|800]: the
// image host's stable direct link (a Markdown embed must not expire, as
// the signed storage URLs do). It serves a shared image to anyone, and the
// caller's own with their token (bearer header or cookie), inline; with
// size, the thumbnail stored as a slave file of the image. Only raster
// types internal/inline shows in place are served (091 else), thumbnails
// only when made (092 else).
//
// A shared image is "public, max-age=31536000, immutable": the URL names
// the content by its md5, so its bytes never change. The price is that a
// cancelled share stays in caches that already hold it. A private image
// is "private, no-store", as /download: its bytes must not stay on a
// shared computer after logout, nor in any shared cache. ETag is the md5
// (the slave's file ID for a thumbnail); If-None-Match answers 304.
func (a *App) handleImage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("cmd") { // the gallery's calls (gallery.go)
		a.handleImageCmd(w, r)
		return
	}
	if !a.method(w, r, CodeImageFail, http.MethodGet, http.MethodHead) {
		return
	}
	v := r.URL.Query()
	q := req{User: v.Get("user"), MD5: v.Get("md5"), Filename: v.Get("filename"), FileNameC: v.Get("fileName"), FileNameD: v.Get("file_name")}
	m, name, err := fileRef(&q)
	if err != nil {
		a.failErr(w, r, err, CodeImageFail)
		return
	}
	var spec thumb.Spec
	if s := v.Get("size"); s != "" {
		var ok bool
		if spec, ok = thumb.SpecByName(s); !ok {
			a.fail(w, http.StatusBadRequest, CodeImageFail, "size must be 150x150 or 800")
			return
		}
	}
	f, err := a.findDownload(r, &q, m, name)
	if err != nil {
		a.failErr(w, r, err, CodeImageFail)
		return
	}
	fileID, size, etag := f.FileID, f.Size, `"`+f.MD5+`"`
	ct, ok := inline.Type(f.Type)
	if spec.Name != "" {
		t, found := findThumb(f.Thumbs, spec.Name)
		if !found {
			a.fail(w, http.StatusNotFound, CodeNoThumb, "no thumbnail of this size")
			return
		}
		if fileID, err = slaveID(f.FileID, spec.Prefix(), t.Ext); err != nil {
			a.failErr(w, r, err, CodeImageFail)
			return
		}
		size, etag = t.Size, `"`+fileID+`"`
		ct, ok = inline.Type(t.Ext)
	}
	if !ok || !strings.HasPrefix(ct, "image/") {
		a.fail(w, http.StatusUnsupportedMediaType, CodeNotImage, "not an image this host shows")
		return
	}
	cache := "private, no-store"
	if f.ShareStatus == 1 {
		cache = "public, max-age=31536000, immutable"
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cache)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	a.streamFile(w, r, fileID, size, CodeImageFail, func(h http.Header) {
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", `inline; filename*=UTF-8''`+url.PathEscape(f.FileName))
	})
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 wants for it; "*" matches anything).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
