#!/usr/bin/env bash
# The whole live-ISO job, kiln against the peer pipeline livecd-creator/livemedia-creator run,
# on the same package set, same compressor and block size, in one run; prints ratios.
#   kiln   `kiln build --make-iso` (resolve, install, configure, %post, dracut, boot loaders,
#          squashfs, hybrid ISO), per-stage times and peak RSS
#   peer   `dnf --installroot` of the NEVRAs kiln resolved (metadata included) + dracut in the
#          chroot (the root's own, as livecd-creator runs it) + `mksquashfs -processors N` +
#          `xorriso -as mkisofs` with lorax's x86 flags (boot files taken from kiln's ISO, untimed)
#   alone  `kiln write squashfs` of the peer's finished root: the floor kiln's build is held to
# In erofs mode the root image is EROFS: `kiln build --rootfs-type erofs` against the peer's
# `mkfs.erofs` (Debian's erofs-utils 1.5: lz4/lz4hc, one thread), and `kiln write erofs` alone.
# Usage: benches/live-iso-vs-peer.sh [FIXTURES_OUT] [SET] [KILN_BINARY] [SETTINGS] [MODE]
#   SET: desktop-x86_64 (the --large set, default when present) or live-x86_64.
#   SETTINGS: space-separated CODEC:BLOCK list, default "xz:1M zstd:1M" (zstd at level 3);
#     in erofs mode ALG:CLUSTER, default "lz4hc:4096 lz4hc:65536".
#   MODE: squashfs (default) or erofs.
# Env: KILN_BASELINE=BINARY also builds with another kiln (e.g. the previous commit's), RUNS
#   rounds each (default 3, alternating, medians), and prints kiln/baseline per setting.
#   ROUNDS=N (default 1) repeats the whole comparison N times, the peer's root included, and
#   prints each round's table and the medians of every time and ratio.
# No thresholds: a measurement. Needs root (chroot, mounts in a private namespace), dnf,
# squashfs-tools (erofs-utils in erofs mode), xorriso, GNU time.
set -euo pipefail
fx=${1:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
set_name=${2:-}
kiln=$(realpath "${3:-target/release/kiln}")
mode=${5:-squashfs}
case $mode in
  squashfs) settings=${4:-"xz:1M zstd:1M"}; peer_tool=mksquashfs ;;
  erofs) settings=${4:-"lz4hc:4096 lz4hc:65536"}; peer_tool=mkfs.erofs ;;
  *) echo "MODE is squashfs or erofs, not $mode" >&2; exit 1 ;;
esac
if [[ -z $set_name ]]; then
  if [[ -d $fx/desktop-x86_64 ]]; then set_name=desktop-x86_64; else set_name=live-x86_64; fi
