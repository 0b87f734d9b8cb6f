#!/usr/bin/env bash
# Install the same package set three ways on the same machine, in one run, and print ratios:
#   kiln     `kiln install --ks KS` (resolve + install: unpack, rpmdb, scriptlets)
#   dnf      `dnf --installroot` of exactly the NEVRAs kiln resolved, from the same local repo
#   floor    every payload decompressed and its files written, on all cores, nothing else
#            (rpm2cpio | cpio per package, `xargs -P nproc`)
# Usage: benches/install-vs-dnf.sh [FIXTURES_OUT] [SET] [KILN_BINARY]
#   SET: desktop-x86_64 (the --large set, default when present) or live-x86_64 / synthetic.
# No thresholds: a measurement. Needs root (owners, chroot), dnf, rpm2cpio, cpio.
set -euo pipefail
fx=${1:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
set_name=${2:-}
kiln=${3:-target/release/kiln}
if [[ -z $set_name ]]; then
  if [[ -d $fx/desktop-x86_64 ]]; then set_name=desktop-x86_64; else set_name=live-x86_64; fi
fi
ks=$fx/ks/$set_name.ks
repo=$fx/$set_name
[[ -f $ks && -d $repo ]] || { echo "no fixture set $set_name under $fx" >&2; exit 1; }
work=$(mktemp -d /var/tmp/kiln-bench-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=$work/cache
now() { date +%s.%N; }

# `kiln download` on a file:// repo lists NEVRA and the package file itself.
"$kiln" download --ks "$ks" --cache "$cache" 2>/dev/null >"$work/resolved"
cut -f1 "$work/resolved" >"$work/nevras"
cut -f2 "$work/resolved" >"$work/files"
n=$(wc -l <"$work/nevras")
# Warm the page cache for the package files so no contender pays the first read.
xargs cat <"$work/files" >/dev/null
# Each contender starts with no dirty pages or pending discards of an earlier one: on this VM's
# disk (ext4 mounted with `discard`) that write-back otherwise lands on whoever runs next (20-50 s
# swings seen). Roots are removed and trimmed before the next contender, not after.
settle() {
  rm -rf "$work/kiln-root" "$work/dnf-root" "$work/floor"
  sync
  fstrim "$(df --output=target "$work" | tail -1)" 2>/dev/null || true
  sleep 2
}
# dnf: metadata cached once, so both sides start from parsed-metadata-on-disk.
dnf_args=(-q --releasever=1 --disablerepo='*' --repofrompath=fx,"file://$repo" --enablerepo=fx
  --nogpgcheck --setopt=cachedir="$work/dnfcache")
dnf "${dnf_args[@]}" --installroot="$work/dnf-root" makecache >/dev/null

# Rounds alternate the contenders; each reports its median (RUNS, default 3).
runs=${RUNS:-3}
declare -a T_KILN=() T_DNF=() T_FLOOR=()
for ((r = 1; r <= runs; r++)); do
  settle
  t0=$(now)
  "$kiln" install --ks "$ks" --cache "$cache" --root "$work/kiln-root" 2>"$work/kiln.log"
  t1=$(now)
  size=$(du -sb "$work/kiln-root" | cut -f1)
  T_KILN+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
  settle
  t0=$(now)
  dnf "${dnf_args[@]}" --installroot="$work/dnf-root" --setopt=install_weak_deps=False \
    -y install $(cat "$work/nevras") >/dev/null 2>"$work/dnf.log"
  t1=$(now)
  T_DNF+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
  settle
  mkdir -p "$work/floor"
  # The floor: decompress + write, all cores, no metadata, no scriptlets, no database.
  t0=$(now)
  xargs -P "$(nproc)" -I{} sh -c 'd=$1/$(basename "$2"); mkdir -p "$d"; cd "$d"; rpm2cpio "$2" | cpio -idm --quiet 2>/dev/null' _ "$work/floor" {} <"$work/files"
  t1=$(now)
  T_FLOOR+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')")
  echo "round $r: kiln ${T_KILN[-1]} s, dnf ${T_DNF[-1]} s, floor ${T_FLOOR[-1]} s" >&2
done
settle
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
k=$(median "${T_KILN[@]}")
dn=$(median "${T_DNF[@]}")
fl=$(median "${T_FLOOR[@]}")
echo "kiln's stages, last round:"
sed -n '/^stage/,$p' "$work/kiln.log"
awk -v n="$n" -v s="$size" -v k="$k" -v dn="$dn" -v fl="$fl" -v runs="$runs" \
    -v set="$set_name" 'BEGIN {
  printf "\n%s: %d packages, %.1f MB installed; median of %d rounds\n", set, n, s / 1e6, runs;
  printf "%-8s %9s %9s\n", "tool", "seconds", "ratio";
  printf "%-8s %9.2f %8.2fx\n", "kiln", k, 1;
  printf "%-8s %9.2f %8.2fx  (kiln/dnf = %.2f)\n", "dnf", dn, dn / k, k / dn;
  printf "%-8s %9.2f %8.2fx  (kiln/floor = %.2f)\n", "floor", fl, fl / k, k / fl }'
