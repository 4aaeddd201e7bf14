package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scriptRun is a stack run by spawn/stack.sh in its own RUN_DIR on free,
// non-default ports.
type scriptRun struct {
	dir string            // RUN_DIR
	env map[string]string // what the script is run with
	url string            // the web server
}

// newScriptRun makes a RUN_DIR and picks the ports; extra adds or
// overrides variables. The caller removes the directory.
func newScriptRun(t *testing.T, extra map[string]string) *scriptRun {
	t.Helper()
	// Readable by others, as a checkout is: started as root, Nginx's
	// workers run as an unprivileged user and serve the storage's files
	// from here (t.TempDir is private to root).
	dir, err := os.MkdirTemp("", "yunpan-stack-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	// The programs listen on FCGI_PORT + their offset (spawn/fcgi.list),
	// which may leave gaps: the range covers the largest offset.
	nFCGI := 0
	for _, p := range programs(t) {
		nFCGI = max(nFCGI, p.Offset+1)
	}
	fcgiBase := freeRange(t, "127.0.0.1", nFCGI)
	// Each port free when drawn, and no two the same (nothing listens on
	// them yet, so a second draw can give a port again).
	taken := map[int]bool{}
	for p := fcgiBase; p < fcgiBase+nFCGI; p++ {
		taken[p] = true
	}
	port := func() string {
		for {
			p := freePort(t, "127.0.0.1")
			if !taken[p] {
				taken[p] = true
				return strconv.Itoa(p)
			}
		}
	}
	env := map[string]string{
		"RUN_DIR":           dir,
		"BIN_DIR":           binDir,
		"YUNPAN_SKIP_BUILD": "1",
		"WEB_PORT":          port(),
		"FCGI_PORT":         strconv.Itoa(fcgiBase),
		"MYSQL_PORT":        port(),
		"REDIS_PORT":        port(),
		"TRACKER_PORT":      port(),
		"STORAGE_PORT":      port(),
		"YUNPAN_CFG":        "", // ours: the script starts MariaDB and Redis
	}
	for k, v := range extra {
		env[k] = v
	}
	return &scriptRun{dir: dir, env: env, url: "http://127.0.0.1:" + env["WEB_PORT"]}
}

// stack runs spawn/stack.sh arg with a deadline and returns its output.
func (r *scriptRun) stack(arg string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "spawn", "stack.sh"), arg)
	cmd.Env = withEnv(os.Environ(), r.env)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// path is a file under RUN_DIR.
func (r *scriptRun) path(elem ...string) string {
	return filepath.Join(append([]string{r.dir}, elem...)...)
}

// TestStackScript is the README's path: spawn/stack.sh start in a fresh
// RUN_DIR on non-default ports, the printed curl example run as printed,
// then spawn/stack.sh stop, after which no process of that RUN_DIR is left;
// a second start reuses the secrets the first one generated.
func TestStackScript(t *testing.T) {
	t.Parallel() // long and mostly waiting (on processes, timeouts): run beside the other such tests
	needStack(t)
	r := newScriptRun(t, nil)
	t.Cleanup(func() { os.RemoveAll(r.dir) })
	run, env, stack := r.dir, r.env, r.stack
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			out, err := stack("stop", 60*time.Second)
			t.Logf("cleanup stop: %v\n%s", err, out)
		}
	})

	out, err := stack("start", 150*time.Second)
	require.NoError(t, err, "stack.sh start:\n%s\n%s", out, runLogs(run))
	t.Logf("stack.sh start:\n%s", out)
	url := r.url
	require.Contains(t, out, url+"/")

	// The example block: the lines after "Try it from a shell:" up to the
	// blank line, run exactly as printed.
	example := exampleBlock(out)
	require.NotEmpty(t, example, "no example printed:\n%s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", strings.Join(example, "\n"))
	cmd.Dir = t.TempDir() // the example writes hello.txt where it runs
	cmd.Env = withEnv(os.Environ(), map[string]string{"http_proxy": "", "HTTP_PROXY": "", "no_proxy": "*"})
	res, err := cmd.CombinedOutput()
	require.NoError(t, err, "example:\n%s\noutput:\n%s\n%s", strings.Join(example, "\n"), res, runLogs(run))
	got := string(res)
	t.Logf("example output:\n%s", got)
	require.Contains(t, got, "token=", "%s", got)
	require.Regexp(t, `"code": ?"002"`, got)
	require.Regexp(t, `"code": ?"008"`, got)
	require.Contains(t, got, "hello.txt")

	// status sees everything up; then stop leaves nothing of this RUN_DIR.
	st, err := stack("status", 30*time.Second)
	require.NoError(t, err, "%s", st)
	pids := runPids(t, run)
	require.NotEmpty(t, pids)
	out, err = stack("stop", 90*time.Second)
	stopped = err == nil
	require.NoError(t, err, "stack.sh stop:\n%s", out)
	t.Logf("stack.sh stop:\n%s", out)
	t.Logf("processes before stop: %q", pids)
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := runPids(t, run)
		for _, p := range pids { // also those no longer naming RUN_DIR (orphans)
			pid, _, _ := strings.Cut(p, " ")
			if alive(pid) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after stack.sh stop: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, port := range []string{env["WEB_PORT"], env["MYSQL_PORT"], env["REDIS_PORT"], env["FCGI_PORT"], env["TRACKER_PORT"]} {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
			t.Errorf("port %s still answers after stop", port)
		}
	}

	// A second start reuses every secret of the first (MariaDB's users,
	// Redis, the cluster) and the data: the demo user logs in again.
	secrets := readSecrets(t, r)
	out, err = stack("start", 150*time.Second)
	stopped = false
	require.NoError(t, err, "second stack.sh start:\n%s\n%s", out, runLogs(run))
	require.Equal(t, secrets, readSecrets(t, r), "secrets changed on the second start")
	w := &web{t: t, url: url}
	w.login(account{name: "demo", pwd: md5hex([]byte("demo-pass-1"))})
	out, err = stack("stop", 90*time.Second)
	stopped = err == nil
	require.NoError(t, err, "second stack.sh stop:\n%s", out)
}

