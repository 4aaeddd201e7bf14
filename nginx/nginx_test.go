package nginx

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
)

func repoFile(t *testing.T, rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", rel)
}

func TestReadPrograms(t *testing.T) {
	ps, err := LoadPrograms(repoFile(t, "spawn/fcgi.list"))
	require.NoError(t, err)
	byName := map[string]Program{}
	for _, p := range ps {
		byName[p.Name] = p
	}
	// The course's locations (docs/api.md §5.1) plus /logout and /download.
	for _, want := range []string{"login", "reg", "upload", "md5", "myfiles", "dealfile", "sharefiles", "dealsharefile", "download"} {
		require.Contains(t, byName, want)
	}
	require.Equal(t, 0, byName["login"].Offset)
	require.Equal(t, []Location{{Path: "/login"}, {Path: "/logout"}}, byName["login"].Locations)
	require.Equal(t, []Location{{Path: "/upload", Stream: true}}, byName["upload"].Locations)
	seen := map[int]string{}
	for _, p := range ps {
		require.NotContains(t, seen, p.Offset, "%s and %s share a port", p.Name, seen[p.Offset])
		seen[p.Offset] = p.Name
	}

	_, err = ReadPrograms(strings.NewReader("login x /login\n"))
	require.Error(t, err)
	_, err = ReadPrograms(strings.NewReader("login 0\n"))
	require.Error(t, err)
	ps, err = ReadPrograms(strings.NewReader("# c\n\n a 3 /a /b! /t/!\n"))
	require.NoError(t, err)
	require.Equal(t, []Program{{Name: "a", Offset: 3, Locations: []Location{{Path: "/a"}, {Path: "/b", Stream: true},
		{Path: "/t/", Stream: true, Prefix: true}}}}, ps)
	require.Equal(t, "127.0.0.1:10003", WithAddrs(ps, "127.0.0.1", 10000)[0].Addr)
}

func baseParams(t *testing.T) Params {
	ps, err := LoadPrograms(repoFile(t, "spawn/fcgi.list"))
	require.NoError(t, err)
	return Params{
		Prefix: t.TempDir(), Listen: "127.0.0.1:8080", HTMLRoot: "/srv/html",
		Programs: WithAddrs(ps, "127.0.0.1", 10000),
		Stores:   []Store{{Group: "group1", Index: 0, Path: "/srv/store0"}, {Group: "group1", Index: 1, Path: "/srv/store1"}},
	}
}

func TestRender(t *testing.T) {
	p := baseParams(t)
	out, err := Render(p)
	require.NoError(t, err)
	s := string(out)
	for _, want := range []string{
		"daemon off;", "pid " + p.Prefix + "/nginx.pid;", "error_log " + p.Prefix + "/logs/error.log warn;",
		"client_body_temp_path " + p.Prefix + "/tmp/body;", "client_max_body_size 64k;",
		"listen 127.0.0.1:8080;", "root /srv/html;", "include /etc/nginx/mime.types;",
		"location = /login {", "location = /logout {", "location = /download {",
		"upstream fcgi_login {", "server 127.0.0.1:10000;", "server 127.0.0.1:10008;",
		`"group1/00" "/srv/store0/data";`, `"group1/01" "/srv/store1/data";`,
		"error_page 413 @too_large;",
	} {
		require.Contains(t, s, want)
	}
	// Request buffering is off for the streaming locations only (/upload,
	// /chunk, the WebDAV tree).
	streams := 0
	for _, pr := range p.Programs {
		for _, l := range pr.Locations {
			if l.Stream {
				streams++
			}
		}
	}
	require.Equal(t, streams, strings.Count(s, "fastcgi_request_buffering off;"))
	// The WebDAV tree is a prefix location that takes whole files.
	dav := s[strings.Index(s, "location ^~ /dav/ {"):]
	dav = dav[:strings.Index(dav, "}")]
	require.Contains(t, dav, "fastcgi_request_buffering off;")
	require.Contains(t, dav, "client_max_body_size 20g;")
	for _, loc := range []string{"/upload", "/chunk"} {
		up := s[strings.Index(s, "location = "+loc+" {"):]
		up = up[:strings.Index(up, "}")]
		require.Contains(t, up, "fastcgi_request_buffering off;")
		require.Contains(t, up, fmt.Sprintf("client_max_body_size %d;", 50<<20+config.UploadOverhead))
	}
	require.Equal(t, 1, strings.Count(s, "client_max_body_size 64k;"))
	// No secret, no check; with one, file URLs need its signature.
	require.NotContains(t, s, "secure_link")
	p.LinkSecret = "0123456789abcdefXYZ"
	out, err = Render(p)
	require.NoError(t, err)
	require.Contains(t, string(out), `secure_link_md5 "$secure_link_expires$uri 0123456789abcdefXYZ";`)
	p.LinkSecret = ""
	// The app's pages: a CSP, no framing, no sniffing, no Referer.
	for _, h := range []string{"Content-Security-Policy \"" + AppCSP + "\" always;", "X-Frame-Options DENY always;",
		"X-Content-Type-Options nosniff always;", "Referrer-Policy no-referrer always;", "Content-Security-Policy \"sandbox\" always;"} {
		require.Contains(t, s, h)
	}
	if os.Geteuid() == 0 {
		require.Contains(t, s, "\nuser root ")
	}

	p.Daemon = true
	p.MaxBody = "2m"
	out, err = Render(p)
	require.NoError(t, err)
	require.Contains(t, string(out), "daemon on;")
	require.Contains(t, string(out), fmt.Sprintf("client_max_body_size %d;", 2<<20+config.UploadOverhead))
}

