#!/usr/bin/env bash
# Side-by-side run of `kiln write erofs` and Debian's `mkfs.erofs` (erofs-utils 1.5: lz4 and lz4hc
# only, one thread) on the same tree with the same algorithm and physical cluster size; prints
# wall time and size ratios (kiln / mkfs.erofs). Both images are then mounted with the kernel's
# erofs and compared with the tree (types, modes, owners, sizes, symlink targets, contents).
# Usage: benches/erofs-vs-mkfs-erofs.sh [TREE] [SETTINGS] [KILN_BINARY]
#   TREE: default /var/tmp/kiln-bench-tree, made once from this host's /usr/share and /usr/bin
#         (the 1.7 GB tree of the squashfs benchmark) when it does not exist.
#   SETTINGS: space-separated ALG:CLUSTER list, default "lz4hc:4096 lz4hc:65536 lz4:4096 lz4:65536".
# No thresholds: this is a measurement, not a test. Needs root (loop mounts) and erofs-utils.
set -euo pipefail
tree=${1:-/var/tmp/kiln-bench-tree}
settings=${2:-lz4hc:4096 lz4hc:65536 lz4:4096 lz4:65536}
kiln=$(realpath "${3:-target/release/kiln}")
procs=$(nproc)
if [[ ! -d $tree ]]; then
  mkdir -p "$tree"
  cp -a /usr/share /usr/bin "$tree"/
fi
out=$(mktemp -d /var/tmp/kiln-bench-erofs.XXXXXX)
mnt=$out/mnt
mkdir -p "$mnt"
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; rm -rf "$out"; }
trap cleanup EXIT
now() { date +%s.%N; }
# Type, mode, owner, size and symlink target of every entry; mtimes are left out (mkfs.erofs
# stores its build time for entries whose mtime it does not keep).
# Tab-separated, the path in the sixth field; directory sizes are the file system's own, so 0.
listing() {
  (cd "$1" && find . -printf '%y\t%m\t%U\t%G\t%s\t%p\t%l\n') |
    awk -F'\t' -v OFS='\t' '$1 == "d" {$5 = 0} 1' | LC_ALL=C sort
}
listing "$tree" >"$out/tree.list"
# check IMAGE NAME: mount, compare with the tree, unmount.
check() {
  mount -t erofs -o loop,ro "$1" "$mnt"
  local verdict=same
  if ! diff -q <(listing "$mnt") "$out/tree.list" >/dev/null; then
    verdict="METADATA DIFFERS"
  elif ! diff -rq --no-dereference "$tree" "$mnt" >/dev/null 2>&1; then
    verdict="CONTENT DIFFERS"
  fi
  umount "$mnt"
  echo "$verdict"
}
# Warm the page cache so neither tool pays for the first read.
tar -cf - -C "$tree" . >/dev/null 2>&1 || true
echo "tree $tree: $(du -sh --apparent-size "$tree" | cut -f1), $(wc -l <"$out/tree.list") entries;" \
  "kiln on $procs threads; erofs-utils $(dpkg-query -W -f '${Version}' erofs-utils 2>/dev/null)"
rows=()
for s in $settings; do
  alg=${s%%:*}; cluster=${s#*:}
  # an empty block store each time: the default one (~/.cache/kiln) would serve a repeated run
  rm -rf "$out/cache"
  t0=$(now)
  "$kiln" write erofs "$tree" "$out/k.img" -z "$alg" -C "$cluster" --processors "$procs" \
    --cache "$out/cache" 2>"$out/kiln.log" || { cat "$out/kiln.log" >&2; exit 1; }
  t1=$(now)
  mkfs.erofs -z"$alg" -C"$cluster" "$out/m.img" "$tree" >"$out/mkfs.log" 2>&1 ||
    { cat "$out/mkfs.log" >&2; exit 1; }
  t2=$(now)
  ks=$(stat -c %s "$out/k.img"); ms=$(stat -c %s "$out/m.img")
  kc=$(check "$out/k.img"); mc=$(check "$out/m.img")
  rows+=("$(awk -v a="$alg" -v c="$cluster" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v ks="$ks" \
    -v ms="$ms" -v kc="$kc" -v mc="$mc" 'BEGIN {
    k = t1 - t0; m = t2 - t1;
    printf "%-6s %7s %9.2f %9.2f %6.2fx %12d %12d %6.3fx  kiln: %s, mkfs.erofs: %s",
      a, c, k, m, k / m, ks, ms, ks / ms, kc, mc }')")
  echo "${rows[-1]}"
  rm -f "$out"/*.img
done
echo
printf '%-6s %7s %9s %9s %7s %12s %12s %7s  %s\n' alg cluster kiln_s mkfs_s time kiln_bytes \
  mkfs_bytes size "mounted tree = source"
printf '%s\n' "${rows[@]}"
