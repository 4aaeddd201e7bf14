package e2e

// Attacks on the web side through the real stack: stored script in user
// files (in Chromium), private download URLs, and request bodies strangers
// make the server read or store.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/nginx"
)

// xssScript marks the browser when it runs: a cookie (cookies are per host,
// not per port, so the app sees one set from any port of its host) and, if
// it may, the viewer's file list read with their session.
const xssScript = `
document.cookie = "xss_ran=" + encodeURIComponent(location.href) + "; path=/";
fetch("/myfiles?cmd=normal", {method: "POST", credentials: "include", body: '{"start":0,"count":10}'})
  .then(function (r) { return r.text(); })
  .then(function (t) { document.cookie = "xss_read=" + encodeURIComponent(t.slice(0, 60)) + "; path=/"; });
`

var xssFiles = map[string][]byte{
	"evil.html": []byte("<!doctype html><html><body><h1>hello</h1><script>" + xssScript + "</script></body></html>\n"),
	"evil.svg": []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20"/>` +
		"<script><![CDATA[" + xssScript + "]]></script></svg>\n"),
}

// startStorageNginx serves the shared DFS's store path the way the storage
// node's own Nginx does (nginx/dfs-storage.conf.tmpl, as fdfs_nginxconf
// renders it): the storage origin of storage_web_server.
func startStorageNginx(t *testing.T, s *Stack) string {
	t.Helper()
	dir := t.TempDir()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, "127.0.0.1")))
	confPath := filepath.Join(dir, "nginx.conf")
	require.NoError(t, nginx.WriteDFS(nginx.DFSParams{Prefix: dir, Listen: addr, Group: "group1",
		Stores: []nginx.DFSStore{{Index: 0, Path: s.Infra.dfs.StoreDir}}}, confPath))
	p := startProc(t, "storage nginx", nil, lookSys("nginx"), nginx.DFSArgs(dir, confPath)...)
	t.Cleanup(func() { p.stop(syscall.SIGTERM, 10*time.Second) })
	require.NoError(t, waitPort(addr, 15*time.Second, p))
	return "http://" + addr
}

// xssCookies are the marks of xssScript the browser holds for host.
func xssCookies(t *testing.T, ctx context.Context, urls ...string) []string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: urls})
	require.NoError(t, err)
	var out []string
	for _, c := range res.Cookies {
		if strings.HasPrefix(c.Name, "xss_") {
			out = append(out, c.Name+"="+c.Value)
		}
	}
	return out
}

// open navigates the tab to u. A navigation that turns into a (denied)
// download ends with an error, which is what an attachment should do.
func open(ctx context.Context, u string) error {
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return chromedp.Do(sctx, chromedp.Navigate(u))
}

