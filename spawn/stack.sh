#!/usr/bin/env bash
# Start, stop or show the whole cloud disk under $RUN_DIR (./run), on loopback:
# a private MariaDB and Redis, the DFS (tracker + storage), the FastCGI
# programs under spawn-fcgi and a private Nginx. Nothing global is touched:
# no /etc writes, no systemctl; only missing Debian packages are installed.
# The private services need secrets, generated on the first start under
# $RUN_DIR/secrets (mode 0600) and reused after: MariaDB's root is reached
# only through its unix socket (password in secrets/mysql-root.cnf), the app
# has its own user and password, Redis requires a password, the tracker and
# storage share a cluster_secret. Started as root, Nginx's workers run as
# NGINX_USER. A FastCGI program that dies is started again (spawn/fcgi.sh),
# and the DFS is reconciled with the database on a schedule (spawn/reconcile.sh).
#
# Environment (defaults): RUN_DIR (./run), BIN_DIR (./bin),
#   WEB_HOST/WEB_PORT (127.0.0.1/8080), FCGI_HOST/FCGI_PORT (127.0.0.1/10000),
#   MYSQL_HOST/MYSQL_PORT (127.0.0.1/13306), REDIS_HOST/REDIS_PORT (127.0.0.1/16379),
#   YUNPAN_IP/TRACKER_PORT/STORAGE_PORT (127.0.0.1/22122/23000, see dfs.sh),
#   MAX_BODY (50m), UPLOAD_MODE (exec | inprocess),
#   NGINX_USER (www-data, else nobody; only when started as root),
#   RECONCILE_EVERY (10m) and RECONCILE_GRACE (1h), see reconcile.sh,
#   YUNPAN_SKIP_BUILD=1 to use the binaries in BIN_DIR as they are,
#   YUNPAN_CFG=<file> to use an existing config whose MySQL and Redis are
#   already running (then none are started here).
# `deps` only installs the missing Debian packages (with chromium, for the
# browser test); `start` installs the servers it needs when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=spawn/lib.sh disable=SC1091 # followed with shellcheck -x
. "$ROOT/spawn/lib.sh"
export RUN_DIR=${RUN_DIR:-$ROOT/run}
export BIN_DIR=${BIN_DIR:-$ROOT/bin}
RUN=$RUN_DIR
BIN=$BIN_DIR
WEB_HOST=${WEB_HOST:-127.0.0.1}
WEB_PORT=${WEB_PORT:-8080}
export FCGI_HOST=${FCGI_HOST:-127.0.0.1}
export FCGI_PORT=${FCGI_PORT:-10000}
MYSQL_HOST=${MYSQL_HOST:-127.0.0.1}
MYSQL_PORT=${MYSQL_PORT:-13306}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-16379}
export YUNPAN_IP=${YUNPAN_IP:-127.0.0.1}
export TRACKER_PORT=${TRACKER_PORT:-22122}
export STORAGE_PORT=${STORAGE_PORT:-23000}
MAX_BODY=${MAX_BODY:-50m}
DB_NAME=cloud_disk
DB_USER=yunpan

if [ -n "${YUNPAN_CFG:-}" ]; then
  MANAGED=no # MySQL and Redis belong to whoever wrote that config
else
  MANAGED=yes
  export YUNPAN_CFG=$RUN/cfg.json
fi

MY=$RUN/mysql
RD=$RUN/redis
NG=$RUN/nginx

say() { echo "stack: $*"; }

# --- packages -----------------------------------------------------------------

ensure_packages() { # [extra package names to check by binary: name=binary]
  local missing=() kv
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v spawn-fcgi >/dev/null || missing+=(spawn-fcgi)
  if [ "$MANAGED" = yes ]; then
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
    command -v redis-server >/dev/null || missing+=(redis-server)
  fi
  for kv in "$@"; do
    command -v "${kv#*=}" >/dev/null || missing+=("${kv%%=*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "stack: missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$RUN/apt.log" 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update >>"$RUN/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$RUN/apt.log" 2>&1
  }
}

PATH=$PATH:/usr/sbin:/sbin

# --- build ----------------------------------------------------------------------

build() {
  if [ "${YUNPAN_SKIP_BUILD:-}" = 1 ]; then return 0; fi
  command -v go >/dev/null || { echo "stack: go is needed to build the programs (or set YUNPAN_SKIP_BUILD=1)" >&2; exit 1; }
  mkdir -p "$BIN"
  go build -o "$BIN/" ./dfs/cmd/... ./fcgi/... ./nginx/nginxconf
}

# --- MariaDB --------------------------------------------------------------------

