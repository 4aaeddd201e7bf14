// Package e2e holds the cloud disk's full-stack tests: real MariaDB and
// Redis, the real DFS daemons, the FastCGI programs under spawn-fcgi and a
// private Nginx rendered from nginx/nginx.conf.tmpl, all on loopback. The
// tests drive it through Nginx with net/http, through a headless Chromium
// (the web client in html/), and through spawn/stack.sh as a user would.
// bench_test.go measures web upload and download rates through Nginx.
package e2e
