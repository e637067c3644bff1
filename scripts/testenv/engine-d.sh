# Host D: a current Docker engine (Debian 13 "trixie"'s docker.io 26.1, containerd 1.7,
# runc 1.1) beside the 20.10 ones, since users run Docker 25 and newer. Fetched as criu.sh
# fetches CRIU: apt resolves docker.io's closure against an empty status file in a private
# apt dir, `dpkg -x` unpacks it into a private prefix; the system's packages are untouched.
# - dockerd, containerd, the shim and docker-proxy run on this machine's glibc (dockerd
#   also takes the host's libsystemd). runc needs the suite's glibc and libseccomp: it is
#   patched (patchelf, Debian 12's, unpacked the same way) to load them from the prefix. A
#   loader wrapper as for criu does not work: runc re-executes /proc/self/exe as
#   `runc init`, which is then the loader, and every container fails ("write init-p:
#   broken pipe").
# - The engine's PATH starts with a directory holding only symlinks to those programs, to
#   docker-init and to the testenv's criu: the suite's other programs (iptables,
#   systemctl, …) need its glibc; the engine uses this machine's iptables.
# - engines.sh starts it as it starts A and B, plus directories of its own bound over
#   /run/containerd and /opt/containerd in its mount namespace (containerd 1.7's shims put
#   their sockets in /run/containerd/s whatever the exec root, as the 20.10 engines' shims
#   do), and a cgroup parent of its own.
# Kept only if the programs run and, once started, the engine runs a container and
# checkpoints and restores it; otherwise `up` fails and says where to look.

ENGINE_D_SUITE=trixie
ENGINE_D_MIN_MAJOR=25
ENGINE_D_HOME="$STATE/engine-d"
ENGINE_D_PRIVATE_DIRS="/run/containerd /opt/containerd"
# program name on PATH -> path inside the unpacked prefix
ENGINE_D_PROGRAMS=(
  dockerd:usr/sbin/dockerd docker-proxy:usr/sbin/docker-proxy
  containerd:usr/bin/containerd containerd-shim-runc-v2:usr/bin/containerd-shim-runc-v2
  ctr:usr/bin/ctr runc:usr/bin/runc docker-init:usr/bin/tini-static
)

engine_d_bin_dir() { echo "$ENGINE_D_HOME/bin"; }
engine_d_root() { echo "$ENGINE_D_HOME/root"; }

