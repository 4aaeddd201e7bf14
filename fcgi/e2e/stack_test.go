package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"yunpan/internal/cluster"
	"yunpan/nginx"
)

// The harness: MariaDB, Redis and the DFS are started once per test binary
// (shared, each stack gets its own database and Redis key prefix); every
// Stack adds its own FastCGI programs and Nginx.

var (
	repoRoot string
	binDir   string // every binary the stack needs: fdfs_*, the FastCGI programs, nginxconf
	infra    *shared
	runner   = &cluster.Runner{}
	infraMu  sync.Mutex
	skipWhy  string // set when a required system binary is absent
)

type shared struct {
	db    *cluster.MariaDB
	redis *cluster.Redis
	dfs   *cluster.DFS
}

// sysBins are the Debian programs the stack runs.
var sysBins = map[string][]string{
	"nginx":      {"nginx"},
	"spawn-fcgi": {"spawn-fcgi"},
	"mariadbd":   {"mariadbd", "mysqld"},
	"install-db": {"mariadb-install-db", "mysql_install_db"},
	"redis":      {"redis-server"},
}

func lookSys(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
			if p := filepath.Join(d, n); isExec(p) {
				return p
			}
		}
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	for what, names := range sysBins {
		if lookSys(names...) == "" {
			skipWhy = fmt.Sprintf("%s is not installed (apt-get install nginx spawn-fcgi mariadb-server redis-server)", what)
		}
	}
	code := func() int {
		defer runner.Close()
		if skipWhy == "" {
			binDir = cluster.Bin(runner) // a failed build ends the test binary
		}
		return m.Run()
	}()
	os.Exit(code)
}

// programs is the FastCGI program table (spawn/fcgi.list).
func programs(tb testing.TB) []nginx.Program {
	ps, err := nginx.LoadPrograms(filepath.Join(repoRoot, "spawn", "fcgi.list"))
	if err != nil {
		tb.Fatal(err)
	}
	return ps
}

func needStack(tb testing.TB) {
	tb.Helper()
	if skipWhy != "" {
		tb.Skip(skipWhy)
	}
}

// sharedInfra starts MariaDB, Redis and the DFS once.
func sharedInfra(tb testing.TB) *shared {
	tb.Helper()
	needStack(tb)
	infraMu.Lock()
	defer infraMu.Unlock()
	if infra == nil {
		s := &shared{}
		var wg sync.WaitGroup
		wg.Add(3)
		// The three start independently; MariaDB is the slow one.
		go func() { defer wg.Done(); s.db = cluster.StartMariaDB(runner) }()
		go func() { defer wg.Done(); s.redis = cluster.StartRedis(runner) }()
		go func() { defer wg.Done(); s.dfs = cluster.StartDFS(runner) }()
		wg.Wait()
		infra = s
	}
	return infra
}

// proc is one child process of a Stack.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 1<<20 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startProc(tb testing.TB, name string, env []string, bin string, args ...string) *proc {
	tb.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	// Children die with the test binary even if it is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p
}

