package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// qtClient sends the course's Qt client's requests as it sends them
// (clouddisk-reference.md §1, §4, §6.1): JSON built by QJsonDocument
// (keys sorted, indented by four spaces), Qt's default headers, one
// QNetworkAccessManager per client, whose cookie jar keeps the session
// cookies the login answer sets. That jar is how its calls without a token
// in the body (/upload, /dealsharefile) are authenticated here.
type qtClient struct {
	t    testing.TB
	url  string
	http *http.Client
	user string
	pwd  string // md5 hex of the password, as the client sends it
	tok  string
}

func newQt(t testing.TB, s *Stack, user, plain string) *qtClient {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &qtClient{t: t, url: s.URL, user: user, pwd: md5hex([]byte(plain)),
		http: &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: httpClient.Transport}}
}

// qtJSON is QJsonDocument::toJson(): sorted keys, four-space indent.
func qtJSON(v map[string]any) []byte {
	b, _ := json.MarshalIndent(v, "", "    ")
	return append(b, '\n')
}

// send does one request with Qt's headers and returns the answer; every
// answer of the app to a course request must be HTTP 200.
func (q *qtClient) send(method, path, ctype string, body []byte) reply {
	q.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, q.url+path, rd)
	require.NoError(q.t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Connection", "Keep-Alive")
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	req.Header.Set("Accept-Language", "zh-CN,en,*")
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err := q.http.Do(req)
	require.NoError(q.t, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(q.t, err)
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		r.obj = m
	}
	require.Equal(q.t, http.StatusOK, r.status, "%s %s: the Qt client reads no body with another status: %s", method, path, r)
	return r
}

// call posts a JSON body (application/json, as the client sets it) and
// requires code.
func (q *qtClient) call(code, path string, body map[string]any) reply {
	q.t.Helper()
	r := q.send("POST", path, "application/json", qtJSON(body))
	require.Equal(q.t, code, r.code(), "POST %s %s: %s", path, qtJSON(body), r)
	return r
}

func (q *qtClient) reg(code, user string) reply {
	q.t.Helper()
	return q.call(code, "/reg", map[string]any{"email": "qt@example.com", "firstPwd": q.pwd, "nickName": "qt " + user,
		"phone": "13800000000", "userName": user})
}

func (q *qtClient) login(code, pwd string) reply {
	q.t.Helper()
	r := q.call(code, "/login", map[string]any{"pwd": pwd, "user": q.user})
	if code == "000" {
		q.tok = r.str("token")
		require.Regexp(q.t, `^[0-9a-f]{32}$`, q.tok)
	}
	return r
}

