#!/usr/bin/env bash
# Start, stop or show the scheduled reconciliation of the private DFS with
# the database: every RECONCILE_EVERY, the file IDs the storage holds
# (fdfs_list_files, from its binlog) older than RECONCILE_GRACE go through
# `reconcile -gc`, which deletes those no file_info row references (what an
# upload killed between the storage and the database left behind). See
# README "Reconciliation".
#
# Environment: RUN_DIR (./run), BIN_DIR (./bin), YUNPAN_CFG ($RUN_DIR/cfg.json),
# RECONCILE_EVERY (10m; sleep(1)'s syntax: 600, 10m, 1h),
# RECONCILE_GRACE (1h; a Go duration: 1h, 90s): younger files are in-flight
# uploads and are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=spawn/lib.sh disable=SC1091 # followed with shellcheck -x
. "$ROOT/spawn/lib.sh"
RUN=${RUN_DIR:-$ROOT/run}
BIN=${BIN_DIR:-$ROOT/bin}
export YUNPAN_CFG=${YUNPAN_CFG:-$RUN/cfg.json}
EVERY=${RECONCILE_EVERY:-10m}
GRACE=${RECONCILE_GRACE:-1h}
PID=$RUN/reconcile.pid
LOG=$RUN/reconcile.log

start() {
  if running "$PID"; then echo "reconcile loop already running (pid $(cat "$PID"))"; return 0; fi
  for b in fdfs_list_files reconcile; do
    [ -x "$BIN/$b" ] || { echo "missing $BIN/$b: build it with make build" >&2; exit 1; }
  done
  setsid nohup "$ROOT/spawn/reconcile.sh" loop >>"$LOG" 2>&1 </dev/null &
  wait_for "the reconcile loop" running "$PID"
  echo "reconcile every $EVERY (grace $GRACE, log $LOG)"
}

once() {
  # Its own spool dir: the command opens the app (which makes one).
  "$BIN/fdfs_list_files" "$RUN/storage.conf" -older-than "$GRACE" |
    YUNPAN_TEMP_DIR=$RUN/upload-tmp/reconcile "$BIN/reconcile" -conf "$YUNPAN_CFG" -grace "$GRACE" -gc
}

loop() {
  local nap="" stopping=""
  cd "$RUN"
  echo $$ >"$PID"
  # shellcheck disable=SC2317,SC2329 # run by the trap
  on_term() {
    stopping=1
    if [ -n "$nap" ]; then kill "$nap" 2>/dev/null || true; fi
  }
  trap on_term TERM INT
  while [ -z "$stopping" ]; do
    sleep "$EVERY" &
    nap=$!
    wait "$nap" || true
    nap=""
    [ -z "$stopping" ] || break
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) reconcile:"
    once || echo "reconcile failed (status $?); next try in $EVERY"
  done
  rm -f "$PID"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid "reconcile loop" "$PID" ;;
  status) if running "$PID"; then echo "reconcile	running (pid $(cat "$PID"), every $EVERY)"; else echo "reconcile	stopped"; exit 3; fi ;;
  once) once ;;
  loop) loop ;;
  *) echo "usage: $0 start|stop|status|once" >&2; exit 2 ;;
esac
