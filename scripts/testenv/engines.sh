# Engines: one dockerd per host, each with its own containerd (the one dockerd starts
# itself), in the host's network namespace and in a private mount namespace where the
# host's data and exec roots appear at /var/lib/docker and /run/docker, as on a real
# machine. CRIU restores failed across engines whose data roots had different paths.
# Each host also gets its own /etc/docker: the engine ID comes from /etc/docker/key.json.
# Host C runs the vfs storage driver (no CRIU needed there): the container layer's
# fallback, for engines without an overlay2 UpperDir, is tested against it.
# Host D runs a current Docker (engine-d.sh) from its own PATH, with a few more private
# directories and a cgroup parent of its own.

engine_socket() { if [ "$1" = a ]; then echo /run/docker.sock; else echo "$RUN/$1/docker.sock"; fi; }
engine_url() { echo "unix://$(engine_socket "$1")"; }
engine_netns() {
  case "$1" in
    a) echo "$NETNS_A" ;;
    b) echo "$NETNS_B" ;;
    c) echo "$NETNS_C" ;;
    d) echo "$NETNS_D" ;;
  esac
}
engine_args() { # extra dockerd flags
  case "$1" in
    c) echo "--storage-driver vfs" ;;
    d) echo "--cgroup-parent /$(engine_cgroup_parent d)" ;;
  esac
}
engine_cgroup_parent() { if [ "$1" = d ]; then echo transship-d; else echo docker; fi; }
engine_path() { if [ "$1" = d ]; then echo "$(engine_d_bin_dir):$PATH"; else echo "$(criu_bin_dir):$PATH"; fi; }
# More directories the engine gets its own of, in its mount namespace: its directory
# $RUN/HOST/private/DIR is bound over DIR (kept across restarts, as the exec root is).
engine_private_dirs() { if [ "$1" = d ]; then echo "$ENGINE_D_PRIVATE_DIRS"; fi; }
engine_data_root() { echo "$STATE/$1/docker"; }
engine_pidfile() { echo "$RUN/$1/dockerd.pid"; }
engine_docker() { # engine_docker HOST ARGS...: the docker client, aimed at HOST's engine
  local host=$1
  shift
  "$DOCKER" -H "$(engine_url "$host")" "$@"
}

engine_up() {
  local host=$1
  local pidfile data exec sock
  pidfile=$(engine_pidfile "$host")
  data=$(engine_data_root "$host")
  exec="$RUN/$host/docker"
  sock=$(engine_socket "$host")
  if pid_alive "$pidfile" && engine_docker "$host" info >/dev/null 2>&1; then
    return 0
  fi
  # dockerd 20.10 uses /run/containerd/containerd.sock whenever it exists, instead of
  # starting a containerd of its own: two engines would then share one.
  [ -S /run/containerd/containerd.sock ] &&
    die "a system containerd listens on /run/containerd/containerd.sock; stop it first"
  if [ "$host" = a ] && "$DOCKER" -H "unix://$sock" version >/dev/null 2>&1; then
    die "another Docker engine listens on $sock; stop it first (host A takes the default socket)"
  fi
  local dir
  mkdir -p "$data" "$exec" "$STATE/$host/etc" "$RUN/$host" /var/lib/docker /run/docker /etc/docker
  for dir in $(engine_private_dirs "$host"); do mkdir -p "$dir" "$RUN/$host/private$dir"; done
  [ -f "$STATE/$host/etc/daemon.json" ] || echo '{}' >"$STATE/$host/etc/daemon.json"
  say "starting engine $host"
  # shellcheck disable=SC2016
  setsid unshare --mount --propagation private -- sh -c '
    mount --bind "$1" /var/lib/docker && mount --bind "$2" /run/docker &&
    mount --bind "$5" /etc/docker &&
    for dir in $9; do mount --bind "${10}$dir" "$dir" || exit 1; done &&
    exec nsenter --net="$3" env PATH="$4" dockerd --experimental $8 \
      --config-file /etc/docker/daemon.json --pidfile "$6" -H "unix://$7" \
      --data-root /var/lib/docker --exec-root /run/docker' \
    sh "$data" "$exec" "$(netns_path "$(engine_netns "$host")")" "$(engine_path "$host")" \
    "$STATE/$host/etc" "$pidfile" "$sock" "$(engine_args "$host")" "$(engine_private_dirs "$host")" \
    "$RUN/$host/private" \
    >"$LOGS/dockerd-$host.log" 2>&1 </dev/null &
  wait_for 60 "engine $host ($(engine_url "$host"))" engine_docker "$host" info ||
    die "engine $host did not start, see $LOGS/dockerd-$host.log"
}

engine_down() {
  local host=$1 pidfile
  pidfile=$(engine_pidfile "$host")
  if pid_alive "$pidfile"; then
    local ids
    ids=$(engine_docker "$host" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || engine_docker "$host" rm -f $ids >/dev/null 2>&1 || true
    stop_pid "$pidfile"
  fi
  kill_orphaned_containers "$host"
}

# After a crash, container processes outlive their engine: find them by the cgroups named
# after the container ids in this host's data root.
kill_orphaned_containers() {
  local dir id parent
  dir="$(engine_data_root "$1")/containers"
  parent=$(engine_cgroup_parent "$1")
  [ -d "$dir" ] || return 0
  for id in $(ls "$dir"); do
    cat /sys/fs/cgroup/pids/"$parent"/"$id"/cgroup.procs /sys/fs/cgroup/"$parent"/"$id"/cgroup.procs 2>/dev/null |
      xargs -r kill -9 2>/dev/null || true
  done
}

engine_status() {
  local host=$1
  if pid_alive "$(engine_pidfile "$host")" && engine_docker "$host" info >/dev/null 2>&1; then
    echo "engine $host: running at $(engine_url "$host") ($(engine_docker "$host" version -f '{{.Server.Version}}, API {{.Server.APIVersion}}'))"
  else
    echo "engine $host: not running"
    return 1
  fi
}

engine_env() {
  echo "TESTENV_HOST_A=$(engine_url a)"
  echo "TESTENV_HOST_B=$(engine_url b)"
  echo "TESTENV_HOST_A_DATA_ROOT=$(engine_data_root a)"
  echo "TESTENV_HOST_B_DATA_ROOT=$(engine_data_root b)"
  echo "TESTENV_HOST_A_ADDR=$HOST_A_ADDR"
  echo "TESTENV_HOST_B_ADDR=$HOST_B_ADDR"
  echo "TESTENV_HOST_B_NETNS=$NETNS_B"
  echo "TESTENV_HOST_C=$(engine_url c)"
  echo "TESTENV_HOST_C_DATA_ROOT=$(engine_data_root c)"
  echo "TESTENV_HOST_C_ADDR=$HOST_C_ADDR"
  echo "TESTENV_HOST_D=$(engine_url d)"
  echo "TESTENV_HOST_D_DATA_ROOT=$(engine_data_root d)"
  echo "TESTENV_HOST_D_ADDR=$HOST_D_ADDR"
  echo "TESTENV_HOST_D_NETNS=$NETNS_D"
}
