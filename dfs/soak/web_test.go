//go:build soak

package soak

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"yunpan/internal/cluster"
	"yunpan/nginx"
)

// The web path: MariaDB, Redis, the FastCGI programs under spawn-fcgi and a
// private Nginx over the soak cluster (the fcgi/e2e harness lives in a
// _test file of another package, so the few lines it needs are here).

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
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

// child is one process of the web stack.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *child) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out.Len() < 1<<20 {
		p.out.Write(b)
	}
	return len(b), nil
}

func (p *child) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *child) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startChild(t *testing.T, name string, env []string, bin string, args ...string) *child {
	t.Helper()
	p := &child{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func freePort(t *testing.T) int { return cluster.FreePort(t, "127.0.0.1") }

func waitPort(addr string, d time.Duration, p *child) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited:\n%s", p.name, p.output())
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: nothing listens on %s after %v", p.name, addr, d)
}

// webStack is the cloud disk over the soak cluster.
type webStack struct {
	URL      string
	Cfg      string // the programs' cfg.json
	DB       *cluster.MariaDB
	DBName   string
	nginxDir string
	children []*child
}

// startWeb starts MariaDB, Redis, the programs and Nginx; clientConf names
// the soak cluster's trackers, stores the store paths Nginx serves from.
func startWeb(t *testing.T, bin, clientConf string, stores []nginx.Store) *webStack {
	t.Helper()
	for what, names := range map[string][]string{"nginx": {"nginx"}, "spawn-fcgi": {"spawn-fcgi"},
		"mariadbd": {"mariadbd", "mysqld"}, "redis": {"redis-server"}} {
		if lookSys(names...) == "" {
			t.Fatalf("%s is not installed (make deps)", what)
		}
	}
	var (
		db *cluster.MariaDB
		rd *cluster.Redis
		wg sync.WaitGroup
	)
	wg.Add(2)
	go func() { defer wg.Done(); db = cluster.StartMariaDB(t) }()
	go func() { defer wg.Done(); rd = cluster.StartRedis(t) }()
	wg.Wait()
	if db == nil || rd == nil {
		t.FailNow()
	}
	s := &webStack{DB: db, DBName: db.NewDatabase(t)}
	dir := t.TempDir()
	s.nginxDir = filepath.Join(dir, "nginx")
	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.URL = "http://" + addr
	tmp := filepath.Join(dir, "upload-tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	urlSecret := rand.Text() // signs the download URLs; Nginx checks them
	cfg := map[string]any{
		"redis": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(rd.Port), "key_prefix": "soak:"},
		"mysql": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(db.Port), "database": s.DBName,
			"user": db.User, "password": db.Password},
		"dfs_path":           map[string]any{"client": clientConf},
		"web_server":         map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(port)},
		"storage_web_server": map[string]any{"ip": "127.0.0.1", "port": strconv.Itoa(port)},
		"upload_mode":        "inprocess",
		"fdfs_bin_dir":       bin,
		"max_upload_bytes":   "50m",
		"temp_dir":           tmp,
		"bcrypt_cost":        4,
		"log_level":          "warn",
		"anti_steal":         map[string]any{"secret_key": urlSecret},
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	cfgPath := filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Cfg = cfgPath
	progs, err := nginx.LoadPrograms(filepath.Join(repoRoot(), "spawn", "fcgi.list"))
	if err != nil {
		t.Fatal(err)
	}
	spawn := lookSys("spawn-fcgi")
	for i := range progs {
		progs[i].Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	}
	for _, p := range progs {
		host, pport, _ := net.SplitHostPort(p.Addr)
		c := startChild(t, p.Name, []string{"YUNPAN_CFG=" + cfgPath}, spawn, "-n", "-a", host, "-p", pport, "--",
			filepath.Join(bin, p.Name), "-conf", cfgPath)
		s.children = append(s.children, c)
		if err := waitPort(p.Addr, 30*time.Second, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nginx.Write(nginx.Params{
		Prefix: s.nginxDir, Listen: addr, HTMLRoot: filepath.Join(repoRoot(), "html"),
		Daemon: false, MaxBody: "50m", LinkSecret: urlSecret, Programs: progs, LogLevel: "warn", Stores: stores,
	}); err != nil {
		t.Fatal(err)
	}
	ng := startChild(t, "nginx", nil, lookSys("nginx"), nginx.Args(s.nginxDir)...)
	s.children = append(s.children, ng)
	if err := waitPort(addr, 15*time.Second, ng); err != nil {
		t.Fatal(err)
	}
	return s
}

// Logs returns the programs' output and Nginx's error log (for failures).
func (s *webStack) Logs() string {
	var b bytes.Buffer
	for _, c := range s.children {
		if out := c.output(); out != "" {
			fmt.Fprintf(&b, "--- %s\n%s\n", c.name, tail(out, 4000))
		}
	}
	el, _ := os.ReadFile(filepath.Join(s.nginxDir, "logs", "error.log"))
	fmt.Fprintf(&b, "--- nginx error.log\n%s", tail(string(el), 4000))
	return b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

var httpClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}}

// webReply is an answer: HTTP status, body and the JSON "code".
type webReply struct {
	status int
	body   []byte
	code   string
	obj    map[string]any
}

func (r webReply) String() string {
	return fmt.Sprintf("HTTP %d %s", r.status, tail(string(r.body), 300))
}

func webDo(method, url, ctype string, body io.Reader, hdr ...string) (webReply, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return webReply{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return webReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return webReply{}, err
	}
	r := webReply{status: resp.StatusCode, body: b}
	if json.Unmarshal(b, &r.obj) == nil {
		r.code, _ = r.obj["code"].(string)
	}
	return r, nil
}

func (s *webStack) post(path string, v any) (webReply, error) {
	b, _ := json.Marshal(v)
	return webDo("POST", s.URL+path, "application/json", bytes.NewReader(b))
}

func (s *webStack) upload(user, token, name string, data []byte) (webReply, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("user", user)
	mw.WriteField("token", token)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	return webDo("POST", s.URL+"/upload", mw.FormDataContentType(), &buf)
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}
