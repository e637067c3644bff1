# Debian packages: the Docker engine, docker-compose 1.29 (the compose-project tests),
# sshd, what the test images are made of, and a C compiler with static libc for
# transship's helper program (packages/helper).

PACKAGES=(docker.io docker-compose openssh-server busybox-static redis-server iproute2 iptables procps ca-certificates gcc libc6-dev)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  # No service may start on install: the system's dockerd, containerd and sshd would take
  # the default sockets and ports (dockerd 20.10 silently shares /run/containerd/containerd.sock).
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOGS/apt.log" 2>&1 ||
    die "apt-get install failed, see $LOGS/apt.log"
  [ "$own_policy" = 1 ] && rm -f "$policy"
  stop_system_services
}

# A fresh machine may run the packaged services anyway (systemd ignores policy-rc.d for
# socket activation): stop them, the test engines must own their paths.
stop_system_services() {
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now docker.socket docker.service containerd.service >/dev/null 2>&1 || true
  fi
}
