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
# Each contender starts with no dirty pages of an earlier one still being written back: on this
# VM's disk that write-back otherwise lands on whoever runs next (20-50 s swings seen).
settle() { sync; sleep 2; }

settle
t0=$(now)
"$kiln" install --ks "$ks" --cache "$cache" --root "$work/kiln-root" 2>"$work/kiln.log"
t1=$(now)
# dnf: metadata cached first, so both sides start from parsed-metadata-on-disk.
dnf -q --installroot="$work/dnf-root" --releasever=1 --disablerepo='*' \
  --repofrompath=fx,"file://$repo" --enablerepo=fx --nogpgcheck \
  --setopt=cachedir="$work/dnfcache" makecache >/dev/null
settle
t2=$(now)
dnf -q --installroot="$work/dnf-root" --releasever=1 --disablerepo='*' \
  --repofrompath=fx,"file://$repo" --enablerepo=fx --nogpgcheck --setopt=install_weak_deps=False \
  --setopt=cachedir="$work/dnfcache" -y install $(cat "$work/nevras") >/dev/null 2>"$work/dnf.log"
t3=$(now)
mkdir -p "$work/floor"
# The floor: decompress + write, all cores, no metadata, no scriptlets, no database.
settle
t4=$(now)
xargs -P "$(nproc)" -I{} sh -c 'd=$1/$(basename "$2"); mkdir -p "$d"; cd "$d"; rpm2cpio "$2" | cpio -idm --quiet 2>/dev/null' _ "$work/floor" {} <"$work/files"
t5=$(now)
size=$(du -sb "$work/kiln-root" | cut -f1)
sed -n '/^stage/,$p' "$work/kiln.log"
awk -v n="$n" -v s="$size" -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" \
    -v set="$set_name" 'BEGIN {
  k = b - a; dn = d - c; fl = f - e;
  printf "\n%s: %d packages, %.1f MB installed\n", set, n, s / 1e6;
  printf "%-8s %9s %9s\n", "tool", "seconds", "ratio";
  printf "%-8s %9.2f %8.2fx\n", "kiln", k, 1;
  printf "%-8s %9.2f %8.2fx  (kiln/dnf = %.2f)\n", "dnf", dn, dn / k, k / dn;
  printf "%-8s %9.2f %8.2fx  (kiln/floor = %.2f)\n", "floor", fl, fl / k, k / fl }'
