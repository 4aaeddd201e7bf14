package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"

	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/fcgi/config"
	"yunpan/store"
)

// uploadOverhead is what a body may carry beyond the file itself
// (boundaries, part headers, form fields); Nginx lets as much through.
const uploadOverhead = config.UploadOverhead

// upload is one /upload request as parsed.
type upload struct {
	user, token string
	checked     bool   // the token was checked and user is its owner
	name        string // the user-visible file name
	claimedMD5  string // md5 the client sent, if any (checked, never trusted)
	claimedSize int64  // -1 when not sent
	path        string // spooled temp file, "" when streamed or kept in memory
	pathExt     string // the extension path ends with ("": none)
	data        []byte // a small body kept in memory (inprocess mode), when path and fileID are ""
	size        int64
	md5         string // computed here
	fileID      string // set when streamed straight to the DFS
	folder      int64  // the folder it goes to (folder_id, ours); 0: the root
}

// setFolder reads the folder_id field or attribute.
func (u *upload) setFolder(v string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return badRequest("folder_id must be a folder's id (0: the root)")
	}
	u.folder = n
	return nil
}

func (u *upload) cleanup() {
	if u != nil && u.path != "" {
		os.Remove(u.path)
	}
}

// dfsErr classifies a DFS error: a missing file is ErrNotFound, anything
// else means the DFS cannot serve us right now.
func dfsErr(err error) error {
	if proto.StatusOf(err) == proto.StatusENOENT || errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return fmt.Errorf("%w: %w", errDFS, err)
}

// handleUpload is /upload. It accepts standard multipart/form-data (fields
// user, token, md5, filename, size and one file part, in any order) and
// the course's one-part layout (docs/api.md §1.5; attributes
// user, filename, md5, size and token in the Content-Disposition line).
// The body is hashed here while it is spooled to a private temp file (or,
// in inprocess mode with a known size, streamed straight to the storage).
// 008 | 009 | 111.
func (a *App) handleUpload(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeUploadFail, http.MethodPost) {
		return
	}
	max := a.cfg.MaxUploadBytes
	if r.ContentLength > max+uploadOverhead {
		a.failErr(w, r, fmt.Errorf("%w: files are limited to %d bytes", errTooLarge, max), CodeUploadFail)
		return
	}
	// With a token in a header or cookie, refuse strangers before reading.
	if tokenFrom(r, "") != "" {
		if _, err := a.auth(r, "", ""); err != nil {
			a.failErr(w, r, err, CodeUploadFail)
			return
		}
	}
	body := http.MaxBytesReader(w, r.Body, max+uploadOverhead)
	var up *upload
	var err error
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" && params["boundary"] != "" {
		up, err = a.readMultipart(r, body, params["boundary"])
	} else {
		up, err = a.readOnePart(r, body)
	}
	defer up.cleanup()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("%w: files are limited to %d bytes", errTooLarge, max)
		}
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	res, err := a.finishUpload(r.Context(), up)
	if err != nil {
		a.failErr(w, r, err, CodeUploadFail)
		return
	}
	a.ok(w, CodeUploadOK, res)
}

// checkFile validates the parsed request before any byte is stored.
func (a *App) checkFile(r *http.Request, up *upload) error {
	if err := a.checkToken(r, up); err != nil {
		return err
	}
	up.name = canonicalName(up.name)
	if !store.ValidFileName(up.name) {
		return badRequest("invalid file name")
	}
	if err := store.CheckNewName(up.name); err != nil {
		return err
	}
	if up.claimedMD5 != "" {
		up.claimedMD5 = strings.ToLower(up.claimedMD5)
		if !store.ValidMD5(up.claimedMD5) {
			return badRequest("md5 must be 32 hex digits")
		}
	}
	if up.claimedSize > a.cfg.MaxUploadBytes {
		return fmt.Errorf("%w: files are limited to %d bytes", errTooLarge, a.cfg.MaxUploadBytes)
	}
	return nil
}

// checkToken checks the token known so far (a body field or attribute read
// before the file, else the Authorization header or the token cookie) once,
// before a byte of the file is read: a stranger's file is never spooled.
// A token that would only come after the file is not waited for.
func (a *App) checkToken(r *http.Request, up *upload) error {
	if up.checked {
		return nil
	}
	if tokenFrom(r, up.token) == "" {
		return fmt.Errorf("no token before the file (send it in a field before the file, "+
			"the Authorization header or the token cookie): %w", store.ErrBadToken)
	}
	user, err := a.auth(r, up.user, up.token)
	if err != nil {
		return err
	}
	up.user, up.checked = user, true
	if up.folder != 0 {
		// A folder that is not the user's live one refuses the upload
		// before it is stored.
		if _, err := a.st.EntryInfo(r.Context(), up.user, store.ItemRef{Kind: store.KindFolder, ID: up.folder}); err != nil {
			return err
		}
	}
	return a.checkQuota(r, up)
}

