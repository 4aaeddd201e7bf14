package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/proto"
	"yunpan/internal/cluster"
)

// httpOpts is testOpts with the HTTP endpoint on a free port of ip.
func httpOpts(t testing.TB, ip string) *conf.Storage {
	o := testOpts(t)
	o.BindAddr = ip
	o.HTTP.ServerPort = freePort(t, ip)
	return o
}

func freePort(t testing.TB, ip string) int { return cluster.FreePort(t, ip) }

// httpClient does not follow redirects and never asks for gzip.
var httpClient = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true},
}

// get sends GET base+path with the given headers (key, value pairs) and
// returns the status, the headers and the body.
func get(t testing.TB, method, base, path string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

func httpBase(s *Storage) string { return "http://" + s.HTTPAddr().String() }

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestHTTPOffByDefault(t *testing.T) {
	s := start(t, testOpts(t))
	require.Nil(t, s.HTTPAddr())
}

func TestHTTPLocal(t *testing.T) {
	s := start(t, httpOpts(t, "127.0.0.1"))
	base := httpBase(s)
	data := pattern(1000)
	c := dial(t, s)
	txt := upload(t, c, 0, "txt", data)
	jpg := upload(t, c, 0, "jpg", data[:10])
	noext := upload(t, c, 0, "", data[:20])

	code, h, b := get(t, "GET", base, "/group1/"+txt)
	require.Equal(t, 200, code)
	require.Equal(t, data, b)
	require.Empty(t, h.Get(HTTPFallbackHeader))
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/plain"), h.Get("Content-Type"))
	require.Empty(t, h.Get("Content-Disposition"))
	_, h, _ = get(t, "GET", base, "/group1/"+jpg)
	require.Equal(t, "image/jpeg", h.Get("Content-Type"))
	_, h, b = get(t, "GET", base, "/group1/"+noext)
	require.Equal(t, "application/octet-stream", h.Get("Content-Type"))
	require.Equal(t, data[:20], b)

	code, h, b = get(t, "GET", base, "/group1/"+txt, "Range", "bytes=100-199")
	require.Equal(t, 206, code)
	require.Equal(t, data[100:200], b)
	require.Equal(t, "bytes 100-199/1000", h.Get("Content-Range"))

	code, h, b = get(t, "HEAD", base, "/group1/"+txt)
	require.Equal(t, 200, code)
	require.Empty(t, b)
	require.Equal(t, "1000", h.Get("Content-Length"))

	_, h, _ = get(t, "GET", base, "/group1/"+txt+"?attachment=x.txt")
	require.Equal(t, `attachment; filename="x.txt"`, h.Get("Content-Disposition"))
	_, h, _ = get(t, "GET", base, "/group1/"+txt+"?filename=%E4%B8%AD.txt")
	require.Equal(t, `attachment; filename*=UTF-8''%E4%B8%AD.txt`, h.Get("Content-Disposition"))

	// Checking is off: the auth endpoint lets everything through.
	code, _, _ = get(t, "GET", base, "/auth?uri="+url.QueryEscape("/group1/"+txt))
	require.Equal(t, 204, code)

	code, _, _ = get(t, "POST", base, "/group1/"+txt)
	require.Equal(t, 405, code)
	code, _, _ = get(t, "GET", base, "/group2/"+txt)
	require.Equal(t, 404, code, "another group")
	code, _, _ = get(t, "GET", base, "/")
	require.Equal(t, 404, code)

	// Nothing outside a store path, whatever the spelling.
	secret := filepath.Join(s.opts.BasePath, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("SECRET"), 0o644))
	for _, p := range []string{
		"/group1/M00/00/00/../../../secret.txt",
		"/group1/M00/00/00/%2e%2e%2f%2e%2e%2f..%2fsecret.txt",
		"/group1/M00/00/00/..",
		"/group1/M00/00/00/.",
		"/group1/M00/../../secret.txt",
		"/group1/M05/00/00/" + txt[10:],
		"/group1/m00/00/00/" + txt[10:],
		"/group1/M00/0a/00/" + txt[10:],
		"/group1/M00/00/00/a\\..\\..\\secret.txt",
		"/group1/M00/00/00/x%00y",
	} {
		req, err := http.NewRequest("GET", base+"/", nil)
		require.NoError(t, err)
		req.URL.Opaque = p // sent as written, without Go's cleaning
		resp, err := httpClient.Do(req)
		require.NoError(t, err, p)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Contains(t, []int{400, 404}, resp.StatusCode, p)
		require.NotContains(t, string(b), "SECRET", p)
	}
}

