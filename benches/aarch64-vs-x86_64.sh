#!/usr/bin/env bash
# Cross-arch cost: `kiln build --make-iso` of the live fixture set for x86_64 (native) and for
# aarch64 (target code through qemu-user binfmt) on this x86_64 host, one after the other,
# same kickstart body (@core @live, the fixture's %post), same compressor, each with a cold
# package cache (local file:// repos, so no network in either). Prints wall times, the time
# spent running target code (scriptlets, %post, dracut, grub-mkimage: emulated for aarch64),
# the rest, and the aarch64/x86_64 ratio (Step 7's target: at most 2x).
# Usage: benches/aarch64-vs-x86_64.sh [FIXTURES_OUT] [KILN_BINARY] [CODEC]
# No thresholds: a measurement. Needs root, qemu-user-static (or a binfmt entry with F).
set -euo pipefail
fx=${1:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
kiln=$(realpath "${2:-target/release/kiln}")
codec=${3:-zstd}
work=$(mktemp -d /var/tmp/kiln-bench-arch.XXXXXX)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

declare -A wall emu pk
for arch in x86_64 aarch64; do
  ks=$fx/ks/live-$arch.ks
  [[ -f $ks ]] || { echo "no $ks (fixtures/build-repos builds it)" >&2; exit 1; }
  mkdir -p "$work/$arch"
  t0=$(now)
  "$kiln" build --ks "$ks" --make-iso --arch "$arch" --compression "$codec" \
    -f "BENCH-$arch" --resultdir "$work/$arch/out" --tmpdir "$work/$arch" \
    --cache "$work/$arch/cache" --json >"$work/$arch/report.json" 2>"$work/$arch/build.log" \
    || { tail -n 30 "$work/$arch/build.log"; exit 1; }
  t1=$(now)
  wall[$arch]=$(echo "$t1 - $t0" | bc)
  emu[$arch]=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["target_code_secs"])' "$work/$arch/report.json")
  pk[$arch]=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$work/$arch/report.json")
  echo "== $arch: stages (s)"
  sed -n '/^stage /,/^total /p' "$work/$arch/build.log"
  grep -E '^(under emulation|target code)' "$work/$arch/build.log" || true
  rm -rf "$work/$arch/out" "$work/$arch/cache"
done
echo
printf '%-8s %8s %8s %18s %10s\n' arch packages wall_s target_code_s rest_s
for arch in x86_64 aarch64; do
  printf '%-8s %8d %8.1f %18.1f %10.1f\n' "$arch" "${pk[$arch]}" "${wall[$arch]}" "${emu[$arch]}" \
    "$(echo "${wall[$arch]} - ${emu[$arch]}" | bc)"
done
printf '\naarch64/x86_64 wall: %.2fx   (target: <= 2x)\n' "$(echo "${wall[aarch64]} / ${wall[x86_64]}" | bc -l)"
printf 'aarch64 target code under emulation: %.1f s of %.1f s (%.0f%%)\n' "${emu[aarch64]}" \
  "${wall[aarch64]}" "$(echo "100 * ${emu[aarch64]} / ${wall[aarch64]}" | bc -l)"
