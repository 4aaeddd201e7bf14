package nginx

// The DFS storage's own download server: dfs-storage.conf.tmpl (a complete
// private Nginx for one storage node) and dfs-locations.inc.tmpl (its http
// and server parts, for inclusion into another Nginx). fdfs_nginxconf renders
// them from a storage.conf; tests render them the same way.

import (
	"bytes"
	"embed"
	"fmt"
	"mime"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"yunpan/conf"
	"yunpan/internal/inline"
)

//go:embed dfs-storage.conf.tmpl dfs-locations.inc.tmpl
var dfsFS embed.FS

// DFS template parts for RenderDFS.
const (
	DFSFull      = "full"      // the whole nginx.conf (dfs-storage.conf.tmpl)
	DFSHTTP      = "http"      // maps and upstream, for inside http { }
	DFSLocations = "locations" // location blocks, for inside server { }
)

// DFSStore is one store path: M<Index> is served from Path/data.
type DFSStore struct {
	Index int
	Path  string
}

// DFSParams fill the DFS templates. Zero values get the defaults of
// Defaults.
type DFSParams struct {
	Prefix             string     // run directory: pid, logs/, tmp/ (full config only)
	Listen             string     // "127.0.0.1:8888" (full config only)
	MimeTypes          string     // /etc/nginx/mime.types
	User               string     // worker user; "" = "root root" when running as root, else none
	Workers            int        // worker_processes, 1
	LogLevel           string     // error_log level, "warn"
	AccessLog          bool       // write Prefix/logs/access.log
	Group              string     // group_name
	Stores             []DFSStore // store_path0..N-1
	Upstream           string     // the storage's HTTP endpoint "ip:port"; "" = no fallback, no token check
	UpstreamName       string     // upstream block name, "dfs_storage_<group>"
	CheckToken         bool       // http.anti_steal.check_token (needs Upstream)
	TokenCheckFail     string     // http.anti_steal.token_check_fail: sent with 200 when a token fails
	TokenCheckFailType string     // its media type, from its extension
	DefaultType        string     // http.default_content_type
	SingleRange        bool       // !http.multi_range.enabled: max_ranges 1
}

var (
	dfsSafePath = regexp.MustCompile(`^/[A-Za-z0-9/_.:@+-]*$`)
	dfsSafeAddr = regexp.MustCompile(`^[A-Za-z0-9.:\[\]_-]+$`)
	dfsGroup    = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)
	dfsName     = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	dfsType     = regexp.MustCompile(`^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+$`)
	dfsLevel    = regexp.MustCompile(`^(debug|info|notice|warn|error|crit|alert|emerg)$`)
	dfsUser     = regexp.MustCompile(`^[A-Za-z0-9_.-]+( [A-Za-z0-9_.-]+)?$`)
)

// InlineTypes are the file types shown in place (yunpan/internal/inline).
func (DFSParams) InlineTypes() []inline.Ext { return inline.List() }

// InlinePattern matches their extensions.
func (DFSParams) InlinePattern() string { return inline.Pattern() }

// Defaults fills the zero fields of p.
func (p *DFSParams) Defaults() {
	if p.MimeTypes == "" {
		p.MimeTypes = "/etc/nginx/mime.types"
	}
	if p.Workers == 0 {
		p.Workers = 1
	}
	if p.LogLevel == "" {
		p.LogLevel = "warn"
	}
	if p.DefaultType == "" {
		p.DefaultType = "application/octet-stream"
	}
	if p.UpstreamName == "" {
		p.UpstreamName = "dfs_storage_" + p.Group
	}
	if p.User == "" && os.Geteuid() == 0 {
		// As root the workers would drop to "nobody", which cannot read
		// private store paths (and test temp dirs).
		p.User = "root root"
	}
	if p.TokenCheckFail != "" && p.TokenCheckFailType == "" {
		p.TokenCheckFailType = p.DefaultType
		if t := mime.TypeByExtension(filepath.Ext(p.TokenCheckFail)); t != "" {
			p.TokenCheckFailType, _, _ = strings.Cut(t, ";")
		}
	}
}