// stop sends sig, waits up to d, then kills the process group.
func (p *proc) stop(sig syscall.Signal, d time.Duration) {
	if !p.exited() {
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(d):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func freePort(tb testing.TB, ip string) int {
	tb.Helper()
	return cluster.FreePort(tb, ip)
}

// waitPort polls addr until it accepts a TCP connection.
func waitPort(addr string, d time.Duration, p *proc) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited:\n%s", p.name, p.output())
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: nothing listens on %s after %v", p.name, addr, d)
}

// Options tune a Stack.
type Options struct {
	UploadMode string // "exec" (default) or "inprocess"
	MaxBody    string // max_upload_bytes (Nginx lets it plus the multipart envelope through /upload), "50m"
	URLTTL     int    // anti_steal.token_ttl in seconds: how long a download URL works, 900
	// Cfg adds or replaces cfg.json keys (e.g. "http_status_codes": true).
	Cfg   map[string]any
	infra *shared // private MariaDB/Redis/DFS (a test that stops them); nil: the shared ones
}

// Stack is one cloud disk: its FastCGI programs and Nginx over the shared
// MariaDB, Redis and DFS.
type Stack struct {
	URL       string // "http://127.0.0.1:port"
	Addr      string
	DBName    string
	Cfg       string
	Infra     *shared
	NginxDir  string
	TempDir   string // the programs' temp_dir (upload spools)
	URLSecret string // anti_steal.secret_key, shared by the programs and Nginx
	// StatusCodes: http_status_codes is on (refusals come with 4xx
	// statuses instead of the course's HTTP 200).
	StatusCodes bool
	fcgi        map[string]*proc
	nginx       *proc
	metrics     map[string]string       // program → its -metrics address (leak_test.go)
	checks      []*cluster.ProcessCheck // the programs' leak baselines
}

var stackSeq struct {
	sync.Mutex
	n int
}

// StartStack starts the programs and Nginx; all stop at tb's cleanup.
func StartStack(tb testing.TB, o Options) *Stack {
	tb.Helper()
	in := o.infra
	if in == nil {
		in = sharedInfra(tb)
	}
	if o.UploadMode == "" {
		o.UploadMode = "exec"
	}
	if o.MaxBody == "" {
		o.MaxBody = "50m"
	}
	if o.URLTTL == 0 {
		o.URLTTL = 900
	}
	stackSeq.Lock()
	stackSeq.n++
	seq := stackSeq.n
	stackSeq.Unlock()

	dir := tb.TempDir()
	s := &Stack{Infra: in, fcgi: map[string]*proc{}, NginxDir: filepath.Join(dir, "nginx"), TempDir: filepath.Join(dir, "upload-tmp")}
	s.URLSecret = rand.Text() // a fresh download URL secret per stack
	s.DBName = in.db.NewDatabase(tb)
	port := freePort(tb, "127.0.0.1")
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.URL = "http://" + s.Addr

	// cfg.json with the course's keys and ours (fcgi/config).
	tmp := s.TempDir
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		tb.Fatal(err)
	}
	cfg := map[string]any{
		"redis": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(in.redis.Port),
			"key_prefix": fmt.Sprintf("e2e%d:", seq)},
		"mysql": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(in.db.Port), "database": s.DBName,
			"user": in.db.User, "password": in.db.Password},
		"dfs_path":           map[string]any{"client": in.dfs.ClientConf},
		"web_server":         map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(port)},
		"storage_web_server": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(port)},
		"upload_mode":        o.UploadMode,
		"fdfs_bin_dir":       binDir,
		"max_upload_bytes":   o.MaxBody,
		"temp_dir":           tmp,
		"bcrypt_cost":        4, // tests log in often; production keeps 10
		"log_level":          "warn",
		"anti_steal":         map[string]any{"check_token": true, "secret_key": s.URLSecret, "token_ttl": o.URLTTL},
	}
	for k, v := range o.Cfg {
		cfg[k] = v
	}
	s.StatusCodes = cfg["http_status_codes"] == true
	b, _ := json.MarshalIndent(cfg, "", "  ")
	s.Cfg = filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(s.Cfg, b, 0o600); err != nil {
		tb.Fatal(err)
	}

	// The FastCGI programs, one spawn-fcgi each (-n: spawn-fcgi binds the
	// socket and execs the program, so the process we wait on is the program).
	spawn := lookSys("spawn-fcgi")
	progs := programs(tb)
	for i := range progs {
		progs[i].Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb, "127.0.0.1")))
	}
	for _, p := range progs {
		host, port, _ := net.SplitHostPort(p.Addr)
		pr := startProc(tb, p.Name, []string{"YUNPAN_CFG=" + s.Cfg}, spawn, append([]string{"-n", "-a", host, "-p", port, "--",
			filepath.Join(binDir, p.Name), "-conf", s.Cfg}, metricsArgs(tb, s, p.Name)...)...)
		s.fcgi[p.Name] = pr
	}
	tb.Cleanup(func() {
		checkPrograms(tb, s) // leak_test.go; Nginx has stopped by now
		for _, p := range s.fcgi {
			p.stop(syscall.SIGTERM, 10*time.Second)
		}
	})
	for _, p := range progs {
		if err := waitPort(p.Addr, 15*time.Second, s.fcgi[p.Name]); err != nil {
			tb.Fatal(err)
		}
	}
	baselinePrograms(tb, s, in)

	// Nginx in the foreground (daemon off) so the test owns it.
	_, err := nginx.Write(nginx.Params{
		Prefix: s.NginxDir, Listen: s.Addr, HTMLRoot: filepath.Join(repoRoot, "html"),
		Daemon: false, MaxBody: o.MaxBody, LinkSecret: s.URLSecret, Programs: progs, LogLevel: "warn",
		Stores: []nginx.Store{{Group: "group1", Index: 0, Path: in.dfs.StoreDir}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.nginx = startProc(tb, "nginx", nil, lookSys("nginx"), nginx.Args(s.NginxDir)...)
	tb.Cleanup(func() {
		s.nginx.stop(syscall.SIGTERM, 10*time.Second)
		// A later stack may get this port again: a kept connection to this
		// Nginx would then carry its first request and end in EOF.
		httpClient.CloseIdleConnections()
	})
	if err := waitPort(s.Addr, 15*time.Second, s.nginx); err != nil {
		tb.Fatalf("%v\n%s", err, s.NginxErrors())
	}
	return s
}

// logsOnFailure prints the tail of s's logs when t has failed, before
// the stack stops.
func logsOnFailure(t testing.TB, s *Stack) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", tail(s.Logs(), 8000))
		}
	})
}

// NginxErrors returns Nginx's error log.
func (s *Stack) NginxErrors() string {
	b, _ := os.ReadFile(filepath.Join(s.NginxDir, "logs", "error.log"))
	return string(b)
}

// Logs returns every program's output and Nginx's error log, for failures.
func (s *Stack) Logs() string {
	var b strings.Builder
	for name, p := range s.fcgi {
		if out := p.output(); out != "" {
			fmt.Fprintf(&b, "--- %s\n%s\n", name, out)
		}
	}
	fmt.Fprintf(&b, "--- nginx error.log\n%s", s.NginxErrors())
	return b.String()
}

// HTTP is the client the tests use: no proxy, short timeouts.
var httpClient = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
}