func TestHTTPToken(t *testing.T) {
	o := httpOpts(t, "127.0.0.1")
	o.HTTP.CheckToken = true
	o.HTTP.SecretKey = tokSecret
	o.HTTP.TokenTTL = 600 * time.Second
	s := start(t, o)
	base := httpBase(s)
	data := pattern(300)
	remote := upload(t, dial(t, s), 0, "txt", data)
	now := time.Now().Unix()
	q := func(token string, ts int64) string { return fmt.Sprintf("?token=%s&ts=%d", token, ts) }
	ok := q(HTTPToken(remote, tokSecret, now), now)

	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 403},
		{"?ts=" + strconv.FormatInt(now, 10), 403},
		{q("0123456789abcdef0123456789abcdef", now), 403},
		{q(HTTPToken(remote, tokSecret, now-700), now-700), 403},
		{q(HTTPToken(remote, "wrong", now), now), 403},
		{q(HTTPToken("group1/"+remote, tokSecret, now), now), 403},
		{ok, 200},
		{q(HTTPToken(remote, tokSecret, 0), 0), 200},
	} {
		code, _, b := get(t, "GET", base, "/group1/"+remote+tc.query)
		require.Equal(t, tc.want, code, tc.query)
		if code == 200 {
			require.Equal(t, data, b)
		}
		// Nginx's auth_request gets the same verdict (204 for yes).
		want := map[int]int{200: 204, 403: 403}[tc.want]
		code, h, _ := get(t, "GET", base, "/auth?uri="+url.QueryEscape("/group1/"+remote+tc.query))
		require.Equal(t, want, code, tc.query)
		if code == 403 {
			require.NotEmpty(t, h.Get("X-DFS-Token"))
		}
		code, _, _ = get(t, "GET", base, "/auth", "X-Original-URI", "/group1/"+remote+tc.query)
		require.Equal(t, want, code, tc.query)
	}
	code, _, _ := get(t, "GET", base, "/auth")
	require.Equal(t, 403, code)
	code, _, _ = get(t, "GET", base, "/auth?uri="+url.QueryEscape("/group1/M00/00/00/../x"+ok))
	require.Equal(t, 403, code)
}

func TestHTTPTokenCheckFail(t *testing.T) {
	o := httpOpts(t, "127.0.0.1")
	o.HTTP.CheckToken = true
	o.HTTP.SecretKey = tokSecret
	o.HTTP.TokenCheckFail = filepath.Join(o.BasePath, "anti-steal.png")
	require.NoError(t, os.WriteFile(o.HTTP.TokenCheckFail, []byte("PNG!"), 0o644))
	s := start(t, o)
	remote := upload(t, dial(t, s), 0, "txt", []byte("hello"))
	code, h, b := get(t, "GET", httpBase(s), "/group1/"+remote+"?token=x&ts=0")
	require.Equal(t, 200, code, "spec §10: the fallback file with status 200")
	require.Equal(t, "PNG!", string(b))
	require.Equal(t, "image/png", h.Get("Content-Type"))
}

