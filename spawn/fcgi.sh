#!/usr/bin/env bash
# Start, stop or show the cloud disk's FastCGI programs: one spawn-fcgi
# process per program (spawn/fcgi.list), on FCGI_HOST:FCGI_PORT+offset,
# loopback only, each watched by a small supervisor (this script's
# `supervise`) that starts it again when it dies (SIGKILL, a panic, the OOM
# killer): at once the first time, then backing off while it keeps dying
# young. Before every start the program's spool dir ($RUN_DIR/upload-tmp/
# <program>, its temp_dir) is emptied: what a killed upload left there is
# gone. Pid files and logs go to $RUN_DIR/fcgi: <program>.pid is the
# program's, <program>.supervisor.pid its supervisor's; stop uses them only.
#
# Environment: RUN_DIR (./run), BIN_DIR (./bin), FCGI_HOST (127.0.0.1),
# FCGI_PORT (10000), YUNPAN_CFG ($RUN_DIR/cfg.json),
# FCGI_BACKOFF_MAX (60: the longest wait, in seconds, before a restart).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=spawn/lib.sh disable=SC1091 # followed with shellcheck -x
. "$ROOT/spawn/lib.sh"
RUN=${RUN_DIR:-$ROOT/run}
BIN=${BIN_DIR:-$ROOT/bin}
HOST=${FCGI_HOST:-127.0.0.1}
BASE=${FCGI_PORT:-10000}
export YUNPAN_CFG=${YUNPAN_CFG:-$RUN/cfg.json}
LIST=$ROOT/spawn/fcgi.list
DIR=$RUN/fcgi
SPOOL=$RUN/upload-tmp
BACKOFF_MAX=${FCGI_BACKOFF_MAX:-60}
# A program that ran at least this long before dying counts as healthy: its
# next start is immediate again.
HEALTHY_SECS=10

# programs prints "name port" for each program of the table.
programs() {
  local name off _
  while read -r name off _; do
    case "$name" in '' | '#'*) continue ;; esac
    echo "$name $((BASE + off))"
  done <"$LIST"
}

start() {
  command -v spawn-fcgi >/dev/null || { echo "spawn-fcgi is not installed (apt-get install spawn-fcgi)" >&2; exit 1; }
  [ -f "$YUNPAN_CFG" ] || { echo "no config at $YUNPAN_CFG (spawn/stack.sh start writes one)" >&2; exit 1; }
  mkdir -p "$DIR" "$SPOOL"
  chmod 700 "$DIR" "$SPOOL"
  local name port
  while read -r name port; do
    if running "$DIR/$name.supervisor.pid"; then echo "$name already running (pid $(cat "$DIR/$name.pid" 2>/dev/null))"; continue; fi
    [ -x "$BIN/$name" ] || { echo "missing $BIN/$name: build it with go build -o bin/ ./fcgi/..." >&2; exit 1; }
    if port_open "$HOST" "$port"; then echo "port $HOST:$port for $name is taken" >&2; exit 1; fi
    rm -f "$DIR/$name.pid"
    setsid nohup "$ROOT/spawn/fcgi.sh" supervise "$name" "$port" >>"$DIR/$name.log" 2>&1 </dev/null &
  done < <(programs)
  while read -r name port; do
    for _ in $(seq 1 100); do
      port_open "$HOST" "$port" && running "$DIR/$name.pid" && break
      sleep 0.05
    done
    if ! running "$DIR/$name.pid" || ! port_open "$HOST" "$port"; then
      echo "$name did not start; see $DIR/$name.log" >&2
      tail -5 "$DIR/$name.log" >&2 || true
      exit 1
    fi
  done < <(programs)
  echo "fcgi programs up on $HOST:$BASE+ (logs in $DIR)"
}

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) supervise: $*"; }

