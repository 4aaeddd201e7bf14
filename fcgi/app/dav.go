package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"yunpan/internal/inline"
	"yunpan/store"
)

// Codes of /apppass (ours).
const (
	CodeAppPassOK   = "100"
	CodeAppPassFail = "101"
)

// davPrefix is where the WebDAV tree is served.
const davPrefix = "/dav"

// handleDAVProgram is the dav program: /apppass, and the tree under /dav/.
func (a *App) handleDAVProgram(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/apppass" {
		a.handleAppPass(courseWriterFor(a, w), r)
		return
	}
	a.handleDAV(w, r)
}

// handleDAV serves a user's folders and files over WebDAV under /dav/.
// Clients sign in with HTTP Basic: the user name and one of the user's app
// passwords (/apppass), never the login password. Every answer keeps its
// WebDAV status (no course rule here).
func (a *App) handleDAV(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		davUnauthorized(w)
		return
	}
	switch err := a.st.CheckAppPassword(r.Context(), user, pass); {
	case errors.Is(err, store.ErrBadCredentials):
		davUnauthorized(w)
		return
	case err != nil:
		a.log.Warn().Err(err).Msg("dav: app password check failed")
		http.Error(w, "a storage service is unavailable, try again later", http.StatusServiceUnavailable)
		return
	}
	if err := davNewName(r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tree := a.davTree()
	ctx := r.Context()
	switch r.Method {
	case http.MethodPut:
		if r.ContentLength > a.cfg.DavMaxFileBytes {
			http.Error(w, "file too large", http.StatusRequestEntityTooLarge)
			return
		}
		if r.ContentLength > 0 {
			left, err := tree.spaceLeft(ctx, user)
			if err != nil {
				a.log.Warn().Err(err).Msg("dav: quota check failed")
				http.Error(w, "a storage service is unavailable, try again later", http.StatusServiceUnavailable)
				return
			}
			if left >= 0 && r.ContentLength > left {
				http.Error(w, "quota exceeded: the file was not stored", http.StatusInsufficientStorage)
				return
			}
		}
		body := &putBody{ReadCloser: r.Body, length: r.ContentLength}
		r = r.WithContext(context.WithValue(ctx, putBodyKey{}, body))
		r.Body = body
	case http.MethodGet, http.MethodHead, http.MethodPost:
		ct, _ := inline.Type(fileExt(path.Base(r.URL.Path)))
		w.Header().Set("Content-Type", ct) // so that ServeContent does not sniff the bytes
		w = &davSafeWriter{ResponseWriter: w, ct: ct}
	}
	h := &webdav.Handler{
		Prefix:     davPrefix,
		FileSystem: &davFS{a: a, t: tree, user: user},
		LockSystem: a.davLocks.of(user),
		Logger: func(r *http.Request, err error) {
			if err != nil {
				a.log.Debug().Err(err).Str("method", r.Method).Str("user", user).Msg("dav")
			}
		},
	}
	h.ServeHTTP(w, r)
}

// davNewName refuses, before anything is read, a request that would create
// a name the app refuses (§1.0 Names): webdav would answer it with a
// misleading 404.
func davNewName(r *http.Request) error {
	var p string
	switch r.Method {
	case http.MethodPut, "MKCOL":
		p = r.URL.Path
	case "MOVE", "COPY":
		u, err := url.Parse(r.Header.Get("Destination"))
		if err != nil {
			return fmt.Errorf("bad Destination header")
		}
		p = u.Path
	default:
		return nil
	}
	name := path.Base(strings.TrimSuffix(p, "/"))
	if name == "/" || name == "." || strings.TrimPrefix(p, davPrefix) == p {
		return nil // the root or outside the tree: webdav answers
	}
	if err := store.CheckNewFileName(name); err != nil || !store.ValidFileName(name) {
		return fmt.Errorf("bad name %q: names are 1 to 255 bytes of UTF-8, without / \\ or control, bidi or zero-width characters", name)
	}
	return nil
}

func davUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="yunpan WebDAV (use an app password)", charset="UTF-8"`)
	http.Error(w, "sign in with your user name and an app password", http.StatusUnauthorized)
}

// davSafeWriter makes a downloaded file inert: whatever its name says,
// it is sent as an attachment of a type that cannot run script, never
// sniffed, sandboxed (the DAV tree shares the app's origin).
type davSafeWriter struct {
	http.ResponseWriter
	ct    string // from the name's extension (internal/inline)
	wrote bool
}

func (w *davSafeWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		if status < 300 || status == http.StatusRequestedRangeNotSatisfiable {
			h.Set("Content-Type", w.ct)
			h.Set("Content-Disposition", "attachment")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		h.Set("Cache-Control", "private, no-cache")
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *davSafeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *davSafeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// davLockSystems keeps one lock table per user, so that no user can see,
// refresh or remove another's locks (memory lock tokens are guessable).
type davLockSystems struct {
	mu sync.Mutex
	m  map[string]*davLocks
}

func (l *davLockSystems) of(user string) webdav.LockSystem {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*davLocks{}
	}
	ls, ok := l.m[user]
	if !ok {
		ls = &davLocks{LockSystem: webdav.NewMemLS(), expiry: map[string]time.Time{}}
		l.m[user] = ls
	}
	return ls
}

// WebDAV lock bounds: a lock lasts at most davLockMax (a client asking
// for longer, or for ever, gets that and refreshes it), and a user holds at
// most davLockCount at once, so that the program's memory stays bounded.
const (
	davLockMax   = time.Hour
	davLockCount = 1000
)

// davLocks is one user's lock table with those bounds.
type davLocks struct {
	webdav.LockSystem
	mu     sync.Mutex
	expiry map[string]time.Time // token → when it lapses
}

func capLock(d time.Duration) time.Duration {
	if d <= 0 || d > davLockMax {
		return davLockMax
	}
	return d
}

func (l *davLocks) Create(now time.Time, details webdav.LockDetails) (string, error) {
	details.Duration = capLock(details.Duration)
	l.mu.Lock()
	defer l.mu.Unlock()
	for tok, t := range l.expiry {
		if now.After(t) {
			delete(l.expiry, tok)
		}
	}
	if len(l.expiry) >= davLockCount {
		return "", webdav.ErrLocked
	}
	tok, err := l.LockSystem.Create(now, details)
	if err == nil {
		l.expiry[tok] = now.Add(details.Duration)
	}
	return tok, err
}

func (l *davLocks) Refresh(now time.Time, token string, d time.Duration) (webdav.LockDetails, error) {
	d = capLock(d)
	ld, err := l.LockSystem.Refresh(now, token, d)
	if err == nil {
		l.mu.Lock()
		l.expiry[token] = now.Add(d)
		l.mu.Unlock()
	}
	return ld, err
}

func (l *davLocks) Unlock(now time.Time, token string) error {
	err := l.LockSystem.Unlock(now, token)
	l.mu.Lock()
	delete(l.expiry, token)
	l.mu.Unlock()
	return err
}

// handleAppPass is /apppass?cmd=create|list|revoke: the app passwords of
// the caller (token required, checked first).
//
//   - create {label} → {"code":"100","id":N,"password":"abcd-…"}: the only
//     time the password is shown.
//   - list → {"code":"100","passwords":[{"id","label","created","last_used"}]}
//   - revoke {id} → {"code":"100"}; 101 (404) when there is no such one.
func (a *App) handleAppPass(w http.ResponseWriter, r *http.Request) {
	if !a.method(w, r, CodeAppPassFail, http.MethodPost) {
		return
	}
	var q struct {
		req
		Label string  `json:"label"`
		ID    flexInt `json:"id"`
	}
	if err := readJSON(w, r, &q, true); err != nil {
		a.failErr(w, r, err, CodeAppPassFail)
		return
	}
	user, err := a.auth(r, q.User, q.Token)
	if err != nil {
		a.failErr(w, r, err, CodeAppPassFail)
		return
	}
	ctx := r.Context()
	switch r.URL.Query().Get("cmd") {
	case "create":
		id, secret, err := a.st.CreateAppPassword(ctx, user, q.Label)
		if err != nil {
			a.failErr(w, r, err, CodeAppPassFail)
			return
		}
		a.ok(w, CodeAppPassOK, map[string]any{"id": id, "password": secret, "user": user})
	case "list":
		ps, err := a.st.AppPasswords(ctx, user)
		if err != nil {
			a.failErr(w, r, err, CodeAppPassFail)
			return
		}
		out := make([]map[string]any, len(ps))
		for i, p := range ps {
			out[i] = map[string]any{"id": p.ID, "label": p.Label, "created": p.Created, "last_used": p.LastUsed}
		}
		a.ok(w, CodeAppPassOK, map[string]any{"passwords": out})
	case "revoke":
		if err := a.st.RevokeAppPassword(ctx, user, int64(q.ID.n)); err != nil {
			a.failErr(w, r, err, CodeAppPassFail)
			return
		}
		a.ok(w, CodeAppPassOK, nil)
	default:
		a.fail(w, http.StatusBadRequest, CodeAppPassFail, "unknown cmd (want create, list or revoke)")
	}
}

// timeLayout is the course's time format in lists.
const timeLayout = "2006-01-02 15:04:05"

// courseWriterFor applies the course's status rule (statusPolicy) to the
// JSON answers of a program whose other answers keep their statuses.
func courseWriterFor(a *App, w http.ResponseWriter) http.ResponseWriter {
	if a.cfg.HTTPStatusCodes {
		return w
	}
	return courseWriter{w}
}
