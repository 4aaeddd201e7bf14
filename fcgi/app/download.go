package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"yunpan/internal/inline"
	"yunpan/store"
)

// handleDownload is /download.
//
//   - POST {user, token, md5, filename} → {"code":"025","url":…} : the
//     storage web server URL, signed and expiring (files.go, DownloadURL).
//   - GET ?md5=…&filename=…  streams the bytes from the DFS (single Range
//     supported); with &redirect=1 it answers 302 to the storage URL.
//
// A user's own file needs their token (body, bearer header or cookie); a
// shared file is public, as the share list is.
func (a *App) handleDownload(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeDownloadFail, http.MethodPost, http.MethodGet, http.MethodHead) {
		return
	}
	var q req
	if r.Method == http.MethodPost {
		if err := readJSON(w, r, &q, false); err != nil {
			a.failErr(w, r, err, CodeDownloadFail)
			return
		}
	} else {
		v := r.URL.Query()
		q.User, q.MD5 = v.Get("user"), v.Get("md5")
		q.Filename, q.FileNameC, q.FileNameD = v.Get("filename"), v.Get("fileName"), v.Get("file_name")
	}
	m, name, err := fileRef(&q)
	if err != nil {
		a.failErr(w, r, err, CodeDownloadFail)
		return
	}
	f, err := a.findDownload(r, &q, m, name)
	if err != nil {
		a.failErr(w, r, err, CodeDownloadFail)
		return
	}
	u := a.DownloadURL(f.FileID)
	switch {
	case r.Method == http.MethodPost:
		a.ok(w, CodeDownloadOK, map[string]any{"url": u, "md5": f.MD5, "file_name": f.FileName, "size": f.Size})
	case r.URL.Query().Get("redirect") == "1":
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, u, http.StatusFound)
	default:
		a.stream(w, r, f, CodeDownloadFail)
	}
}

// findDownload returns the caller's own entry, or else the public one.
func (a *App) findDownload(r *http.Request, q *req, m, name string) (store.FileItem, error) {
	ctx := r.Context()
	tok := tokenFrom(r, q.Token)
	authErr := fmt.Errorf("no token: %w", store.ErrBadToken)
	if tok != "" {
		user, err := a.auth(r, q.User, q.Token)
		switch {
		case err == nil:
			f, err := a.st.UserFile(ctx, user, m, name)
			if !errors.Is(err, store.ErrNotFound) {
				return f, err
			}
			authErr = store.ErrNotFound
		case !errors.Is(err, store.ErrBadToken):
			return store.FileItem{}, err
		default:
			authErr = err
		}
	}
	f, err := a.st.SharedFile(ctx, m, name)
	if errors.Is(err, store.ErrNotFound) {
		return f, authErr
	}
	return f, err
}

// parseRange understands one "bytes=a-b", "bytes=a-" or "bytes=-n".
// ok is false for anything else (the whole file is sent).
func parseRange(h string, size int64) (start, length int64, ok, unsatisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, err == nil
		}
		n = min(n, size)
		return size - n, n, size > 0, size == 0
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	if s >= size {
		return 0, 0, false, true
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	return s, e - s + 1, true, false
}

// lazyWriter sends the status on the first byte, so that a DFS failure
// before any byte still gets a JSON error.
type lazyWriter struct {
	w       http.ResponseWriter
	status  int
	started bool
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.w.WriteHeader(l.status)
	}
	return l.w.Write(b)
}

// stream sends f's bytes (one Range at most); failCode is the JSON code of
// a failure before the first byte.
func (a *App) stream(w http.ResponseWriter, r *http.Request, f store.FileItem, failCode string) {
	// Only types that cannot run script keep their type (HTML, SVG or
	// JavaScript would otherwise run on the app's origin, e.g. as a <script
	// src>); always an attachment, never sniffed, sandboxed if shown at all.
	ct, _ := inline.Type(f.Type)
	a.streamFile(w, r, f.FileID, f.Size, failCode, func(h http.Header) {
		h.Set("Content-Type", ct)
		h.Set("Content-Disposition", contentDisposition(f.FileName))
		h.Set("Cache-Control", "private, no-store")
	})
}

// streamFile sends size bytes of a DFS file, or the single range the
// request asks for, with the headers set adds (type, disposition,
// caching); it always sends nosniff and a sandbox CSP. Failures before
// the first byte are answered with failCode.
func (a *App) streamFile(w http.ResponseWriter, r *http.Request, fileID string, size int64, failCode string, set func(http.Header)) {
	h := w.Header()
	start, length, status := int64(0), size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" {
		s, n, ok, bad := parseRange(rh, size)
		if bad {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			a.fail(w, http.StatusRequestedRangeNotSatisfiable, failCode, "range not satisfiable")
			return
		}
		if ok {
			start, length, status = s, n, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, s+n-1, size))
		}
	}
	set(h)
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	if r.Method == http.MethodHead || length == 0 {
		w.WriteHeader(status)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
	defer cancel()
	lw := &lazyWriter{w: w, status: status}
	n, err := a.dfs.Download(ctx, fileID, start, length, lw)
	if err == nil {
		return
	}
	if !lw.started {
		for _, k := range []string{"Content-Length", "Content-Disposition", "Content-Range", "Accept-Ranges", "ETag"} {
			h.Del(k)
		}
		a.failErr(w, r, fmt.Errorf("%w: %w", errDFS, err), failCode)
		return
	}
	// Headers are gone: the short body tells the client.
	a.log.Warn().Err(err).Str("file_id", fileID).Int64("sent", n).Msg("download cut short")
}
