package app

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"yunpan/store"
)

// Share links (docs/api.md §1.14): /link?cmd=create|list|revoke for the
// owner (token checked first), info|open|browse|download for anyone
// holding the link. open checks the extraction code and hands out a grant,
// an HMAC bound to the link and expiring, that browse and download take.
// A link is to a file or to a folder: a folder link's holder browses the
// folder and the folders below it and downloads the files in them.

// The codes of /link (docs/api.md §1.1).
const (
	CodeLinkCreated    = "060"
	CodeLinkCreateFail = "061" // also an unknown cmd
	CodeLinkList       = "062"
	CodeLinkListFail   = "063"
	CodeLinkRevoked    = "064"
	CodeLinkRevokeFail = "065"
	CodeLinkInfo       = "066"
	CodeLinkNotFound   = "067" // unknown, revoked, expired, or its entry is gone: all alike
	CodeLinkOpened     = "068"
	CodeLinkWrongCode  = "069"
	CodeLinkThrottled  = "070" // too many wrong codes: try again in retry_after seconds
	CodeLinkDLFail     = "071"
	CodeLinkBadGrant   = "072" // grant missing, forged or expired: open the link again
	CodeLinkBrowse     = "073"
	CodeLinkBrowseFail = "074" // also browsing a file link
	CodeLinkNoEntry    = "075" // a folder link does not reach that entry: outside, trashed or none, alike
)

const (
	// linkGrantTTL is how long a grant lets its holder download.
	linkGrantTTL = 15 * time.Minute
	// linkOpenFloor is the least time a refused open takes: a wrong code
	// answers as late whether the link exists or not.
	linkOpenFloor = 250 * time.Millisecond
	maxLinkPage   = 100
)

// linkExpiryDays are the expiries one may ask for (0: never).
var linkExpiryDays = map[int]bool{0: true, 1: true, 7: true, 30: true}

// linkItem is a line of the owner's list.
type linkItem struct {
	ID         int64  `json:"id"`
	Token      string `json:"token"`
	URL        string `json:"url"`
	Kind       string `json:"kind"`
	ItemID     int64  `json:"item_id"`
	FileName   string `json:"file_name"`
	Size       int64  `json:"size"`
	NeedCode   bool   `json:"need_code"`
	ExpireTime int64  `json:"expire_time"` // unix seconds, 0: never
	CreateTime string `json:"create_time"`
	Downloads  int64  `json:"downloads"`
	Views      int64  `json:"views"`
	State      string `json:"state"` // active | expired | revoked | gone
}

func (a *App) handleLink(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("cmd") {
	case "create":
		a.linkCreate(w, r)
	case "list":
		a.linkList(w, r)
	case "revoke":
		a.linkRevoke(w, r)
	case "info":
		a.linkInfo(w, r)
	case "open":
		a.linkOpen(w, r)
	case "browse":
		a.linkBrowse(w, r)
	case "download":
		a.linkDownload(w, r)
	default:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, "unknown cmd (want create, list, revoke, info, open, browse or download)")
	}
}

// linkOwner is the start of the owner's calls: POST, a JSON body, a valid
// token. On failure it has answered with failCode.
func (a *App) linkOwner(w http.ResponseWriter, r *http.Request, failCode string) (string, *req, bool) {
	if !a.method(w, r, failCode, http.MethodPost) {
		return "", nil, false
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, failCode)
		return "", nil, false
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, failCode)
		return "", nil, false
	}
	return user, &q, true
}

// LinkURL is the landing page of a link on the web server: a route of the
// web client, so the token stays out of access logs' paths.
func (a *App) LinkURL(token string) string {
	host := a.cfg.WebServer.Addr()
	if a.cfg.WebServer.Port == 80 {
		host = a.cfg.WebServer.IP
	}
	return "http://" + host + "/#/s/" + token
}

// linkCreate: {token, kind:"file"|"folder", id, code: ""|"auto"|"abcd",
// expires_in_days: 0|1|7|30} → 060 with the link and its code.
func (a *App) linkCreate(w http.ResponseWriter, r *http.Request) {
	user, q, ok := a.linkOwner(w, r, CodeLinkCreateFail)
	if !ok {
		return
	}
	kind := q.Kind
	if kind == "" {
		kind = store.LinkKindFile
	}
	code := strings.ToLower(strings.TrimSpace(q.Code))
	switch {
	case kind != store.LinkKindFile && kind != store.LinkKindFolder:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, `kind: "file" or "folder"`)
		return
	case !q.ID.set || q.ID.n <= 0:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, "id: the entry's id is required")
		return
	case code == "auto":
		code = store.NewLinkCode()
	case code != "" && !store.ValidLinkCode(code):
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, fmt.Sprintf(`code: "", "auto" or %d of a-z and 0-9`, store.LinkCodeLen))
		return
	case !linkExpiryDays[q.ExpiresInDays.n]:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, "expires_in_days: 0 (never), 1, 7 or 30")
		return
	}
	l, err := a.st.CreateLink(r.Context(), store.NewLink{User: user, Kind: kind, ItemID: int64(q.ID.n), Code: code,
		ExpiresIn: time.Duration(q.ExpiresInDays.n) * 24 * time.Hour})
	if errors.Is(err, store.ErrNotFound) {
		a.fail(w, http.StatusNotFound, CodeLinkCreateFail, "no such "+kind)
		return
	}
	if err != nil {
		a.failErr(w, r, err, CodeLinkCreateFail)
		return
	}
	a.ok(w, CodeLinkCreated, map[string]any{"id": l.ID, "token": l.Token, "url": a.LinkURL(l.Token), "kind": l.Kind,
		"extract_code": code, "expire_time": l.ExpireTime, "file_name": l.FileName})
}

