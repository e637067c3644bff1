#!/bin/sh
# Builds dist/transship-helper-linux-<arch> (arch: uname -m), a static, stripped binary,
# when a source is newer than it. Needs a C compiler and static libc (gcc libc6-dev).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
arch=$(uname -m)
out="$here/dist/transship-helper-linux-$arch"
cc=${CC:-}
if [ -z "$cc" ]; then
  for c in gcc cc; do
    if command -v "$c" >/dev/null 2>&1; then cc=$c; break; fi
  done
fi
if [ -z "$cc" ] || ! command -v "$cc" >/dev/null 2>&1; then
  echo "build.sh: no C compiler found (install gcc and libc6-dev, or set CC)" >&2
  exit 1
fi

if [ -f "$out" ]; then
  stale=$(find "$here/src" "$here/build.sh" -newer "$out" \( -name '*.c' -o -name '*.h' -o -name build.sh \) | head -n 1)
  if [ -z "$stale" ]; then exit 0; fi
fi

mkdir -p "$here/dist"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -static -s -o "$tmp" "$here"/src/*.c
mv "$tmp" "$out"
echo "built $out"
