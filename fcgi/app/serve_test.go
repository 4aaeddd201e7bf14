package app

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"yunpan/fcgi/config"
	"yunpan/internal/cluster"
)

// writeCfg writes cfg as a cfg.json in the course's string style.
func writeCfg(t testing.TB, cfg *config.Config) string {
	m := map[string]any{
		"mysql":              map[string]string{"ip": cfg.MySQL.IP, "port": strconv.Itoa(cfg.MySQL.Port), "database": cfg.MySQL.Database, "user": cfg.MySQL.User, "password": "from-env"},
		"redis":              map[string]any{"ip": cfg.Redis.IP, "port": strconv.Itoa(cfg.Redis.Port), "key_prefix": cfg.Redis.KeyPrefix},
		"dfs_path":           map[string]string{"client": cfg.DFSClient},
		"web_server":         map[string]string{"ip": "127.0.0.1", "port": "80"},
		"storage_web_server": map[string]string{"ip": "127.0.0.1", "port": "8888"},
		"upload_mode":        cfg.UploadMode,
		"fdfs_bin_dir":       cfg.FdfsBinDir,
		"bcrypt_cost":        4,
		"max_upload_bytes":   strconv.FormatInt(cfg.MaxUploadBytes, 10),
		"temp_dir":           cfg.TempDir,
		"log_level":          "warn",
		"anti_steal":         map[string]any{"secret_key": cfg.AntiSteal.SecretKey},
		"http_status_codes":  cfg.HTTPStatusCodes,
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "cfg.json")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

type prog struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
}

func startProg(t testing.TB, cmd *exec.Cmd, password string) *prog {
	p := &prog{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr, cmd.Stdout = p.out, p.out
	cmd.Env = append(os.Environ(), "YUNPAN_MYSQL_PASSWORD="+password)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *prog) stop(t testing.TB) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		p.done <- err
		require.NoError(t, err, "%s", p.out)
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit after SIGTERM\n%s", p.out)
	}
}

func waitPort(t testing.TB, addr string, p *prog) {
	require.Eventually(t, func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("exited: %v\n%s", err, p.out)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)
}

// TestPrograms runs the real binaries: reg and login with -listen (plain
// HTTP), upload under spawn-fcgi (the socket on fd 0) spoken to with
// FastCGI, and myfiles with -fcgi.
func TestPrograms(t *testing.T) {
	bin := cluster.Bin(t)
	cfg := testConfig(t, config.UploadExec)
	cfgPath := writeCfg(t, cfg)
	pw := mdb.Password

	httpProg := func(name string) string {
		addr := fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t))
		p := startProg(t, exec.Command(filepath.Join(bin, name), "-conf", cfgPath, "-listen", addr), pw)
		waitPort(t, addr, p)
		t.Cleanup(func() { p.stop(t) })
		return "http://" + addr
	}
	regURL, loginURL := httpProg("reg"), httpProg("login")
	post := func(url string, body string) (int, map[string]any) {
		res, err := http.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer res.Body.Close()
		var m map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
		return res.StatusCode, m
	}
	st, m := post(regURL+"/reg", `{"userName":"proguser","nickName":"p","firstPwd":"`+pwHash("x")+`"}`)
	require.Equal(t, 200, st, "%v", m)
	require.Equal(t, CodeRegOK, m["code"])
	st, m = post(loginURL+"/login", `{"user":"proguser","pwd":"`+pwHash("x")+`"}`)
	require.Equal(t, 200, st, "%v", m)
	tok := m["token"].(string)

	// upload under spawn-fcgi -n: it hands the listening socket over as stdin.
	spawn, err := exec.LookPath("spawn-fcgi")
	if err != nil {
		t.Skip("spawn-fcgi not installed")
	}
	upAddr := fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t))
	host, port, _ := net.SplitHostPort(upAddr)
	up := startProg(t, exec.Command(spawn, "-n", "-a", host, "-p", port, "--", filepath.Join(bin, "upload"), "-conf", cfgPath), pw)
	waitPort(t, upAddr, up)
	content := randBytes(100000)
	ct, body := multipartBody(t, map[string]string{"user": "proguser", "token": tok}, "prog.bin", content, false)
	status, hdr, rb := fcgiDo(t, upAddr, "POST", "/upload", ct, body)
	require.Equal(t, 200, status, "%s\n%s", rb, up.out)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	require.Contains(t, string(rb), `"code":"008"`)
	// Too large through FastCGI too.
	status, _, rb = fcgiDo(t, upAddr, "POST", "/upload", ct, append(body, make([]byte, testMax+uploadOverhead)...))
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", rb)

	// myfiles on -fcgi.
	mfAddr := fmt.Sprintf("127.0.0.1:%d", cluster.FreePort(t))
	mf := startProg(t, exec.Command(filepath.Join(bin, "myfiles"), "-conf", cfgPath, "-fcgi", mfAddr), pw)
	waitPort(t, mfAddr, mf)
	status, _, rb = fcgiDo(t, mfAddr, "POST", "/myfiles?cmd=normal", "application/json",
		[]byte(`{"user":"proguser","token":"`+tok+`","start":0,"count":10}`))
	require.Equal(t, 200, status, "%s", rb)
	require.Contains(t, string(rb), `"file_name":"prog.bin"`)
	require.Contains(t, string(rb), sum(content))

	up.stop(t)
	mf.stop(t)

	// Bad config: a clear error and exit status 1.
	out, err := exec.Command(filepath.Join(bin, "md5"), "-conf", filepath.Join(t.TempDir(), "missing.json")).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "missing.json")
	out, err = exec.Command(filepath.Join(bin, "md5"), "-h").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "YUNPAN_MYSQL_PASSWORD")
}