func TestRenderRefusesUnsafeValues(t *testing.T) {
	for name, mod := range map[string]func(*Params){
		"prefix with ;":   func(p *Params) { p.Prefix = "/tmp/x; include /etc/passwd" },
		"html with space": func(p *Params) { p.HTMLRoot = "/srv/my html" },
		"empty listen":    func(p *Params) { p.Listen = "" },
		"max body":        func(p *Params) { p.MaxBody = "50m; user root" },
		"json body":       func(p *Params) { p.JSONBody = "1m;" },
		"short secret":    func(p *Params) { p.LinkSecret = "abc" },
		"secret with $":   func(p *Params) { p.LinkSecret = "0123456789abcdef$uri" },
		"secret with \"":  func(p *Params) { p.LinkSecret = "0123456789abcdef\"; x" },
		"program name":    func(p *Params) { p.Programs[0].Name = "a b" },
		"location":        func(p *Params) { p.Programs[0].Locations[0].Path = "login" },
		"store group":     func(p *Params) { p.Stores[0].Group = "g/1" },
		"store index":     func(p *Params) { p.Stores[0].Index = 256 },
		"store path":      func(p *Params) { p.Stores[0].Path = "/a{b}" },
	} {
		p := baseParams(t)
		mod(&p)
		_, err := Render(p)
		require.Error(t, err, name)
	}
}

func nginxBin(t *testing.T) string {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	t.Skip("nginx is not installed (apt-get install nginx)")
	return ""
}

func freePort(t *testing.T) int { return cluster.FreePort(t, "127.0.0.1") }

// TestNginxSyntax checks the rendered file with `nginx -t`.
func TestNginxSyntax(t *testing.T) {
	bin := nginxBin(t)
	p := baseParams(t)
	p.HTMLRoot = t.TempDir()
	p.Listen = "127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, secret := range []string{"", "0123456789abcdef_.~+/=-"} {
		p.LinkSecret = secret
		_, err := Write(p)
		require.NoError(t, err)
		out, err := exec.Command(bin, append(Args(p.Prefix), "-t")...).CombinedOutput()
		require.NoError(t, err, "secret %q: %s", secret, out)
		fi, err := os.Stat(filepath.Join(p.Prefix, "nginx.conf"))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file holds the secret")
	}
}