func (q *qtClient) withToken(kv ...any) map[string]any {
	m := map[string]any{"token": q.tok, "user": q.user}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func (q *qtClient) noToken(kv ...any) map[string]any {
	m := q.withToken(kv...)
	delete(m, "token")
	return m
}

// upload is myfilewg.cpp's uploadFile: the boundary line, the attributes
// separated by spaces (no token: the course never checked one), the bytes,
// CRLF and the boundary without a closing "--"; sent as application/json.
func (q *qtClient) upload(code, name, md5 string, data []byte) reply {
	q.t.Helper()
	const boundary = "------WebKitFormBoundary88asdgewtgewx"
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\r\n", boundary)
	fmt.Fprintf(&b, "Content-Disposition: form-data; user=\"%s\" filename=\"%s\" md5=\"%s\" size=%d\r\n", q.user, name, md5, len(data))
	fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\n\r\n")
	b.Write(data)
	fmt.Fprintf(&b, "\r\n%s", boundary)
	r := q.send("POST", "/upload", "application/json", b.Bytes())
	require.Equal(q.t, code, r.code(), "upload %s: %s", name, r)
	return r
}

// rawGet sends a GET with exactly the given header lines over a new
// connection and returns the body of a 200 answer.
func rawGet(t testing.TB, addr, path string, hdr ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\n" + strings.Join(hdr, "\r\n") + "\r\nConnection: close\r\n\r\n"
	_, err = c.Write([]byte(req))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return string(b)
}

// TestCourseClientReplay replays the course Qt client's requests for every
// success and error path of the course's API and requires HTTP 200 with the
// code the client branches on.
func TestCourseClientReplay(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	s := StartStack(t, Options{})
	logsOnFailure(t, s)
	sfx := fmt.Sprint(time.Now().UnixNano() % 1e6)
	alice := newQt(t, s, "qt_alice"+sfx, "alice-password")
	bob := newQt(t, s, "qt_bob"+sfx, "bob-password")

	// /reg: ok, exists, fail (a name the client's regex lets through and
	// ours does not).
	alice.reg("002", alice.user)
	bob.reg("002", bob.user)
	alice.reg("003", alice.user)
	alice.reg("004", "ab$c"+sfx)

	// /login: fail, ok.
	alice.login("001", md5hex([]byte("wrong")))
	alice.login("000", alice.pwd)
	bob.login("000", bob.pwd)

	data := make([]byte, 64<<10+3)
	rand.Read(data)
	sum := md5hex(data)
	const name = "课件 ch1.pdf"

	// /md5 then /upload: unknown content, upload ok; a wrong claim fails.
	alice.call("007", "/md5", alice.withToken("fileName", name, "md5", sum))
	alice.upload("009", name, md5hex([]byte("other")), data)
	alice.upload("008", name, sum, data)
	// Already there (005); the same content under a new name is linked
	// (006: it is the user's own content); a bad token (111).
	alice.call("005", "/md5", alice.withToken("fileName", name, "md5", sum))
	alice.call("006", "/md5", alice.withToken("fileName", "copy of "+name, "md5", sum))
	r := alice.send("POST", "/md5", "application/json", qtJSON(map[string]any{"fileName": name, "md5": sum, "token": "x", "user": alice.user}))
	require.Equal(t, "111", r.code(), "%s", r)
	// Another user naming the md5 must upload (007), then it is his.
	bob.call("007", "/md5", bob.withToken("fileName", "b.pdf", "md5", sum))
	bob.upload("008", "b.pdf", sum, data)

	// /myfiles: count, the three orders, the end of the list, a bad token.
	r = alice.call("110", "/myfiles?cmd=count", alice.withToken())
	require.Equal(t, "2", r.str("num"), "%s", r)
	for _, cmd := range []string{"normal", "pvasc", "pvdesc"} {
		r = alice.call("000", "/myfiles?cmd="+cmd, alice.withToken("count", 10, "start", 0))
		f := find(r.files(), name)
		require.NotNil(t, f, "%s: %s", cmd, r)
		// [D] reads file_name and create_time, [S] filename and time.
		require.Equal(t, name, f["file_name"])
		require.Equal(t, name, f["filename"])
		require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, f["create_time"])
		require.Equal(t, f["create_time"], f["time"])
		require.Equal(t, int64(len(data)), num(f["size"]))
		require.Equal(t, "pdf", f["type"])
		require.Regexp(t, `^http://`, f["url"])
	}
	alice.call("015", "/myfiles?cmd=normal", alice.withToken("count", 10, "start", 10))
	alice.call("111", "/myfiles?cmd=normal", map[string]any{"count": 10, "start": 0, "token": bob.tok, "user": alice.user})
	alice.call("111", "/myfiles?cmd=count", map[string]any{"token": "bad", "user": alice.user})

	// /dealfile: share ok, exists, fail; pv ok, fail; del ok, fail.
	alice.call("010", "/dealfile?cmd=share", alice.withToken("filename", name, "md5", sum))
	alice.call("012", "/dealfile?cmd=share", alice.withToken("filename", name, "md5", sum))
	bob.call("011", "/dealfile?cmd=share", bob.withToken("filename", name, "md5", sum))
	alice.call("016", "/dealfile?cmd=pv", alice.withToken("filename", name, "md5", sum))
	alice.call("017", "/dealfile?cmd=pv", alice.withToken("filename", "nope.pdf", "md5", sum))
	alice.call("013", "/dealfile?cmd=del", alice.withToken("filename", "copy of "+name, "md5", sum))
	alice.call("014", "/dealfile?cmd=del", alice.withToken("filename", "copy of "+name, "md5", sum))
	// A token in the body decides over the session cookie.
	alice.call("111", "/dealfile?cmd=del", map[string]any{"filename": name, "md5": sum, "token": "bad", "user": alice.user})

	// /sharefiles: count (GET, a bare number: QByteArray::toLong), the
	// list, the ranking (a JSON body the client labels
	// x-www-form-urlencoded), the end of the list.
	r = alice.send("GET", "/sharefiles?cmd=count", "", nil)
	require.Regexp(t, regexp.MustCompile(`^[0-9]+$`), string(r.body), "%s", r)
	require.Equal(t, "1", string(r.body))
	// The client builds that URL as "http:// %1:%2/sharefiles?cmd=count"
	// (sharelist.cpp, rankinglist.cpp); what reaches the server is the path
	// and a Host with the space in front, which HTTP's header parsing drops.
	require.Equal(t, "1", rawGet(t, s.Addr, "/sharefiles?cmd=count", "Host:  "+s.Addr))
	r = alice.call("000", "/sharefiles?cmd=normal", map[string]any{"count": 10, "start": 0})
	f := find(r.files(), name)
	require.NotNil(t, f, "%s", r)
	require.Equal(t, alice.user, f["user"])
	require.Equal(t, int64(1), num(f["share_status"]))
	require.Equal(t, f["create_time"], f["time"])
	r = alice.send("POST", "/sharefiles?cmd=pvdesc", "application/x-www-form-urlencoded", qtJSON(map[string]any{"count": 10, "start": 0}))
	require.Equal(t, "000", r.code(), "%s", r)
	require.Equal(t, name, r.files()[0]["filename"], "%s", r)
	alice.call("015", "/sharefiles?cmd=normal", map[string]any{"count": 10, "start": 10})
	r = alice.send("POST", "/sharefiles?cmd=pvdesc", "application/x-www-form-urlencoded", qtJSON(map[string]any{"count": 10, "start": 10}))
	require.Equal(t, "015", r.code(), "%s", r)

	// The download: a plain GET of the item's url, then pv (no token in
	// the body: the client never sent one to /dealsharefile).
	resp, err := bob.http.Get(f["url"].(string))
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, data, got)
	bob.call("016", "/dealsharefile?cmd=pv", bob.noToken("filename", name, "md5", sum))
	bob.call("017", "/dealsharefile?cmd=pv", bob.noToken("filename", "nope.pdf", "md5", sum))
	r = alice.send("POST", "/sharefiles?cmd=pvdesc", "application/x-www-form-urlencoded", qtJSON(map[string]any{"count": 10, "start": 0}))
	require.Equal(t, int64(1), num(r.files()[0]["pv"]), "%s", r)

	// /dealsharefile: save ok, exists, fail; cancel fail (not the sharer),
	// ok, and fail once it is gone.
	bob.call("020", "/dealsharefile?cmd=save", bob.noToken("filename", name, "md5", sum))
	bob.call("021", "/dealsharefile?cmd=save", bob.noToken("filename", name, "md5", sum))
	bob.call("022", "/dealsharefile?cmd=save", bob.noToken("filename", "never shared.pdf", "md5", sum))
	bob.call("019", "/dealsharefile?cmd=cancel", bob.noToken("filename", name, "md5", sum))
	alice.call("018", "/dealsharefile?cmd=cancel", alice.noToken("filename", name, "md5", sum))
	alice.call("019", "/dealsharefile?cmd=cancel", alice.noToken("filename", name, "md5", sum))
	r = alice.send("GET", "/sharefiles?cmd=count", "", nil)
	require.Equal(t, "0", string(r.body))
	alice.call("015", "/sharefiles?cmd=normal", map[string]any{"count": 10, "start": 0})

	// A client whose session is gone (no cookie, no token) is told to log in.
	stranger := newQt(t, s, alice.user, "alice-password")
	stranger.call("111", "/dealsharefile?cmd=save", stranger.noToken("filename", name, "md5", sum))
	stranger.upload("111", "x.txt", md5hex([]byte("x")), []byte("x"))
}
