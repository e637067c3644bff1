# An OpenSSH server on host B (in B's network namespace), with its own host key, one
# authorized client key, and a known_hosts file and an ssh config for the client.

SSH_DIR="$STATE/ssh"
SSH_PORT=2222
SSH_USER=root
SSH_ALIAS=transship-b

sshd_pidfile() { echo "$RUN/sshd.pid"; }

sshd_up() {
  if pid_alive "$(sshd_pidfile)"; then
    return 0
  fi
  mkdir -p "$SSH_DIR" /run/sshd
  chmod 700 "$SSH_DIR"
  [ -f "$SSH_DIR/host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C transship-testenv-host -f "$SSH_DIR/host_ed25519_key"
  [ -f "$SSH_DIR/client_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C transship-testenv-client -f "$SSH_DIR/client_ed25519"
  cp "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/authorized_keys"
  local host_key
  host_key=$(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519_key.pub")
  printf '[%s]:%s %s\n' "$HOST_B_ADDR" "$SSH_PORT" "$host_key" >"$SSH_DIR/known_hosts"
  cat >"$SSH_DIR/sshd_config" <<CONFIG
Port $SSH_PORT
HostKey $SSH_DIR/host_ed25519_key
PidFile $(sshd_pidfile)
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
Subsystem sftp internal-sftp
CONFIG
  cat >"$SSH_DIR/config" <<CONFIG
Host $SSH_ALIAS
  HostName $HOST_B_ADDR
  Port $SSH_PORT
  User $SSH_USER
  IdentityFile $SSH_DIR/client_ed25519
  UserKnownHostsFile $SSH_DIR/known_hosts
CONFIG
  in_ns "$NETNS_B" /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$LOGS/sshd.log" ||
    die "sshd did not start, see $LOGS/sshd.log"
  wait_for 10 "sshd on B ($HOST_B_ADDR:$SSH_PORT)" ssh_b true ||
    die "sshd on B does not answer, see $LOGS/sshd.log"
}

ssh_b() { ssh -F "$SSH_DIR/config" -o BatchMode=yes "$SSH_ALIAS" "$@"; }

sshd_down() { stop_pid "$(sshd_pidfile)"; }

sshd_status() {
  if pid_alive "$(sshd_pidfile)"; then
    echo "sshd: running on B at $HOST_B_ADDR:$SSH_PORT"
  else
    echo "sshd: not running"
    return 1
  fi
}

sshd_env() {
  echo "TESTENV_HOST_B_SSH=ssh://$SSH_USER@$HOST_B_ADDR:$SSH_PORT$(engine_socket b)"
  echo "TESTENV_SSH_HOST=$HOST_B_ADDR"
  echo "TESTENV_SSH_PORT=$SSH_PORT"
  echo "TESTENV_SSH_USER=$SSH_USER"
  echo "TESTENV_SSH_KEY=$SSH_DIR/client_ed25519"
  echo "TESTENV_SSH_KNOWN_HOSTS=$SSH_DIR/known_hosts"
  echo "TESTENV_SSH_CONFIG=$SSH_DIR/config"
  echo "TESTENV_SSH_ALIAS=$SSH_ALIAS"
}
