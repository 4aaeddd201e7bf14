package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// web talks to a Stack through Nginx the way the course's clients do: JSON
// bodies in POSTs, {"code":"NNN"} answers.
type web struct {
	t   testing.TB
	s   *Stack
	url string
}

func newWeb(t testing.TB, s *Stack) *web { return &web{t: t, s: s, url: s.URL} }

// with is w reporting to t (a subtest).
func (w *web) with(t testing.TB) *web { return &web{t: t, s: w.s, url: w.url} }

// reply is a decoded answer: the HTTP status, the raw body and the JSON
// object (nil when the body is not an object).
type reply struct {
	status int
	header http.Header
	body   []byte
	obj    map[string]any
}

func (r reply) code() string {
	if r.obj == nil {
		return ""
	}
	c, _ := r.obj["code"].(string)
	return c
}

func (r reply) str(k string) string {
	if r.obj == nil {
		return ""
	}
	switch v := r.obj[k].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// files is the "files" array of a list answer.
func (r reply) files() []map[string]any {
	var out []map[string]any
	if r.obj == nil {
		return nil
	}
	arr, _ := r.obj["files"].([]any)
	for _, f := range arr {
		if m, ok := f.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (r reply) String() string {
	return fmt.Sprintf("HTTP %d %s", r.status, tail(string(r.body), 800))
}

func (w *web) do(method, path, ctype string, body io.Reader, hdr ...string) reply {
	w.t.Helper()
	req, err := http.NewRequest(method, w.url+path, body)
	require.NoError(w.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	require.NoError(w.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		r.obj = m
	}
	return r
}

// post sends v as the JSON body (a string or []byte is sent as is).
func (w *web) post(path string, v any) reply {
	w.t.Helper()
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		var err error
		b, err = json.Marshal(v)
		require.NoError(w.t, err)
	}
	return w.do("POST", path, "application/json", bytes.NewReader(b))
}

// okCodes are the success codes: they come with HTTP 200. Every other
// code is a refusal: with http_status_codes on it comes with a 4xx status
// (never a 5xx), by default with HTTP 200 like the course's server.
// 015 is also the empty page (HTTP 200); its failures are checked by hand.
var okCodes = map[string]bool{"000": true, "002": true, "005": true, "006": true, "007": true, "008": true,
	"010": true, "013": true, "015": true, "016": true, "018": true, "020": true, "023": true, "025": true, "110": true,
	// /files and /trash (docs/api.md §1.12, §1.13)
	"030": true, "032": true, "035": true, "037": true, "039": true, "041": true, "043": true, "045": true,
	"047": true, "049": true, "051": true, "053": true}

// expect posts and requires the code, with HTTP 200 for a success and,
// for a refusal, a 4xx status (http_status_codes on) or HTTP 200.
func (w *web) expect(code, path string, v any) reply {
	w.t.Helper()
	r := w.post(path, v)
	w.check(r, code, "POST %s %v", path, v)
	return r
}

func (w *web) check(r reply, code string, what string, args ...any) {
	w.t.Helper()
	msg := fmt.Sprintf(what, args...)
	require.Equal(w.t, code, r.code(), "%s: %s", msg, r)
	if okCodes[code] || !w.s.StatusCodes {
		require.Equal(w.t, http.StatusOK, r.status, "%s: %s", msg, r)
	} else {
		require.True(w.t, r.status >= 400 && r.status < 500, "%s: want a 4xx status: %s", msg, r)
	}
	require.Contains(w.t, r.header.Get("Content-Type"), "application/json", "%s: %s", msg, r)
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// account is a registered, logged-in user.
type account struct {
	name, pwd, token string
}

func (a account) body(kv ...any) map[string]any {
	m := map[string]any{"user": a.name, "token": a.token}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (w *web) register(name, plain string) account {
	w.t.Helper()
	a := account{name: name, pwd: md5hex([]byte(plain))}
	w.expect("002", "/reg", map[string]any{"userName": name, "nickName": "nick " + name, "firstPwd": a.pwd,
		"phone": "13800000000", "email": "a@example.com"})
	return a
}

func (w *web) login(a account) account {
	w.t.Helper()
	r := w.expect("000", "/login", map[string]any{"user": a.name, "pwd": a.pwd})
	a.token = r.str("token")
	require.Regexp(w.t, `^[0-9a-f]{32}$`, a.token)
	return a
}

// upload sends a standard multipart form (curl -F) and returns the answer.
func (w *web) upload(a account, name string, data []byte, extra ...string) reply {
	w.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := []string{"user", a.name, "token", a.token}
	fields = append(fields, extra...)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(w.t, mw.WriteField(fields[i], fields[i+1]))
	}
	fw, err := mw.CreateFormFile("file", name)
	require.NoError(w.t, err)
	fw.Write(data)
	require.NoError(w.t, mw.Close())
	return w.do("POST", "/upload", mw.FormDataContentType(), &buf)
}

// courseUpload sends the course's Qt-client body: boundary on line 1, the
// attributes in a Content-Disposition line, then the bytes (docs/api.md §1.5).
func (w *web) courseUpload(a account, name string, data []byte) reply {
	w.t.Helper()
	boundary := "------WebKitFormBoundary88asdgewtgewx"
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\r\n", boundary)
	// The Qt client sends no token (the course never checked one); ours
	// goes with the other attributes.
	fmt.Fprintf(&b, "Content-Disposition: form-data; user=\"%s\" filename=\"%s\" md5=\"%s\" size=%d token=\"%s\"\r\n", a.name, name, md5hex(data), len(data), a.token)
	fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\n\r\n")
	b.Write(data)
	fmt.Fprintf(&b, "\r\n%s", boundary)
	return w.do("POST", "/upload", "application/json", &b)
}

// myFiles lists a user's files (one page).
func (w *web) myFiles(a account, cmd string, start, count int) reply {
	w.t.Helper()
	return w.post("/myfiles?cmd="+cmd, a.body("start", start, "count", count))
}

// find returns the list entry named name, or nil.
func find(files []map[string]any, name string) map[string]any {
	for _, f := range files {
		if fileName(f) == name {
			return f
		}
	}
	return nil
}

// fileName reads the name of a list entry ([D] file_name or [S] filename).
func fileName(f map[string]any) string {
	for _, k := range []string{"file_name", "filename", "fileName"} {
		if s, ok := f[k].(string); ok {
			return s
		}
	}
	return ""
}

func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		var n int64
		fmt.Sscan(strings.TrimSpace(x), &n)
		return n
	}
	return -1
}
