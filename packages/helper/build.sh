#!/bin/sh
# Builds dist/transship-helper-linux-<arch>: static, stripped, only when a source is newer.
# Usage: sh build.sh [ARCH]   ARCH defaults to `uname -m` (x86_64, aarch64); another ARCH
# is cross-compiled with ${ARCH}-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross). CC overrides the compiler. Needs a static libc (libc6-dev).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native=$(uname -m)
arch=${1:-$native}
out="$here/dist/transship-helper-linux-$arch"
if [ -z "${CC:-}" ]; then
  if [ "$arch" = "$native" ]; then
    for c in gcc cc; do
      if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
    done
  else
    CC=$arch-linux-gnu-gcc
  fi
fi
if [ -z "${CC:-}" ] || ! command -v "$CC" >/dev/null 2>&1; then
  if [ "$arch" = "$native" ]; then hint="gcc and libc6-dev"; else hint="a cross compiler $CC"; fi
  echo "build.sh: no C compiler for $arch: install $hint, or set CC" >&2
  exit 1
fi

if [ -f "$out" ]; then
  stale=$(find "$here/src" "$here/build.sh" -newer "$out" \( -name '*.c' -o -name '*.h' -o -name build.sh \))
  if [ -z "$stale" ]; then exit 0; fi
fi

mkdir -p "$here/dist"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$CC" -std=c11 -O2 -Wall -Wextra -Werror -static -s -o "$tmp" "$here"/src/*.c
mv "$tmp" "$out"
echo "built $out"
