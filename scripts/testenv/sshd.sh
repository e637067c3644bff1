# OpenSSH servers on host B (in B's network namespace), with their own host key, and a
# known_hosts file and an ssh config for the client:
#   - the main one (port 2222), with SFTP;
#   - a second one (port 2223) without the SFTP subsystem, for transports that fall back
#     to commands over exec.
# Both accept two client keys (one plain, one encrypted with a passphrase), for root, for
# an unprivileged user (permission tests) and for a user whose shell is nologin (an account
# restricted to SFTP: commands do not run for it). A small tmpfs, also reachable through them,
# lets tests fill a file system without touching the machine's own disk.

SSH_DIR="$STATE/ssh"
SSH_PORT=2222
SSH_NOSFTP_PORT=2223
SSH_USER=root
SSH_ALIAS=transship-b
SSH_NOSFTP_ALIAS=transship-b-nosftp
SSH_KEY_PASSPHRASE=transship-testenv
SSH_TEST_USER=transship-test
SSH_TEST_USER_HOME="$STATE/ssh-user"
SSH_SFTP_USER=transship-sftp
SSH_SFTP_USER_HOME="$STATE/ssh-sftp-user"
SSH_SMALL_FS="$RUN/ssh-small-fs"
SSH_SMALL_FS_BYTES=$((8 * 1024 * 1024))

sshd_pidfile() { echo "$RUN/sshd.pid"; }
sshd_nosftp_pidfile() { echo "$RUN/sshd-nosftp.pid"; }

sshd_up() {
  sshd_files
  sshd_test_user_up
  sshd_small_fs_up
  sshd_start main "$(sshd_pidfile)" "$SSH_DIR/sshd_config" "$SSH_PORT" "$SSH_ALIAS"
  sshd_start nosftp "$(sshd_nosftp_pidfile)" "$SSH_DIR/sshd_nosftp_config" "$SSH_NOSFTP_PORT" \
    "$SSH_NOSFTP_ALIAS"
}

