// Package nginx renders the private Nginx configuration of the cloud disk
// (nginx.conf.tmpl) and reads the FastCGI program table (spawn/fcgi.list)
// shared with spawn/fcgi.sh and the end-to-end tests.
package nginx

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"yunpan/conf"
	"yunpan/fcgi/config"
	"yunpan/internal/inline"
)

//go:embed nginx.conf.tmpl
var confTemplate string

var tmpl = template.Must(template.New("nginx.conf").Parse(confTemplate))

// Location is one exact-match Nginx location served by a program.
type Location struct {
	Path   string // "/upload"
	Stream bool   // fastcgi_request_buffering off
	Prefix bool   // the path ends in "/": a prefix location (the WebDAV tree), else an exact one
}

// Program is one FastCGI program and where spawn-fcgi listens for it.
type Program struct {
	Name      string // binary name, also the upstream name
	Offset    int    // port = base port + Offset
	Addr      string // "127.0.0.1:10002", filled by WithAddrs or by hand
	Locations []Location
}

// Store is one storage store path whose files Nginx serves from disk.
type Store struct {
	Group string // "group1"
	Index int    // store path index: M00 is 0
	Path  string // store_pathN (files are under Path/data)
}

// Params fill the template. Zero values get the defaults of Defaults.
type Params struct {
	Prefix      string // run directory: nginx.conf, pid, logs/, tmp/
	Listen      string // "127.0.0.1:8080"
	HTMLRoot    string // the web client (html/)
	MimeTypes   string // /etc/nginx/mime.types
	FastCGIConf string // /etc/nginx/fastcgi.conf
	Daemon      bool   // false when a test or supervisor owns the process
	User        string // worker user; "" = the current user when running as root
	Workers     int    // worker_processes, 1
	LogLevel    string // error_log level, "warn"
	MaxBody     string // the file limit (max_upload_bytes), "50m"; /upload takes it plus config.UploadOverhead
	JSONBody    string // client_max_body_size of every other location, "64k"
	TreeBody    string // client_max_body_size of a streaming prefix location (WebDAV PUT), "20g" (dav_max_file_bytes)
	LinkSecret  string // anti_steal.secret_key: file URLs must carry its signature; "" = unchecked
	Programs    []Program
	Stores      []Store
}

// Defaults fills the zero fields of p.
func (p *Params) Defaults() {
	if p.MimeTypes == "" {
		p.MimeTypes = "/etc/nginx/mime.types"
	}
	if p.FastCGIConf == "" {
		p.FastCGIConf = "/etc/nginx/fastcgi.conf"
	}
	if p.Workers == 0 {
		p.Workers = 1
	}
	if p.LogLevel == "" {
		p.LogLevel = "warn"
	}
	if p.MaxBody == "" {
		p.MaxBody = "50m"
	}
	if p.JSONBody == "" {
		p.JSONBody = "64k"
	}
	if p.TreeBody == "" {
		p.TreeBody = "20g"
	}
	if p.User == "" && os.Geteuid() == 0 {
		// As root the workers would otherwise drop to "nobody", which cannot
		// read private run and test directories.
		if u, err := user.Current(); err == nil {
			g := u.Username
			if grp, err := user.LookupGroupId(u.Gid); err == nil {
				g = grp.Name
			}
			p.User = u.Username + " " + g
		}
	}
}

var (
	safePath = regexp.MustCompile(`^[A-Za-z0-9/_.:@+-]+$`)
	safeName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	sizeRe   = regexp.MustCompile(`^[0-9]+[kKmMgG]?$`)
	// The secret goes into a quoted Nginx string: nothing that ends it or
	// starts a variable.
	secretRe = regexp.MustCompile(`^[A-Za-z0-9_.~+/=-]{16,128}$`)
)

// AppCSP is the Content-Security-Policy of the app's pages and answers.
const AppCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// UploadBody is client_max_body_size of /upload in bytes: the file limit
// plus the multipart envelope, so that a file of exactly MaxBody fits.
func (p Params) UploadBody() int64 {
	n, _ := conf.ParseBytes(p.MaxBody)
	return n + config.UploadOverhead
}

// AppCSP is the policy for the template.
func (Params) AppCSP() string { return AppCSP }