// A second storage of the group that lacks a file fetches it from the
// source storage: first with the member list the trackers would send, then
// (no list yet) from the source IP on its own port.
func TestHTTPFallback(t *testing.T) {
	src := start(t, testOpts(t))
	big := pattern(3<<20 + 17)
	c := dial(t, src)
	remote := upload(t, c, 0, "bin", big)
	empty := upload(t, c, 0, "txt", nil)

	o := httpOpts(t, "127.0.0.1")
	o.StorePaths = []string{filepath.Join(o.BasePath, "fresh")}
	rep := start(t, o)
	base := httpBase(rep)
	srcPort := int32(src.Addr().(*net.TCPAddr).Port)
	rep.cluster.mu.Lock()
	rep.cluster.members = []proto.StorageBrief{
		{Status: proto.StatusActive, IP: "127.0.0.1", Port: int32(rep.Addr().(*net.TCPAddr).Port), ID: "127.0.0.1"},
		{Status: proto.StatusActive, IP: "127.0.0.1", Port: srcPort, ID: "127.0.0.1"},
	}
	rep.cluster.mu.Unlock()
	_, err := os.Stat(filepath.Join(rep.paths[0].dataDir, remote[4:]))
	require.ErrorIs(t, err, os.ErrNotExist)

	code, h, b := get(t, "GET", base, "/group1/"+remote+"?attachment=big.bin")
	require.Equal(t, 200, code)
	require.True(t, bytes.Equal(big, b), "identical bytes")
	require.Equal(t, "application/octet-stream", h.Get("Content-Type"))
	require.Equal(t, `attachment; filename="big.bin"`, h.Get("Content-Disposition"))
	require.Equal(t, "bytes", h.Get("Accept-Ranges"))
	require.NotEmpty(t, h.Get("Last-Modified"))
	require.Equal(t, "1", h.Get(HTTPFallbackHeader))

	for _, tc := range []struct {
		rng        string
		code       int
		off, n     int
		contentRng string
	}{
		{"bytes=100-199", 206, 100, 100, fmt.Sprintf("bytes 100-199/%d", len(big))},
		{"bytes=-10", 206, len(big) - 10, 10, fmt.Sprintf("bytes %d-%d/%d", len(big)-10, len(big)-1, len(big))},
		{"bytes=3145000-", 206, 3145000, len(big) - 3145000, fmt.Sprintf("bytes 3145000-%d/%d", len(big)-1, len(big))},
		{"bytes=5-4000000000", 206, 5, len(big) - 5, fmt.Sprintf("bytes 5-%d/%d", len(big)-1, len(big))},
		{"bytes=0-0,5-6", 200, 0, len(big), ""},
		{fmt.Sprintf("bytes=%d-", len(big)), 416, 0, 0, fmt.Sprintf("bytes */%d", len(big))},
		{"bytes=9-1", 416, 0, 0, fmt.Sprintf("bytes */%d", len(big))},
		{"pages=1-2", 416, 0, 0, fmt.Sprintf("bytes */%d", len(big))},
	} {
		code, h, b := get(t, "GET", base, "/group1/"+remote, "Range", tc.rng)
		require.Equal(t, tc.code, code, tc.rng)
		require.Equal(t, tc.contentRng, h.Get("Content-Range"), tc.rng)
		if code != 416 {
			require.True(t, bytes.Equal(big[tc.off:tc.off+tc.n], b), tc.rng)
		}
	}
	code, h, b = get(t, "HEAD", base, "/group1/"+remote)
	require.Equal(t, 200, code)
	require.Empty(t, b)
	require.Equal(t, strconv.Itoa(len(big)), h.Get("Content-Length"))
	code, _, b = get(t, "GET", base, "/group1/"+empty)
	require.Equal(t, 200, code)
	require.Empty(t, b)

	// Unknown everywhere: 404. A source that is down: 502.
	missing := remote[:len(remote)-7] + "ZZZ.bin" // same source, another name
	code, _, _ = get(t, "GET", base, "/group1/"+missing)
	require.Equal(t, 404, code)

	// No member list yet: the source IP from the name with our own port.
	rep.cluster.mu.Lock()
	rep.cluster.members = nil
	rep.cluster.mu.Unlock()
	code, _, _ = get(t, "GET", base, "/group1/"+remote)
	require.Equal(t, 404, code, "our own port on the source IP is ourselves: nobody to ask")

	src.Exit()
	rep.cluster.mu.Lock()
	rep.cluster.members = []proto.StorageBrief{{Status: proto.StatusActive, IP: "127.0.0.1", Port: srcPort, ID: "x"}}
	rep.cluster.mu.Unlock()
	code, _, _ = get(t, "GET", base, "/group1/"+remote)
	require.Equal(t, 502, code)
}

// FastDFS runs a group's storages on one port: with no member list the
// source IP in the name and our own port find the source.
func TestHTTPFallbackSamePort(t *testing.T) {
	port := freePort(t, "127.0.0.1")
	so := testOpts(t)
	so.Port = port
	src, err := New(so, testLogger(t))
	if err != nil {
		t.Skipf("port %d not free on 127.0.0.1: %v", port, err)
	}
	go src.Main()
	t.Cleanup(src.Exit)
	data := pattern(5000)
	remote := upload(t, dial(t, src), 0, "dat", data)

	o := httpOpts(t, "127.0.0.2")
	o.Port = port
	rep := start(t, o)
	code, _, b := get(t, "GET", httpBase(rep), "/group1/"+remote, "Range", "bytes=10-19")
	require.Equal(t, 206, code)
	require.Equal(t, data[10:20], b)
}