// linkList: {token, start, count} → 062 with a page of the caller's
// links, newest first, and their total.
func (a *App) linkList(w http.ResponseWriter, r *http.Request) {
	user, q, ok := a.linkOwner(w, r, CodeLinkListFail)
	if !ok {
		return
	}
	start, count := q.page()
	if count > maxLinkPage {
		a.fail(w, http.StatusBadRequest, CodeLinkListFail, fmt.Sprintf("count: at most %d", maxLinkPage))
		return
	}
	links, total, err := a.st.ListLinks(r.Context(), user, start, count)
	if err != nil {
		a.failErr(w, r, err, CodeLinkListFail)
		return
	}
	now := time.Now()
	out := make([]linkItem, len(links))
	for i, l := range links {
		out[i] = linkItem{ID: l.ID, Token: l.Token, URL: a.LinkURL(l.Token), Kind: l.Kind, ItemID: l.ItemID, FileName: l.FileName,
			Size: l.Size, NeedCode: l.HasCode, ExpireTime: l.ExpireTime, CreateTime: l.CreateTime, Downloads: l.Downloads,
			Views: l.Views, State: l.State(now)}
	}
	a.ok(w, CodeLinkList, map[string]any{"total": total, "links": out})
}

// linkRevoke: {token, id} → 064; 065 (404) when the caller has no such
// link.
func (a *App) linkRevoke(w http.ResponseWriter, r *http.Request) {
	user, q, ok := a.linkOwner(w, r, CodeLinkRevokeFail)
	if !ok {
		return
	}
	if !q.ID.set || q.ID.n <= 0 {
		a.fail(w, http.StatusBadRequest, CodeLinkRevokeFail, "id: the link's id is required")
		return
	}
	err := a.st.RevokeLink(r.Context(), user, int64(q.ID.n))
	if errors.Is(err, store.ErrNotFound) {
		a.fail(w, http.StatusNotFound, CodeLinkRevokeFail, "no such link")
		return
	}
	if err != nil {
		a.failErr(w, r, err, CodeLinkRevokeFail)
		return
	}
	a.ok(w, CodeLinkRevoked, nil)
}

// notFound is the one answer for a link that cannot be used.
func (a *App) linkNotFound(w http.ResponseWriter) {
	a.fail(w, http.StatusNotFound, CodeLinkNotFound, "link not found or expired")
}

// linkPublic reads {t} of the public calls and finds the live link; on
// failure it has answered.
func (a *App) linkPublic(w http.ResponseWriter, r *http.Request, failCode string) (store.Link, *req, bool) {
	if !a.method(w, r, failCode, http.MethodPost) {
		return store.Link{}, nil, false
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, failCode)
		return store.Link{}, nil, false
	}
	l, err := a.st.OpenLink(r.Context(), strings.TrimSpace(q.T))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.failErr(w, r, err, failCode)
		return store.Link{}, nil, false
	}
	return l, &q, true
}

// linkInfo: {t} → 066 with what the landing page shows: the kind, the
// name, size and type (a folder's size is 0, its type empty), owner's
// nickname, expiry and whether a code is needed (never the md5 or the
// DFS file ID); 067 (404) otherwise.
func (a *App) linkInfo(w http.ResponseWriter, r *http.Request) {
	l, _, ok := a.linkPublic(w, r, CodeLinkNotFound)
	if !ok {
		return
	}
	if l.ID == 0 {
		a.linkNotFound(w)
		return
	}
	if _, err := a.st.CountLinkView(r.Context(), l.ID, clientAddr(r)); err != nil {
		a.log.Warn().Err(err).Int64("link", l.ID).Msg("link view not counted")
	}
	a.ok(w, CodeLinkInfo, map[string]any{"kind": l.Kind, "file_name": l.FileName, "size": l.Size, "type": l.Type,
		"owner": l.Nick, "expire_time": l.ExpireTime, "need_code": l.HasCode, "create_time": l.CreateTime})
}

