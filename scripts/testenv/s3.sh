# An S3 server: s3rver (pure JavaScript, from npm) on loopback, with one bucket.
# It needs Node's legacy OpenSSL provider: it encrypts list continuation tokens with DES.

S3RVER_VERSION=3.7.1
S3_HOME="$STATE/s3"
S3_PORT=4569
S3_BUCKET=transship
S3_ENDPOINT="http://127.0.0.1:$S3_PORT"

s3_pidfile() { echo "$RUN/s3rver.pid"; }

s3_up() {
  s3_prune_uploads
  if pid_alive "$(s3_pidfile)"; then
    return 0
  fi
  local server="$S3_HOME/server/node_modules/s3rver/bin/s3rver.js"
  if [ ! -f "$server" ]; then
    say "installing s3rver $S3RVER_VERSION"
    npm install --prefix "$S3_HOME/server" --no-audit --no-fund --loglevel=error \
      "s3rver@$S3RVER_VERSION" >"$LOGS/s3rver-install.log" 2>&1 ||
      die "npm install s3rver failed, see $LOGS/s3rver-install.log"
  fi
  mkdir -p "$S3_HOME/data"
  setsid node --openssl-legacy-provider "$server" --directory "$S3_HOME/data" \
    --address 127.0.0.1 --port "$S3_PORT" --configure-bucket "$S3_BUCKET" \
    >"$LOGS/s3rver.log" 2>&1 </dev/null &
  echo $! >"$(s3_pidfile)"
  wait_for 30 "s3rver ($S3_ENDPOINT, bucket $S3_BUCKET)" s3_answers ||
    die "s3rver did not start, see $LOGS/s3rver.log"
}

# s3rver does not implement AbortMultipartUpload (405): the parts of every upload a test
# aborts stay in its data directory. Those untouched for an hour are removed on each `up`.
s3_prune_uploads() {
  [ -d "$S3_HOME/data" ] || return 0
  find "$S3_HOME/data" -mindepth 3 -maxdepth 3 -type d -path '*/._S3rver_uploads/*' \
    -mmin +60 -exec rm -rf {} + 2>/dev/null || true
}

# Any HTTP answer will do (an anonymous request gets 403).
s3_answers() { node -e "fetch('$S3_ENDPOINT/$S3_BUCKET').then(() => process.exit(0), () => process.exit(1))"; }

s3_down() { stop_pid "$(s3_pidfile)"; }

s3_status() {
  if pid_alive "$(s3_pidfile)"; then
    echo "s3: s3rver $S3RVER_VERSION at $S3_ENDPOINT, bucket $S3_BUCKET"
  else
    echo "s3: not running"
    return 1
  fi
}

s3_env() {
  echo "TESTENV_S3_ENDPOINT=$S3_ENDPOINT"
  echo "TESTENV_S3_BUCKET=$S3_BUCKET"
  echo "TESTENV_S3_ACCESS_KEY_ID=S3RVER"
  echo "TESTENV_S3_SECRET_ACCESS_KEY=S3RVER"
  echo "TESTENV_S3_REGION=us-east-1"
}