# Keys (made once), and the configs, known_hosts and authorized keys (rewritten each time).
sshd_files() {
  mkdir -p "$SSH_DIR" /run/sshd
  # 0711: sshd reads authorized_keys as the user logging in, also the unprivileged one.
  chmod 711 "$SSH_DIR"
  [ -f "$SSH_DIR/host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C transship-testenv-host -f "$SSH_DIR/host_ed25519_key"
  [ -f "$SSH_DIR/client_ed25519" ] ||
    ssh-keygen -q -t ed25519 -N '' -C transship-testenv-client -f "$SSH_DIR/client_ed25519"
  [ -f "$SSH_DIR/client_ed25519_encrypted" ] ||
    ssh-keygen -q -t ed25519 -N "$SSH_KEY_PASSPHRASE" -C transship-testenv-client-encrypted \
      -f "$SSH_DIR/client_ed25519_encrypted"
  cat "$SSH_DIR/client_ed25519.pub" "$SSH_DIR/client_ed25519_encrypted.pub" \
    >"$SSH_DIR/authorized_keys.new"
  chmod 644 "$SSH_DIR/authorized_keys.new"
  mv "$SSH_DIR/authorized_keys.new" "$SSH_DIR/authorized_keys"
  local host_key
  host_key=$(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519_key.pub")
  {
    printf '[%s]:%s %s\n' "$HOST_B_ADDR" "$SSH_PORT" "$host_key"
    printf '[%s]:%s %s\n' "$HOST_B_ADDR" "$SSH_NOSFTP_PORT" "$host_key"
  } >"$SSH_DIR/known_hosts"
  sshd_config "$SSH_PORT" "$(sshd_pidfile)" 'Subsystem sftp internal-sftp' \
    >"$SSH_DIR/sshd_config"
  sshd_config "$SSH_NOSFTP_PORT" "$(sshd_nosftp_pidfile)" '# no SFTP subsystem' \
    >"$SSH_DIR/sshd_nosftp_config"
  {
    ssh_client_config "$SSH_ALIAS" "$SSH_PORT"
    ssh_client_config "$SSH_NOSFTP_ALIAS" "$SSH_NOSFTP_PORT"
  } >"$SSH_DIR/config"
}

# sshd_config PORT PIDFILE SUBSYSTEM_LINE
sshd_config() {
  cat <<CONFIG
Port $1
HostKey $SSH_DIR/host_ed25519_key
PidFile $2
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
$3
CONFIG
}

# ssh_client_config ALIAS PORT
ssh_client_config() {
  cat <<CONFIG
Host $1
  HostName $HOST_B_ADDR
  Port $2
  User $SSH_USER
  IdentityFile $SSH_DIR/client_ed25519
  UserKnownHostsFile $SSH_DIR/known_hosts
CONFIG
}

# sshd_start NAME PIDFILE CONFIG PORT ALIAS
sshd_start() {
  local name=$1 pidfile=$2 config=$3 port=$4 alias=$5
  pid_alive "$pidfile" && return 0
  in_ns "$NETNS_B" /usr/sbin/sshd -f "$config" -E "$LOGS/sshd-$name.log" ||
    die "sshd ($name) did not start, see $LOGS/sshd-$name.log"
  wait_for 10 "sshd ($name) on B ($HOST_B_ADDR:$port)" ssh_b "$alias" true ||
    die "sshd ($name) on B does not answer, see $LOGS/sshd-$name.log"
}

# Unprivileged users the client keys log in as: permission denied is real for them; one
# has a shell, the other nologin (SFTP works for it, commands do not).
sshd_test_user_up() {
  sshd_user_up "$SSH_TEST_USER" "$SSH_TEST_USER_HOME" /bin/sh
  sshd_user_up "$SSH_SFTP_USER" "$SSH_SFTP_USER_HOME" /usr/sbin/nologin
}

# sshd_user_up NAME HOME SHELL
sshd_user_up() {
  local name=$1 home=$2 shell=$3
  if ! id -u "$name" >/dev/null 2>&1; then
    useradd --system --create-home --home-dir "$home" --shell "$shell" "$name"
  fi
  # '*': no password, but not locked (sshd refuses locked accounts without PAM).
  usermod -p '*' "$name"
}

sshd_test_user_down() {
  local name
  for name in "$SSH_TEST_USER" "$SSH_SFTP_USER"; do
    # --force: even while a session of it lingers (sshd is stopped first).
    if id -u "$name" >/dev/null 2>&1; then userdel --force "$name"; fi
  done
}

# A tmpfs of a few MiB that anyone may write to: a file system tests can fill.
sshd_small_fs_up() {
  mkdir -p "$SSH_SMALL_FS"
  mountpoint -q "$SSH_SMALL_FS" ||
    mount -t tmpfs -o "size=$SSH_SMALL_FS_BYTES,mode=1777" transship-small-fs "$SSH_SMALL_FS"
}

sshd_small_fs_down() {
  if mountpoint -q "$SSH_SMALL_FS" 2>/dev/null; then umount "$SSH_SMALL_FS"; fi
  rmdir "$SSH_SMALL_FS" 2>/dev/null || true
}

# ssh_b ALIAS COMMAND...
ssh_b() {
  local alias=$1
  shift
  ssh -F "$SSH_DIR/config" -o BatchMode=yes "$alias" "$@"
}

sshd_down() {
  stop_pid "$(sshd_nosftp_pidfile)"
  stop_pid "$(sshd_pidfile)"
  sshd_test_user_down
  sshd_small_fs_down
}

sshd_status() {
  local failed=0
  if pid_alive "$(sshd_pidfile)"; then
    echo "sshd: running on B at $HOST_B_ADDR:$SSH_PORT"
  else
    echo "sshd: not running"
    failed=1
  fi
  if pid_alive "$(sshd_nosftp_pidfile)"; then
    echo "sshd without SFTP: running on B at $HOST_B_ADDR:$SSH_NOSFTP_PORT"
  else
    echo "sshd without SFTP: not running"
    failed=1
  fi
  local name
  for name in "$SSH_TEST_USER" "$SSH_SFTP_USER"; do
    if id -u "$name" >/dev/null 2>&1; then
      echo "ssh test user: $name ($(getent passwd "$name" | cut -d: -f7))"
    else
      echo "ssh test user: $name missing"
      failed=1
    fi
  done
  if mountpoint -q "$SSH_SMALL_FS" 2>/dev/null; then
    echo "small file system: tmpfs of $SSH_SMALL_FS_BYTES bytes at $SSH_SMALL_FS"
  else
    echo "small file system: not mounted"
    failed=1
  fi
  return "$failed"
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
  echo "TESTENV_SSH_KEY_ENCRYPTED=$SSH_DIR/client_ed25519_encrypted"
  echo "TESTENV_SSH_KEY_PASSPHRASE=$SSH_KEY_PASSPHRASE"
  echo "TESTENV_SSH_NOSFTP_PORT=$SSH_NOSFTP_PORT"
  echo "TESTENV_SSH_NOSFTP_ALIAS=$SSH_NOSFTP_ALIAS"
  echo "TESTENV_SSH_TEST_USER=$SSH_TEST_USER"
  echo "TESTENV_SSH_SFTP_ONLY_USER=$SSH_SFTP_USER"
  echo "TESTENV_SSH_SMALL_FS=$SSH_SMALL_FS"
  echo "TESTENV_SSH_SMALL_FS_BYTES=$SSH_SMALL_FS_BYTES"
}