# engine_d_install: fetch and unpack the engine, unless a previous run did.
engine_d_install() {
  if [ -f "$ENGINE_D_HOME/installed" ] && engine_d_programs_run >/dev/null 2>&1; then
    return 0
  fi
  rm -f "$ENGINE_D_HOME/installed" "$ENGINE_D_HOME/verified"
  engine_d_fetch || die "fetching docker.io from Debian's $ENGINE_D_SUITE failed, see $LOGS/engine-d-fetch.log"
  engine_d_programs_run >"$LOGS/engine-d-programs.log" 2>&1 ||
    die "host D's programs from Debian's $ENGINE_D_SUITE do not run here, see $LOGS/engine-d-programs.log"
  local major
  major=$("$(engine_d_bin_dir)/dockerd" --version | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
  [ "${major:-0}" -ge "$ENGINE_D_MIN_MAJOR" ] ||
    die "Debian's $ENGINE_D_SUITE gave $("$(engine_d_bin_dir)/dockerd" --version), expected Docker $ENGINE_D_MIN_MAJOR or newer"
  touch "$ENGINE_D_HOME/installed"
  say "host D's engine: $("$(engine_d_bin_dir)/dockerd" --version) from Debian's $ENGINE_D_SUITE"
}

engine_d_fetch() {
  local apt_dir="$ENGINE_D_HOME/apt" root bin mirror security
  root=$(engine_d_root)
  bin=$(engine_d_bin_dir)
  rm -rf "$ENGINE_D_HOME"
  mkdir -p "$apt_dir"/{lists/partial,archives/partial,sources.list.d} "$root" "$bin" "$ENGINE_D_HOME/patchelf"
  mirror=$(debian_mirror)
  security=$(debian_security_mirror)
  {
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $ENGINE_D_SUITE main"
    # Its security updates, from where this machine's apt takes its own (if it does).
    [ -z "$security" ] ||
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security $ENGINE_D_SUITE-security main"
  } >"$apt_dir/sources.list"
  : >"$apt_dir/status"
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
    -o "Dir::Cache::archives=$apt_dir/archives" -o APT::Install-Recommends=false
  )
  say "fetching docker.io from Debian's $ENGINE_D_SUITE"
  {
    apt-get "${apt_opts[@]}" update &&
      apt-get "${apt_opts[@]}" -y --download-only install docker.io &&
      # patchelf from this machine's own suite, unpacked only
      (cd "$ENGINE_D_HOME/patchelf" && apt-get download patchelf)
  } >"$LOGS/engine-d-fetch.log" 2>&1 || return 1
  local deb
  for deb in "$apt_dir"/archives/*.deb; do dpkg -x "$deb" "$root"; done
  dpkg -x "$ENGINE_D_HOME"/patchelf/patchelf_*.deb "$ENGINE_D_HOME/patchelf"
  local lib="$root/usr/lib/x86_64-linux-gnu"
  {
    "$ENGINE_D_HOME/patchelf/usr/bin/patchelf" --set-interpreter "$lib/ld-linux-x86-64.so.2" \
      --set-rpath "$lib" "$root/usr/bin/runc"
  } >>"$LOGS/engine-d-fetch.log" 2>&1 || return 1
  local program
  for program in "${ENGINE_D_PROGRAMS[@]}"; do
    [ -x "$root/${program#*:}" ] || {
      echo "docker.io's closure lacks ${program#*:}" >>"$LOGS/engine-d-fetch.log"
      return 1
    }
    ln -sfn "$root/${program#*:}" "$bin/${program%%:*}"
  done
  ln -sfn "$(criu_bin_dir)/criu" "$bin/criu"
}

# The mirror this machine's apt takes its security updates from, if any.
debian_security_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    grep -- '-security' | awk 'NR == 1 { print $1 }'
}

# Each program starts on this machine (a missing library or glibc version shows here).
engine_d_programs_run() {
  local bin
  bin=$(engine_d_bin_dir)
  "$bin/dockerd" --version && "$bin/containerd" --version && "$bin/runc" --version &&
    "$bin/ctr" --version && "$bin/containerd-shim-runc-v2" -v && "$bin/docker-init" --version &&
    [ -x "$bin/docker-proxy" ]
}

# engine_d_verify: once, after the images and CRIU are in place: D runs a container,
# checkpoints it and restores it.
engine_d_verify() {
  [ -f "$ENGINE_D_HOME/verified" ] && return 0
  local name=transship-testenv-d-probe log="$LOGS/engine-d-probe.log" ok=0
  engine_docker d rm -f "$name" >/dev/null 2>&1 || true
  {
    engine_docker d version &&
      engine_docker d run -d --name "$name" --label "$LABEL" "$IMAGE_BUSYBOX" \
        sh -c 'i=0; while true; do i=$((i + 1)); echo $i; sleep 0.1; done' &&
      engine_docker d checkpoint create "$name" probe &&
      # moby#42900: a start right after the checkpoint may fail ("already exists")
      { engine_docker d start --checkpoint probe "$name" ||
        { sleep 1 && engine_docker d start --checkpoint probe "$name"; }; } &&
      [ "$(engine_docker d inspect -f '{{.State.Running}}' "$name")" = true ]
  } >"$log" 2>&1 && ok=1
  engine_docker d rm -f "$name" >/dev/null 2>&1 || true
  [ "$ok" = 1 ] || die "host D's engine does not run, checkpoint and restore a container, see $log and $LOGS/dockerd-d.log"
  touch "$ENGINE_D_HOME/verified"
  say "host D's engine runs, checkpoints and restores a container"
}
