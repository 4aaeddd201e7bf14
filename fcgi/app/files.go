package app

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"yunpan/store"
)

// item is a list entry, with both the [D] names (file_name, create_time)
// and the [S] ones (filename, time) that older course clients read.
type item struct {
	User        string `json:"user"`
	MD5         string `json:"md5"`
	CreateTime  string `json:"create_time"`
	Time        string `json:"time"`
	FileName    string `json:"file_name"`
	Filename    string `json:"filename"`
	ShareStatus int    `json:"share_status"`
	PV          int64  `json:"pv"`
	URL         string `json:"url"`
	Size        int64  `json:"size"`
	Type        string `json:"type"`
	Thumb       string `json:"thumb,omitempty"` // /image URL of the 150x150 thumbnail (thumbs.go)
}

func (a *App) items(in []store.FileItem) []item {
	out := make([]item, len(in))
	for i, f := range in {
		out[i] = item{User: f.User, MD5: f.MD5, CreateTime: f.CreateTime, Time: f.CreateTime, FileName: f.FileName, Filename: f.FileName,
			ShareStatus: f.ShareStatus, PV: f.PV, URL: a.DownloadURL(f.FileID), Size: f.Size, Type: f.Type,
			Thumb: thumbURL(f)}
	}
	return out
}

// DownloadURL is the storage web server's URL for fileID. With
// anti_steal.check_token (the default) it is signed and expires after
// anti_steal.token_ttl: the Nginx in front of the files refuses it then
// (nginx/nginx.conf.tmpl). Lists sign afresh on every call, so a URL of a
// file that is no longer listed (a cancelled share) stops working within
// token_ttl.
func (a *App) DownloadURL(fileID string) string {
	return a.downloadURLAt(fileID, time.Now())
}

func (a *App) downloadURLAt(fileID string, now time.Time) string {
	u := a.fileURL(fileID)
	if !a.cfg.AntiSteal.CheckToken {
		return u
	}
	exp := strconv.FormatInt(now.Add(a.cfg.AntiSteal.TokenTTL).Unix(), 10)
	return u + "?e=" + exp + "&st=" + SignPath("/"+fileID, exp, a.cfg.AntiSteal.SecretKey)
}

// fileURL is the file's unsigned address, as file_info.url records it
// (a signature would only be stale there).
func (a *App) fileURL(fileID string) string {
	return "http://" + a.cfg.StorageWebServer.Addr() + "/" + fileID
}

// SignPath is the signature Nginx's secure_link_md5 "$secure_link_expires$uri
// <secret>" checks: base64url, unpadded, of md5(expires || path || " " || secret).
func SignPath(path, expires, secret string) string {
	h := md5.Sum([]byte(expires + path + " " + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// handleMyFiles is /myfiles?cmd=count|normal|pvasc|pvdesc.
func (a *App) handleMyFiles(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeListFail, http.MethodPost) {
		return
	}
	cmd := r.URL.Query().Get("cmd")
	order := store.OrderNormal
	switch cmd {
	case "count", "normal":
	case "pvasc":
		order = store.OrderPVAsc
	case "pvdesc":
		order = store.OrderPVDesc
	default:
		a.fail(w, http.StatusBadRequest, CodeListFail, "unknown cmd (want count, normal, pvasc or pvdesc)")
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeListFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeListFail)
		return
	}
	if cmd == "count" {
		n, err := a.st.UserFileCount(r.Context(), user)
		if err != nil {
			a.failErr(w, r, err, CodeListFail)
			return
		}
		a.ok(w, CodeTokenOK, map[string]any{"num": strconv.FormatInt(n, 10)})
		return
	}
	start, count := q.page()
	files, err := a.st.ListUserFiles(r.Context(), user, order, start, count)
	if err != nil {
		a.failErr(w, r, err, CodeListFail)
		return
	}
	a.listReply(w, a.items(files))
}

// listReply answers a page; an empty page is code 015 (the course's "end
// of list") with HTTP 200.
func (a *App) listReply(w http.ResponseWriter, files any) {
	empty := false
	switch f := files.(type) {
	case []item:
		empty = len(f) == 0
	case []rankItem:
		empty = len(f) == 0
	}
	code := CodeListOK
	if empty {
		code = CodeListFail
	}
	a.ok(w, code, map[string]any{"files": files})
}

// fileRequest is the common start of the calls on one file entry
// (/dealfile, /dealsharefile): POST, a JSON body, a valid token, and a
// well-formed md5 + file name (held to newFileRef's rule when creating
// says the call creates or publishes an entry). On failure it has
// answered with failCode.
func (a *App) fileRequest(w http.ResponseWriter, r *http.Request, failCode string, creating bool) (user, md5, name string, ok bool) {
	if !a.method(w, r, failCode, http.MethodPost) {
		return "", "", "", false
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, failCode)
		return "", "", "", false
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, failCode)
		return "", "", "", false
	}
	ref := fileRef
	if creating {
		ref = newFileRef
	}
	m, name, err := ref(&q)
	if err != nil {
		a.failErr(w, r, err, failCode)
		return "", "", "", false
	}
	return user, m, name, true
}

// handleDealFile is /dealfile?cmd=share|del|pv {user, token, md5, filename}.
func (a *App) handleDealFile(w http.ResponseWriter, r *http.Request) {
	cmd := r.URL.Query().Get("cmd")
	okCode, failCode := "", ""
	switch cmd {
	case "share":
		okCode, failCode = CodeShareOK, CodeShareFail
	case "del":
		okCode, failCode = CodeDelOK, CodeDelFail
	case "pv":
		okCode, failCode = CodePVOK, CodePVFail
	default:
		a.fail(w, http.StatusBadRequest, CodeShareFail, "unknown cmd (want share, del or pv)")
		return
	}
	user, m, name, ok := a.fileRequest(w, r, failCode, cmd == "share")
	if !ok {
		return
	}
	var err error
	ctx := r.Context()
	extra := map[string]any(nil)
	switch cmd {
	case "share":
		err = a.st.Share(ctx, user, m, name)
		if errors.Is(err, store.ErrAlreadyShared) {
			a.fail(w, http.StatusConflict, CodeShareExists, "already shared (by you or by someone else under this name)")
			return
		}
	case "del":
		// To the trash (restorable for trash_days); the content is deleted
		// when the trash is purged (trash.go).
		err = a.st.TrashFile(ctx, user, m, name)
	case "pv":
		// Counted once per hour for the entry (store.AddPVOnce); a repeat
		// is answered 016 all the same, with "counted": false.
		var counted bool
		counted, err = a.st.AddPVOnce(ctx, user, m, name)
		extra = map[string]any{"counted": counted}
	}
	if err != nil {
		a.failErr(w, r, err, failCode)
		return
	}
	a.ok(w, okCode, extra)
}

// contentDisposition is an attachment header safe for any file name.
func contentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + url.PathEscape(name)
}