// checkQuota refuses an upload the user's quota cannot take, before a
// byte of it is stored: by the size claimed, else by the body's
// Content-Length less the most its envelope may take (the file is at
// least that long). The recording checks again, atomically (add_entry).
func (a *App) checkQuota(r *http.Request, up *upload) error {
	need := up.claimedSize
	if need < 0 {
		need = max(r.ContentLength-uploadOverhead, 0)
	}
	return a.st.CheckQuota(r.Context(), up.user, need)
}

// fileExt is the DFS extension for a user's file name ("" if none fits).
func fileExt(name string) string {
	ext := strings.TrimLeft(fileid.ExtFromFilename(name), ".")
	if ext == "" || !fileid.ValidExt(ext) {
		return ""
	}
	return ext
}

// finishUpload checks the content against the claims, stores it in the
// DFS unless the same bytes are already there, and records it.
func (a *App) finishUpload(ctx context.Context, up *upload) (map[string]any, error) {
	out := map[string]any{"md5": up.md5, "file_name": up.name, "size": up.size}
	bad := func(err error) (map[string]any, error) {
		if up.fileID != "" {
			a.discard(ctx, up.fileID, 0, "upload-refused")
		}
		return nil, err
	}
	if up.claimedMD5 != "" && up.claimedMD5 != up.md5 {
		return bad(badRequest("md5 mismatch: the body hashes to %s", up.md5))
	}
	if up.claimedSize >= 0 && up.claimedSize != up.size {
		return bad(badRequest("size mismatch: the body has %d bytes", up.size))
	}
	ext := fileExt(up.name)
	typ := ext
	if typ == "" {
		typ = "null" // as the course records it
	}
	if up.fileID == "" {
		// Known content needs no second copy. Looking it up first pays
		// before a child process; in process, storing new content (the
		// common case: clients ask /md5 first) without the look-up is
		// cheaper, and add_upload still finds known content, whose extra
		// copy is then deleted. The look-up was a seventh of the program's
		// CPU per 4 KiB upload, and MariaDB's CPU per upload fell by a
		// quarter to a third without it (BenchmarkWeb's cpu-ms/op).
		if a.cfg.UploadMode != config.UploadInProcess {
			linked, err := a.linkKnown(ctx, up, out)
			if err != nil {
				return nil, err
			}
			if linked {
				return out, nil
			}
		}
		id, err := a.storeFile(ctx, up, ext)
		if err != nil {
			return nil, err
		}
		up.fileID = id
	}
	res, err := a.st.AddUploaded(ctx, store.NewFile{User: up.user, MD5: up.md5, FileName: up.name, FileID: up.fileID,
		URL: a.fileURL(up.fileID), Size: up.size, Type: typ, FolderID: up.folder})
	if errors.Is(err, store.ErrCommitUnknown) { // commit_unknown.go
		if a.settleUnknownCommit(ctx, up.fileID) {
			return out, nil
		}
		return nil, err
	}
	if err != nil {
		// Nothing references the new DFS file: it must not stay behind.
		a.discard(ctx, up.fileID, 0, "upload-rollback")
		if errors.Is(err, store.ErrExists) {
			if res.FileName != "" {
				out["file_name"] = res.FileName
			}
			out["msg"] = "already in your files"
			return out, nil
		}
		return nil, err
	}
	out["file_name"] = res.FileName
	if res.Dup {
		a.discard(ctx, up.fileID, res.GCID, "duplicate")
	} else {
		a.queueThumbs(up) // thumbs.go; the answer does not wait
	}
	return out, nil
}

// linkKnown adds known content to the user's files without a second copy
// (an instant upload, but with the bytes proven). It reports whether it
// did; content deleted meanwhile is not linked.
func (a *App) linkKnown(ctx context.Context, up *upload, out map[string]any) (bool, error) {
	if _, known, err := a.st.FileByMD5(ctx, up.md5); err != nil || !known {
		return false, err
	}
	got, err := a.st.LinkInto(ctx, up.user, up.folder, up.md5, up.name)
	switch {
	case err == nil:
		out["file_name"] = got
		return true, nil
	case errors.Is(err, store.ErrExists):
		out["file_name"], out["msg"] = got, "already in your files"
		return true, nil
	case errors.Is(err, store.ErrNoContent): // deleted meanwhile: store it
		return false, nil
	default:
		return false, err
	}
}

// storeFile uploads a spooled file with the configured mode.
func (a *App) storeFile(ctx context.Context, up *upload, ext string) (string, error) {
	path := up.path
	if a.cfg.UploadMode == config.UploadInProcess {
		id, err := a.withTarget(ctx, func(addr string, pathIndex int) (string, error) {
			o := client.UploadOptions{Storage: addr, PathIndex: pathIndex}
			if path == "" {
				return a.dfs.UploadWith(ctx, bytes.NewReader(up.data), int64(len(up.data)), ext, o)
			}
			f, err := os.Open(path)
			if err != nil {
				return "", fmt.Errorf("upload: %w", err)
			}
			defer f.Close()
			return a.dfs.UploadWith(ctx, f, up.size, ext, o)
		})
		if err != nil {
			return "", dfsErr(err)
		}
		return id, nil
	}
	return a.execUpload(ctx, path, up.pathExt, ext)
}
