#!/usr/bin/env bash
# Start, stop or show the cloud disk's FastCGI programs: one spawn-fcgi process
# per program (spawn/fcgi.list), on FCGI_HOST:FCGI_PORT+offset, loopback only.
# Pid files and logs go to $RUN_DIR/fcgi; stop uses the pid files only.
#
# Environment: RUN_DIR (./run), BIN_DIR (./bin), FCGI_HOST (127.0.0.1),
# FCGI_PORT (10000), YUNPAN_CFG ($RUN_DIR/cfg.json).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${RUN_DIR:-$ROOT/run}
BIN=${BIN_DIR:-$ROOT/bin}
HOST=${FCGI_HOST:-127.0.0.1}
BASE=${FCGI_PORT:-10000}
export YUNPAN_CFG=${YUNPAN_CFG:-$RUN/cfg.json}
LIST=$ROOT/spawn/fcgi.list
DIR=$RUN/fcgi

# programs prints "name port" for each program of the table.
programs() {
  local name off _
  while read -r name off _; do
    case "$name" in ''|'#'*) continue ;; esac
    echo "$name $((BASE + off))"
  done <"$LIST"
}

running() { # pidfile
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

port_open() { # port
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

start() {
  command -v spawn-fcgi >/dev/null || { echo "spawn-fcgi is not installed (apt-get install spawn-fcgi)" >&2; exit 1; }
  [ -f "$YUNPAN_CFG" ] || { echo "no config at $YUNPAN_CFG (spawn/stack.sh start writes one)" >&2; exit 1; }
  mkdir -p "$DIR"
  local name port pid
  while read -r name port; do
    pid=$DIR/$name.pid
    if running "$pid"; then echo "$name already running (pid $(cat "$pid"))"; continue; fi
    [ -x "$BIN/$name" ] || { echo "missing $BIN/$name: build it with go build -o bin/ ./fcgi/..." >&2; exit 1; }
    if port_open "$port"; then echo "port $HOST:$port for $name is taken" >&2; exit 1; fi
    # spawn-fcgi points stdout/stderr at /dev/null; the sh wrapper (which
    # execs, so the pid file holds the program's pid) keeps them in a log.
    spawn-fcgi -a "$HOST" -p "$port" -P "$pid" -d "$DIR" -- \
      /bin/sh -c 'log=$1; shift; exec "$@" >>"$log" 2>&1' sh "$DIR/$name.log" \
      "$BIN/$name" -conf "$YUNPAN_CFG" >/dev/null
  done < <(programs)
  while read -r name port; do
    for _ in $(seq 1 100); do
      port_open "$port" && break
      sleep 0.05
    done
    running "$DIR/$name.pid" || { echo "$name exited; see $DIR/$name.log" >&2; tail -5 "$DIR/$name.log" >&2 || true; exit 1; }
  done < <(programs)
  echo "fcgi programs up on $HOST:$BASE+ (logs in $DIR)"
}

stop() {
  # TERM them all first, then wait: each drains its requests on its own.
  local name port pid p pids=()
  while read -r name port; do
    pid=$DIR/$name.pid
    if running "$pid"; then
      p=$(cat "$pid")
      kill -TERM "$p" && pids+=("$name:$p")
    fi
  done < <(programs)
  for np in "${pids[@]}"; do
    name=${np%%:*} p=${np##*:}
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; echo "killed $name (no exit 15 s after TERM)"; else echo "stopped $name"; fi
  done
  while read -r name port; do rm -f "$DIR/$name.pid"; done < <(programs)
}

status() {
  local name port pid rc=0
  while read -r name port; do
    pid=$DIR/$name.pid
    if running "$pid"; then echo "$name	$HOST:$port	running (pid $(cat "$pid"))"
    else echo "$name	$HOST:$port	stopped"; rc=3; fi
  done < <(programs)
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
