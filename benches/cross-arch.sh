#!/usr/bin/env bash
# Cross-arch cost: `kiln build --make-iso` of each foreign live fixture set on this x86_64 host
# (target code through qemu-user binfmt) against a native x86_64 build of a set of the same
# size, one after the other, same compressor, each with a cold package cache (local file://
# repos, so no network in either).
# The x86_64 twin of arch A is A's kickstart with the x86_64 repository and, as %packages
# (--nocore), the names A's build installed (--ignoremissing drops A's own kernel and boot
# loaders) plus x86_64's @live group (its kernel, GRUB, ISOLINUX, shim): the same package set
# where the arches share it, x86_64's boot loaders on top. When Debian 12's dracut cannot make a
# live initramfs from those names alone (riscv64's set is Debian 13's), the twin takes
# x86_64's @core too; the table says so (`@core yes`). The table prints both
# package counts, the wall times, the time spent running target code (scriptlets, %post,
# dracut, grub-mkimage; emulated for A), and A/x86_64 (Step 16's goal: at most 1.5x).
# Usage: benches/cross-arch.sh [FIXTURES_OUT] [KILN_BINARY] [CODEC] [ARCH...]
#   ARCH: default every live-ARCH set the fixtures have besides x86_64.
# No thresholds: a measurement. Needs root, qemu-user-static (or binfmt entries with F).
set -euo pipefail
fx=${1:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
kiln=$(realpath "${2:-target/release/kiln}")
codec=${3:-zstd}
shift $(($# < 3 ? $# : 3))
arches=("$@")
if [[ ${#arches[@]} -eq 0 ]]; then
  for d in "$fx"/live-*; do
    a=${d##*/live-}
    [[ $a == x86_64 || $a == *-* || ! -f $fx/ks/live-$a.ks ]] || arches+=("$a")
  done
fi
[[ -f $fx/ks/live-x86_64.ks ]] || { echo "no $fx/ks/live-x86_64.ks (fixtures/build-repos builds it)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/kiln-bench-arch.XXXXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

# build TAG ARCH KS: one cold build; sets wall/emu/pk[TAG] and keeps the report
declare -A wall emu pk core
build() {
  local tag=$1 arch=$2 ks=$3 t0 t1
  mkdir -p "$work/$tag"
  t0=$(now)
  "$kiln" build --ks "$ks" --make-iso --arch "$arch" --compression "$codec" \
    -f "BENCH-$tag" --resultdir "$work/$tag/out" --tmpdir "$work/$tag" \
    --cache "$work/$tag/cache" --json >"$work/$tag/report.json" 2>"$work/$tag/build.log" \
    || { tail -n 30 "$work/$tag/build.log"; [[ ${ALLOW_FAIL:-0} == 1 ]] && return 1; exit 1; }
  t1=$(now)
  wall[$tag]=$(echo "$t1 - $t0" | bc)
  emu[$tag]=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["target_code_secs"])' "$work/$tag/report.json")
  pk[$tag]=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$work/$tag/report.json")
  echo "== $tag ($arch, ${pk[$tag]} packages): stages (s)"
  sed -n '/^stage /,/^total /p' "$work/$tag/build.log"
  grep -E '^(under emulation|target code)' "$work/$tag/build.log" || true
  rm -rf "$work/$tag/out" "$work/$tag/cache"
}

# twin_ks ARCH OUT [--nocore]: live-ARCH.ks made native, with ARCH's installed names as %packages
twin_ks() {
  local arch=$1 out=$2 nocore=${3:-}
  {
    echo "# x86_64 twin of live-$arch.ks for benches/cross-arch.sh"
    # everything but its repositories and its %packages section
    awk '/^%packages/ {skip = 1} !skip && !/^repo / {print} skip && /^%end/ {skip = 0}' "$fx/ks/live-$arch.ks"
    echo "repo --name=live-x86_64 --baseurl=file://$fx/live-x86_64"
    # --nocore: the names are the whole set (a kickstart gets x86_64's bigger @core otherwise)
    echo "%packages --ignoremissing $nocore"
    echo "@live"
    # Debian 12's dracut-live (059) needs tar and gzip (img-lib), which a set from a newer
    # Debian (riscv64's trixie) may not name
    echo "tar"
    echo "gzip"
    python3 -c '
import json, sys
for nevra in json.load(open(sys.argv[1]))["packages"]:
    print(nevra.rsplit("-", 2)[0])' "$work/$arch/report.json"
    echo "%end"
  } >"$out"
}

for arch in "${arches[@]}"; do
  [[ -f $fx/ks/live-$arch.ks ]] || { echo "no $fx/ks/live-$arch.ks" >&2; exit 1; }
  build "$arch" "$arch" "$fx/ks/live-$arch.ks"
  twin_ks "$arch" "$work/twin-$arch.ks" --nocore
  core[$arch]=no
  if ! ALLOW_FAIL=1 build "x86_64-twin-$arch" x86_64 "$work/twin-$arch.ks"; then
    # A set from another Debian release (riscv64's trixie) can leave Debian 12's dracut
    # modules without what they need: the twin then takes x86_64's @core as well.
    echo "== x86_64-twin-$arch: its dracut failed on $arch's names alone; again with @core"
    twin_ks "$arch" "$work/twin-$arch.ks"
    core[$arch]=yes
    build "x86_64-twin-$arch" x86_64 "$work/twin-$arch.ks"
  fi
done
echo
printf '%-8s %9s %8s %9s %8s %10s %10s %8s %6s %8s\n' arch packages wall_s target_s rest_s \
  x86_pkgs x86_wall_s x86_tgt_s @core ratio
for arch in "${arches[@]}"; do
  t=x86_64-twin-$arch
  printf '%-8s %9d %8.1f %9.1f %8.1f %10d %10.1f %8.1f %6s %7.2fx\n' "$arch" "${pk[$arch]}" \
    "${wall[$arch]}" "${emu[$arch]}" "$(echo "${wall[$arch]} - ${emu[$arch]}" | bc)" \
    "${pk[$t]}" "${wall[$t]}" "${emu[$t]}" "${core[$arch]}" \
    "$(echo "${wall[$arch]} / ${wall[$t]}" | bc -l)"
done
echo "ratio: the arch's wall time over its x86_64 twin's (Step 16's goal: <= 1.5x)"
