package nginx

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNginxWebClient: the web client's files go out compressed, index.html
// and unversioned files are revalidated, versioned ones cached for good,
// and every one of them keeps the app's security headers.
func TestNginxWebClient(t *testing.T) {
	bin := nginxBin(t)
	dir := t.TempDir()
	html := filepath.Join(dir, "html")
	require.NoError(t, os.MkdirAll(filepath.Join(html, "vendor"), 0o755))
	script := strings.Repeat("export const x = 'a web client module';\n", 50)
	files := map[string]string{
		"index.html":             "<!doctype html><title>yunpan</title>" + strings.Repeat("<p>page</p>", 100),
		"app.js":                 script,
		"app.css":                strings.Repeat("body { margin: 0; }\n", 50),
		"vendor/preact-1.2.3.js": script,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(html, name), []byte(body), 0o644))
	}
	ps, err := LoadPrograms(repoFile(t, "spawn/fcgi.list"))
	require.NoError(t, err)
	base := startNginx(t, bin, Params{Prefix: filepath.Join(dir, "nginx"), HTMLRoot: html,
		MaxBody: "1m", Programs: WithAddrs(ps, "127.0.0.1", freePort(t))})

	// No transparent decompression: the test reads what Nginx sent.
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}, Timeout: 20 * time.Second}
	get := func(path string, gz bool) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		require.NoError(t, err)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			require.NoError(t, err)
			r = zr
		}
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, path)
		return resp, string(b)
	}

	for _, c := range []struct {
		path, file string
		cached     bool
	}{
		{"/", "index.html", false},
		{"/index.html", "index.html", false},
		{"/app.js", "app.js", false},
		{"/app.js?v=7", "app.js", true},
		{"/app.css?v=7", "app.css", true},
		{"/vendor/preact-1.2.3.js", "vendor/preact-1.2.3.js", true},
	} {
		resp, body := get(c.path, true)
		require.Equal(t, files[c.file], body, c.path)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"), c.path)
		require.Contains(t, resp.Header.Get("Vary"), "Accept-Encoding", c.path)
		if c.cached {
			require.Equal(t, "max-age=315360000", resp.Header.Get("Cache-Control"), c.path)
		} else {
			require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), c.path)
			require.NotEmpty(t, resp.Header.Get("Last-Modified"), c.path)
		}
		require.Equal(t, AppCSP, resp.Header.Get("Content-Security-Policy"), c.path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), c.path)
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), c.path)
	}
	// A client without gzip gets the plain bytes; a missing file is 404.
	resp, body := get("/app.js", false)
	require.Empty(t, resp.Header.Get("Content-Encoding"))
	require.Equal(t, script, body)
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	for _, p := range []string{"/nope.js", "/nope.js?v=1", "/vendor/nope.js"} {
		r, err := hc.Get(base + p)
		require.NoError(t, err)
		r.Body.Close()
		require.Equal(t, 404, r.StatusCode, p)
	}
}

// startNginx runs the rendered config on a free loopback port until the
// test ends and returns its base URL.
func startNginx(t *testing.T, bin string, p Params) string {
	t.Helper()
	port := freePort(t)
	p.Listen = "127.0.0.1:" + strconv.Itoa(port)
	_, err := Write(p)
	require.NoError(t, err)
	cmd := exec.Command(bin, Args(p.Prefix)...)
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", p.Listen)
		if err == nil {
			c.Close()
			return "http://" + p.Listen
		}
		select {
		case <-done:
			t.Fatalf("nginx exited: %s", stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "nginx did not listen: %s", stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
}