fi
ks=$fx/ks/$set_name.ks
repo=$fx/$set_name
[[ -f $ks && -d $repo ]] || { echo "no fixture set $set_name under $fx" >&2; exit 1; }
work=$(mktemp -d /var/tmp/kiln-bench-live.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=$work/cache
# shellcheck source=benches/lib-peer.sh
. "$(dirname "$0")/lib-peer.sh"
now() { date +%s.%N; }
baseline=${KILN_BASELINE:-}
[[ -z $baseline ]] || baseline=$(realpath "$baseline")
runs=${RUNS:-3}
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# build BINARY OUT TAG ARGS...: one `kiln build --make-iso`, wall seconds on stdout; tracing's
# lines go to the log file (the console has the stage table).
build() {
  local bin=$1 dir=$2 tag=$3; shift 3
  rm -rf "$dir"
  # Every build is a cold one: the block store (step 14) would serve a repeated build, a later
  # round's or the baseline's, from the blocks an earlier one compressed. Packages stay cached.
  rm -rf "$cache/blocks-v1"
  local a b
  a=$(now)
  /usr/bin/time -v -o "$work/$tag.time" "$bin" --log-file "$work/$tag.trace" build --ks "$ks" \
    --make-iso -f KILNBENCH "$@" --cache "$cache" --resultdir "$dir" --tmpdir "$work" \
    >/dev/null 2>"$work/$tag.log"
  b=$(now)
  echo "$b - $a" | bc
}

"$kiln" download --ks "$ks" --cache "$cache" 2>/dev/null >"$work/resolved"
cut -f1 "$work/resolved" >"$work/nevras"
n=$(wc -l <"$work/nevras")
# Warm the page cache for the package files so no contender pays the first read.
cut -f2 "$work/resolved" | xargs cat >/dev/null

rounds=${ROUNDS:-1}
for ((round = 1; round <= rounds; round++)); do
((rounds == 1)) || echo "######## round $round of $rounds"
# The peer's root: dnf (timed) and dracut in the chroot (timed), shared by every setting.
peer_root=$work/peer-root
rm -rf "$peer_root"
peer_root "$peer_root" "$repo" "$work/nevras" "$work"
dnf_s=$PEER_DNF_S
dracut_s=$PEER_DRACUT_S

printf '%s: %d packages, %s installed by dnf (%.1f s), dracut %.1f s\n\n' "$set_name" "$n" \
  "$(du -sh "$peer_root" | cut -f1)" "$dnf_s" "$dracut_s"

# The peer's root image for the current setting (margs).
make_image() {
  if [[ $mode == erofs ]]; then
    mkfs.erofs "${margs[@]}" "$2" "$1" >/dev/null
  else
    peer_mksquashfs "$1" "$2" "${margs[@]}"
  fi
}

rows=()
for s in $settings; do
  codec=${s%%:*}; block=${s#*:}
  if [[ $mode == erofs ]]; then
    kargs=(--rootfs-type erofs --erofs-compression "$codec" --erofs-pcluster "$block")
    margs=(-z"$codec" -C"$block")
    alone=(erofs -z "$codec" -C "$block")
  else
    kargs=(--compression "$codec" --compress-arg "-b $block")
    margs=(-comp "$codec" -b "$block")
    alone=(squashfs --comp "$codec" --block-size "$block")
    if [[ $codec == zstd ]]; then
      kargs+=(--compress-arg "-Xcompression-level 3"); margs+=(-Xcompression-level 3)
      alone+=(--comp-opt level=3)
    fi
  fi
  out=$work/out-$codec-$block
  kiln_s=$(build "$kiln" "$out" "kiln-$codec" "${kargs[@]}")
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$work/kiln-$codec.time")
  echo "== kiln build --make-iso ($mode, $codec, $block): ${kiln_s} s, peak RSS ${rss} MiB"
  sed -n '/^stage/,/^total/p' "$work/kiln-$codec.log"
  # What the precompressor (idle cores from install to the squashfs write) took off the writer.
  grep -hE 'ahead of the squashfs write|came from the precompressor' "$work/kiln-$codec.trace" \
    "$work/kiln-$codec.log" 2>/dev/null | sed 's/.*INFO [^ ]* /  /' || true
  base_ratio=""
  if [[ -n $baseline ]]; then
    # Alternating rounds, so a drift of the host's speed hits both alike.
    : >"$work/t-new"; : >"$work/t-base"
    echo "$kiln_s" >>"$work/t-new"
    for ((r = 1; r <= runs; r++)); do
      build "$baseline" "$work/out-base" "base-$codec" "${kargs[@]}" >>"$work/t-base"
      ((r == runs)) || build "$kiln" "$work/out-new" "kiln-$codec-$r" "${kargs[@]}" >>"$work/t-new"
    done
    rm -rf "$work/out-base" "$work/out-new"
    new_med=$(median <"$work/t-new"); base_med=$(median <"$work/t-base")
    base_ratio=$(echo "scale=3; $new_med / $base_med" | bc)
    echo "== kiln $(tr '\n' ' ' <"$work/t-new")s; baseline $(tr '\n' ' ' <"$work/t-base")s;" \
      "medians $new_med / $base_med = kiln/baseline $base_ratio"
  fi

  # The peer's ISO: kiln's boot files (untimed copy) + its own root image.
  peer_iso "$peer_root" "$out/KILNBENCH.iso" "$work/peer.iso" "$work/peer-tree" make_image
  msq_s=$PEER_IMAGE_S; xor_s=$PEER_XORRISO_S
  peer_s=$(echo "$dnf_s + $dracut_s + $msq_s + $xor_s" | bc)
  msq_size=$PEER_IMAGE_BYTES
  peer_iso=$PEER_ISO_BYTES; kiln_iso=$(stat -c %s "$out/KILNBENCH.iso")
  rm -f "$work/peer.iso"

  # kiln's writer alone on the same finished root, cold like the builds: its own empty block
  # store (the default one, ~/.cache/kiln, would serve a repeated write).
  rm -rf "$work/alone-cache"
  t0=$(now)
  "$kiln" write "${alone[0]}" "$peer_root" "$work/alone.img" "${alone[@]:1}" \
    --cache "$work/alone-cache" >/dev/null 2>&1
  t1=$(now)
  alone_s=$(echo "$t1 - $t0" | bc); alone_size=$(stat -c %s "$work/alone.img")
  rm -f "$work/alone.img"
  rm -rf "$out"
  echo "== peer: dnf ${dnf_s} s + dracut ${dracut_s} s + $peer_tool ${msq_s} s + xorriso ${xor_s} s = ${peer_s} s"
  echo "== kiln write $mode alone: ${alone_s} s ($alone_size bytes; $peer_tool $msq_size bytes)"
  rows+=("$(awk -v c="$codec" -v b="$block" -v k="$kiln_s" -v p="$peer_s" -v a="$alone_s" \
    -v ki="$kiln_iso" -v pi="$peer_iso" -v kb="${base_ratio:--}" -v m="$msq_s" 'BEGIN {
      printf "%-5s %-5s %9.1f %9.1f %9.1f %10.3fx %10.3fx %10.3fx %13s %10.3fx", c, b, k, p, a, k / p, k / a, ki / pi, kb, a / m }')")
  echo
done
printf '%-5s %-5s %9s %9s %9s %11s %11s %11s %13s %11s\n' codec block kiln_s peer_s alone_s kiln/peer \
  kiln/alone iso_size kiln/baseline alone/image
printf '%s\n' "${rows[@]}"
printf '%s\n' "${rows[@]}" >>"$work/all-rows"
rows=()
done

if ((rounds > 1)); then
  # Medians per setting of each column (times, and each round's own ratios).
  echo
  echo "medians of $rounds rounds (alone/image: kiln write $mode alone / $peer_tool):"
  printf '%-5s %-5s %9s %9s %9s %11s %11s %11s %11s\n' codec block kiln_s peer_s alone_s kiln/peer \
    kiln/alone iso_size alone/image
  for s in $settings; do
    codec=${s%%:*}; block=${s#*:}
    line=$(printf '%-5s %-5s' "$codec" "$block")
    for col in 3 4 5 6 7 8 10; do
      line+=$(awk -v c="$codec" -v b="$block" -v k=$col '$1 == c && $2 == b {sub(/x$/, "", $k); print $k}' \
        "$work/all-rows" | median | awk -v k=$col '{printf (k <= 5) ? " %9.1f" : " %10.3fx", $1}')
    done
    echo "$line"
  done
fi
