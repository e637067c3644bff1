#!/bin/sh
# Throughput of pack | unpack against GNU tar's tar -c | tar -x, on one 1 GiB file and on
# 20,000 small files, here on this machine's disk (page cache warm, each run after a sync);
# and on the 1 GiB file, scan --checksum and pack --checksum against sha256sum.
# Prints the timings; asserts nothing. BENCH_DIR: where to work (default: under /var/tmp);
# RUNS: runs of each (default 3, best and all shown).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/build.sh"
helper="$here/dist/transship-helper-linux-$(uname -m)"
runs=${RUNS:-3}
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/transship-helper-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

now() { date +%s.%N; }

# once SRC COMMAND: seconds taken by `sh -c COMMAND` with $1 = SRC, $2 = an empty DST
once() {
  rm -rf "$work/dst"
  mkdir "$work/dst"
  sync
  start=$(now)
  sh -c "$2" sh "$1" "$work/dst" >/dev/null
  end=$(now)
  echo "$end - $start" | bc
}

report() {
  best=$(printf '%s\n' $2 | sort -n | head -n 1)
  printf '%-24s best %6.3f s   runs:%s\n' "$1" "$best" "$2"
}

# compare LABEL SRC: the two pipelines run in turn, so that a load from elsewhere on the
# machine weighs on both alike
compare() {
  echo "== $1"
  helper_times="" tar_times="" scan_times=""
  i=0
  while [ "$i" -lt "$runs" ]; do
    helper_times="$helper_times $(once "$2" "'$helper' pack \"\$1\" | '$helper' unpack \"\$2\"")"
    tar_times="$tar_times $(once "$2" "tar -C \"\$1\" -cf - . | tar -C \"\$2\" -xf -")"
    scan_times="$scan_times $(once "$2" "'$helper' scan \"\$1\"")"
    i=$((i + 1))
  done
  report "helper pack | unpack" "$helper_times"
  report "tar -c | tar -x" "$tar_times"
  report "helper scan" "$scan_times"
}

# checksums SRC: --checksum's hashing (scan, and pack's two passes) against sha256sum
checksums() {
  echo "== --checksum, one 1 GiB file"
  scan_times="" sum_times="" pack_times=""
  i=0
  while [ "$i" -lt "$runs" ]; do
    scan_times="$scan_times $(once "$1" "'$helper' scan --checksum \"\$1\"")"
    sum_times="$sum_times $(once "$1" "sha256sum \"\$1\"/file")"
    pack_times="$pack_times $(once "$1" "'$helper' pack --checksum \"\$1\"")"
    i=$((i + 1))
  done
  report "helper scan --checksum" "$scan_times"
  report "sha256sum" "$sum_times"
  report "helper pack --checksum" "$pack_times"
}

mkdir "$work/big"
head -c 1073741824 /dev/urandom >"$work/big/file"
compare "one 1 GiB file" "$work/big"
checksums "$work/big"
rm -rf "$work/big"

# 20,000 files of 1-8 KiB in 100 directories
node -e '
const fs = require("node:fs"), path = require("node:path"), crypto = require("node:crypto")
const root = process.argv[1]
for (let d = 0; d < 100; d++) {
  const dir = path.join(root, `d${d}`)
  fs.mkdirSync(dir, { recursive: true })
  for (let f = 0; f < 200; f++)
    fs.writeFileSync(path.join(dir, `f${f}`), crypto.randomBytes(1024 + ((d * 200 + f) * 37) % 7168))
}' "$work/small"
compare "20,000 small files" "$work/small"