# mysql_init writes the SQL MariaDB runs at every start, before it accepts
# a connection (--init-file): root only on the unix socket, by the OS user
# root or with the generated password (the TCP root accounts that
# mariadb-install-db makes, without a password, are dropped); the database
# and the app's user with its generated password.
mysql_init() {
  local rootpw apppw
  rootpw=$(secret mysql-root-password)
  apppw=$(secret mysql-password)
  # One statement per line: that is how the server reads the file.
  private_file "$RUN/secrets/mysql-init.sql" <<EOS
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'$(hostname)', ''@'localhost', ''@'$(hostname)';
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$rootpw');
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'$MYSQL_HOST' IDENTIFIED BY '$apppw';
ALTER USER '$DB_USER'@'$MYSQL_HOST' IDENTIFIED BY '$apppw';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'$MYSQL_HOST';
EOS
  # For the operator: mariadb --defaults-file=run/secrets/mysql-root.cnf
  private_file "$RUN/secrets/mysql-root.cnf" <<EOC
[client]
user=root
password=$rootpw
socket=$MY/mysqld.sock
EOC
}

mysql_ping() { mariadb-admin --defaults-file="$RUN/secrets/mysql-root.cnf" ping; }

start_mysql() {
  mkdir -p "$MY"
  chmod 700 "$MY"
  if running "$MY/mariadbd.pid"; then say "mariadb already running"; return 0; fi
  if [ ! -d "$MY/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$MY/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$MY/install.log" 2>&1 ||
      { echo "stack: mariadb-install-db failed, see $MY/install.log" >&2; exit 1; }
  fi
  if port_open "$MYSQL_HOST" "$MYSQL_PORT"; then echo "stack: $MYSQL_HOST:$MYSQL_PORT is taken (set MYSQL_PORT)" >&2; exit 1; fi
  mysql_init
  setsid nohup mariadbd --no-defaults --datadir="$MY/data" --socket="$MY/mysqld.sock" \
    --port="$MYSQL_PORT" --bind-address="$MYSQL_HOST" --pid-file="$MY/mariadbd.pid" \
    --log-error="$MY/error.log" --user="$(id -un)" --skip-name-resolve \
    --init-file="$RUN/secrets/mysql-init.sql" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=64M --max-connections=300 </dev/null >/dev/null 2>&1 &
  wait_for "mariadb on $MYSQL_HOST:$MYSQL_PORT" mysql_ping
  wait_for "mariadb pid file" test -s "$MY/mariadbd.pid"
  say "mariadb on $MYSQL_HOST:$MYSQL_PORT (data in $MY)"
}

# --- Redis ----------------------------------------------------------------------

# redis_ping is a function, not a command line: the password stays out of
# the process table.
redis_ping() (
  local l
  exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" || return 1
  printf 'AUTH %s\r\nPING\r\n' "$REDIS_PASSWORD" >&3
  read -t 1 -r l <&3 && read -t 1 -r l <&3 && [[ $l == +PONG* ]]
)

start_redis() {
  mkdir -p "$RD"
  chmod 700 "$RD"
  if running "$RD/redis.pid"; then say "redis already running"; return 0; fi
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then echo "stack: $REDIS_HOST:$REDIS_PORT is taken (set REDIS_PORT)" >&2; exit 1; fi
  # The password goes in the config file, not on the command line.
  private_file "$RD/redis.conf" <<EOC
bind $REDIS_HOST
port $REDIS_PORT
protected-mode yes
requirepass $REDIS_PASSWORD
dir $RD
daemonize yes
pidfile $RD/redis.pid
logfile $RD/redis.log
save 900 1
dbfilename dump.rdb
EOC
  redis-server "$RD/redis.conf" >/dev/null
  wait_for "redis on $REDIS_HOST:$REDIS_PORT" redis_ping
  wait_for "redis pid file" test -s "$RD/redis.pid"
  say "redis on $REDIS_HOST:$REDIS_PORT (data in $RD)"
}

# --- config ---------------------------------------------------------------------

# write_cfg writes cfg.json with the course's keys plus ours (see conf/cfg.json).
write_cfg() {
  private_file "$YUNPAN_CFG" <<EOC
{
  "redis": {"ip": "$REDIS_HOST", "port": "$REDIS_PORT", "password": "$REDIS_PASSWORD"},
  "mysql": {"ip": "$MYSQL_HOST", "port": "$MYSQL_PORT", "database": "$DB_NAME", "user": "$DB_USER", "password": "$(secret mysql-password)"},
  "dfs_path": {"client": "$RUN/client.conf"},
  "web_server": {"ip": "$WEB_HOST", "port": "$WEB_PORT"},
  "storage_web_server": {"ip": "$WEB_HOST", "port": "$WEB_PORT"},
  "upload_mode": "${UPLOAD_MODE:-exec}",
  "fdfs_bin_dir": "$BIN",
  "max_upload_bytes": "$MAX_BODY",
  "temp_dir": "$RUN/upload-tmp",
  "anti_steal": {"check_token": true, "secret_key": "$(secret download-url-key)", "token_ttl": 900},
  "log_level": "info"
}
EOC
}

# --- Nginx ----------------------------------------------------------------------

nginx_args() { echo -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log"; }

# nginx_user prints "user group" for the workers, or nothing when not root
# (then they run as whoever started Nginx). It refuses to go on when that
# user cannot read the web client or the storage's files: the checkout or
# RUN_DIR sits under a private directory.
nginx_user() {
  [ "$(id -u)" = 0 ] || return 0
  local u=${NGINX_USER:-}
  if [ -z "$u" ]; then
    if id -u www-data >/dev/null 2>&1; then u=www-data; else u=nobody; fi
  fi
  [ "$u" != root ] || { echo "stack: NGINX_USER=root: the workers must not run as root" >&2; exit 1; }
  local p
  for p in "$ROOT/html/index.html" "$RUN/storage/data"; do
    runuser -u "$u" -- test -r "$p" || {
      echo "stack: Nginx's workers run as $u, who cannot read $p: make its folders readable (chmod o+rx) or set NGINX_USER" >&2
      exit 1
    }
  done
  echo "$u $(id -gn "$u")"
}

start_nginx() {
  if running "$NG/nginx.pid"; then say "nginx already running"; return 0; fi
  if port_open "$WEB_HOST" "$WEB_PORT"; then echo "stack: $WEB_HOST:$WEB_PORT is taken (set WEB_PORT)" >&2; exit 1; fi
  local user
  user=$(nginx_user)
  "$BIN/nginxconf" -user "$user" -prefix "$NG" -listen "$WEB_HOST:$WEB_PORT" -html "$ROOT/html" \
    -list "$ROOT/spawn/fcgi.list" -fcgi "$FCGI_HOST:$FCGI_PORT" -max-body "$MAX_BODY" \
    -store "group1:0:$RUN/storage" -daemon=true >/dev/null
  # shellcheck disable=SC2046
  nginx $(nginx_args) -t -q
  # shellcheck disable=SC2046
  nginx $(nginx_args)
  wait_for "nginx on $WEB_HOST:$WEB_PORT" port_open "$WEB_HOST" "$WEB_PORT"
  say "nginx on $WEB_HOST:$WEB_PORT"
}

# --- the whole stack ------------------------------------------------------------

start() {
  mkdir -p "$RUN"
  chmod 755 "$RUN" # Nginx's workers read the storage's files under it
  ensure_packages
  build
  if [ "$MANAGED" = yes ]; then
    REDIS_PASSWORD=$(secret redis-password)
    start_mysql
    start_redis
    write_cfg
  fi
  spawn/dfs.sh start
  spawn/fcgi.sh start
  spawn/reconcile.sh start
  start_nginx
  local url="http://$WEB_HOST:$WEB_PORT"
  cat <<EOM

yunpan is up: open $url/ in a browser (stop with: spawn/stack.sh stop).
Try it from a shell:
  pwd=\$(printf %s 'demo-pass-1' | md5sum | cut -c1-32)
  curl -s $url/reg -d '{"userName":"demo","nickName":"demo","firstPwd":"'\$pwd'","phone":"13800000000","email":"demo@example.com"}'
  token=\$(curl -s $url/login -d '{"user":"demo","pwd":"'\$pwd'"}' | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p') && echo token=\$token
  echo 'hello yunpan' > hello.txt
  curl -s $url/upload -F user=demo -F token=\$token -F file=@hello.txt
  curl -s '$url/myfiles?cmd=normal' -d '{"user":"demo","token":"'\$token'","start":0,"count":10}'

EOM
}

stop() {
  if [ -f "$NG/nginx.pid" ]; then stop_pid nginx "$NG/nginx.pid" QUIT; fi
  spawn/reconcile.sh stop
  spawn/fcgi.sh stop
  if [ -x "$BIN/fdfs_trackerd" ]; then spawn/dfs.sh stop; fi
  if [ "$MANAGED" = yes ]; then
    stop_pid redis "$RD/redis.pid"
    stop_pid mariadb "$MY/mariadbd.pid"
  fi
}

status() {
  local rc=0
  for s in "nginx:$NG/nginx.pid" "mariadb:$MY/mariadbd.pid" "redis:$RD/redis.pid"; do
    if running "${s#*:}"; then echo "${s%%:*}	running (pid $(cat "${s#*:}"))"; else echo "${s%%:*}	stopped"; rc=3; fi
  done
  spawn/fcgi.sh status || rc=3
  spawn/reconcile.sh status || rc=3
  spawn/dfs.sh status || rc=3
  return $rc
}

case "${1:-}" in
  deps) mkdir -p "$RUN"; ensure_packages chromium=chromium; echo "stack: packages present" ;; # what the e2e tests need too
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 deps|start|stop|status" >&2; exit 2 ;;
esac
