package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
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

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
	"yunpan/dfs/storage"
	"yunpan/internal/cluster"
	"yunpan/nginx"
)

const nginxBin = "/usr/sbin/nginx"

// Nginx is a private nginx started by a test.
type Nginx struct {
	Base   string // "http://ip:port"
	Prefix string
	cmd    *exec.Cmd
	done   chan struct{}
}

func (n *Nginx) errorLog() string {
	out, _ := os.ReadFile(filepath.Join(n.Prefix, "stderr.log"))
	b, _ := os.ReadFile(filepath.Join(n.Prefix, "logs", "error.log"))
	return string(out) + string(b)
}

// startNginx renders st's download server with fdfs_nginxconf (as the
// scripts do) and runs it in the foreground on a free port of ip until the
// test ends.
func startNginx(t *testing.T, st *cluster.Proc, ip string) *Nginx {
	t.Helper()
	port := cluster.FreePort(t, ip)
	prefix := t.TempDir()
	confPath := filepath.Join(prefix, "nginx.conf")
	out, errOut, code := run(t, "fdfs_nginxconf", "-listen", fmt.Sprintf("%s:%d", ip, port), "-prefix", prefix, "-o", confPath, st.Conf)
	require.Equal(t, 0, code, out+errOut)

	n := &Nginx{Base: fmt.Sprintf("http://%s:%d", ip, port), Prefix: prefix}
	n.cmd = exec.Command(nginxBin, nginx.DFSArgs(prefix, confPath)...)
	n.done = runNginx(t, n.cmd, filepath.Join(prefix, "stderr.log"), n.Base, n.errorLog)
	return n
}

// runNginx starts the Nginx of cmd with its output in stderrPath, stops it
// (SIGTERM, then SIGKILL) when the test ends, and waits until base answers;
// the channel is closed when it has exited. log tells what went wrong.
func runNginx(t *testing.T, cmd *exec.Cmd, stderrPath, base string, log func() string) chan struct{} {
	t.Helper()
	done := make(chan struct{})
	stderr, err := os.Create(stderrPath)
	require.NoError(t, err)
	defer stderr.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = stderr, stderr
	require.NoError(t, cmd.Start())
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // fast shutdown; the master stops its workers
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("nginx exited:\n%s", log())
		default:
		}
		if resp, err := httpc.Get(base + "/"); err == nil {
			resp.Body.Close()
			return done
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx on %s not ready:\n%s", base, log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var httpc = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableCompression: true},
}

type httpResp struct {
	code int
	h    http.Header
	body []byte
}

