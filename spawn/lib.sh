# shellcheck shell=bash
# Functions shared by the spawn/ scripts; sourced, never run. The caller
# sets RUN (the run directory) before using secret or wait_for.

# running PIDFILE: the pid file names a live process.
running() {
  [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null
}

# wait_for DESCRIPTION COMMAND...: runs COMMAND (a program or a function)
# every 0.1 s until it succeeds, 30 s at most.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $what (logs under $RUN)" >&2
  return 1
}

# port_open HOST PORT: something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# stop_pid NAME PIDFILE [SIGNAL]: signals the process (TERM by default),
# waits up to 30 s for it to exit, then kills it; removes the pid file.
stop_pid() {
  local p
  if ! running "$2" || ! p=$(cat "$2" 2>/dev/null); then
    rm -f "$2"
    return 0
  fi
  kill "-${3:-TERM}" "$p" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  rm -f "$2"
  echo "stopped $1"
}

# secret NAME prints the secret kept in $RUN/secrets/NAME. The first call
# makes a random one (48 hex digits, mode 0600); later runs reuse it, so
# the databases and the cluster keep accepting it.
secret() {
  local dir=$RUN/secrets
  local f=$dir/$1
  mkdir -p "$dir"
  chmod 700 "$dir"
  if [ ! -s "$f" ]; then
    (
      umask 077
      od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f.tmp"
      mv "$f.tmp" "$f"
    )
  fi
  chmod 600 "$f"
  cat "$f"
}

# private_file PATH: writes stdin to PATH with mode 0600 (through a temp
# file, so a reader never sees half of it).
private_file() {
  (
    umask 077
    cat >"$1.tmp"
    mv "$1.tmp" "$1"
  )
  chmod 600 "$1"
}