// linkOpen: {t, code} → 068 with a grant for download. A code attempt is
// counted by the guard before it is checked (and taken back when right):
// 069 for a wrong code, 070 with retry_after while the link or the
// address has had too many; 067 as for info. Refusals take at least
// linkOpenFloor, whether the link exists or not.
func (a *App) linkOpen(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	l, q, ok := a.linkPublic(w, r, CodeLinkWrongCode)
	if !ok {
		return
	}
	ctx := r.Context()
	if l.ID != 0 && !l.HasCode {
		a.grantReply(w, r, l)
		return
	}
	tok, addr := strings.TrimSpace(q.T), clientAddr(r)
	err := a.st.LinkGuardTry(ctx, tok, addr)
	var thr *store.ThrottledError
	switch {
	case err == nil && l.ID != 0 && l.CheckCode(strings.TrimSpace(q.Code)):
	case errors.As(err, &thr):
		secs := thr.RetrySeconds()
		floor(ctx, began)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		a.reply(w, http.StatusTooManyRequests, map[string]any{"code": CodeLinkThrottled, "retry_after": secs,
			"msg": fmt.Sprintf("too many wrong extraction codes, try again in %d s", secs)})
		return
	case err != nil:
		a.failErr(w, r, err, CodeLinkWrongCode)
		return
	case l.ID == 0:
		floor(ctx, began)
		a.linkNotFound(w)
		return
	default:
		floor(ctx, began)
		a.fail(w, http.StatusForbidden, CodeLinkWrongCode, "wrong extraction code")
		return
	}
	a.st.LinkGuardPass(ctx, tok, addr)
	a.grantReply(w, r, l)
}