// fcgiDo sends one FastCGI request (what Nginx's fastcgi_pass does) and
// returns the CGI response.
func fcgiDo(t testing.TB, addr, method, uri, contentType string, body []byte) (int, textproto.MIMEHeader, []byte) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	w := bufio.NewWriter(c)
	rec := func(typ byte, content []byte) {
		for {
			n := min(len(content), 65535)
			hdr := []byte{1, typ, 0, 1, byte(n >> 8), byte(n), 0, 0}
			w.Write(hdr)
			w.Write(content[:n])
			content = content[n:]
			if len(content) == 0 {
				return
			}
		}
	}
	rec(1, []byte{0, 1, 0, 0, 0, 0, 0, 0}) // BEGIN_REQUEST, responder
	path, query, _ := strings.Cut(uri, "?")
	var params bytes.Buffer
	for _, kv := range [][2]string{
		{"REQUEST_METHOD", method}, {"REQUEST_URI", uri}, {"SCRIPT_NAME", path}, {"QUERY_STRING", query},
		{"SERVER_PROTOCOL", "HTTP/1.1"}, {"CONTENT_TYPE", contentType}, {"CONTENT_LENGTH", strconv.Itoa(len(body))},
		{"REMOTE_ADDR", "127.0.0.1"}, {"SERVER_NAME", "localhost"}, {"SERVER_PORT", "80"}, {"HTTP_HOST", "localhost"},
	} {
		for _, s := range []string{kv[0], kv[1]} {
			if len(s) < 128 {
				params.WriteByte(byte(len(s)))
			} else {
				binary.Write(&params, binary.BigEndian, uint32(len(s))|1<<31)
			}
		}
		params.WriteString(kv[0])
		params.WriteString(kv[1])
	}
	rec(4, params.Bytes())
	rec(4, nil)
	if len(body) > 0 {
		rec(5, body)
	}
	rec(5, nil)
	require.NoError(t, w.Flush())

	var stdout bytes.Buffer
	r := bufio.NewReader(c)
	for {
		var h [8]byte
		_, err := io.ReadFull(r, h[:])
		require.NoError(t, err)
		n := int(h[4])<<8 | int(h[5])
		content := make([]byte, n+int(h[6]))
		_, err = io.ReadFull(r, content)
		require.NoError(t, err)
		if h[1] == 6 { // STDOUT
			stdout.Write(content[:n])
		}
		if h[1] == 3 { // END_REQUEST
			break
		}
	}
	tp := textproto.NewReader(bufio.NewReader(&stdout))
	hdr, err := tp.ReadMIMEHeader()
	require.NoError(t, err)
	status := 200
	if s := hdr.Get("Status"); s != "" {
		status, err = strconv.Atoi(strings.Fields(s)[0])
		require.NoError(t, err)
	}
	rest, _ := io.ReadAll(tp.R)
	return status, hdr, rest
}

func TestParseFlags(t *testing.T) {
	t.Setenv("YUNPAN_CFG", "/etc/yunpan/cfg.json")
	var stderr strings.Builder
	o, err := parseFlags("md5", nil, &stderr)
	require.NoError(t, err)
	require.Equal(t, &serveOptions{Name: "md5", Conf: "/etc/yunpan/cfg.json"}, o)

	o, err = parseFlags("upload", []string{"-conf", "c.json", "-fcgi", "127.0.0.1:9000", "-metrics", "127.0.0.1:9200", "-access-log"}, &stderr)
	require.NoError(t, err)
	require.Equal(t, &serveOptions{Name: "upload", Conf: "c.json", FCGI: "127.0.0.1:9000", Metrics: "127.0.0.1:9200", AccessLog: true}, o)

	_, err = parseFlags("md5", []string{"-bogus"}, &stderr)
	require.Error(t, err)
	require.Contains(t, stderr.String(), "usage: md5")
	stderr.Reset()
	_, err = parseFlags("nosuch", nil, &stderr)
	require.Error(t, err)
	require.Contains(t, stderr.String(), `unknown program "nosuch"`)
	require.Equal(t, 2, run("nosuch", nil, io.Discard))
}
