// nginxconf renders nginx/nginx.conf.tmpl into <prefix>/nginx.conf for
// spawn/stack.sh and prints the path. The app's cfg.json (-cfg, else
// $YUNPAN_CFG) gives the download URL secret (anti_steal) and the file
// limit (max_upload_bytes). Example:
//
//	nginxconf -cfg run/cfg.json -prefix run/nginx -listen 127.0.0.1:8080 -html html \
//	    -list spawn/fcgi.list -fcgi 127.0.0.1:10000 -store group1:0:run/storage
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"yunpan/fcgi/config"
	"yunpan/nginx"
)

type stores []nginx.Store

func (s *stores) String() string { return fmt.Sprint(*s) }

func (s *stores) Set(v string) error {
	// group:index:path (the path may itself hold ':' only after the second one)
	parts := strings.SplitN(v, ":", 3)
	if len(parts) != 3 {
		return fmt.Errorf("want group:index:store_path, got %q", v)
	}
	i, err := strconv.Atoi(parts[1])
	if err != nil {
		return fmt.Errorf("store path index %q: %w", parts[1], err)
	}
	p, err := filepath.Abs(parts[2])
	if err != nil {
		return err
	}
	*s = append(*s, nginx.Store{Group: parts[0], Index: i, Path: p})
	return nil
}

func main() {
	var st stores
	prefix := flag.String("prefix", "run/nginx", "run directory of the instance (conf, pid, logs, temp)")
	listen := flag.String("listen", "127.0.0.1:8080", "ip:port to serve on")
	html := flag.String("html", "html", "folder of the web client")
	list := flag.String("list", "spawn/fcgi.list", "FastCGI program table")
	fcgi := flag.String("fcgi", "127.0.0.1:10000", "host:base-port of the FastCGI programs")
	daemon := flag.Bool("daemon", true, "let Nginx detach (daemon on)")
	maxBody := flag.String("max-body", "", "file limit (default: max_upload_bytes of the cfg.json)")
	user := flag.String("user", "", `"user [group]" of the workers when Nginx starts as root ("": the current user)`)
	cfgPath := flag.String("cfg", os.Getenv("YUNPAN_CFG"), "the app's cfg.json (default $YUNPAN_CFG)")
	flag.Var(&st, "store", "group:index:store_path served under /<group>/M<index>/ (repeatable)")
	flag.Parse()

	if err := run(*cfgPath, *prefix, *listen, *html, *list, *fcgi, *maxBody, *user, *daemon, st); err != nil {
		fmt.Fprintln(os.Stderr, "nginxconf:", err)
		os.Exit(1)
	}
}

func run(cfgPath, prefix, listen, html, list, fcgi, maxBody, user string, daemon bool, st stores) error {
	if cfgPath == "" {
		return fmt.Errorf("-cfg (or $YUNPAN_CFG): the app's cfg.json, for the download URL secret")
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	secret := ""
	if cfg.AntiSteal.CheckToken {
		secret = cfg.AntiSteal.SecretKey
	}
	if maxBody == "" {
		maxBody = strconv.FormatInt(cfg.MaxUploadBytes, 10)
	}
	host, port, err := net.SplitHostPort(fcgi)
	if err != nil {
		return fmt.Errorf("-fcgi: %w", err)
	}
	base, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("-fcgi port: %w", err)
	}
	progs, err := nginx.LoadPrograms(list)
	if err != nil {
		return err
	}
	if prefix, err = filepath.Abs(prefix); err != nil {
		return err
	}
	if html, err = filepath.Abs(html); err != nil {
		return err
	}
	path, err := nginx.Write(nginx.Params{
		Prefix: prefix, Listen: listen, HTMLRoot: html, Daemon: daemon, MaxBody: maxBody, User: user, LinkSecret: secret,
		Programs: nginx.WithAddrs(progs, host, base), Stores: st,
	})
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}
