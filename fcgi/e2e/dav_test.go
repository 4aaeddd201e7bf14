package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// davClient runs rclone against a stack's WebDAV tree as one user.
type davClient struct {
	env  []string
	home string
}

func newDavClient(t testing.TB, s *Stack, user, pass string) *davClient {
	t.Helper()
	rclone := lookSys("rclone")
	if rclone == "" {
		t.Skip("rclone is not installed (apt-get install rclone)")
	}
	obscured, err := exec.Command(rclone, "obscure", pass).Output()
	require.NoError(t, err)
	home := t.TempDir()
	return &davClient{home: home, env: append(os.Environ(),
		"HOME="+home,
		"RCLONE_CONFIG="+filepath.Join(home, "rclone.conf"),
		"RCLONE_CONFIG_YP_TYPE=webdav",
		"RCLONE_CONFIG_YP_URL="+s.URL+"/dav/",
		"RCLONE_CONFIG_YP_VENDOR=other",
		"RCLONE_CONFIG_YP_USER="+user,
		"RCLONE_CONFIG_YP_PASS="+strings.TrimSpace(string(obscured)),
	)}
}

// run runs rclone with args and returns its stdout; a failure fails the test.
func (c *davClient) run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.try(args...)
	require.NoError(t, err, "rclone %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (c *davClient) try(args ...string) (string, error) {
	cmd := exec.Command("rclone", append([]string{"--contimeout", "10s", "--timeout", "60s", "--retries", "1", "--low-level-retries", "2"}, args...)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// writeTree makes n small files in nested folders (some with the same
// bytes, which the DFS stores once) and returns their relative paths.
func writeTree(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		rel := filepath.Join(fmt.Sprintf("d%d", i%4), fmt.Sprintf("sub%d", i%3), fmt.Sprintf("文件 %d.txt", i))
		b := []byte(fmt.Sprintf("file %d\n", i%7)) // duplicates on purpose
		if i%5 == 0 {
			b = make([]byte, 3000+i)
			rand.Read(b)
		}
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		paths = append(paths, filepath.ToSlash(rel))
	}
	sort.Strings(paths)
	return paths
}

// lsPaths is `rclone lsf -R --files-only` as a sorted list.
func (c *davClient) lsPaths(t testing.TB, remote string) []string {
	t.Helper()
	var ps []string
	for _, l := range strings.Split(strings.TrimSpace(c.run(t, "lsf", "-R", "--files-only", remote)), "\n") {
		if l != "" {
			ps = append(ps, l)
		}
	}
	sort.Strings(ps)
	return ps
}

func TestWebDAV(t *testing.T) {
	t.Parallel() // long and mostly waiting (on processes, timeouts): run beside the other such tests
	s := StartStack(t, Options{UploadMode: "inprocess"})
	w := newWeb(t, s)
	logsOnFailure(t, s)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	alice := w.login(w.register("dava"+suffix, "alice-password"))
	bob := w.login(w.register("davb"+suffix, "bob-password"))
	r := w.expect("100", "/apppass?cmd=create", map[string]any{"user": alice.name, "token": alice.token, "label": "rclone"})
	pass := r.str("password")
	require.Len(t, strings.ReplaceAll(pass, "-", ""), 32)

	t.Run("sign in", func(t *testing.T) {
		w := w.with(t)
		for _, cred := range [][2]string{{"", ""}, {alice.name, alice.pwd}, {bob.name, pass}, {alice.name, pass + "x"}} {
			req, _ := http.NewRequest("PROPFIND", s.URL+"/dav/", nil)
			if cred[0] != "" {
				req.SetBasicAuth(cred[0], cred[1])
			}
			req.Header.Set("Depth", "0")
			resp, err := httpClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "credentials %q", cred)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
		}
		// The login password never works; an app password does (dashes optional).
		req, _ := http.NewRequest("PROPFIND", s.URL+"/dav/", nil)
		req.SetBasicAuth(alice.name, strings.ReplaceAll(pass, "-", ""))
		req.Header.Set("Depth", "0")
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMultiStatus, resp.StatusCode)
		_ = w
	})

	c := newDavClient(t, s, alice.name, pass)
	local := t.TempDir()
	paths := writeTree(t, local, 40)
	big := make([]byte, 5<<20+123)
	rand.Read(big)
	require.NoError(t, os.WriteFile(filepath.Join(local, "big.bin"), big, 0o644))
	paths = append(paths, "big.bin")
	sort.Strings(paths)

	t.Run("rclone copy, ls, check", func(t *testing.T) {
		c.run(t, "copy", local, "yp:backup")
		require.Equal(t, paths, c.lsPaths(t, "yp:backup"))
		c.run(t, "check", "--download", local, "yp:backup")
	})

	t.Run("rclone mkdir, move, sync, delete", func(t *testing.T) {
		c.run(t, "mkdir", "yp:moved")
		c.run(t, "moveto", "yp:backup/big.bin", "yp:moved/big.bin")
		c.run(t, "move", "yp:backup/d0", "yp:moved/d0")
		got := c.lsPaths(t, "yp:moved")
		require.Contains(t, got, "big.bin")
		require.Contains(t, got, "d0/sub0/文件 0.txt")
		out := c.run(t, "cat", "yp:moved/big.bin")
		require.True(t, bytes.Equal(big, []byte(out)), "big.bin differs after the move")

		// sync: change one file, remove one, add one.
		require.NoError(t, os.WriteFile(filepath.Join(local, "d1", "sub1", "文件 1.txt"), []byte("changed, and longer"), 0o644))
		require.NoError(t, os.Remove(filepath.Join(local, "d2", "sub2", "文件 2.txt")))
		require.NoError(t, os.WriteFile(filepath.Join(local, "new.txt"), []byte("new"), 0o644))
		c.run(t, "sync", local, "yp:backup")
		c.run(t, "check", "--download", local, "yp:backup")

		c.run(t, "purge", "yp:backup")
		_, err := c.try("lsf", "yp:backup")
		require.Error(t, err, "a purged folder is gone")
		require.Contains(t, c.lsPaths(t, "yp:moved"), "big.bin")
	})

	t.Run("downloads are inert", func(t *testing.T) {
		html := filepath.Join(t.TempDir(), "page.html")
		require.NoError(t, os.WriteFile(html, []byte("<script>alert(1)</script>"), 0o644))
		c.run(t, "copyto", html, "yp:page.html")
		req, _ := http.NewRequest("GET", s.URL+"/dav/page.html", nil)
		req.SetBasicAuth(alice.name, pass)
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
		require.Equal(t, "attachment", resp.Header.Get("Content-Disposition"))
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "sandbox", resp.Header.Get("Content-Security-Policy"))
	})

	t.Run("cadaver", func(t *testing.T) {
		cadaver := lookSys("cadaver")
		if cadaver == "" {
			t.Skip("cadaver is not installed (apt-get install cadaver)")
		}
		home := t.TempDir()
		host := strings.TrimPrefix(s.URL, "http://")
		host, _, _ = strings.Cut(host, ":")
		require.NoError(t, os.WriteFile(filepath.Join(home, ".netrc"),
			[]byte(fmt.Sprintf("machine %s login %s password %s\n", host, alice.name, pass)), 0o600))
		src := filepath.Join(home, "hello.txt")
		require.NoError(t, os.WriteFile(src, []byte("hello from cadaver\n"), 0o644))
		script := strings.Join([]string{"mkcol cad", "cd cad", "put " + src + " hello.txt",
			"move hello.txt hi.txt", "ls", "get hi.txt " + filepath.Join(home, "back.txt"), "delete hi.txt", "quit", ""}, "\n")
		cmd := exec.Command(cadaver, s.URL+"/dav/")
		cmd.Dir, cmd.Stdin = home, strings.NewReader(script)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		back, err := os.ReadFile(filepath.Join(home, "back.txt"))
		require.NoError(t, err, "%s", out)
		require.Equal(t, "hello from cadaver\n", string(back))
		require.Contains(t, string(out), "hi.txt")
		require.Empty(t, c.lsPaths(t, "yp:cad"))
	})
}
