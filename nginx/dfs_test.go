package nginx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/conf"
)

func dfsParams(t *testing.T) DFSParams {
	dir := t.TempDir()
	return DFSParams{
		Prefix: filepath.Join(dir, "run"),
		Listen: "127.0.0.1:18888",
		Group:  "group1",
		Stores: []DFSStore{{0, filepath.Join(dir, "s0")}, {1, filepath.Join(dir, "s1")}},
	}
}

// nginxCheck runs `nginx -t` on a config file when Nginx is installed.
func nginxCheck(t *testing.T, prefix, path string) {
	t.Helper()
	const bin = "/usr/sbin/nginx"
	if _, err := os.Stat(bin); err != nil {
		t.Logf("%s not installed: syntax not checked", bin)
		return
	}
	out, err := exec.Command(bin, "-t", "-p", prefix, "-c", path).CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestRenderDFSFull(t *testing.T) {
	p := dfsParams(t)
	p.Upstream = "127.0.0.1:18081"
	p.CheckToken = true
	p.TokenCheckFail = filepath.Join(t.TempDir(), "anti-steal.jpg")
	require.NoError(t, os.WriteFile(p.TokenCheckFail, []byte("x"), 0o644))
	path := filepath.Join(p.Prefix, "nginx.conf")
	require.NoError(t, WriteDFS(p, path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := string(b)
	for _, want := range []string{
		"listen 127.0.0.1:18888;",
		"pid " + p.Prefix + "/nginx.pid;",
		`location ~ "^/group1/(?<dfs_st_remote>M00/(?<dfs_st_rel>[0-9A-F]{2}/[0-9A-F]{2}/[A-Za-z0-9._-]+))$" {`,
		"alias " + p.Stores[0].Path + "/data/$dfs_st_rel;",
		`location ~ "^/group1/(?<dfs_st_remote>M01/`,
		"alias " + p.Stores[1].Path + "/data/$dfs_st_rel;",
		"auth_request /__dfs_auth_group1;",
		"error_page 404 = @dfs_fallback_group1;",
		"error_page 403 =200 /__dfs_token_fail_group1;",
		"default_type image/jpeg;",
		"server 127.0.0.1:18081;",
		"proxy_pass http://dfs_storage_group1$uri$is_args$args;",
		"add_header Content-Disposition $dfs_st_disposition;",
		"sendfile on;",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "max_ranges")
	require.NotRegexp(t, `(?m)^\s*daemon`, out, "tests and supervisors pass -g 'daemon off;'")
	if os.Geteuid() == 0 {
		require.Contains(t, out, "user root root;")
	}
	require.DirExists(t, filepath.Join(p.Prefix, "logs"))
	nginxCheck(t, p.Prefix, path)
	require.Equal(t, []string{"-p", p.Prefix, "-c", path, "-g", "daemon off;"}, DFSArgs(p.Prefix, path))
}

func TestRenderDFSWithoutEndpoint(t *testing.T) {
	p := dfsParams(t)
	p.SingleRange = true
	p.DefaultType = "text/plain"
	out, err := RenderDFS(p, DFSFull)
	require.NoError(t, err)
	s := string(out)
	require.NotContains(t, s, "auth_request")
	require.NotContains(t, s, "upstream")
	require.NotContains(t, s, "@dfs_fallback")
	require.Contains(t, s, "max_ranges 1;")
	require.Contains(t, s, "default_type text/plain;")
	path := filepath.Join(p.Prefix, "nginx.conf")
	require.NoError(t, WriteDFS(p, path))
	nginxCheck(t, p.Prefix, path)
}

// The two parts, included into another Nginx's http and server blocks as
// the web app's config would do.
func TestRenderDFSParts(t *testing.T) {
	p := dfsParams(t)
	p.Upstream = "127.0.0.1:18081"
	p.CheckToken = true
	httpPart, err := RenderDFS(p, DFSHTTP)
	require.NoError(t, err)
	locs, err := RenderDFS(p, DFSLocations)
	require.NoError(t, err)
	require.Contains(t, string(httpPart), "map $dfs_st_name $dfs_st_disposition")
	require.NotContains(t, string(httpPart), "location ")
	require.Contains(t, string(locs), "location @dfs_fallback_group1")
	require.NotContains(t, string(locs), "map ")
	require.NotContains(t, string(locs), "upstream ")

	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dfs-http.inc"), httpPart, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dfs-locations.inc"), locs, 0o644))
	host := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/logs/error.log;\nevents {}\nhttp {\n" +
		"    include /etc/nginx/mime.types;\n    include " + dir + "/dfs-http.inc;\n" +
		"    server {\n        listen 127.0.0.1:18889;\n        location / { return 404; }\n        include " + dir + "/dfs-locations.inc;\n    }\n}\n"
	path := filepath.Join(dir, "web.conf")
	require.NoError(t, os.WriteFile(path, []byte(host), 0o644))
	nginxCheck(t, dir, path)
}

func TestRenderDFSRefusesBadValues(t *testing.T) {
	for name, mut := range map[string]func(*DFSParams){
		"group":           func(p *DFSParams) { p.Group = "g;x" },
		"long group":      func(p *DFSParams) { p.Group = strings.Repeat("g", 17) },
		"store path":      func(p *DFSParams) { p.Stores[0].Path = "/a b" },
		"relative store":  func(p *DFSParams) { p.Stores[0].Path = "data" },
		"brace":           func(p *DFSParams) { p.Stores[1].Path = "/a}" },
		"store index":     func(p *DFSParams) { p.Stores[1].Index = 256 },
		"no stores":       func(p *DFSParams) { p.Stores = nil },
		"listen":          func(p *DFSParams) { p.Listen = "1.2.3.4:80;include /x" },
		"prefix":          func(p *DFSParams) { p.Prefix = "run" },
		"upstream":        func(p *DFSParams) { p.Upstream = "a b" },
		"token w/o up":    func(p *DFSParams) { p.CheckToken = true },
		"type":            func(p *DFSParams) { p.DefaultType = "text/plain; charset=x" },
		"fail file":       func(p *DFSParams) { p.Upstream = "127.0.0.1:1"; p.TokenCheckFail = "/x y.jpg" },
		"user":            func(p *DFSParams) { p.User = "root;" },
		"log level":       func(p *DFSParams) { p.LogLevel = "loud" },
		"upstream name":   func(p *DFSParams) { p.UpstreamName = "a-b" },
		"mime types path": func(p *DFSParams) { p.MimeTypes = "mime.types" },
	} {
		p := dfsParams(t)
		mut(&p)
		_, err := RenderDFS(p, DFSFull)
		require.Error(t, err, name)
	}
	_, err := RenderDFS(dfsParams(t), "everything")
	require.Error(t, err)
	// The locations part does not need the full config's values.
	p := dfsParams(t)
	p.Prefix, p.Listen = "", ""
	_, err = RenderDFS(p, DFSLocations)
	require.NoError(t, err)
}

func TestDFSFromStorage(t *testing.T) {
	st := conf.DefaultStorage()
	st.GroupName = "g2"
	st.BindAddr = "127.0.0.7"
	st.StorePaths = []string{"/data/a", "/data/b"}
	p, err := DFSFromStorage(st)
	require.NoError(t, err)
	require.Equal(t, "g2", p.Group)
	require.Equal(t, []DFSStore{{0, "/data/a"}, {1, "/data/b"}}, p.Stores)
	require.Empty(t, p.Upstream, "no HTTP endpoint")
	require.Equal(t, "application/octet-stream", p.DefaultType)
	require.False(t, p.SingleRange)

	st.HTTP.ServerPort = 8081
	p, _ = DFSFromStorage(st)
	require.Equal(t, "127.0.0.7:8081", p.Upstream)
	st.HTTP.BindAddr = "127.0.0.8"
	p, _ = DFSFromStorage(st)
	require.Equal(t, "127.0.0.8:8081", p.Upstream)
	st.HTTP.BindAddr, st.BindAddr = "", "0.0.0.0"
	p, _ = DFSFromStorage(st)
	require.Equal(t, "127.0.0.1:8081", p.Upstream)
	st.BindAddr = ""
	p, _ = DFSFromStorage(st)
	require.Equal(t, "127.0.0.1:8081", p.Upstream)
}