// TestSecurityStoredXSS: an HTML and an SVG file with script, uploaded and
// shared by one user, opened by another, logged-in user in Chromium through
// every URL the app hands out, run no script anywhere on the app's host.
func TestSecurityStoredXSS(t *testing.T) {
	s := StartStack(t, Options{})
	storage := startStorageNginx(t, s)
	w := newWeb(t, s)
	logsOnFailure(t, s)
	alice := w.login(w.register("xss_alice", "alice-pass-1"))
	const bobPwd = "bob-pass-1"
	bob := w.login(w.register("xss_bob", bobPwd))

	// The detector works: the same file served plainly from this host runs
	// and leaves its mark.
	plain := httpServer(t, xssFiles["evil.html"])
	ctx := newBrowser(t)
	require.NoError(t, open(ctx, plain))
	// Both marks: the second comes after a fetch, and one still on its way
	// would land after the cookies are cleared below.
	step(t, ctx, "the plain page runs", 20*time.Second,
		until(`document.cookie.includes('xss_ran=') && document.cookie.includes('xss_read=')`))
	require.NotEmpty(t, xssCookies(t, ctx, s.URL))
	_, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{})
	require.NoError(t, err)
	require.Empty(t, xssCookies(t, ctx, s.URL))

	// The victim logs in with the web client, which works under the app's
	// CSP: no page breaks a rule of it (recorded from before any script).
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation',
			function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });`,
	})
	require.NoError(t, err)
	logIn(t, ctx, s.URL, bob.name, bobPwd)
	step(t, ctx, "empty list", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#myfiles-empty")))
	require.Empty(t, eval[[]string](t, ctx, `window.__csp`), "CSP violations on the app's page")

	// The attacker uploads and shares; every URL the app hands out for them.
	var urls []string
	for name, data := range xssFiles {
		require.Equal(t, "008", w.upload(alice, name, data).code(), name)
		require.Equal(t, "010", w.post("/dealfile?cmd=share", alice.body("md5", md5hex(data), "filename", name)).code(), name)
		sum := md5hex(data)
		own := find(w.myFiles(alice, "normal", 0, 10).files(), name)
		require.NotNil(t, own, name)
		shared := find(w.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10}).files(), name)
		require.NotNil(t, shared, name)
		dl := w.post("/download", bob.body("md5", sum, "filename", name))
		require.Equal(t, "025", dl.code(), "%s", dl)
		for _, u := range []string{own["url"].(string), shared["url"].(string), dl.str("url")} {
			require.True(t, strings.HasPrefix(u, s.URL+"/group1/"), u)
			pu, err := neturl.Parse(u)
			require.NoError(t, err)
			urls = append(urls, u,
				u+"&attachment="+neturl.QueryEscape(name), // as the web client follows it
				storage+pu.Path) // the storage node's own Nginx
		}
		q := "/download?md5=" + sum + "&filename=" + neturl.QueryEscape(name)
		urls = append(urls, s.URL+q, s.URL+q+"&redirect=1")
	}
	for _, u := range urls {
		err := open(ctx, u)
		t.Logf("opened %s (%v)", u, err)
		require.Empty(t, xssCookies(t, ctx, s.URL, storage), "script ran from %s", u)
	}
	// Back on the app: the session is intact and nothing marked it.
	step(t, ctx, "app again", 30*time.Second,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#view-main")),
		until(`document.getElementById('whoami').textContent === `+jsString(bob.name)),
	)
	require.Empty(t, xssCookies(t, ctx, s.URL, storage))
	require.Empty(t, eval[[]string](t, ctx, `window.__csp`), "CSP violations on the app's page")
	require.False(t, eval[bool](t, ctx, `/xss_(ran|read)=/.test(document.cookie)`))

	// The headers that make it so, on the app's file URLs and its pages.
	for name, data := range xssFiles {
		u := find(w.myFiles(alice, "normal", 0, 10).files(), name)["url"].(string)
		resp, err := httpClient.Get(u)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, name)
		require.Equal(t, data, body, name)
		require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"), name)
		require.Equal(t, "attachment", resp.Header.Get("Content-Disposition"), name)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), name)
		require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"), name)
	}
	resp, err := httpClient.Get(s.URL + "/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, nginx.AppCSP, resp.Header.Get("Content-Security-Policy"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
}

// httpServer serves page as text/html on 127.0.0.1 (another port of the
// app's host).
func httpServer(t *testing.T, page []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(page)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/page.html"
}

// signURL signs path the way the Nginx in front of the files checks it.
func signURL(path string, exp int64, secret string) string {
	e := strconv.FormatInt(exp, 10)
	h := md5.Sum([]byte(e + path + " " + secret))
	return path + "?e=" + e + "&st=" + base64.RawURLEncoding.EncodeToString(h[:])
}

func getStatus(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestSecurityPrivateURLs: a private file's URL works only as handed out
// (signed, until it expires); a shared file's URL stops working once the
// share is cancelled, within the URL lifetime.
func TestSecurityPrivateURLs(t *testing.T) {
	t.Parallel()  // long and mostly waiting (on processes, timeouts): run beside the other such tests
	const ttl = 8 // seconds a handed-out URL works
	s := StartStack(t, Options{URLTTL: ttl})
	w := newWeb(t, s)
	alice := w.login(w.register("priv_alice", "alice-pass-1"))

	secret := []byte("only alice may read this " + s.DBName)
	require.Equal(t, "008", w.upload(alice, "private.txt", secret).code())
	u := find(w.myFiles(alice, "normal", 0, 10).files(), "private.txt")["url"].(string)
	pu, err := neturl.Parse(u)
	require.NoError(t, err)
	base := s.URL + pu.Path
	// The attack: the file's address alone, no login, no signature.
	code, body := getStatus(t, base)
	require.Equal(t, 403, code, "%s: %s", base, body)
	require.NotContains(t, string(body), string(secret))
	exp, err := strconv.ParseInt(pu.Query().Get("e"), 10, 64)
	require.NoError(t, err, u)
	require.LessOrEqual(t, exp, time.Now().Unix()+ttl, "a URL works at most token_ttl")

	// As handed out: the bytes.
	code, body = getStatus(t, u)
	require.Equal(t, 200, code)
	require.Equal(t, secret, body)
	// Anything else: 403 from Nginx, and never the bytes.
	st := pu.Query().Get("st")
	// Another first character (the last one of the base64 also holds
	// padding bits, which decoding ignores).
	tampered := "A" + st[1:]
	if tampered == st {
		tampered = "B" + st[1:]
	}
	for what, bad := range map[string]string{
		"unsigned":          base,
		"no signature":      base + "?e=" + pu.Query().Get("e"),
		"tampered":          base + "?e=" + pu.Query().Get("e") + "&st=" + tampered,
		"longer life":       base + "?e=" + strconv.FormatInt(exp+3600, 10) + "&st=" + st,
		"expired, signed":   s.URL + signURL(pu.Path, time.Now().Unix()-1, s.URLSecret),
		"another secret":    s.URL + signURL(pu.Path, exp, s.URLSecret+"x"),
		"signature as path": s.URL + pu.Path + "/x?e=" + pu.Query().Get("e") + "&st=" + st,
	} {
		code, body := getStatus(t, bad)
		require.Contains(t, []int{403, 404}, code, "%s: %s", what, bad)
		if what != "signature as path" {
			require.Equal(t, 403, code, "%s: %s", what, bad)
		}
		require.NotContains(t, string(body), string(secret), what)
	}
	// A correctly signed URL with a future expiry works (the check is the signature).
	code, _ = getStatus(t, s.URL+signURL(pu.Path, time.Now().Unix()+60, s.URLSecret))
	require.Equal(t, 200, code)
	// The handed-out URL itself expires.
	waitStatus(t, u, 403, time.Duration(ttl)*time.Second+60*time.Second)

	// Shared, then cancelled: the public URL stops working.
	pub := []byte("shared for a while " + s.DBName)
	require.Equal(t, "008", w.upload(alice, "public.txt", pub).code())
	require.Equal(t, "010", w.post("/dealfile?cmd=share", alice.body("md5", md5hex(pub), "filename", "public.txt")).code())
	shared := find(w.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10}).files(), "public.txt")
	require.NotNil(t, shared)
	su := shared["url"].(string)
	code, body = getStatus(t, su)
	require.Equal(t, 200, code)
	require.Equal(t, pub, body)
	require.Equal(t, "018", w.post("/dealsharefile?cmd=cancel", alice.body("md5", md5hex(pub), "filename", "public.txt")).code())
	require.Nil(t, find(w.post("/sharefiles?cmd=normal", map[string]any{"start": 0, "count": 10}).files(), "public.txt"))
	// The app no longer hands it out to strangers…
	r := w.do("GET", "/download?md5="+md5hex(pub)+"&filename=public.txt", "", nil)
	require.NotEqual(t, pub, r.body, "%s", r)
	require.NotEmpty(t, r.code(), "a JSON refusal: %s", r)
	// …and the URL handed out before dies within its lifetime.
	waitStatus(t, su, 403, time.Duration(ttl)*time.Second+60*time.Second)
}

// waitStatus polls u until it answers status, for at most d.
func waitStatus(t *testing.T, u string, status int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, _ := getStatus(t, u)
		if code == status {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s still answers %d, want %d", u, code, status)
		time.Sleep(200 * time.Millisecond)
	}
}

// spoolFiles lists the regular files under dirs.
func spoolFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

// TestSecurityBodyLimits: small bodies for JSON endpoints, exactly
// max_upload_bytes for a file, and nothing read or stored for a stranger's
// upload.
func TestSecurityBodyLimits(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	for _, mode := range []string{"exec", "inprocess"} {
		t.Run(mode, func(t *testing.T) { testBodyLimits(t, mode) })
	}
}

func testBodyLimits(t *testing.T, mode string) {
	const max = 1 << 20
	s := StartStack(t, Options{MaxBody: "1m", UploadMode: mode})
	w := newWeb(t, s)
	logsOnFailure(t, s)
	alice := w.login(w.register("limit_alice", "alice-pass-1"))

	// JSON endpoints: a 1 MB body is refused by Nginx.
	for _, ep := range []string{"/login", "/myfiles?cmd=count", "/dealfile?cmd=del", "/download"} {
		r := w.do("POST", ep, "application/json", bytes.NewReader(bytes.Repeat([]byte(" "), 1<<20)))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s: %s", ep, r)
		require.Equal(t, "413", r.code(), "%s: %s", ep, r)
	}
	// A file of exactly max_upload_bytes uploads; one byte more does not.
	exact := bytes.Repeat([]byte("e"), max)
	r := w.upload(alice, "exact.bin", exact)
	require.Equal(t, "008", r.code(), "%s", r)
	over := bytes.Repeat([]byte("o"), max+1)
	r = w.upload(alice, "over.bin", over)
	require.NotEqual(t, "008", r.code(), "%s", r)
	require.True(t, r.status == http.StatusRequestEntityTooLarge || r.code() == "009", "%s", r)
	require.Nil(t, find(w.myFiles(alice, "normal", 0, 10).files(), "over.bin"))
	// Beyond the file limit plus the envelope, Nginx answers alone.
	r = w.do("POST", "/upload", "multipart/form-data; boundary=x", bytes.NewReader(make([]byte, max+config.UploadOverhead+1)))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status, "%s", r)

	// A stranger's upload is answered from the fields before the file: the
	// client has sent only the start of a body Nginx was told is ~1 MiB, and
	// no byte of it lands on disk.
	bad := strings.Repeat("0", 32)
	for what, fields := range map[string][][2]string{
		"bad token":        {{"user", alice.name}, {"token", bad}, {"size", strconv.Itoa(max - 1000)}},
		"token after file": {{"user", alice.name}},
	} {
		status, body := strangerUpload(t, s, fields, max-1000)
		require.Contains(t, body, `"code":"111"`, "%s: HTTP %d %s", what, status, body)
		require.Empty(t, spoolFiles(t, s.TempDir, filepath.Join(s.NginxDir, "tmp")), what)
	}
	// A bad token in the cookie is refused before the body, too.
	r = w.do("POST", "/upload", "multipart/form-data; boundary=x", bytes.NewReader(make([]byte, 1000)), "Cookie", "token="+bad)
	require.Equal(t, "111", r.code(), "%s", r)
	// The real client's order (fields, then the file) still uploads.
	r = w.upload(alice, "fine.bin", bytes.Repeat([]byte("f"), 200<<10), "size", strconv.Itoa(200<<10))
	require.Equal(t, "008", r.code(), "%s", r)
}

// strangerUpload sends the headers and the start of a multipart upload of a
// fileSize-byte file (fields first), then waits for the answer without
// sending the rest. It returns the answer's status and body.
func strangerUpload(t *testing.T, s *Stack, fields [][2]string, fileSize int) (int, string) {
	t.Helper()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	for _, f := range fields {
		require.NoError(t, mw.WriteField(f[0], f[1]))
	}
	_, err := mw.CreateFormFile("file", "big.bin")
	require.NoError(t, err)
	tailLen := len("\r\n--" + mw.Boundary() + "--\r\n")
	total := head.Len() + fileSize + tailLen

	c, err := net.DialTimeout("tcp", s.Addr, 10*time.Second)
	require.NoError(t, err)
	defer c.Close()
	req := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		s.Addr, mw.FormDataContentType(), total)
	first := append([]byte(req), head.Bytes()...)
	first = append(first, make([]byte, 64<<10)...) // some of the file, not all
	go func() {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		c.Write(first)
	}()
	// The answer comes while most of the body is still unsent (Nginx's
	// client_body_timeout, 60 s, would end the request otherwise).
	c.SetReadDeadline(time.Now().Add(40 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "no answer before the body was complete")
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}
