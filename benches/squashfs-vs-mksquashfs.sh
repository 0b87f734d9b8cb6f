#!/usr/bin/env bash
# Side-by-side run of `kiln write squashfs` and `mksquashfs -processors N` on the same tree with
# the same codec and block size; prints wall time and size ratios (kiln / mksquashfs).
# Usage: benches/squashfs-vs-mksquashfs.sh TREE [CODECS] [BLOCK_SIZE] [KILN_BINARY]
# e.g.   benches/squashfs-vs-mksquashfs.sh /usr "xz zstd" 128K target/release/kiln
# No thresholds: this is a measurement, not a test.
set -euo pipefail
tree=${1:?tree to compress}
codecs=${2:-xz zstd}
bs=${3:-128K}
kiln=${4:-target/release/kiln}
procs=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Warm the page cache so neither tool pays for the first read.
tar -cf - -C "$tree" . >/dev/null 2>&1 || true
printf '%-6s %10s %10s %6s %12s %12s %6s\n' codec kiln_s mksq_s time kiln_bytes mksq_bytes size
for c in $codecs; do
  # an empty block store each time: the default one (~/.cache/kiln) would serve a repeated run
  rm -rf "$out/cache"
  t0=$(date +%s.%N)
  "$kiln" write squashfs "$tree" "$out/k.sqfs" --comp "$c" --block-size "$bs" \
    --no-tail-packing --processors "$procs" --cache "$out/cache" 2>/dev/null
  t1=$(date +%s.%N)
  mksquashfs "$tree" "$out/m.sqfs" -comp "$c" -b "$bs" -processors "$procs" \
    -noappend -no-progress -quiet >/dev/null
  t2=$(date +%s.%N)
  ks=$(stat -c %s "$out/k.sqfs"); ms=$(stat -c %s "$out/m.sqfs")
  awk -v c="$c" -v a="$t0" -v b="$t1" -v d="$t2" -v ks="$ks" -v ms="$ms" 'BEGIN {
    k = b - a; m = d - b;
    printf "%-6s %10.2f %10.2f %5.2fx %12d %12d %5.3fx\n", c, k, m, k / m, ks, ms, ks / ms }'
  rm -f "$out"/*.sqfs
done
