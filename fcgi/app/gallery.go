package app

import (
	"fmt"
	"net/http"
	"net/url"

	"yunpan/store"
)

// The gallery (docs/api.md §1.16): POST /image?cmd=gallery {token, start,
// count} lists the caller's images, newest first, with the /image
// addresses of each one's thumbnails and original. Like the rest of
// /image it keeps its HTTP statuses.

// The codes of /image?cmd=gallery (docs/api.md §1.1).
const (
	CodeGallery     = "093"
	CodeGalleryFail = "094" // also an unknown cmd of /image
)

// galleryItem is one image of the caller's.
type galleryItem struct {
	ID          int64  `json:"id"`
	User        string `json:"user"`
	MD5         string `json:"md5"`
	FileName    string `json:"file_name"`
	Size        int64  `json:"size"`
	Type        string `json:"type"`
	Time        string `json:"time"`
	ShareStatus int    `json:"share_status"`
	Thumb       string `json:"thumb,omitempty"`    // the 150x150 thumbnail's /image URL, absent until made
	Thumb800    string `json:"thumb800,omitempty"` // the 800 one's
	URL         string `json:"url"`                // the original's /image URL
}

// handleImageCmd serves /image with a cmd (POST); /image without one is
// the image itself (handleImage).
func (a *App) handleImageCmd(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("cmd") {
	case "gallery":
		a.gallery(w, r)
	default:
		a.fail(w, http.StatusBadRequest, CodeGalleryFail, "unknown cmd (want gallery)")
	}
}

// gallery: {token, start, count (at most 100, default 10)} → 093 with a
// page of the caller's images and their total.
func (a *App) gallery(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeGalleryFail, http.MethodPost) {
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeGalleryFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeGalleryFail)
		return
	}
	start, count := q.page()
	if count > store.MaxImagePage {
		a.fail(w, http.StatusBadRequest, CodeGalleryFail, fmt.Sprintf("count: at most %d", store.MaxImagePage))
		return
	}
	files, total, err := a.st.ListImages(r.Context(), user, start, count)
	if err != nil {
		a.failErr(w, r, err, CodeGalleryFail)
		return
	}
	out := make([]galleryItem, len(files))
	for i, f := range files {
		out[i] = galleryItem{ID: f.ID, User: f.User, MD5: f.MD5, FileName: f.FileName, Size: f.Size, Type: f.Type,
			Time: f.CreateTime, ShareStatus: f.ShareStatus, URL: imageURL(f, "")}
		if _, ok := findThumb(f.Thumbs, "150x150"); ok {
			out[i].Thumb = imageURL(f, "150x150")
		}
		if _, ok := findThumb(f.Thumbs, "800"); ok {
			out[i].Thumb800 = imageURL(f, "800")
		}
	}
	a.ok(w, CodeGallery, map[string]any{"total": total, "files": out})
}

// imageURL is the /image address of an entry (size "": the original). A
// shared entry's is the public one; a private one names its owner, whose
// token it needs (as thumbURL).
func imageURL(f store.FileItem, size string) string {
	v := url.Values{"md5": {f.MD5}, "filename": {f.FileName}}
	if size != "" {
		v.Set("size", size)
	}
	if f.ShareStatus != 1 {
		v.Set("user", f.User)
	}
	return "/image?" + v.Encode()
}