// check refuses values that could end or inject a directive: everything is
// pasted into the config unquoted.
func (p *DFSParams) check(part string) error {
	bad := func(what, v string) error {
		return fmt.Errorf("nginx: %s %q is empty or has characters Nginx would misread", what, v)
	}
	if part == DFSFull {
		if !dfsSafePath.MatchString(p.Prefix) {
			return bad("prefix (absolute)", p.Prefix)
		}
		if !dfsSafeAddr.MatchString(p.Listen) {
			return bad("listen", p.Listen)
		}
		if !dfsSafePath.MatchString(p.MimeTypes) {
			return bad("mime types (absolute)", p.MimeTypes)
		}
		if p.User != "" && !dfsUser.MatchString(p.User) {
			return bad("user", p.User)
		}
		if !dfsLevel.MatchString(p.LogLevel) || p.Workers < 1 {
			return fmt.Errorf("nginx: log level %q / workers %d", p.LogLevel, p.Workers)
		}
	}
	if !dfsGroup.MatchString(p.Group) {
		return bad("group", p.Group)
	}
	if !dfsName.MatchString(p.UpstreamName) {
		return bad("upstream name", p.UpstreamName)
	}
	if len(p.Stores) == 0 {
		return fmt.Errorf("nginx: no store paths")
	}
	for _, s := range p.Stores {
		if s.Index < 0 || s.Index > 255 || !dfsSafePath.MatchString(s.Path) {
			return bad(fmt.Sprintf("store path %d (absolute)", s.Index), s.Path)
		}
	}
	if p.Upstream != "" && !dfsSafeAddr.MatchString(p.Upstream) {
		return bad("upstream", p.Upstream)
	}
	if p.CheckToken && p.Upstream == "" {
		return fmt.Errorf("nginx: token checks need the storage's HTTP endpoint (http.server_port)")
	}
	if !dfsType.MatchString(p.DefaultType) {
		return bad("default type", p.DefaultType)
	}
	if p.TokenCheckFail != "" && (!dfsSafePath.MatchString(p.TokenCheckFail) || !dfsType.MatchString(p.TokenCheckFailType)) {
		return bad("token check fail file (absolute)", p.TokenCheckFail)
	}
	return nil
}

var dfsTmpl = func() *template.Template {
	t := template.New("dfs")
	t.Funcs(template.FuncMap{
		// include renders a named template into a string, so it can be indented.
		"include": func(name string, data any) (string, error) {
			var b bytes.Buffer
			err := t.ExecuteTemplate(&b, name, data)
			return b.String(), err
		},
		"indent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			lines := strings.Split(s, "\n")
			for i, l := range lines {
				if l != "" {
					lines[i] = pad + l
				}
			}
			return strings.Join(lines, "\n")
		},
	})
	return template.Must(t.ParseFS(dfsFS, "dfs-storage.conf.tmpl", "dfs-locations.inc.tmpl"))
}()

// RenderDFS renders part (DFSFull, DFSHTTP or DFSLocations) of the DFS
// storage download configuration.
func RenderDFS(p DFSParams, part string) ([]byte, error) {
	p.Defaults()
	if err := p.check(part); err != nil {
		return nil, err
	}
	name := map[string]string{DFSFull: "dfs-storage.conf.tmpl", DFSHTTP: "dfs_http", DFSLocations: "dfs-locations.inc.tmpl"}[part]
	if name == "" {
		return nil, fmt.Errorf("nginx: unknown part %q (want %s, %s or %s)", part, DFSFull, DFSHTTP, DFSLocations)
	}
	var b bytes.Buffer
	if err := dfsTmpl.ExecuteTemplate(&b, name, p); err != nil {
		return nil, fmt.Errorf("nginx: render %s: %w", part, err)
	}
	return b.Bytes(), nil
}

// DFSFromStorage fills the storage-derived fields of DFSParams from a
// storage.conf: group, store paths (made absolute), the http.* keys and the
// upstream (http.bind_addr, else bind_addr, else 127.0.0.1, with
// http.server_port; none when the endpoint is off).
func DFSFromStorage(st *conf.Storage) (DFSParams, error) {
	p := DFSParams{
		Group:          st.GroupName,
		CheckToken:     st.HTTP.CheckToken,
		TokenCheckFail: st.HTTP.TokenCheckFail,
		DefaultType:    st.HTTP.DefaultContentType,
		SingleRange:    !st.HTTP.MultiRange,
	}
	for i, sp := range st.StorePaths {
		abs, err := filepath.Abs(sp)
		if err != nil {
			return p, err
		}
		p.Stores = append(p.Stores, DFSStore{Index: i, Path: abs})
	}
	if p.TokenCheckFail != "" {
		abs, err := filepath.Abs(p.TokenCheckFail)
		if err != nil {
			return p, err
		}
		p.TokenCheckFail = abs
	}
	if st.HTTP.ServerPort > 0 {
		host := st.HTTP.BindAddr
		if host == "" {
			host = st.BindAddr
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		p.Upstream = net.JoinHostPort(host, strconv.Itoa(st.HTTP.ServerPort))
	}
	return p, nil
}

// WriteDFS renders the full configuration into path and creates Prefix/logs
// and Prefix/tmp, which Nginx needs before it starts.
func WriteDFS(p DFSParams, path string) error {
	out, err := RenderDFS(p, DFSFull)
	if err != nil {
		return err
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(p.Prefix, d), 0o755); err != nil {
			return fmt.Errorf("nginx: %w", err)
		}
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	return nil
}

// DFSArgs is the command line that runs a configuration WriteDFS wrote, in
// the foreground (a test or a supervisor owns the process).
func DFSArgs(prefix, confPath string) []string {
	return []string{"-p", prefix, "-c", confPath, "-g", "daemon off;"}
}
