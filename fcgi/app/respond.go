package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"yunpan/dfs/proto"
	"yunpan/store"
)

// The course's codes (docs/api.md §1.1) and ours (023+).
const (
	CodeLoginOK        = "000"
	CodeLoginFail      = "001"
	CodeRegOK          = "002"
	CodeRegExists      = "003"
	CodeRegFail        = "004"
	CodeMD5Exists      = "005"
	CodeMD5OK          = "006"
	CodeMD5Unknown     = "007"
	CodeUploadOK       = "008"
	CodeUploadFail     = "009"
	CodeShareOK        = "010"
	CodeShareFail      = "011"
	CodeShareExists    = "012"
	CodeDelOK          = "013"
	CodeDelFail        = "014"
	CodeListFail       = "015" // also an empty page
	CodePVOK           = "016"
	CodePVFail         = "017"
	CodeCancelOK       = "018"
	CodeCancelFail     = "019"
	CodeSaveOK         = "020"
	CodeSaveExists     = "021"
	CodeSaveFail       = "022"
	CodeLogoutOK       = "023"
	CodeLogoutFail     = "024"
	CodeDownloadOK     = "025"
	CodeDownloadFail   = "026"
	CodeThrottled      = "027" // too many failed logins: try again in retry_after seconds
	CodeImageFail      = "090" // /image: bad request, no such file, or a private file without its owner's token
	CodeNotImage       = "091" // /image: the file is no raster image this host shows
	CodeNoThumb        = "092" // /image: no thumbnail of that size (yet)
	CodeTokenOK        = "110"
	CodeTokenBad       = "111"
	CodeListOK         = "000" // a list page (the course sent no code)
	maxJSONBody        = 64 << 10
	defaultPage        = 10
	statusClientClosed = 499
)