// Exit ends a fallback download that a client stopped reading, and every
// handler with it.
func TestHTTPExitDuringDownload(t *testing.T) {
	src := start(t, testOpts(t))
	remote := upload(t, dial(t, src), 0, "bin", pattern(16<<20))
	o := httpOpts(t, "127.0.0.1")
	o.StorePaths = []string{filepath.Join(o.BasePath, "fresh")}
	rep, err := New(o, testLogger(t))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- rep.Main() }()
	t.Cleanup(rep.Exit)
	rep.cluster.mu.Lock()
	rep.cluster.members = []proto.StorageBrief{{Status: proto.StatusActive, IP: "127.0.0.1", Port: int32(src.Addr().(*net.TCPAddr).Port)}}
	rep.cluster.mu.Unlock()

	conn, err := net.Dial("tcp", rep.HTTPAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /group1/%s HTTP/1.1\r\nHost: x\r\n\r\n", remote)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	_, err = io.ReadAtLeast(conn, buf, 100)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(buf, []byte("HTTP/1.1 200")), string(buf[:40]))
	// The client reads no more; the handler blocks on a full socket.
	t0 := time.Now()
	rep.Exit()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after Exit")
	}
	require.Less(t, time.Since(t0), 8*time.Second)
}

// With every slot taken, a request waits a little, then gets 503.
func TestHTTPBusy(t *testing.T) {
	o := httpOpts(t, "127.0.0.1")
	o.MaxConnections = 1
	s := start(t, o)
	remote := upload(t, dial(t, s), 0, "bin", pattern(32<<20))
	conn, err := net.Dial("tcp", s.HTTPAddr().String())
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /group1/%s HTTP/1.1\r\nHost: x\r\n\r\n", remote)
	buf := make([]byte, 100)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(conn, buf)
	require.NoError(t, err)
	// The first request holds the only slot while its client does not read.
	t0 := time.Now()
	code, h, _ := get(t, "GET", httpBase(s), "/group1/"+remote, "Range", "bytes=0-9")
	require.Equal(t, 503, code)
	require.Equal(t, "1", h.Get("Retry-After"))
	require.GreaterOrEqual(t, time.Since(t0), httpQueueWait-100*time.Millisecond)
}