// floor waits until linkOpenFloor after began (or the client is gone),
// before the refusal is written.
func floor(ctx context.Context, began time.Time) {
	t := time.NewTimer(time.Until(began.Add(linkOpenFloor)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (a *App) grantReply(w http.ResponseWriter, r *http.Request, l store.Link) {
	g, err := a.linkGrant(r.Context(), l.Token, time.Now().Add(linkGrantTTL))
	if err != nil {
		a.failErr(w, r, err, CodeLinkWrongCode)
		return
	}
	a.ok(w, CodeLinkOpened, map[string]any{"grant": g, "expires_in": int64(linkGrantTTL / time.Second),
		"download_url": "/link?cmd=download&t=" + l.Token + "&g=" + g})
}

// linkKey caches the grant signing key (store.LinkSecret).
type linkKey struct {
	mu  sync.Mutex
	key []byte
}

func (a *App) grantKey(ctx context.Context) ([]byte, error) {
	a.lkey.mu.Lock()
	defer a.lkey.mu.Unlock()
	if a.lkey.key == nil {
		k, err := a.st.LinkSecret(ctx)
		if err != nil {
			return nil, err
		}
		a.lkey.key = k
	}
	return a.lkey.key, nil
}

// linkGrant is "<unix expiry>.<base64url HMAC-SHA256 of the token and
// the expiry>": it lets its holder download that link's entry until then.
func (a *App) linkGrant(ctx context.Context, token string, exp time.Time) (string, error) {
	key, err := a.grantKey(ctx)
	if err != nil {
		return "", err
	}
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + grantMAC(key, token, e), nil
}

func grantMAC(key []byte, token, exp string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("yunpan link grant\x00" + token + "\x00" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkGrant reports whether g is a grant of token that has not expired.
func (a *App) checkGrant(ctx context.Context, token, g string) (bool, error) {
	e, mac, found := strings.Cut(g, ".")
	exp, err := strconv.ParseInt(e, 10, 64)
	now := time.Now()
	if !found || err != nil || exp <= now.Unix() || exp > now.Add(linkGrantTTL+time.Minute).Unix() {
		return false, nil
	}
	key, err := a.grantKey(ctx)
	if err != nil {
		return false, err
	}
	return hmac.Equal([]byte(mac), []byte(grantMAC(key, token, e))), nil
}

// grantOK checks the grant g of the link token before anything else is
// looked at; on failure it has answered (072, 403, for a grant missing,
// forged, of another link or expired).
func (a *App) grantOK(w http.ResponseWriter, r *http.Request, token, g, failCode string) bool {
	ok, err := a.checkGrant(r.Context(), token, g)
	if err != nil {
		a.failErr(w, r, err, failCode)
		return false
	}
	if !ok {
		a.fail(w, http.StatusForbidden, CodeLinkBadGrant, "the download grant is missing or has expired: open the link again")
	}
	return ok
}

// linkNoEntry is the one answer for an entry a folder link does not
// reach, whatever the reason.
func (a *App) linkNoEntry(w http.ResponseWriter) {
	a.fail(w, http.StatusNotFound, CodeLinkNoEntry, "no such entry in the shared folder")
}

// browseItem is an entry of a shared folder: what a stranger may see of
// it (never the md5 or the DFS file ID).
type browseItem struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Time string `json:"time"`
}

// linkBrowse: {t, g, folder_id, start, count} → 073 with a page of a
// folder link's folder (folder_id 0 or absent: the shared folder itself)
// by name, folders first, and the path from the shared folder down to it;
// 072 (403) without a good grant, 067 (404) for a link that cannot be
// used, 074 (400) for a file link or a bad field, 075 (404) for a folder
// the link does not reach (outside the shared folder, trashed, another
// user's or none).
func (a *App) linkBrowse(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeLinkBrowseFail, http.MethodPost) {
		return
	}
	var q req
	if err := readJSON(w, r, &q, false); err != nil {
		a.failErr(w, r, err, CodeLinkBrowseFail)
		return
	}
	tok := strings.TrimSpace(q.T)
	if !a.grantOK(w, r, tok, q.G, CodeLinkBrowseFail) {
		return
	}
	ctx := r.Context()
	l, err := a.st.OpenLink(ctx, tok)
	if errors.Is(err, store.ErrNotFound) {
		a.linkNotFound(w)
		return
	}
	if err != nil {
		a.failErr(w, r, err, CodeLinkBrowseFail)
		return
	}
	start, count := q.page()
	switch {
	case l.Kind != store.LinkKindFolder:
		a.fail(w, http.StatusBadRequest, CodeLinkBrowseFail, "this link is to a file: download it")
		return
	case q.FolderID.n < 0:
		a.fail(w, http.StatusBadRequest, CodeLinkBrowseFail, "folder_id: 0 (the shared folder) or a folder in it")
		return
	case count > maxLinkPage:
		a.fail(w, http.StatusBadRequest, CodeLinkBrowseFail, fmt.Sprintf("count: at most %d", maxLinkPage))
		return
	}
	pg, err := a.st.ListLinkFolder(ctx, l, int64(q.FolderID.n), start, count)
	if errors.Is(err, store.ErrNotInLink) {
		a.linkNoEntry(w)
		return
	}
	if err != nil {
		a.failErr(w, r, err, CodeLinkBrowseFail)
		return
	}
	items := make([]browseItem, len(pg.Items))
	for i, e := range pg.Items {
		items[i] = browseItem{ID: e.ID, Kind: e.Kind.String(), Name: e.FileName, Size: e.Size, Time: e.CreateTime}
	}
	path := make([]map[string]any, len(pg.Path))
	for i, c := range pg.Path {
		path[i] = map[string]any{"id": c.ID, "name": c.Name}
	}
	a.ok(w, CodeLinkBrowse, map[string]any{"folder_id": pg.Path[len(pg.Path)-1].ID, "path": path,
		"folder_count": pg.Folders, "more": pg.More, "items": items})
}

// linkDownload: GET|HEAD ?t=<token>&g=<grant> (and &id=<file entry id>
// for a folder link) streams the entry as /download does (attachment,
// nosniff, sandbox, one Range); 072 (403) for a missing, forged or expired
// grant, 067 (404) for a link that cannot be used, 075 (404) for a file a
// folder link does not reach. A GET from the first byte counts one
// download of the link per client address per hour.
func (a *App) linkDownload(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeLinkDLFail, http.MethodGet, http.MethodHead) {
		return
	}
	v := r.URL.Query()
	tok := v.Get("t")
	if !a.grantOK(w, r, tok, v.Get("g"), CodeLinkDLFail) {
		return
	}
	l, err := a.st.OpenLink(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		a.linkNotFound(w)
		return
	}
	if err != nil {
		a.failErr(w, r, err, CodeLinkDLFail)
		return
	}
	f := l.File()
	if l.Kind == store.LinkKindFolder {
		id, perr := strconv.ParseInt(v.Get("id"), 10, 64)
		if perr != nil || id <= 0 {
			a.fail(w, http.StatusBadRequest, CodeLinkDLFail, "id: the file's id in the shared folder is required")
			return
		}
		f, err = a.st.LinkFile(r.Context(), l, id)
		if errors.Is(err, store.ErrNotInLink) {
			a.linkNoEntry(w)
			return
		}
		if err != nil {
			a.failErr(w, r, err, CodeLinkDLFail)
			return
		}
	}
	if rg := r.Header.Get("Range"); r.Method == http.MethodGet && (rg == "" || strings.HasPrefix(rg, "bytes=0-")) {
		if _, err := a.st.CountLinkDownload(r.Context(), l.ID, clientAddr(r)); err != nil {
			a.log.Warn().Err(err).Int64("link", l.ID).Msg("link download not counted")
		}
	}
	a.stream(w, r, f, CodeLinkDLFail)
}
