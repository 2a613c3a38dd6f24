# shellcheck shell=bash
# Shared helpers for scripts/setup and its steps in scripts/lib/ (sourced, not run).
# Every step checks before it acts and prints one short line: "setup: <step>: <what happened>".

# The machine cache, as buildkit.project.config.default_cache_dir() computes it.
BUILDKIT_CACHE=${BUILDKIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/buildkit}
# Daemons' sockets, pids and logs: /run is empty after a reboot, like the daemons.
RUN_DIR=/run/buildkit
PODMAN_SOCK=$RUN_DIR/podman.sock
REGISTRY_ADDR=127.0.0.1:5000
BOOTSTRAP_ADDR=127.0.0.1:8040

step() { # step NAME MESSAGE...
  local name=$1
  shift
  printf 'setup: %-10s %s\n' "$name:" "$*"
}

die() {
  printf 'setup: error: %s\n' "$*" >&2
  exit 1
}

need_root() { # need_root WHAT: the actions below need root; say so instead of failing obscurely
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (run scripts/setup as root once)"
}

# Write stdin to FILE only when the content differs; returns 0 when it changed the file.
write_if_changed() {
  local file=$1 tmp
  tmp=$(mktemp "${file}.XXXXXX")
  cat >"$tmp"
  if [ -f "$file" ] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$file"
  return 0
}

sha256_of() { sha256sum "$@" | cut -d' ' -f1; }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$@" 2>/dev/null; }

# Start a daemon detached from this shell (it must outlive setup and CI steps) and wait until
# CHECK succeeds. start_daemon NAME CHECK_FUNC CMD...
start_daemon() {
  local name=$1 check=$2 pidfile=$RUN_DIR/$1.pid log=$RUN_DIR/$1.log i
  shift 2
  stop_daemon "$name"
  # From /, not the checkout: a daemon outlives this clone, and podman's conmon fails once the
  # directory it was started in is deleted ("Failed to get working directory").
  pushd / >/dev/null
  setsid nohup "$@" >"$log" 2>&1 </dev/null 9>&- &  # not the setup lock: it would outlive us
  echo $! >"$pidfile"
  popd >/dev/null
  for i in $(seq 1 100); do
    if "$check"; then
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      tail -n 5 "$log" >&2
      die "$name exited at start (log: $log)"
    fi
    sleep 0.1
  done
  tail -n 5 "$log" >&2
  die "$name did not answer within 10s (log: $log)"
}

# Stop a daemon this setup started earlier (by its recorded pid only).
stop_daemon() {
  local pidfile=$RUN_DIR/$1.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$pidfile"
}
