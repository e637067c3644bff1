# A volume plugin on each host, so that tests can migrate a volume whose driver is not
# `local`: volume-plugin/server.mjs (Node, no dependencies) speaks Docker's legacy
# VolumeDriver protocol on a unix socket in the engine's plugin directory. Each engine's
# exec root is mounted at /run/docker in its namespace, so the engine discovers the socket
# as /run/docker/plugins/$VOLUME_PLUGIN.sock. Volumes are directories under
# $STATE/HOST/plugin-volumes, a path the engine sees as it is.

VOLUME_PLUGIN=transship-testvol

volume_plugin_pidfile() { echo "$RUN/$1/volume-plugin.pid"; }
volume_plugin_socket() { echo "$RUN/$1/docker/plugins/$VOLUME_PLUGIN.sock"; }

volume_plugin_up() {
  local host=$1 socket
  socket=$(volume_plugin_socket "$host")
  if pid_alive "$(volume_plugin_pidfile "$host")" && volume_plugin_answers "$socket"; then
    return 0
  fi
  stop_pid "$(volume_plugin_pidfile "$host")"
  mkdir -p "$(dirname "$socket")" "$STATE/$host/plugin-volumes"
  setsid node "$here/volume-plugin/server.mjs" --socket "$socket" \
    --data "$STATE/$host/plugin-volumes" \
    >>"$LOGS/volume-plugin-$host.log" 2>&1 </dev/null &
  echo $! >"$(volume_plugin_pidfile "$host")"
  wait_for 30 "volume plugin $VOLUME_PLUGIN on $host" volume_plugin_answers "$socket" ||
    die "volume plugin on $host did not start, see $LOGS/volume-plugin-$host.log"
}

# The plugin answers the engine's first call.
volume_plugin_answers() {
  node -e '
    const request = require("node:http").request(
      { socketPath: process.argv[1], path: "/Plugin.Activate", method: "POST" },
      (response) => process.exit(response.statusCode === 200 ? 0 : 1),
    )
    request.on("error", () => process.exit(1))
    request.end()' "$1"
}

volume_plugin_down() { stop_pid "$(volume_plugin_pidfile "$1")"; }

volume_plugin_status() {
  local host=$1
  if pid_alive "$(volume_plugin_pidfile "$host")" &&
    volume_plugin_answers "$(volume_plugin_socket "$host")"; then
    echo "volume plugin $host: $VOLUME_PLUGIN at $(volume_plugin_socket "$host")"
  else
    echo "volume plugin $host: not running"
    return 1
  fi
}

volume_plugin_env() { echo "TESTENV_VOLUME_PLUGIN=$VOLUME_PLUGIN"; }
