# CRIU >= 4.2 from one of Debian's newer suites, unpacked into a private prefix without
# touching the system's packages (Debian 12's 3.17 fails on this kernel, 13's 4.1.1 cannot
# dump TCP sockets). apt resolves the dependency closure against an empty status file, so
# no package list is hard-coded. The engines find the `criu` wrapper first on their PATH.
# A suite's CRIU is kept only if `criu check` passes and a container running a TCP server
# can be checkpointed; otherwise the next suite is tried (the newer suites move).

CRIU_SUITES=(forky sid trixie-backports)
CRIU_HOME="$STATE/criu"

criu_bin_dir() { echo "$CRIU_HOME/bin"; }
criu() { "$(criu_bin_dir)/criu" "$@"; }
criu_version() { criu --version 2>/dev/null | sed -n 's/^Version: //p'; }

criu_up() {
  if [ -f "$CRIU_HOME/verified" ] && criu check >/dev/null 2>&1; then
    return 0
  fi
  local suite
  for suite in "${CRIU_SUITES[@]}"; do
    if criu_fetch "$suite" && criu check >"$LOGS/criu-check.log" 2>&1 && criu_checkpoint_probe; then
      echo "$suite" >"$CRIU_HOME/verified"
      say "CRIU $(criu_version) from Debian's $suite: criu check and a TCP server checkpoint passed"
      return 0
    fi
    say "CRIU from $suite failed (see $LOGS/criu-*.log); trying the next suite"
  done
  die "no suite gave a working CRIU (tried ${CRIU_SUITES[*]})"
}

# The mirror this machine's apt already uses for its main archive.
debian_mirror() {
  local uri
  uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    grep -v -- '-security' | awk 'NR == 1 { print $1 }')
  [ -n "$uri" ] || die "cannot find the Debian mirror in apt's sources (run apt-get update)"
  echo "$uri"
}

criu_fetch() {
  local suite=$1 apt_dir="$CRIU_HOME/$suite/apt" root="$CRIU_HOME/$suite/root"
  rm -rf "$CRIU_HOME/$suite"
  mkdir -p "$apt_dir"/{lists/partial,archives/partial,sources.list.d} "$root" "$(criu_bin_dir)"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
    >"$apt_dir/sources.list"
  : >"$apt_dir/status"
  local apt_opts=(
    -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
    -o "Dir::Cache::archives=$apt_dir/archives" -o APT::Install-Recommends=false
  )
  say "fetching criu from Debian's $suite"
  {
    apt-get "${apt_opts[@]}" update &&
      apt-get "${apt_opts[@]}" -y --download-only install criu
  } >"$LOGS/criu-fetch-$suite.log" 2>&1 || return 1
  local deb
  for deb in "$apt_dir"/archives/*.deb; do dpkg -x "$deb" "$root"; done
  local lib="$root/usr/lib/x86_64-linux-gnu"
  [ -x "$root/usr/sbin/criu" ] || return 1
  # The suite's criu needs the suite's libc: run it through that libc's own loader.
  cat >"$(criu_bin_dir)/criu" <<WRAPPER
#!/bin/sh
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:$root/lib/x86_64-linux-gnu" "$root/usr/sbin/criu" "\$@"
WRAPPER
  chmod +x "$(criu_bin_dir)/criu"
}

criu_checkpoint_probe() {
  local name=transship-testenv-criu-probe ok=0
  engine_docker a rm -f "$name" >/dev/null 2>&1 || true
  engine_docker a run -d --name "$name" --label "$LABEL" "$IMAGE_BUSYBOX" \
    httpd -f -p 8080 >/dev/null &&
    engine_docker a checkpoint create "$name" probe >"$LOGS/criu-probe.log" 2>&1 && ok=1
  engine_docker a rm -f "$name" >/dev/null 2>&1 || true
  [ "$ok" = 1 ]
}

criu_status() {
  if [ -f "$CRIU_HOME/verified" ] && criu check >/dev/null 2>&1; then
    echo "criu: $(criu_version) from Debian's $(cat "$CRIU_HOME/verified") ($(criu_bin_dir)/criu)"
  else
    echo "criu: not installed or failing"
    return 1
  fi
}
