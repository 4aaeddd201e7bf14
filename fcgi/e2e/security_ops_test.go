package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/proto"
)

// The TestSecurity tests share one stack started by spawn/stack.sh (as
// `make run` does), reconciling every two seconds with a one-second grace;
// it is stopped when the test binary ends.
var (
	secMu    sync.Mutex
	secStack *scriptRun
	secErr   error
)

func securityStack(t *testing.T) *scriptRun {
	t.Helper()
	needStack(t)
	secMu.Lock()
	defer secMu.Unlock()
	if secStack == nil && secErr == nil {
		r := newScriptRun(t, map[string]string{"RECONCILE_EVERY": "2", "RECONCILE_GRACE": "1s"})
		runner.Cleanup(func() {
			out, err := r.stack("stop", 90*time.Second)
			if err != nil {
				// Leave RUN_DIR (pid files, logs) to whoever stops the rest.
				fmt.Fprintf(os.Stderr, "security stack stop (RUN_DIR %s): %v\n%s", r.dir, err, out)
				return
			}
			os.RemoveAll(r.dir)
		})
		out, err := r.stack("start", 150*time.Second)
		if err != nil {
			secErr = fmt.Errorf("stack.sh start: %w\n%s\n%s", err, out, runLogs(r.dir))
		}
		secStack = r
	}
	require.NoError(t, secErr)
	return secStack
}

// runCfg is what the tests read of the cfg.json the script wrote.
type runCfg struct {
	MySQL struct{ IP, Port, User, Password, Database string }
	Redis struct{ IP, Port, Password string }
}

func readRunCfg(t *testing.T, r *scriptRun) runCfg {
	t.Helper()
	b, err := os.ReadFile(r.path("cfg.json"))
	require.NoError(t, err)
	var c runCfg
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

// TestSecurityPrivateServices: after the script's start, MariaDB, Redis and
// the DFS need the secrets it generated (mode 0600), and Nginx's workers do
// not run as root.
func TestSecurityPrivateServices(t *testing.T) {
	r := securityStack(t)
	c := readRunCfg(t, r)

	t.Run("secret files", func(t *testing.T) {
		fi, err := os.Stat(r.path("secrets"))
		require.NoError(t, err)
		require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm(), "secrets dir")
		secrets := map[string]string{}
		for _, n := range []string{"mysql-root-password", "mysql-password", "redis-password", "cluster-secret"} {
			b, err := os.ReadFile(r.path("secrets", n))
			require.NoError(t, err, "secret %s", n)
			require.Regexp(t, `^[0-9a-f]{48}$`, string(b), "secret %s", n)
			secrets[n] = string(b)
		}
		require.Len(t, map[string]bool{secrets["mysql-root-password"]: true, secrets["mysql-password"]: true,
			secrets["redis-password"]: true, secrets["cluster-secret"]: true}, 4, "secrets must differ")
		ents, err := os.ReadDir(r.path("secrets"))
		require.NoError(t, err)
		for _, e := range ents {
			requireMode(t, r.path("secrets", e.Name()), 0o600)
		}
		for _, f := range []string{"cfg.json", "tracker.conf", "storage.conf", "redis/redis.conf"} {
			requireMode(t, r.path(f), 0o600)
		}
		require.Equal(t, secrets["mysql-password"], c.MySQL.Password, "cfg.json mysql.password")
		require.Equal(t, secrets["redis-password"], c.Redis.Password, "cfg.json redis.password")
		for _, f := range []string{"tracker.conf", "storage.conf"} {
			require.Equal(t, secrets["cluster-secret"], confValue(t, r.path(f), "cluster_secret"), "%s cluster_secret", f)
		}
	})

	t.Run("mariadb", func(t *testing.T) {
		rootPW, _ := os.ReadFile(r.path("secrets", "mysql-root-password"))
		addr := net.JoinHostPort(c.MySQL.IP, c.MySQL.Port)
		for _, who := range []struct{ user, pw, why string }{
			{"root", "", "root without a password over TCP"},
			{c.MySQL.User, "wrong-" + c.MySQL.Password, "the app user with a wrong password"},
			{c.MySQL.User, "", "the app user without a password"},
			{"root", string(rootPW), "root over TCP at all (only on the unix socket)"},
		} {
			err := mysqlPing(addr, who.user, who.pw)
			require.Error(t, err, "MariaDB let in %s", who.why)
			var me *mysql.MySQLError
			require.ErrorAs(t, err, &me, "%s: want an access error", who.why)
			require.EqualValues(t, 1045, me.Number, "%s: %v", who.why, err)
		}
		require.NoError(t, mysqlPing(addr, c.MySQL.User, c.MySQL.Password), "the app user with its password")
	})

	t.Run("redis", func(t *testing.T) {
		addr := net.JoinHostPort(c.Redis.IP, c.Redis.Port)
		require.True(t, strings.HasPrefix(redisSay(t, addr, "PING"), "-NOAUTH"), "PING without AUTH")
		require.True(t, strings.HasPrefix(redisSay(t, addr, "GET x"), "-NOAUTH"), "GET without AUTH")
		require.True(t, strings.HasPrefix(redisSay(t, addr, "AUTH wrong-"+c.Redis.Password), "-"), "AUTH with a wrong password")
		require.Equal(t, "+OK\n+PONG", redisSay(t, addr, "AUTH "+c.Redis.Password, "PING"), "AUTH with the password")
	})

	t.Run("nginx workers", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("not root: Nginx's workers run as the starting user anyway")
		}
		b, err := os.ReadFile(r.path("nginx", "nginx.pid"))
		require.NoError(t, err)
		master := strings.TrimSpace(string(b))
		workers := childrenOf(t, master)
		require.NotEmpty(t, workers, "no worker of Nginx master %s", master)
		for _, w := range workers {
			uids := procUids(t, w)
			for _, u := range uids {
				require.NotEqual(t, "0", u, "Nginx worker %s runs as root (Uid: %v)", w, uids)
			}
		}
		// ... and they still serve the web client and the storage's files.
		resp, err := httpClient.Get(r.url + "/")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "GET /")
	})
}

func requireMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, want, fi.Mode().Perm(), "mode of %s", path)
}

// confValue is the value of key in a FastDFS-style conf file.
func confValue(t *testing.T, path, key string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*(\S*)\s*$`).FindSubmatch(b)
	require.NotNil(t, m, "%s has no %s", path, key)
	return string(m[1])
}

func mysqlPing(addr, user, pw string) error {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", addr, user, pw
	cfg.Timeout, cfg.ReadTimeout = 10*time.Second, 10*time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// redisSay sends inline commands on one connection and returns the reply
// lines joined by "\n".
func redisSay(t *testing.T, addr string, cmds ...string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var out []string
	for _, cmd := range cmds {
		_, err := fmt.Fprintf(c, "%s\r\n", cmd)
		require.NoError(t, err)
		l, err := br.ReadString('\n')
		require.NoError(t, err, "reply to %q", strings.Fields(cmd)[0])
		out = append(out, strings.TrimRight(l, "\r\n"))
	}
	return strings.Join(out, "\n")
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(t *testing.T, pid string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if _, f, ok := procStat(e.Name()); ok && len(f) > 1 && f[0] != "Z" && f[1] == pid {
			out = append(out, e.Name())
		}
	}
	return out
}

// procUids is the Uid line of /proc/<pid>/status: real, effective, saved, fs.
func procUids(t *testing.T, pid string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Uid:"); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatalf("no Uid line in /proc/%s/status", pid)
	return nil
}

// programPid is the pid spawn/ recorded for a FastCGI program, if that
// process lives.
func programPid(r *scriptRun, name string) (int, bool) {
	b, err := os.ReadFile(r.path("fcgi", name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(strconv.Itoa(pid)) {
		return 0, false
	}
	return pid, true
}

// waitNewPid waits for a live program pid other than old.
func waitNewPid(t *testing.T, r *scriptRun, name string, old int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if pid, ok := programPid(r, name); ok && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) not started again within %v\n%s", name, old, within, runLogs(r.path("fcgi")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecurityProgramRestart: a FastCGI program killed with SIGKILL is
// started again by its supervisor, with its spool dir emptied, and serves
// uploads again.
func TestSecurityProgramRestart(t *testing.T) {
	r := securityStack(t)
	w := &web{t: t, url: r.url}
	a := w.login(w.register(fmt.Sprintf("restart%d", time.Now().UnixNano()%1e9), "pass-restart"))
	w.check(w.upload(a, "before.txt", []byte("before the kill")), "008", "upload before the kill")

	old, ok := programPid(r, "upload")
	require.True(t, ok, "no live upload program")
	// What a killed upload leaves in its spool dir.
	stale := r.path("upload-tmp", "upload", "yunpan-upload-killed", "00", "up-123")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o700))
	require.NoError(t, os.WriteFile(stale, []byte("half an upload"), 0o600))

	killed := time.Now()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	pid := waitNewPid(t, r, "upload", old, 15*time.Second)
	// Answering: a JSON answer from the program, not Nginx's 502.
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := w.post("/upload", "")
		if res.status != 502 && res.code() != "" && res.code() != "502" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload program (pid %d) does not answer: %s", pid, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("upload: pid %d killed, pid %d answering %v later", old, pid, time.Since(killed))
	_, err := os.Stat(stale)
	require.ErrorIs(t, err, fs.ErrNotExist, "the killed program's spool file is still there")
	w.check(w.upload(a, "after.txt", []byte("after the kill")), "008", "upload after the restart")
}

// TestSecurityCrashLoop: a program that keeps dying young is restarted
// with a growing back-off (0, 1, 2, 4 s ...), not in a tight loop, and
// still comes back.
func TestSecurityCrashLoop(t *testing.T) {
	t.Parallel() // its own stack: runs beside the other such tests
	r := securityStack(t)
	const name = "md5"
	pid, ok := programPid(r, name)
	require.True(t, ok, "no live %s program", name)
	// Deaths 1-3 in a row: restarted after 0, 1 and 2 s.
	for i := 0; i < 3; i++ {
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		pid = waitNewPid(t, r, name, pid, 30*time.Second)
	}
	// The fourth waits 4 s: still down 2 s after the kill (the supervisor
	// cannot be early, however loaded the machine is) ...
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()
	for time.Since(killed) < 2*time.Second {
		if p, ok := programPid(r, name); ok && p != pid {
			t.Fatalf("%s restarted %v after its fourth quick death: no back-off", name, time.Since(killed))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// ... and back after it.
	waitNewPid(t, r, name, pid, 60*time.Second)
	log, err := os.ReadFile(r.path("fcgi", name+".log"))
	require.NoError(t, err)
	for _, d := range []string{"0s", "1s", "2s", "4s"} {
		require.Contains(t, string(log), "restarting in "+d, "supervisor log")
	}
	w := &web{t: t, url: r.url}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := w.post("/md5", "")
		if res.status != 502 && res.code() != "" && res.code() != "502" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer after its back-off: %s", name, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSecurityReconcileSchedule: a DFS file no row references (what an
// upload killed between the storage and the database leaves) is deleted by
// the scheduled reconciliation; a file the database uses is kept.
func TestSecurityReconcileSchedule(t *testing.T) {
	r := securityStack(t)
	w := &web{t: t, url: r.url}
	a := w.login(w.register(fmt.Sprintf("recon%d", time.Now().UnixNano()%1e9), "pass-recon"))
	kept := []byte(fmt.Sprintf("kept %d", time.Now().UnixNano()))
	w.check(w.upload(a, "kept.txt", kept), "008", "upload")

	c := readRunCfg(t, r)
	keptID := fileIDOf(t, c, md5hex(kept))

	cc, err := conf.LoadClient(r.path("client.conf"))
	require.NoError(t, err)
	dfs, err := client.New(cc)
	require.NoError(t, err)
	defer dfs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	orphan, err := dfs.UploadBuffer(ctx, []byte("an upload whose program was killed"), "txt")
	require.NoError(t, err)
	t.Logf("orphan %s, kept %s", orphan, keptID)

	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := dfs.QueryFileInfo(ctx, orphan, 0)
		if err != nil {
			require.Equal(t, proto.StatusENOENT, proto.StatusOf(err), "query %s: %v", orphan, err)
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(r.path("reconcile.log"))
			t.Fatalf("orphan %s still in the DFS after %v; reconcile.log:\n%s", orphan, 90*time.Second, tail(string(log), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = dfs.QueryFileInfo(ctx, keptID, 0)
	require.NoError(t, err, "the referenced file %s", keptID)
	log, err := os.ReadFile(r.path("reconcile.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "queued "+orphan)
	require.NotContains(t, string(log), "queued "+keptID)
}

// fileIDOf reads the DFS file ID of the content with md5 sum from the
// database, as the app user.
func fileIDOf(t *testing.T, c runCfg, sum string) string {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(c.MySQL.IP, c.MySQL.Port)
	cfg.User, cfg.Passwd, cfg.DBName = c.MySQL.User, c.MySQL.Password, c.MySQL.Database
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var id string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT file_id FROM file_info WHERE md5 = ?", sum).Scan(&id))
	return id
}
