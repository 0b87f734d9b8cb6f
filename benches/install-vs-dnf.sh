#!/usr/bin/env bash
# Install the same package set three ways on the same machine, in one run, and print ratios:
#   kiln     `kiln install --ks KS` (resolve + install: unpack, rpmdb, scriptlets)
#   dnf      `dnf --installroot` of exactly the NEVRAs kiln resolved, from the same local repo
#   floor    every payload decompressed and its files written, on all cores, nothing else
#            (rpm2cpio | cpio per package, `xargs -P nproc`)
# Usage: benches/install-vs-dnf.sh [FIXTURES_OUT] [SET] [KILN_BINARY]
#   SET: desktop-x86_64 (the --large set, default when present) or live-x86_64 / synthetic.
# Env: RUNS (rounds, default 3); KILN_BASELINE=BINARY adds a fourth contender, another kiln
#   build (e.g. the previous commit's) on the same set, for kiln/baseline; BENCH_FS=ext4 (default: a fresh loop-mounted ext4 per
#   contender) or dir (plain directories under the work dir).
# No thresholds: a measurement. Needs root (owners, chroot, loop devices), dnf, rpm2cpio, cpio,
#   GNU time (/usr/bin/time).
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
# Each contender writes into a file system made for it alone (ext4 with mkfs's defaults, on a
# loop device over a sparse file, direct I/O so the host page cache is not charged twice):
# identical empty file systems, and nobody pays for an earlier contender's files.
# Deleting the previous tree instead is not neutral. On a journal-less ext4 (this VM's root) the
# inode allocator skips inodes deleted in the last 60 s, or 360 s while their inode table block
# is dirty. It rescans them from the start of the group for every new file. So whoever ran right
# after a 3 GB tree was removed spent 20-40 s of extra kernel CPU: perf showed
# `recently_deleted` and `find_get_block_common` at 40%.
# BENCH_FS=dir keeps the old way: plain directories under the work dir, removed between contenders.
bench_fs=${BENCH_FS:-ext4}
img=$work/fs.img
mnt=$work/mnt
loopdev=
unmount_fs() {
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi
  if [[ -n $loopdev ]]; then losetup -d "$loopdev" 2>/dev/null || true; loopdev=; fi
  rm -f "$img"
}
cleanup() { unmount_fs; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# Large enough for the set twice over (dnf keeps its download cache outside).
fs_size=$((16 << 30))
settle() {
  if [[ $bench_fs == dir ]]; then
    rm -rf "$mnt"
  else
    unmount_fs
  fi
  sync
  if [[ $bench_fs != dir ]]; then
    mkdir -p "$mnt"
    truncate -s "$fs_size" "$img"
    # Inode tables and the journal written now, not by ext4lazyinit during the timed run.
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$img"
    loopdev=$(losetup --find --show --direct-io=on "$img")
    mount "$loopdev" "$mnt"
  fi
  mkdir -p "$mnt"
  sync
  sleep 2
}
# dnf: metadata cached once, so both sides start from parsed-metadata-on-disk.
dnf_args=(-q --releasever=1 --disablerepo='*' --repofrompath=fx,"file://$repo" --enablerepo=fx
  --nogpgcheck --setopt=cachedir="$work/dnfcache")
dnf "${dnf_args[@]}" --installroot="$work/dnf-meta-root" makecache >/dev/null

# Rounds alternate the contenders; each reports its median (RUNS, default 3).
runs=${RUNS:-3}
baseline=${KILN_BASELINE:-}
declare -a T_KILN=() T_DNF=() T_FLOOR=() T_BASE=()
# timed NAME CMD...: wall seconds on stdout; wall, user and system CPU seconds to the log.
timed() {
  local name=$1
  shift
  /usr/bin/time -o "$work/time" -f "%e %U %S" "$@" >/dev/null
  read -r wall user sys <"$work/time"
  echo "  $name: ${wall} s wall, ${user} s user + ${sys} s system CPU" >>"$work/cpu.log"
  echo "$wall"
}
for ((r = 1; r <= runs; r++)); do
  echo "round $r" >>"$work/cpu.log"
  settle
  T_KILN+=("$(timed kiln "$kiln" install --ks "$ks" --cache "$cache" --root "$mnt/kiln-root" \
    2>"$work/kiln.log")")
  size=$(du -sb "$mnt/kiln-root" | cut -f1)
  if [[ -n $baseline ]]; then
    settle
    # Its own cache: each kiln keeps its verified-package records where it put them.
    T_BASE+=("$(timed baseline "$baseline" install --ks "$ks" --cache "$cache-base" \
      --root "$mnt/base-root" 2>"$work/base.log")")
    echo "round $r: baseline ${T_BASE[-1]} s" >&2
  fi
  settle
  T_DNF+=("$(timed dnf dnf "${dnf_args[@]}" --installroot="$mnt/dnf-root" \
    --setopt=install_weak_deps=False -y install $(cat "$work/nevras") 2>"$work/dnf.log")")
  settle
  mkdir -p "$mnt/floor"
  # The floor: decompress + write, all cores, no metadata, no scriptlets, no database.
  T_FLOOR+=("$(timed floor xargs -P "$(nproc)" -I{} sh -c 'd=$1/$(basename "$2"); mkdir -p "$d"; cd "$d"; rpm2cpio "$2" | cpio -idm --quiet 2>/dev/null' _ "$mnt/floor" {} <"$work/files")")
  echo "round $r: kiln ${T_KILN[-1]} s, dnf ${T_DNF[-1]} s, floor ${T_FLOOR[-1]} s" >&2
done
unmount_fs
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
k=$(median "${T_KILN[@]}")
dn=$(median "${T_DNF[@]}")
fl=$(median "${T_FLOOR[@]}")
echo "CPU time per contender:"
cat "$work/cpu.log"
echo "kiln's stages, last round:"
sed -n '/^stage/,$p' "$work/kiln.log"
if [[ -n $baseline ]]; then
  echo "baseline's stages, last round:"
  sed -n '/^stage/,$p' "$work/base.log"
fi
awk -v n="$n" -v s="$size" -v k="$k" -v dn="$dn" -v fl="$fl" -v runs="$runs" \
    -v set="$set_name" 'BEGIN {
  printf "\n%s: %d packages, %.1f MB installed; median of %d rounds\n", set, n, s / 1e6, runs;
  printf "%-8s %9s %9s\n", "tool", "seconds", "ratio";
  printf "%-8s %9.2f %8.2fx\n", "kiln", k, 1;
  printf "%-8s %9.2f %8.2fx  (kiln/dnf = %.2f)\n", "dnf", dn, dn / k, k / dn;
  printf "%-8s %9.2f %8.2fx  (kiln/floor = %.2f)\n", "floor", fl, fl / k, k / fl }'
if [[ -n $baseline ]]; then
  b=$(median "${T_BASE[@]}")
  awk -v k="$k" -v b="$b" 'BEGIN { printf "%-8s %9.2f %8.2fx  (kiln/baseline = %.3f)\n", "baseline", b, b / k, k / b }'
fi
