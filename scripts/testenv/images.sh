# Test images, built locally (no registry is reachable): a busybox image, and a real
# stateful server (Debian's redis-server) whose state can live only in memory. Each is
# imported on A and carried to B, C and D with save/load, so all engines hold the same image ID.

IMAGE_BUSYBOX=transship-test/busybox:latest
IMAGE_REDIS=transship-test/redis:latest

images_up() {
  image_up "$IMAGE_BUSYBOX" build_busybox_rootfs '["/bin/sh"]'
  image_up "$IMAGE_REDIS" build_redis_rootfs \
    '["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]'
}

image_up() { # image_up NAME ROOTFS_BUILDER CMD_JSON
  local name=$1 builder=$2 cmd=$3 rootfs
  if ! engine_docker a image inspect "$name" >/dev/null 2>&1; then
    rootfs=$(mktemp -d "$STATE/rootfs.XXXXXX")
    "$builder" "$rootfs"
    tar -C "$rootfs" -c . |
      engine_docker a import -c "CMD $cmd" -c "LABEL $LABEL" - "$name" >/dev/null
    rm -rf "$rootfs"
    say "image $name built on A"
  fi
  local host
  for host in b c d; do
    if [ "$(engine_docker "$host" image inspect -f '{{.Id}}' "$name" 2>/dev/null)" != \
      "$(engine_docker a image inspect -f '{{.Id}}' "$name")" ]; then
      engine_docker a save "$name" | engine_docker "$host" load >/dev/null
      say "image $name loaded on ${host^^}"
    fi
  done
}

build_busybox_rootfs() {
  local root=$1 applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home/app,tmp,var/tmp,proc,sys,dev}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'app:x:1000:1000:app:/home/app:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'app:x:1000:' 'nogroup:x:65534:' >"$root/etc/group"
  chown 1000:1000 "$root/home/app"
}

build_redis_rootfs() {
  local root=$1 binary lib
  build_busybox_rootfs "$root"
  for binary in /usr/bin/redis-server /usr/bin/redis-cli; do
    cp -L "$binary" "$root$binary"
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
      cp -L --parents "$lib" "$root"
    done
  done
}

image_env() {
  echo "TESTENV_IMAGE_BUSYBOX=$IMAGE_BUSYBOX"
  echo "TESTENV_IMAGE_REDIS=$IMAGE_REDIS"
}