// readSecrets reads every file of RUN_DIR/secrets, by name.
func readSecrets(t *testing.T, r *scriptRun) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(r.path("secrets"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(r.path("secrets", e.Name()))
		require.NoError(t, err)
		out[e.Name()] = string(b)
	}
	require.NotEmpty(t, out)
	return out
}

// exampleBlock returns the indented lines after "Try it from a shell:".
func exampleBlock(out string) []string {
	var lines []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "Try it from a shell:") {
			in = true
			continue
		}
		if in {
			if strings.TrimSpace(l) == "" {
				break
			}
			lines = append(lines, strings.TrimPrefix(l, "  "))
		}
	}
	return lines
}

func withEnv(base []string, over map[string]string) []string {
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := over[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range over {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// runPids lists the live processes whose command line or working
// directory mentions dir (every process the stack starts has its RUN_DIR
// in one), with all their descendants (Nginx workers, for one).
func runPids(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	self := strconv.Itoa(os.Getpid())
	parent := map[string]string{}
	desc := map[string]string{}
	var match []string
	for _, e := range ents {
		pid := e.Name()
		if _, err := strconv.Atoi(pid); err != nil || pid == self {
			continue
		}
		_, f, ok := procStat(pid)
		if !ok || len(f) < 2 || f[0] == "Z" {
			continue // a zombie is dead already
		}
		parent[pid] = f[1]
		cl, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		cwd, _ := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		desc[pid] = strings.TrimSpace(strings.ReplaceAll(string(cl), "\x00", " "))
		if bytes.Contains(cl, []byte(dir)) || strings.HasPrefix(cwd, dir) {
			match = append(match, pid)
		}
	}
	in := map[string]bool{}
	for _, p := range match {
		in[p] = true
	}
	for changed := true; changed; {
		changed = false
		for p, pp := range parent {
			if !in[p] && in[pp] {
				in[p], changed = true, true
			}
		}
	}
	var out []string
	for p := range in {
		out = append(out, p+" "+desc[p])
	}
	return out
}

// alive reports whether pid runs (a zombie does not).
func alive(pid string) bool {
	_, f, ok := procStat(pid)
	return ok && len(f) > 0 && f[0] != "Z"
}

// freeRange finds n consecutive free ports on ip.
func freeRange(t *testing.T, ip string, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		// Below the kernel's ephemeral range (32768+): there, outgoing
		// connections of the other test packages running in parallel take
		// local ports, and one did take a port of the range between this
		// check and spawn-fcgi's bind.
		base := 20000 + rand.IntN(12000-n)
		ok := true
		var ls []net.Listener
		for p := base; p < base+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports on %s", n, ip)
	return 0
}

// runLogs gathers the logs under a RUN_DIR for failure messages.
func runLogs(dir string) string {
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		if strings.HasSuffix(p, ".log") || strings.HasSuffix(p, ".out") {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "--- %s\n%s\n", p, tail(string(data), 2000))
		}
		return nil
	})
	return b.String()
}