// InlineTypes are the file types shown in place (yunpan/internal/inline).
func (Params) InlineTypes() []inline.Ext { return inline.List() }

// InlinePattern matches their extensions.
func (Params) InlinePattern() string { return inline.Pattern() }

func (p *Params) check() error {
	// Values are pasted into the config unquoted: refuse anything that could
	// end a directive.
	for what, v := range map[string]string{
		"prefix": p.Prefix, "html root": p.HTMLRoot, "mime types": p.MimeTypes,
		"fastcgi conf": p.FastCGIConf, "listen": p.Listen,
	} {
		if !safePath.MatchString(v) {
			return fmt.Errorf("nginx: %s %q is empty or has characters Nginx would misread", what, v)
		}
	}
	if !sizeRe.MatchString(p.MaxBody) || !sizeRe.MatchString(p.JSONBody) || !sizeRe.MatchString(p.TreeBody) {
		return fmt.Errorf("nginx: body limits %q, %q, %q", p.MaxBody, p.JSONBody, p.TreeBody)
	}
	if p.LinkSecret != "" && !secretRe.MatchString(p.LinkSecret) {
		return fmt.Errorf("nginx: the URL secret must be 16 to 128 of A-Z a-z 0-9 _ . ~ + / = -")
	}
	if p.User != "" && !dfsUser.MatchString(p.User) {
		return fmt.Errorf("nginx: user %q", p.User)
	}
	for _, pr := range p.Programs {
		if !safeName.MatchString(pr.Name) || !safePath.MatchString(pr.Addr) {
			return fmt.Errorf("nginx: program %q at %q", pr.Name, pr.Addr)
		}
		for _, l := range pr.Locations {
			if !strings.HasPrefix(l.Path, "/") || !safePath.MatchString(l.Path) {
				return fmt.Errorf("nginx: location %q of %s", l.Path, pr.Name)
			}
		}
	}
	for _, s := range p.Stores {
		if !safeName.MatchString(s.Group) || s.Index < 0 || s.Index > 255 || !safePath.MatchString(s.Path) {
			return fmt.Errorf("nginx: store %+v", s)
		}
	}
	return nil
}

// Render returns the configuration text.
func Render(p Params) ([]byte, error) {
	p.Defaults()
	if err := p.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("nginx: render: %w", err)
	}
	return b.Bytes(), nil
}

// Write renders the configuration into Prefix/nginx.conf, creating Prefix,
// Prefix/logs and Prefix/tmp, and returns the file's path.
func Write(p Params) (string, error) {
	out, err := Render(p)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(p.Prefix, d), 0o755); err != nil {
			return "", fmt.Errorf("nginx: %w", err)
		}
	}
	path := filepath.Join(p.Prefix, "nginx.conf")
	// 0600: the file holds the URL secret.
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return "", fmt.Errorf("nginx: %w", err)
	}
	return path, nil
}

// Args is the command line that runs the instance Write configured.
func Args(prefix string) []string {
	return []string{"-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "logs", "error.log")}
}

// ReadPrograms parses the program table (spawn/fcgi.list).
func ReadPrograms(r io.Reader) ([]Program, error) {
	var out []Program
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("fcgi.list line %d: want a program, an offset and its locations", line)
		}
		off, err := strconv.Atoi(f[1])
		if err != nil || off < 0 {
			return nil, fmt.Errorf("fcgi.list line %d: offset %q", line, f[1])
		}
		p := Program{Name: f[0], Offset: off}
		for _, l := range f[2:] {
			loc := Location{Path: strings.TrimSuffix(l, "!"), Stream: strings.HasSuffix(l, "!")}
			loc.Prefix = len(loc.Path) > 1 && strings.HasSuffix(loc.Path, "/")
			p.Locations = append(p.Locations, loc)
		}
		out = append(out, p)
	}
	return out, sc.Err()
}

// LoadPrograms reads the program table file.
func LoadPrograms(path string) ([]Program, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadPrograms(f)
}

// WithAddrs sets each program's Addr to host:(base+Offset).
func WithAddrs(ps []Program, host string, base int) []Program {
	out := make([]Program, len(ps))
	for i, p := range ps {
		p.Addr = fmt.Sprintf("%s:%d", host, base+p.Offset)
		out[i] = p
	}
	return out
}