// reply writes a JSON body with status.
func (a *App) reply(w http.ResponseWriter, status int, body any) {
	noteCode(w, body)
	b, err := json.Marshal(body)
	if err != nil {
		a.log.Error().Err(err).Msg("encode reply")
		status, b = http.StatusInternalServerError, []byte(`{"code":"500","msg":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// statusPolicy puts the course's HTTP status rule in front of endpoint h:
// unless http_status_codes is on, a refusal goes out as HTTP 200 with its
// code in the body, since the course's clients look at the body only when
// the transport status is 200 (a wrong password would show nothing, an
// expired token never lead to a new login, a failed upload wedge the upload
// queue). 500 and 503 stay: a bug or a service that is down is what the
// web server and its monitoring must see, like Nginx's own 413 and 502.
// /download, /image and /link?cmd=download keep their statuses: they are
// no course calls, and a browser must not save an error as the file or
// show it as an image.
func (a *App) statusPolicy(name string, h http.HandlerFunc) http.HandlerFunc {
	if a.cfg.HTTPStatusCodes || name == "download" || name == "image" || name == "dav" {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if name == "link" && r.URL.Query().Get("cmd") == "download" {
			h(w, r) // a download like /download's
			return
		}
		h(courseWriter{w}, r)
	}
}

// courseWriter sends HTTP 200 for every status but 500 and 503.
type courseWriter struct{ http.ResponseWriter }

func (w courseWriter) WriteHeader(code int) {
	if code >= 400 && code != http.StatusInternalServerError && code != http.StatusServiceUnavailable {
		code = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w courseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (a *App) ok(w http.ResponseWriter, code string, extra map[string]any) {
	body := map[string]any{"code": code}
	for k, v := range extra {
		body[k] = v
	}
	a.reply(w, http.StatusOK, body)
}

func (a *App) fail(w http.ResponseWriter, status int, code, msg string) {
	a.reply(w, status, map[string]any{"code": code, "msg": msg})
}

// Messages of answers that are no refusal of the request itself: they
// never carry an error's text (paths, addresses, SQL).
const (
	msgInternal    = "internal error"
	msgUnavailable = "a storage service is unavailable, try again later"
	msgStorageFull = "storage full: the file was not stored; try again later"
	msgQuota       = "quota exceeded: the file does not fit in your storage quota; delete files or empty the trash"
)

// failErr answers err with the endpoint's failure code (or the code the
// error stands for) and a message that says what happened without
// internals; 5xx errors are logged with their full text.
func (a *App) failErr(w http.ResponseWriter, r *http.Request, err error, code string) {
	status := http.StatusInternalServerError
	msg := msgInternal
	var extra map[string]any
	var thr *store.ThrottledError
	switch {
	case errors.As(err, &thr):
		secs := thr.RetrySeconds()
		status, code, msg = http.StatusTooManyRequests, CodeThrottled, fmt.Sprintf("too many failed attempts, try again in %d s", secs)
		extra = map[string]any{"retry_after": secs, "token": "fail"}
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	case errors.Is(err, store.ErrBadToken):
		status, code, msg = http.StatusUnauthorized, CodeTokenBad, "invalid or missing token; log in again"
	case errors.Is(err, store.ErrBadCredentials):
		status, msg = http.StatusUnauthorized, "wrong user name or password"
	case errors.Is(err, store.ErrQuota):
		status, msg = http.StatusInsufficientStorage, msgQuota
	case storageFull(err):
		status, msg = http.StatusInsufficientStorage, msgStorageFull
	case errors.Is(err, store.ErrInvalid):
		status, msg = http.StatusBadRequest, publicText(err)
	case errors.Is(err, store.ErrForbidden):
		status, msg = http.StatusForbidden, "the file belongs to another user"
	case errors.Is(err, store.ErrNoFolder):
		status, msg = http.StatusNotFound, "no such folder"
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoContent):
		status, msg = http.StatusNotFound, "no such file"
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrAlreadyShared):
		status, msg = http.StatusConflict, "already exists"
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, errDFS):
		status, msg = http.StatusServiceUnavailable, msgUnavailable
	case errors.Is(err, errTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, publicText(err)
	case errors.Is(err, errBadRequest):
		status, msg = http.StatusBadRequest, publicText(err)
	case r.Context().Err() != nil:
		status, msg = statusClientClosed, "request cancelled"
	}
	switch {
	case errors.Is(err, store.ErrQuota):
		a.log.Debug().Err(err).Str("uri", clip(r.URL.RequestURI(), 200)).Msg("quota exceeded: request refused")
	case status == http.StatusInsufficientStorage:
		a.log.Error().Err(err).Str("uri", clip(r.URL.RequestURI(), 200)).Msg("storage full: request refused")
	case status >= 500:
		a.log.Error().Err(err).Str("uri", clip(r.URL.RequestURI(), 200)).Msg("request failed")
	default:
		a.log.Debug().Err(err).Str("uri", clip(r.URL.RequestURI(), 200)).Msg("request refused")
	}
	body := map[string]any{"code": code, "msg": msg}
	for k, v := range extra {
		body[k] = v
	}
	a.reply(w, status, body)
}

// storageFull reports a full disk: the upload spool's (ENOSPC, EDQUOT) or
// the DFS's (a storage or tracker answering ENOSPC, or fdfs_upload_file
// exiting with it).
func storageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	return errors.Is(err, errDFS) && proto.StatusOf(err) == proto.StatusENOSPC
}

// pathRE finds absolute file paths (two or more segments) in a message.
var pathRE = regexp.MustCompile(`/(?:[^\s/'"():,]+/)+[^\s/'"():,]*`)

// publicText is an error's text for a client: a refusal's own words, with
// any server path that a wrapped error brought along cut out.
func publicText(err error) string {
	return clip(pathRE.ReplaceAllString(err.Error(), "[path]"), 300)
}

var (
	errBadRequest = errors.New("bad request")
	errTooLarge   = errors.New("request body too large")
	errDFS        = errors.New("dfs unavailable")
	errSpool      = errors.New("upload spool")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// flexInt accepts 10 or "10".
type flexInt struct {
	set bool
	n   int
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "null" || s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	f.set, f.n = true, n
	return nil
}

// req is the union of the JSON bodies the course sends. Both spellings of
// the file name are accepted ("filename", "fileName", and [D]'s
// "file_name").
type req struct {
	User      string  `json:"user"`
	Token     string  `json:"token"`
	MD5       string  `json:"md5"`
	Filename  string  `json:"filename"`
	FileNameC string  `json:"fileName"`
	FileNameD string  `json:"file_name"`
	Start     flexInt `json:"start"`
	Count     flexInt `json:"count"`

	// /md5's proof of possession (md5.go)
	Size  flexInt `json:"size"`
	Nonce string  `json:"nonce"`
	Proof string  `json:"proof"`

	// /reg
	UserName string `json:"userName"`
	NickName string `json:"nickName"`
	FirstPwd string `json:"firstPwd"`
	Phone    string `json:"phone"`
	Email    string `json:"email"`
	// /login
	Pwd string `json:"pwd"`

	// /link (link.go)
	T             string  `json:"t"` // a link's token
	Kind          string  `json:"kind"`
	ID            flexInt `json:"id"`
	Code          string  `json:"code"` // an extraction code, "auto" on create
	ExpiresInDays flexInt `json:"expires_in_days"`
	G             string  `json:"g"`         // browse: the grant of open
	FolderID      flexInt `json:"folder_id"` // browse: a folder in the shared one (0: itself)
}

func (q *req) name() string {
	for _, s := range []string{q.Filename, q.FileNameC, q.FileNameD} {
		if s != "" {
			return s
		}
	}
	return ""
}

// page returns start and count with the course's defaults.
func (q *req) page() (int, int) {
	c := defaultPage
	if q.Count.set {
		c = q.Count.n
	}
	return q.Start.n, c
}

// readJSON decodes a bounded JSON object body. An empty body is allowed
// only when optional.
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if r.ContentLength > maxJSONBody {
		return fmt.Errorf("%w: JSON bodies are limited to %d bytes", errTooLarge, maxJSONBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: JSON bodies are limited to %d bytes", errTooLarge, maxJSONBody)
		}
		return badRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return badRequest("no data")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return badRequest("bad JSON: %v", err)
	}
	if dec.More() {
		return badRequest("bad JSON: trailing data")
	}
	return nil
}

// tokenFrom picks the token: the JSON body, else "Authorization: Bearer",
// else the "token" cookie.
func tokenFrom(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if c, err := r.Cookie("token"); err == nil {
		return c.Value
	}
	return ""
}

// userFrom picks the user name: the body, else the "user" cookie (the
// token decides in the end: it must belong to that user).
func userFrom(r *http.Request, body string) string {
	if body != "" {
		return body
	}
	if c, err := r.Cookie("user"); err == nil {
		return c.Value
	}
	return ""
}

// auth checks the request's token and returns the user it belongs to.
func (a *App) auth(r *http.Request, user, token string) (string, error) {
	tok := tokenFrom(r, token)
	if tok == "" {
		return "", fmt.Errorf("no token: %w", store.ErrBadToken)
	}
	return a.st.CheckToken(r.Context(), userFrom(r, user), tok)
}

// method refuses methods other than the allowed ones (405).
func (a *App) method(w http.ResponseWriter, r *http.Request, code string, allowed ...string) bool {
	for _, m := range allowed {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	a.fail(w, http.StatusMethodNotAllowed, code, "method not allowed")
	return false
}

// fileRef validates and normalises (md5, name) from a request.
func fileRef(q *req) (string, string, error) {
	m := strings.ToLower(strings.TrimSpace(q.MD5))
	name := canonicalName(q.name())
	if !store.ValidMD5(m) {
		return "", "", badRequest("md5 must be 32 hex digits")
	}
	if !store.ValidFileName(name) {
		return "", "", badRequest("invalid file name")
	}
	return m, name, nil
}

// newFileRef is fileRef for calls that create or publish an entry (instant
// upload, share, save): control, bidi-override and zero-width characters
// are refused in the name (store.CheckNewFileName).
func newFileRef(q *req) (string, string, error) {
	m, name, err := fileRef(q)
	if err == nil {
		err = store.CheckNewFileName(name)
	}
	return m, name, err
}

// clientAddr is the client's address as Nginx passes it (REMOTE_ADDR, its
// $remote_addr). X-Real-IP is not used: our Nginx does not set it, so the
// header would be whatever the client sent; behind another proxy, Nginx's
// realip module makes $remote_addr the client's.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// canonicalName drops trailing spaces from a file name. MariaDB compares
// the names PAD SPACE (utf8mb4_bin), so "a.txt " is the row "a.txt": kept
// as sent, the name of a share could differ from its entry's, and the
// ranking cache (Redis, keyed by md5 + name as sent) missed the pv counted
// under the other spelling.
func canonicalName(s string) string { return strings.TrimRight(s, " ") }
