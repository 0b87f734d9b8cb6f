#!/usr/bin/env bash
# Rebuilds with kiln's persistent block cache against the peer pipeline's full builds, in one
# run, live ISO with an xz -b 1M root (the issue's acceptance benchmark):
#   (1) cold     `kiln build --make-iso` with an empty block store (a fresh cache directory;
#                the packages are already in its package cache, as `kiln download` put them)
#   (2) %post    the same kickstart with one line of %post changed, same cache
#   (3) updates  the kickstart on SET-updates, the nightly update of the set (about 5 % of the
#                packages newer with changed files: fixtures/build-repos --updates), same cache
#   peer         `dnf --installroot` + dracut in the chroot + `mksquashfs -comp xz -b 1M` +
#                `xorriso` (benches/lib-peer.sh, as live-iso-vs-peer.sh runs it), a full build
#                for (1) and for (3); (2) changes nothing the peer does (it does not run %post
#                here), so its peer time is (1)'s unless PEER_EACH=1 runs it again.
# Prints per case kiln and peer seconds, kiln/peer, the block cache's hit rate and entries
# stored (from kiln's --json report; `blocks_from_cache` counts the precompressor's blocks
# too, which is why a cold build shows hits), seconds saved, kiln's peak RSS, and the goals.
# Usage: benches/rebuild-vs-peer.sh [FIXTURES_OUT] [KILN_BINARY] [SET]
#   SET: desktop-x86_64 (default when FIXTURES_OUT/desktop-x86_64-updates exists) or
#   live-x86_64; both need `fixtures/build-repos --updates FIXTURES_OUT`.
# Env: PEER_EACH=1 also runs the peer for (2); PEER=0 runs no peer (kiln's figures only, for a
#   short slot on a busy host). SOURCE_DATE_EPOCH is passed on as it is set.
# No thresholds: a measurement. Needs root (chroot, mounts in a private namespace), dnf,
# squashfs-tools, xorriso, GNU time, python3.
set -euo pipefail
fx=${1:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
kiln=$(realpath "${2:-target/release/kiln}")
set_name=${3:-}
if [[ -z $set_name ]]; then
  if [[ -d $fx/desktop-x86_64-updates ]]; then set_name=desktop-x86_64; else set_name=live-x86_64; fi
fi
ks=$fx/ks/$set_name.ks
ks_upd=$fx/ks/$set_name-updates.ks
for f in "$ks" "$ks_upd" "$fx/$set_name" "$fx/$set_name-updates"; do
  [[ -e $f ]] || { echo "no $f (fixtures/build-repos --updates $fx)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/kiln-bench-rebuild.XXXXXX)
trap 'rm -rf "$work"' EXIT
cache=$work/cache
# shellcheck source=benches/lib-peer.sh
. "$(dirname "$0")/lib-peer.sh"
now() { date +%s.%N; }

# (2)'s kickstart: one line of %post changed (and nothing else).
ks_post=$work/post-change.ks
awk '{print} /^%post/ && !done {print "echo kiln rebuild bench: a changed %post line > /etc/kiln-rebuild-bench"; done = 1}' \
  "$ks" >"$ks_post"
cmp -s "$ks" "$ks_post" && { echo "$ks has no %post" >&2; exit 1; }

# build KS TAG: one `kiln build --make-iso` with xz -b 1M into the shared cache; wall seconds
# on stdout; --json's report in $work/TAG.json, GNU time's in $work/TAG.time.
build() {
  local k=$1 tag=$2 a b
  rm -rf "$work/out"
  a=$(now)
  /usr/bin/time -v -o "$work/$tag.time" "$kiln" --log-file "$work/$tag.trace" build --ks "$k" \
    --make-iso -f KILNBENCH --compression xz --compress-arg "-b 1M" --cache "$cache" \
    --resultdir "$work/out" --tmpdir "$work" --json >"$work/$tag.json" 2>"$work/$tag.log" ||
    { tail -20 "$work/$tag.log" >&2; return 1; }
  b=$(now)
  echo "$b - $a" | bc
}

# cache_figures TAG: "hit_rate from_cache compressed stored seconds_saved" of the report
cache_figures() {
  python3 - "$work/$1.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])).get("block_cache") or {}
print(c.get("hit_rate", 0), c.get("blocks_from_cache", 0), c.get("blocks_compressed", 0),
      c.get("stored", 0), c.get("seconds_saved", 0))
PY
}

# peer KS TAG: the peer's full build of what kiln resolved for KS; seconds on stdout
make_image() { peer_mksquashfs "$1" "$2" -comp xz -b 1M; }
peer() {
  local k=$1 tag=$2 repo
  repo=$(awk '/^repo / {for (i = 1; i <= NF; i++) if ($i ~ /^--baseurl=file:\/\//) print substr($i, 18)}' "$k")
  "$kiln" download --ks "$k" --cache "$cache" 2>/dev/null | cut -f1 >"$work/$tag.nevras"
  rm -rf "$work/peer-root"
  peer_root "$work/peer-root" "$repo" "$work/$tag.nevras" "$work"
  peer_iso "$work/peer-root" "$work/kiln-$tag.iso" "$work/peer.iso" "$work/peer-tree" make_image
  rm -rf "$work/peer-root" "$work/peer.iso"
  echo "== peer $tag: dnf $PEER_DNF_S s + dracut $PEER_DRACUT_S s + mksquashfs $PEER_IMAGE_S s +" \
    "xorriso $PEER_XORRISO_S s ($PEER_IMAGE_BYTES bytes of squashfs)" >&2
  echo "$PEER_DNF_S + $PEER_DRACUT_S + $PEER_IMAGE_S + $PEER_XORRISO_S" | bc
}

# The packages of both kickstarts into the package cache (untimed), their files into the page
# cache, so no contender pays the first read.
for k in "$ks" "$ks_upd"; do
  "$kiln" download --ks "$k" --cache "$cache" 2>/dev/null | cut -f2 | xargs cat >/dev/null
done
rm -rf "$cache/blocks-v1"
echo "$set_name: $(grep -c . <("$kiln" download --ks "$ks" --cache "$cache" 2>/dev/null)) packages;" \
  "updates: $(grep -vc '^#' "$fx/$set_name-updates/updates.tsv") packages newer;" \
  "SOURCE_DATE_EPOCH ${SOURCE_DATE_EPOCH:-unset}; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A kiln_s peer_s
cases=(cold post updates)
declare -A case_ks=([cold]=$ks [post]=$ks_post [updates]=$ks_upd)
for c in "${cases[@]}"; do
  kiln_s[$c]=$(build "${case_ks[$c]}" "$c")
  cp "$work/out/KILNBENCH.iso" "$work/kiln-$c.iso"
  rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$work/$c.time")
  echo "== kiln $c: ${kiln_s[$c]} s, peak RSS $rss MiB; root image: $(grep -h '^root image:' "$work/$c.log" | sed 's/^root image: //')"
  sed -n '/^stage/,/^total/p' "$work/$c.log"
  echo "$rss" >"$work/$c.rss"
done
rm -rf "$work/out"
echo "block store after the three builds: $(du -sh "$cache/blocks-v1" 2>/dev/null | cut -f1)"
for c in "${cases[@]}"; do
  if [[ ${PEER:-1} == 0 ]]; then peer_s[$c]=0; continue; fi
  if [[ $c == post && ${PEER_EACH:-0} != 1 ]]; then continue; fi
  peer_s[$c]=$(peer "${case_ks[$c]}" "$c")
done
[[ -n ${peer_s[post]:-} ]] || peer_s[post]=${peer_s[cold]}

echo
printf '%-8s %9s %9s %10s %9s %10s %10s %8s %9s %8s  %s\n' case kiln_s peer_s kiln/peer hits% \
  from_cache compressed stored saved_s rss_MiB goal
declare -A goal=([cold]="RSS < 1024 MiB" [post]="<= 0.10x, hits >= 99 %, RSS < 1024 MiB"
  [updates]="<= 0.20x, RSS < 1024 MiB")
for c in "${cases[@]}"; do
  read -r hit from comp stored saved < <(cache_figures "$c")
  awk -v c="$c" -v k="${kiln_s[$c]}" -v p="${peer_s[$c]}" -v h="$hit" -v f="$from" -v m="$comp" \
    -v st="$stored" -v sv="$saved" -v r="$(cat "$work/$c.rss")" -v g="${goal[$c]}" 'BEGIN {
    if (p > 0) { ps = sprintf("%9.1f", p); ratio = sprintf("%9.3fx", k / p) } else { ps = "-"; ratio = "-" }
    printf "%-8s %9.1f %9s %10s %9.1f %10d %10d %8d %9.1f %8d  %s\n", c, k, ps, ratio, h, f, m, st, sv, r, g }'
done
[[ ${PEER_EACH:-0} == 1 || ${PEER:-1} == 0 ]] ||
  echo "(post's peer time is cold's: the peer pipeline does not change with a %post line)"
