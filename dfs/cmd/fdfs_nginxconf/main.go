// fdfs_nginxconf renders the Nginx download server of one DFS storage from
// its storage.conf (group, store paths, http.* keys): the whole private
// nginx.conf, or the http / locations parts for inclusion into another Nginx.
//
//	fdfs_nginxconf [-listen 8888] [-prefix <base_path>/nginx] [-part full|http|locations] [-o file] storage.conf
//
// Run the full config with: nginx -p <prefix> -c <file> -g 'daemon off;'
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"yunpan/conf"
	"yunpan/nginx"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fdfs_nginxconf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "8888", "address Nginx listens on (full config)")
	prefix := fs.String("prefix", "", "run directory for pid, logs and temp files (default <base_path>/nginx)")
	mimeTypes := fs.String("mime", "/etc/nginx/mime.types", "Nginx mime.types to include (full config)")
	part := fs.String("part", nginx.DFSFull, "what to render: full, http (inside http {}) or locations (inside server {})")
	out := fs.String("o", "", "write to this file instead of stdout (full: also creates <prefix>/logs and tmp)")
	upstream := fs.String("upstream", "", "the storage's HTTP endpoint ip:port (default from http.bind_addr/bind_addr and http.server_port)")
	user := fs.String("user", "", `worker user ("user group"); default "root root" when run as root`)
	accessLog := fs.Bool("access-log", true, "write <prefix>/logs/access.log")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fdfs_nginxconf [options] <storage.conf>\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	p, err := params(fs.Arg(0), *listen, *prefix, *mimeTypes, *upstream, *user, *accessLog)
	if err == nil {
		err = write(p, *part, *out, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fdfs_nginxconf:", err)
		return 1
	}
	return 0
}

// params builds the template values from storage.conf.
func params(confPath, listen, prefix, mimeTypes, upstream, user string, accessLog bool) (nginx.DFSParams, error) {
	st, err := conf.LoadStorage(confPath)
	if err != nil {
		return nginx.DFSParams{}, err
	}
	p, err := nginx.DFSFromStorage(st)
	if err != nil {
		return p, err
	}
	if prefix == "" {
		prefix = filepath.Join(st.BasePath, "nginx")
	}
	if p.Prefix, err = filepath.Abs(prefix); err != nil {
		return p, err
	}
	p.Listen, p.MimeTypes, p.User, p.AccessLog = listen, mimeTypes, user, accessLog
	if upstream != "" {
		p.Upstream = upstream
	}
	return p, nil
}

func write(p nginx.DFSParams, part, out string, stdout io.Writer) error {
	if out != "" && part == nginx.DFSFull {
		return nginx.WriteDFS(p, out)
	}
	b, err := nginx.RenderDFS(p, part)
	if err != nil {
		return err
	}
	if out == "" || out == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
