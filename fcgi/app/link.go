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
// owner (token checked first), info|open|download for anyone holding the
// link. open checks the extraction code and hands out a grant, an HMAC
// bound to the link and expiring, that download takes.

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
	case "download":
		a.linkDownload(w, r)
	default:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, "unknown cmd (want create, list, revoke, info, open or download)")
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

// linkCreate: {token, kind:"file", id, code: ""|"auto"|"abcd",
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
	case kind != store.LinkKindFile:
		a.fail(w, http.StatusBadRequest, CodeLinkCreateFail, `kind: only "file" links can be made`)
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
	if err != nil {
		a.failErr(w, r, err, CodeLinkCreateFail)
		return
	}
	a.ok(w, CodeLinkCreated, map[string]any{"id": l.ID, "token": l.Token, "url": a.LinkURL(l.Token),
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

// linkInfo: {t} → 066 with what the landing page shows: the name, size,
// type, owner's nickname, expiry and whether a code is needed (never the
// md5 or the DFS file ID); 067 (404) otherwise.
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

// linkDownload: GET|HEAD ?t=<token>&g=<grant> streams the entry as
// /download does (attachment, nosniff, sandbox, one Range); 072 (403) for
// a missing, forged or expired grant, 067 (404) for a link that cannot be
// used. A GET from the first byte counts one download per client address
// per hour.
func (a *App) linkDownload(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeLinkDLFail, http.MethodGet, http.MethodHead) {
		return
	}
	v := r.URL.Query()
	tok := v.Get("t")
	ok, err := a.checkGrant(r.Context(), tok, v.Get("g"))
	if err != nil {
		a.failErr(w, r, err, CodeLinkDLFail)
		return
	}
	if !ok {
		a.fail(w, http.StatusForbidden, CodeLinkBadGrant, "the download grant is missing or has expired: open the link again")
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
	if rg := r.Header.Get("Range"); r.Method == http.MethodGet && (rg == "" || strings.HasPrefix(rg, "bytes=0-")) {
		if _, err := a.st.CountLinkDownload(r.Context(), l.ID, clientAddr(r)); err != nil {
			a.log.Warn().Err(err).Int64("link", l.ID).Msg("link download not counted")
		}
	}
	a.stream(w, r, l.File(), CodeLinkDLFail)
}