func TestHTTPRangeParse(t *testing.T) {
	req := func(rng, ifRange string) *http.Request {
		r, _ := http.NewRequestWithContext(context.Background(), "GET", "/", nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		if ifRange != "" {
			r.Header.Set("If-Range", ifRange)
		}
		return r
	}
	for _, tc := range []struct {
		rng, ifRange string
		size         int64
		off, n       int64
		status       int
	}{
		{"", "", 10, 0, 10, 200},
		{"bytes=0-0", "", 10, 0, 1, 206},
		{"bytes=2-", "", 10, 2, 8, 206},
		{"bytes= 2 - 3 ", "", 10, 2, 2, 206},
		{"bytes=-3", "", 10, 7, 3, 206},
		{"bytes=-30", "", 10, 0, 10, 206},
		{"bytes=-0", "", 10, 0, 0, 416},
		{"bytes=10-", "", 10, 0, 0, 416},
		{"bytes=0-", "", 0, 0, 0, 416},
		{"bytes=-1", "", 0, 0, 0, 416},
		{"bytes=3-2", "", 10, 0, 0, 416},
		{"bytes=+1-2", "", 10, 0, 0, 416},
		{"bytes=1-2x", "", 10, 0, 0, 416},
		{"bytes=99999999999999999999-", "", 10, 0, 0, 416},
		{"bytes=1", "", 10, 0, 0, 416},
		{"items=1-2", "", 10, 0, 0, 416},
		{"bytes=0-1,3-4", "", 10, 0, 10, 200},
		{"bytes=0-1", `"etag"`, 10, 0, 10, 200},
	} {
		off, n, status := httpRange(req(tc.rng, tc.ifRange), tc.size)
		require.Equal(t, tc.status, status, tc.rng)
		if status != 416 {
			require.Equal(t, [2]int64{tc.off, tc.n}, [2]int64{off, n}, tc.rng)
		}
	}
}

func TestHTTPDisposition(t *testing.T) {
	for q, want := range map[string]string{
		"":                                       "",
		"attachment=":                            "",
		"token=1&ts=2":                           "",
		"attachment=x.txt":                       `attachment; filename="x.txt"`,
		"ATTACHMENT=x.txt":                       `attachment; filename="x.txt"`,
		"filename=a-b_c.tar.gz":                  `attachment; filename="a-b_c.tar.gz"`,
		"attachment=a.txt&filename=b.txt":        `attachment; filename="a.txt"`,
		"attachment=&filename=b.txt":             `attachment; filename="b.txt"`,
		"attachment=a.txt&attachment=b":          `attachment; filename="a.txt"`,
		"xattachment=a&attachment=b":             `attachment; filename="b"`,
		"attachment=%E4%B8%AD%E6%96%87":          "attachment; filename*=UTF-8''%E4%B8%AD%E6%96%87",
		"attachment=a%22b":                       "attachment; filename*=UTF-8''a%22b",
		`attachment=a"b`:                         "attachment",
		"attachment=a+b":                         "attachment",
		"attachment=a b":                         "attachment",
		"attachment=" + strings.Repeat("a", 201): "attachment; filename*=UTF-8''" + strings.Repeat("a", 201),
		"attachment=" + strings.Repeat("%", 601): "attachment",
	} {
		require.Equal(t, want, HTTPDisposition(q), q)
	}
}

func TestHTTPMimeTypes(t *testing.T) {
	dir := t.TempDir()
	nginxStyle := filepath.Join(dir, "nginx.types")
	require.NoError(t, os.WriteFile(nginxStyle, []byte("types {\n    text/html html htm; # web\n    image/jpeg jpeg jpg;\n  application/x-a a; application/x-b b\n  text/plain txt;\n  text/other txt;\n}\n"), 0o644))
	apacheStyle := filepath.Join(dir, "apache.types")
	require.NoError(t, os.WriteFile(apacheStyle, []byte("# comment\ntext/html\t\thtml htm\nimage/jpeg jpg\n\napplication/x-b b\n"), 0o644))
	for _, p := range []string{nginxStyle, apacheStyle} {
		types, err := loadMimeTypes(p)
		require.NoError(t, err)
		h := &httpServer{types: types}
		h.cfg.DefaultContentType = "application/x-default"
		require.Equal(t, "text/html", h.contentType("M00/00/00/abc.HTM"))
		require.Equal(t, "image/jpeg", h.contentType("abc.jpg"))
		require.Equal(t, "application/x-b", h.contentType("abc.b"))
		require.Equal(t, "application/x-default", h.contentType("abc"))
		require.Equal(t, "application/x-default", h.contentType("abc."))
		require.Equal(t, "application/x-default", h.contentType("abc.unknown"))
		require.Equal(t, "application/x-default", h.contentType("a.b/c"))
	}
	types, _ := loadMimeTypes(nginxStyle)
	require.Equal(t, "text/plain", types["txt"], "the first mapping wins, as in Nginx")
	require.Equal(t, "application/x-a", types["a"])

	_, err := loadMimeTypes(filepath.Join(dir, "missing"))
	require.Error(t, err, "an explicit file must exist")
}

// TestHTTPUserContentSandboxed: an uploaded HTML page (or SVG) served by
// the storage's own HTTP endpoint never runs as a page of its origin: every
// answer, the file's, a range and an error, says nosniff and a sandboxing
// Content-Security-Policy.
func TestHTTPUserContentSandboxed(t *testing.T) {
	s := start(t, httpOpts(t, "127.0.0.1"))
	base := httpBase(s)
	c := dial(t, s)
	page := []byte(`<html><script>fetch("/api/steal?c="+document.cookie)</script></html>`)
	html := upload(t, c, 0, "html", page)
	svg := upload(t, c, 0, "svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
	for _, tc := range []struct {
		path string
		hdr  []string
		code int
	}{
		{"/group1/" + html, nil, 200},
		{"/group1/" + svg, nil, 200},
		{"/group1/" + html, []string{"Range", "bytes=0-9"}, 206},
		{"/group1/M00/00/00/nothing-here.html", nil, 404},
	} {
		code, h, _ := get(t, "GET", base, tc.path, tc.hdr...)
		require.Equal(t, tc.code, code, tc.path)
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), tc.path)
		require.Equal(t, "sandbox", h.Get("Content-Security-Policy"), tc.path)
	}
}
