#!/usr/bin/env bash
# Start, stop or show the whole cloud disk under $RUN_DIR (./run), on loopback:
# a private MariaDB and Redis, the DFS (tracker + storage), the FastCGI
# programs under spawn-fcgi and a private Nginx. Nothing global is touched:
# no /etc writes, no systemctl; only missing Debian packages are installed.
#
# Environment (defaults): RUN_DIR (./run), BIN_DIR (./bin),
#   WEB_HOST/WEB_PORT (127.0.0.1/8080), FCGI_HOST/FCGI_PORT (127.0.0.1/10000),
#   MYSQL_HOST/MYSQL_PORT (127.0.0.1/13306), REDIS_HOST/REDIS_PORT (127.0.0.1/16379),
#   YUNPAN_IP/TRACKER_PORT/STORAGE_PORT (127.0.0.1/22122/23000, see dfs.sh),
#   MAX_BODY (50m), UPLOAD_MODE (exec | inprocess),
#   YUNPAN_SKIP_BUILD=1 to use the binaries in BIN_DIR as they are,
#   YUNPAN_CFG=<file> to use an existing config whose MySQL and Redis are
#   already running (then none are started here).
# `deps` only installs the missing Debian packages (with chromium, for the
# browser test); `start` installs the servers it needs when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
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

running() { # pidfile
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() { # description command...
  local what=$1; shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "stack: timed out waiting for $what (logs under $RUN)" >&2
  return 1
}

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

stop_pid() { # name pidfile [signal]
  local p
  running "$2" || { rm -f "$2"; return 0; }
  p=$(cat "$2")
  kill "-${3:-TERM}" "$p"
  for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi
  rm -f "$2"
  say "stopped $1"
}

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

sql() { mariadb --no-defaults -S "$MY/mysqld.sock" -uroot "$@"; }

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
  setsid nohup mariadbd --no-defaults --datadir="$MY/data" --socket="$MY/mysqld.sock" \
    --port="$MYSQL_PORT" --bind-address="$MYSQL_HOST" --pid-file="$MY/mariadbd.pid" \
    --log-error="$MY/error.log" --user="$(id -un)" --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --innodb-buffer-pool-size=64M --max-connections=300 </dev/null >/dev/null 2>&1 &
  wait_for "mariadb on $MYSQL_HOST:$MYSQL_PORT" mariadb-admin --no-defaults -S "$MY/mysqld.sock" -uroot ping
  wait_for "mariadb pid file" test -s "$MY/mariadbd.pid"
  say "mariadb on $MYSQL_HOST:$MYSQL_PORT (data in $MY)"
}

# setup_db creates the database and the app user; the password is new on the
# first start and kept in cfg.json after that.
setup_db() {
  local pw=$1
  sql <<EOS
CREATE DATABASE IF NOT EXISTS \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DB_USER'@'$MYSQL_HOST' IDENTIFIED BY '$pw';
ALTER USER '$DB_USER'@'$MYSQL_HOST' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON \`$DB_NAME\`.* TO '$DB_USER'@'$MYSQL_HOST';
FLUSH PRIVILEGES;
EOS
}

# --- Redis ----------------------------------------------------------------------

start_redis() {
  mkdir -p "$RD"
  chmod 700 "$RD"
  if running "$RD/redis.pid"; then say "redis already running"; return 0; fi
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then echo "stack: $REDIS_HOST:$REDIS_PORT is taken (set REDIS_PORT)" >&2; exit 1; fi
  redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --dir "$RD" --daemonize yes \
    --pidfile "$RD/redis.pid" --logfile "$RD/redis.log" --save "900 1" --dbfilename dump.rdb \
    --protected-mode yes >/dev/null
  wait_for "redis on $REDIS_HOST:$REDIS_PORT" bash -c "exec 3<>/dev/tcp/$REDIS_HOST/$REDIS_PORT; printf 'PING\r\n' >&3; read -t 1 -r l <&3; [[ \$l == +PONG* ]]"
  wait_for "redis pid file" test -s "$RD/redis.pid"
  say "redis on $REDIS_HOST:$REDIS_PORT (data in $RD)"
}

# --- config ---------------------------------------------------------------------

# write_cfg writes cfg.json with the course's keys plus ours (see conf/cfg.json).
write_cfg() {
  local pw=$1
  umask 077
  cat >"$YUNPAN_CFG.tmp" <<EOC
{
  "redis": {"ip": "$REDIS_HOST", "port": "$REDIS_PORT"},
  "mysql": {"ip": "$MYSQL_HOST", "port": "$MYSQL_PORT", "database": "$DB_NAME", "user": "$DB_USER", "password": "$pw"},
  "dfs_path": {"client": "$RUN/client.conf"},
  "web_server": {"ip": "$WEB_HOST", "port": "$WEB_PORT"},
  "storage_web_server": {"ip": "$WEB_HOST", "port": "$WEB_PORT"},
  "upload_mode": "${UPLOAD_MODE:-exec}",
  "fdfs_bin_dir": "$BIN",
  "max_upload_bytes": "$MAX_BODY",
  "temp_dir": "$RUN/upload-tmp",
  "log_level": "info",
  "anti_steal": {"check_token": true, "secret_key": "$(url_secret)", "token_ttl": 900}
}
EOC
  mv "$YUNPAN_CFG.tmp" "$YUNPAN_CFG"
  umask 022
}

url_secret() { # the download URL secret of an existing cfg.json, else a new one
  local k=""
  if [ -f "$YUNPAN_CFG" ]; then
    k=$(sed -n 's/.*"secret_key": *"\([^"]*\)".*/\1/p' "$YUNPAN_CFG" | head -1)
  fi
  if [ -z "$k" ]; then
    k=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  fi
  echo "$k"
}

db_password() { # the password in an existing cfg.json, else a new one
  local pw=""
  if [ -f "$YUNPAN_CFG" ]; then
    pw=$(sed -n 's/.*"password": *"\([^"]*\)".*/\1/p' "$YUNPAN_CFG" | head -1)
  fi
  if [ -z "$pw" ]; then
    pw=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c1-24)
  fi
  echo "$pw"
}

# --- Nginx ----------------------------------------------------------------------

nginx_args() { echo -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log"; }

start_nginx() {
  if running "$NG/nginx.pid"; then say "nginx already running"; return 0; fi
  if port_open "$WEB_HOST" "$WEB_PORT"; then echo "stack: $WEB_HOST:$WEB_PORT is taken (set WEB_PORT)" >&2; exit 1; fi
  "$BIN/nginxconf" -prefix "$NG" -listen "$WEB_HOST:$WEB_PORT" -html "$ROOT/html" \
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
  ensure_packages
  build
  if [ "$MANAGED" = yes ]; then
    local pw
    pw=$(db_password)
    start_mysql
    setup_db "$pw"
    start_redis
    write_cfg "$pw"
  fi
  mkdir -p "$RUN/upload-tmp"
  spawn/dfs.sh start
  spawn/fcgi.sh start
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