# supervise NAME PORT runs one program until TERM: spawn-fcgi -n binds the
# port and then becomes the program (no fork), so the child's pid is the
# program's. When it dies it is started again: at once after a healthy
# run, else after 1, 2, 4 ... FCGI_BACKOFF_MAX seconds, so a program that
# crashes at start costs one start per minute at most.
supervise() {
  local name=$1 port=$2 child="" nap="" stopping="" started ran rc quick=0 delay
  local spool=$SPOOL/$name
  cd "$DIR" # the supervisor's and the program's working directory: the run dir
  echo $$ >"$DIR/$name.supervisor.pid"
  # shellcheck disable=SC2317,SC2329 # run by the trap
  on_term() {
    stopping=1
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; fi
    if [ -n "$nap" ]; then kill "$nap" 2>/dev/null || true; fi
  }
  trap on_term TERM INT
  while [ -z "$stopping" ]; do
    rm -rf "$spool"
    mkdir -p "$SPOOL"
    mkdir -m 700 "$spool"
    started=$SECONDS
    YUNPAN_TEMP_DIR=$spool spawn-fcgi -n -a "$HOST" -p "$port" -- "$BIN/$name" -conf "$YUNPAN_CFG" &
    child=$!
    echo "$child" >"$DIR/$name.pid"
    if [ -n "$stopping" ]; then kill -TERM "$child" 2>/dev/null || true; fi # TERM came before $child was known
    rc=0
    wait "$child" || rc=$?
    # A TERM for the supervisor interrupts wait; the program drains its
    # requests (30 s at most) before it exits.
    while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
    child=""
    [ -z "$stopping" ] || break
    ran=$((SECONDS - started))
    if [ "$ran" -ge "$HEALTHY_SECS" ]; then quick=0; fi
    quick=$((quick + 1))
    delay=0
    if [ "$quick" -gt 1 ]; then
      delay=$((1 << (quick - 2 < 10 ? quick - 2 : 10)))
      if [ "$delay" -gt "$BACKOFF_MAX" ]; then delay=$BACKOFF_MAX; fi
    fi
    if [ "$quick" -gt 1 ]; then
      log "$name exited (status $rc) after ${ran}s, quick exit $quick in a row; restarting in ${delay}s"
    else
      log "$name exited (status $rc) after ${ran}s; restarting in ${delay}s"
    fi
    if [ "$delay" -gt 0 ]; then
      sleep "$delay" &
      nap=$!
      wait "$nap" || true
      nap=""
    fi
  done
  rm -f "$DIR/$name.pid" "$DIR/$name.supervisor.pid"
  rm -rf "$spool"
}

stop() {
  # TERM every supervisor (each passes it on to its program) and every
  # program left without one, then wait: each drains its requests on its own.
  local name port f p said="" pids=()
  while read -r name port; do
    for f in "$DIR/$name.supervisor.pid" "$DIR/$name.pid"; do
      # A supervisor removes its pid files as it exits: read each once.
      p=$(cat "$f" 2>/dev/null) || continue
      if kill -TERM "$p" 2>/dev/null; then pids+=("$name:$p"); fi
    done
  done < <(programs)
  for np in "${pids[@]}"; do
    name=${np%%:*} p=${np##*:}
    for _ in $(seq 1 700); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      echo "killed $name (pid $p: no exit 35 s after TERM)"
    elif [ "$said" != "$name" ]; then
      echo "stopped $name"
    fi
    said=$name
  done
  while read -r name port; do
    rm -f "$DIR/$name.pid" "$DIR/$name.supervisor.pid"
  done < <(programs)
}

status() {
  local name port rc=0
  while read -r name port; do
    if running "$DIR/$name.pid"; then
      echo "$name	$HOST:$port	running (pid $(cat "$DIR/$name.pid"), supervisor $(cat "$DIR/$name.supervisor.pid" 2>/dev/null || echo none))"
    else
      echo "$name	$HOST:$port	stopped"
      rc=3
    fi
  done < <(programs)
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  supervise) supervise "$2" "$3" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