// fetch sends GET base+uri exactly as written (no client-side cleaning),
// with headers given as key, value pairs.
func fetch(t *testing.T, base, uri string, hdr ...string) httpResp {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/", nil)
	require.NoError(t, err)
	req.URL.Opaque, req.URL.RawQuery, _ = strings.Cut(uri, "?")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpc.Do(req)
	require.NoError(t, err, uri)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err, uri)
	return httpResp{resp.StatusCode, resp.Header, b}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestHTTPDownloadsThroughNginx(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		t.Skipf("%s is not installed (apt-get install nginx): the HTTP download tests need a real Nginx", nginxBin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const secret = "FastDFS1234567890"

	tr := cluster.StartTracker(t, "127.0.0.81", nil)
	trs := []*cluster.Proc{tr}
	port := cluster.SharedPort(t, "127.0.0.82", "127.0.0.83") // a group's storages share one port
	a := cluster.StartStorage(t, "127.0.0.82", "group1", trs, map[string]string{
		"port":             strconv.Itoa(port),
		"http.server_port": strconv.Itoa(cluster.FreePort(t, "127.0.0.82")),
	})
	cluster.WaitStatus(t, tr, "group1", a, proto.StatusActive, 30*time.Second)
	cc, err := conf.LoadClient(cluster.ClientConf(t, trs, nil))
	require.NoError(t, err)
	cli, err := client.New(cc)
	require.NoError(t, err)
	defer cli.Close()

	// Everything is uploaded while storage A is the group's only member.
	txt, jpg, noext, big := randBytes(1000), randBytes(2048), randBytes(300), randBytes(3<<20+5)
	ids := map[string]string{}
	for name, c := range map[string]struct {
		b   []byte
		ext string
	}{"txt": {txt, "txt"}, "jpg": {jpg, "jpg"}, "noext": {noext, ""}, "big": {big, "bin"}} {
		id, err := cli.UploadBuffer(ctx, c.b, c.ext)
		require.NoError(t, err)
		ids[name] = "/" + id
	}

	// --- Storage A's Nginx serves its own disk. ---
	ngA := startNginx(t, a, "127.0.0.82")
	r := fetch(t, ngA.Base, ids["txt"])
	require.Equal(t, 200, r.code, ngA.errorLog())
	require.Equal(t, txt, r.body)
	require.Equal(t, "text/plain", r.h.Get("Content-Type"))
	require.Empty(t, r.h.Get(storage.HTTPFallbackHeader), "straight from the disk")
	r = fetch(t, ngA.Base, ids["jpg"])
	require.Equal(t, jpg, r.body)
	require.Equal(t, "image/jpeg", r.h.Get("Content-Type"))
	r = fetch(t, ngA.Base, ids["noext"])
	require.Equal(t, noext, r.body)
	require.Equal(t, "application/octet-stream", r.h.Get("Content-Type"))

	r = fetch(t, ngA.Base, ids["txt"], "Range", "bytes=100-199")
	require.Equal(t, 206, r.code)
	require.Equal(t, txt[100:200], r.body)
	require.Equal(t, "bytes 100-199/1000", r.h.Get("Content-Range"))

	r = fetch(t, ngA.Base, ids["txt"]+"?attachment=x.txt")
	require.Equal(t, `attachment; filename="x.txt"`, r.h.Get("Content-Disposition"))
	require.Equal(t, txt, r.body)
	r = fetch(t, ngA.Base, ids["txt"]+"?filename=%E4%B8%AD%E6%96%87.txt")
	require.Equal(t, "attachment; filename*=UTF-8''%E4%B8%AD%E6%96%87.txt", r.h.Get("Content-Disposition"))
	r = fetch(t, ngA.Base, ids["txt"]+`?attachment=a"b`)
	require.Equal(t, "attachment", r.h.Get("Content-Disposition"), "an unsafe name is dropped")

	// Bad names and traversal: 400 or 404, never a file outside the store path.
	for _, p := range []string{filepath.Join(a.Base, "secret.txt"), filepath.Join(a.Base, "data", "secret.txt"), filepath.Join(a.Base, "data", "00", "secret.txt")} {
		require.NoError(t, os.WriteFile(p, []byte("SECRET-MARKER"), 0o644))
	}
	name := ids["txt"][len("/group1/M00/00/00/"):]
	for _, p := range []string{
		"/group1/M00/00/00/../../../secret.txt",
		"/group1/M00/00/00/../../secret.txt",
		"/group1/M00/00/00/../secret.txt",
		"/group1/M00/00/00/%2e%2e/%2e%2e/%2e%2e/secret.txt",
		"/group1/M00/00/00/..%2f..%2f..%2fsecret.txt",
		"/group1/M00/00/..%2fsecret.txt",
		"/group1/M00/../../fdfs_storaged.conf",
		"/group1/M00/00/00/..",
		"/group1/M00/00/secret.txt",
		"/group1/M00/secret.txt",
		"/group1/M01/00/00/" + name,
		"/group1/m00/00/00/" + name,
		"/group2/M00/00/00/" + name,
		"/group1/M00/00/00/" + name + "/",
		"/group1/M00/00/00/a%00b",
		"/group1/M00/00/00/a\\..\\..\\secret.txt",
		"/group1/M00/00/00/.data_init_flag",
		"/group1/M00/00/00/nothere.txt",
	} {
		r := fetch(t, ngA.Base, p)
		require.Contains(t, []int{400, 404}, r.code, p)
		require.NotContains(t, string(r.body), "SECRET-MARKER", p)
		require.NotContains(t, string(r.body), "group_name", p)
	}

	// --- Storage B: same group, fresh disk, anti-steal tokens on. ---
	b := cluster.StartStorage(t, "127.0.0.83", "group1", trs, map[string]string{
		"port":                        strconv.Itoa(port),
		"http.server_port":            strconv.Itoa(cluster.FreePort(t, "127.0.0.83")),
		"http.anti_steal.check_token": "true",
		"http.anti_steal.secret_key":  secret,
		"http.anti_steal.token_ttl":   "600",
	})
	ngB := startNginx(t, b, "127.0.0.83")
	bDisk := func(id string) string {
		_, remote, err := fileid.Split(strings.TrimPrefix(id, "/"))
		require.NoError(t, err)
		return filepath.Join(b.Base, "data", remote[4:])
	}
	tok := func(id string, ts int64) string {
		remote := strings.TrimPrefix(id, "/group1/")
		return fmt.Sprintf("?token=%s&ts=%d", storage.HTTPToken(remote, secret, ts), ts)
	}
	// fromB fetches id through B's Nginx while B does not hold it: should
	// replication bring the file over meanwhile, B's copy is removed and
	// the request repeated, until the bytes are seen coming from A.
	fromB := func(id, query string, hdr ...string) httpResp {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			os.Remove(bDisk(id))
			r := fetch(t, ngB.Base, id+query, hdr...)
			if r.code < 300 && r.h.Get(storage.HTTPFallbackHeader) == "1" {
				return r
			}
			// Until B's first beat answer it knows no group member: 404.
			if time.Now().After(deadline) {
				t.Fatalf("%s via B: %d %s\n%s\nstorage B:\n%s", id, r.code, r.body, ngB.errorLog(), b.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	now := time.Now().Unix()
	r = fromB(ids["big"], tok(ids["big"], now))
	require.Equal(t, 200, r.code)
	require.True(t, bytes.Equal(big, r.body), "identical bytes via the fallback")
	require.Equal(t, "application/octet-stream", r.h.Get("Content-Type"))
	r = fromB(ids["big"], tok(ids["big"], now), "Range", "bytes=100-199")
	require.Equal(t, 206, r.code)
	require.Equal(t, big[100:200], r.body)
	require.Equal(t, fmt.Sprintf("bytes 100-199/%d", len(big)), r.h.Get("Content-Range"))
	r = fromB(ids["big"], tok(ids["big"], now), "Range", "bytes=-7")
	require.Equal(t, big[len(big)-7:], r.body)
	r = fromB(ids["txt"], tok(ids["txt"], 0)+"&attachment=x.txt")
	require.Equal(t, 200, r.code, "ts=0 never expires")
	require.Equal(t, txt, r.body)
	require.Equal(t, "text/plain", r.h.Get("Content-Type"), "same type as Nginx gives")
	require.Equal(t, `attachment; filename="x.txt"`, r.h.Get("Content-Disposition"))
	r = fromB(ids["jpg"], tok(ids["jpg"], now))
	require.Equal(t, "image/jpeg", r.h.Get("Content-Type"))
	require.Equal(t, jpg, r.body)

	// Token failures are 403, whether B holds the file or not.
	for _, id := range []string{ids["txt"], ids["noext"]} {
		for _, q := range []string{
			"",                                  // missing
			"?ts=" + strconv.FormatInt(now, 10), // token missing
			"?token=" + strings.Repeat("0", 32) + "&ts=" + strconv.FormatInt(now, 10), // wrong
			tok(id, now-601), // expired
			tok(strings.Replace(id, "/group1/", "/group1/group1/", 1), now), // over the full file ID
			tok(ids["jpg"], now), // another file's token
		} {
			r := fetch(t, ngB.Base, id+q)
			require.Equal(t, 403, r.code, id+q)
			require.NotContains(t, string(r.body), string(txt[:16]))
		}
	}
	// B now holds a copy (placed as replication would): still checked, then served from disk.
	require.NoError(t, os.WriteFile(bDisk(ids["noext"]), noext, 0o644))
	require.Equal(t, 403, fetch(t, ngB.Base, ids["noext"]).code)
	r = fetch(t, ngB.Base, ids["noext"]+tok(ids["noext"], now))
	require.Equal(t, 200, r.code)
	require.Equal(t, noext, r.body)
	require.Empty(t, r.h.Get(storage.HTTPFallbackHeader))

	// Unknown file with a valid token: 404 after asking the group.
	missing := ids["txt"][:len(ids["txt"])-7] + "999.txt"
	if missing == ids["txt"] {
		missing = ids["txt"][:len(ids["txt"])-7] + "998.txt"
	}
	require.Equal(t, 404, fetch(t, ngB.Base, missing+tok(missing, now)).code)
	for _, p := range []string{"/group1/M00/00/00/../../../secret.txt", "/group1/M00/00/00/..%2f..%2fsecret.txt"} {
		require.Contains(t, []int{400, 403, 404}, fetch(t, ngB.Base, p).code, p)
	}
}
