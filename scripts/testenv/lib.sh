# Shared names and helpers. Everything the environment creates is named "transship-…"
# or "ts-…" (interfaces), or labelled transship.testenv=true (images, containers).

STATE=/var/lib/transship-testenv   # persistent: engine data roots, keys, CRIU, S3 data
RUN=/run/transship-testenv         # runtime: pids, sockets, exec roots
LOGS=/var/log/transship-testenv
LABEL=transship.testenv=true
DOCKER=/usr/bin/docker             # Debian's client; /usr/local/bin may hold another

repo_root() { git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd); }
env_file() { echo "$(repo_root)/.testenv/env"; }

say() { echo "testenv: $*" >&2; }
die() {
  echo "testenv: error: $*" >&2
  exit 1
}

require_root() { [ "$(id -u)" = 0 ] || die "run as root (it starts Docker engines and network namespaces)"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  say "$what: ok"
}

# pid_alive PIDFILE: the process named in PIDFILE runs.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE: TERM, then KILL after 20 s.
stop_pid() {
  local pidfile=$1 pid
  pid_alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

write_env_file() {
  local file
  file=$(env_file)
  mkdir -p "$(dirname "$file")"
  {
    echo "# Written by 'pnpm testenv up'; endpoints of the running test environment."
    engine_env
    image_env
    sshd_env
    s3_env
    volume_plugin_env
    echo "TESTENV_CRIU_VERSION=$(criu_version)"
  } >"$file"
}