// TestNginxServes runs the rendered config in a real Nginx in front of a
// FastCGI responder (net/http/fcgi, as our programs use) and a store
// directory laid out as the storage's: the routing, streaming, error
// bodies and the download location.
func TestNginxServes(t *testing.T) {
	bin := nginxBin(t)
	dir := t.TempDir()
	html := filepath.Join(dir, "html")
	store := filepath.Join(dir, "store")
	require.NoError(t, os.MkdirAll(html, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(store, "data", "0A", "1F"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(html, "index.html"), []byte("<h1>yunpan</h1>"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(html, "login.html"), []byte("static login page"), 0o644))
	payload := make([]byte, 10000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	stored := "wKgAAWc1b2aAAAAAAAAnEAABAAA123.png"
	require.NoError(t, os.WriteFile(filepath.Join(store, "data", "0A", "1F", stored), payload, 0o644))
	page := "wKgAAWc1b2aAAAAAAAAnEAABAAA124.html"
	require.NoError(t, os.WriteFile(filepath.Join(store, "data", "0A", "1F", page), []byte("<script>alert(1)</script>"), 0o644))
	const secret = "nginx-test-secret-0123"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("root:x:0:0"), 0o644))

	// One FastCGI listener per program, answering who got the request.
	ps, err := LoadPrograms(repoFile(t, "spawn/fcgi.list"))
	require.NoError(t, err)
	for i, p := range ps {
		if p.Name == "download" {
			// Nothing listens here: Nginx answers 502 with a JSON body.
			ps[i].Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ps[i].Addr = l.Addr().String()
		name := p.Name
		go fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"prog":%q,"method":%q,"uri":%q,"query":%q,"len":%d,"clen":%q,"remote":%q}`,
				name, r.Method, r.URL.Path, r.URL.RawQuery, n, r.Header.Get("Content-Length"), r.RemoteAddr)
		}))
		t.Cleanup(func() { l.Close() })
	}

	base := startNginx(t, bin, Params{Prefix: filepath.Join(dir, "nginx"), HTMLRoot: html,
		MaxBody: "1m", LinkSecret: secret, Programs: ps, Stores: []Store{{Group: "group1", Index: 10, Path: store}}})

	hc := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 20 * time.Second}
	get := func(method, path string, body io.Reader, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// Static pages, and exact-match locations: /login.html is a file.
	resp, body := get("GET", "/", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "<h1>yunpan</h1>", body)
	_, body = get("GET", "/login.html", nil)
	require.Equal(t, "static login page", body)

	// Each location reaches its program, with the query string.
	for loc, prog := range map[string]string{"/login": "login", "/logout": "login", "/reg": "reg", "/md5": "md5",
		"/myfiles?cmd=count": "myfiles", "/dealfile?cmd=del": "dealfile", "/sharefiles?cmd=pvdesc": "sharefiles",
		"/dealsharefile?cmd=save": "dealsharefile", "/upload": "upload"} {
		resp, body = get("POST", loc, strings.NewReader(`{"user":"a"}`), "Content-Type", "application/json")
		require.Equal(t, 200, resp.StatusCode, loc)
		require.Contains(t, body, fmt.Sprintf(`"prog":%q`, prog), loc)
		require.Contains(t, body, `"len":12`, loc)
		require.Contains(t, body, `"remote":"127.0.0.1:`, loc)
		if q := strings.Index(loc, "?"); q > 0 {
			require.Contains(t, body, fmt.Sprintf(`"query":%q`, loc[q+1:]), loc)
		}
	}

	// A streamed upload of just under the limit arrives whole, also chunked.
	big := bytes.Repeat([]byte("u"), 1<<20-1000)
	_, body = get("POST", "/upload", bytes.NewReader(big))
	require.Contains(t, body, fmt.Sprintf(`"len":%d`, len(big)))
	_, body = get("POST", "/upload", io.MultiReader(bytes.NewReader(big[:1000]), bytes.NewReader(big[1000:])))
	require.Contains(t, body, fmt.Sprintf(`"len":%d`, len(big)))

	// Up to the file limit plus the envelope for /upload, 64k elsewhere.
	_, body = get("POST", "/upload", bytes.NewReader(make([]byte, 1<<20+config.UploadOverhead)))
	require.Contains(t, body, fmt.Sprintf(`"len":%d`, 1<<20+config.UploadOverhead))
	_, body = get("POST", "/login", bytes.NewReader(make([]byte, 64<<10)))
	require.Contains(t, body, fmt.Sprintf(`"len":%d`, 64<<10))

	// Over the limit: 413 with a small JSON body, on any location.
	for loc, n := range map[string]int{"/upload": 1<<20 + config.UploadOverhead + 1, "/login": 64<<10 + 1, "/md5": 1 << 20} {
		resp, body = get("POST", loc, bytes.NewReader(make([]byte, n)))
		require.Equal(t, 413, resp.StatusCode, loc)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Contains(t, body, `"code":"413"`)
		require.Less(t, len(body), 200)
	}

	// A program that is down: 502 with a JSON body.
	resp, body = get("POST", "/download", strings.NewReader(`{}`))
	require.Equal(t, 502, resp.StatusCode)
	require.Contains(t, body, `"code":"502"`)

	// Downloads straight from the store path: group1/M0A → store/data, with
	// a signature: ?e=<expiry>&st=base64url(md5("<e><uri> <secret>")).
	sign := func(uri string, exp int64) string {
		e := strconv.FormatInt(exp, 10)
		h := md5.Sum([]byte(e + uri + " " + secret))
		return uri + "?e=" + e + "&st=" + base64.RawURLEncoding.EncodeToString(h[:])
	}
	later := time.Now().Add(time.Hour).Unix()
	file := "/group1/M0A/0A/1F/" + stored
	signed := sign(file, later)
	resp, body = get("GET", signed, nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, string(payload), body)
	// A picture is shown in place, sandboxed, never sniffed.
	require.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	require.Equal(t, "inline", resp.Header.Get("Content-Disposition"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"))
	resp, body = get("GET", signed, nil, "Range", "bytes=100-199")
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, string(payload[100:200]), body)
	require.Equal(t, "bytes 100-199/10000", resp.Header.Get("Content-Range"))
	resp, _ = get("HEAD", signed, nil)
	require.Equal(t, "10000", resp.Header.Get("Content-Length"))
	resp, _ = get("GET", signed+"&attachment=%E6%96%87%E4%BB%B6.png", nil)
	require.Equal(t, `attachment; filename*=UTF-8''%E6%96%87%E4%BB%B6.png`, resp.Header.Get("Content-Disposition"))
	// A value that could break the header falls back to a bare attachment.
	resp, _ = get("GET", signed+`&attachment=a"b;c`, nil)
	require.Equal(t, "attachment", resp.Header.Get("Content-Disposition"))
	// HTML (anything not known to be inert) is an opaque attachment.
	resp, _ = get("GET", sign("/group1/M0A/0A/1F/"+page, later), nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "attachment", resp.Header.Get("Content-Disposition"))
	require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"))
	// The app's pages carry their policy.
	resp, _ = get("GET", "/", nil)
	require.Equal(t, AppCSP, resp.Header.Get("Content-Security-Policy"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))

	// Unsigned, wrongly signed, signed for another file, expired: 403.
	pageSigned := sign("/group1/M0A/0A/1F/"+page, later)
	exp := strconv.FormatInt(later, 10)
	for _, u := range []string{
		file,               // unsigned
		file + "?e=" + exp, // no signature
		strings.Replace(signed, "&st=", "&st=A", 1),          // tampered signature
		file + pageSigned[strings.Index(pageSigned, "?"):],   // another file's signature
		strings.Replace(signed, "?e="+exp, "?e="+exp+"0", 1), // a later expiry than signed
		sign(file, time.Now().Add(-time.Minute).Unix()),      // expired
	} {
		resp, body = get("GET", u, nil)
		require.Equal(t, 403, resp.StatusCode, u)
		require.NotContains(t, body, string(payload[:16]), u)
		require.Contains(t, body, `"code":"403"`, u)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	}

	for _, p := range []string{
		"/group1/M00/0A/1F/" + stored, // no such store path
		"/group2/M0A/0A/1F/" + stored, // no such group
		"/group1/M0a/0A/1F/" + stored, // lower-case hex
		"/group1/M0A/0A/1F/nosuch.png",
		"/group1/M0A/0A/1F/../../../secret.txt",
		"/group1/M0A/0A/1F/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"/group1/M0A/0A/1F/..%2f..%2f..%2fsecret.txt",
		"/group1/M0A/../../secret.txt",
		"/group1/M0A/0A/1F/x/../../../../secret.txt",
	} {
		resp, body = get("GET", sign(p, later), nil)
		require.Contains(t, []int{400, 403, 404}, resp.StatusCode, p)
		require.NotContains(t, body, "root:x", p)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
