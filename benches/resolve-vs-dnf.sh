#!/bin/bash
# Resolver benchmark: kiln vs dnf on the same Fedora-scale metadata (Debian 12's full amd64
# Packages index turned into rpm-md by gen-debian-repo.py, ~63,000 packages) and a desktop-sized
# request. Prints cold (no caches) and warm (second run: kiln's .solv cache, dnf's solv cache)
# wall times and their ratios, in one run.
#   benches/resolve-vs-dnf.sh [KILN_BINARY]      (default: target/release/kiln)
# Env: KILN_BENCH_DIR (default /var/tmp/kiln-bench), KILN_BENCH_PACKAGES (the request).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
KILN=${1:-${CARGO_TARGET_DIR:-$HERE/../target}/release/kiln}
DIR=${KILN_BENCH_DIR:-/var/tmp/kiln-bench}
REQ=${KILN_BENCH_PACKAGES:-task-gnome-desktop task-english firefox-esr libreoffice-writer}
LISTS=/var/lib/apt/lists
[ -x "$KILN" ] || { echo "no kiln binary at $KILN (cargo build --release)" >&2; exit 2; }
command -v dnf >/dev/null || { echo "dnf not installed" >&2; exit 2; }
if [ ! -f "$DIR/repo/repodata/repomd.xml" ]; then
    idx=$(ls $LISTS/*_debian_dists_bookworm_main_binary-amd64_Packages* 2>/dev/null | head -1)
    [ -n "$idx" ] || { echo "no Debian amd64 Packages index under $LISTS (apt-get update)" >&2; exit 2; }
    mkdir -p "$DIR"
    /usr/lib/apt/apt-helper cat-file "$idx" > "$DIR/Packages"
    /usr/bin/python3 "$HERE/gen-debian-repo.py" "$DIR/Packages" "$DIR/repo"
fi
KS=$DIR/bench.ks
{ echo "repo --name=bench --baseurl=file://$DIR/repo"; echo "%packages --nocore";
  for p in $REQ; do echo "$p"; done; echo "%end"; } > "$KS"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

run_kiln() { "$KILN" resolve --arch x86_64 --ks "$KS" --cache "$DIR/kiln-cache" > "$DIR/kiln.out" 2> "$DIR/kiln.err"; }
run_dnf() {
    # --assumeno makes dnf stop after resolving (exit 1 by design).
    dnf --installroot="$DIR/dnf-root" --setopt=reposdir=/dev/null --setopt=cachedir="$DIR/dnf-cache" \
        --repofrompath=bench,"file://$DIR/repo" --repo=bench --forcearch=x86_64 --releasever=12 \
        --setopt=install_weak_deps=True --setopt=best=False --nogpgcheck --assumeno \
        install $REQ > "$DIR/dnf.out" 2>&1 || true
}

rm -rf "$DIR/kiln-cache" "$DIR/dnf-cache" "$DIR/dnf-root"
t0=$(now); run_kiln; t1=$(now); kiln_cold=$(secs "$t0" "$t1")
t0=$(now); run_kiln; t1=$(now); kiln_warm=$(secs "$t0" "$t1")
t0=$(now); run_dnf; t1=$(now); dnf_cold=$(secs "$t0" "$t1")
t0=$(now); run_dnf; t1=$(now); dnf_warm=$(secs "$t0" "$t1")

npk=$(grep -c . "$DIR/kiln.out" || true)
dnf_n=$(grep -oE 'Install +[0-9]+ Packages' "$DIR/dnf.out" | grep -oE '[0-9]+' || echo "?")
repo_n=$(zcat "$DIR"/repo/repodata/*-primary.xml.gz 2>/dev/null | head -c 400 | grep -oE 'packages="[0-9]+"' | grep -oE '[0-9]+' || true)
printf 'metadata: %s packages; request: %s\n' "$repo_n" "$REQ"
printf 'packages in transaction: kiln %s, dnf %s\n' "$npk" "$dnf_n"
printf '%-6s %10s %10s %8s\n' "" "kiln (s)" "dnf (s)" "kiln/dnf"
printf '%-6s %10.2f %10.2f %8.2f\n' cold "$kiln_cold" "$dnf_cold" "$(echo "$kiln_cold / $dnf_cold" | bc -l)"
printf '%-6s %10.2f %10.2f %8.2f\n' warm "$kiln_warm" "$dnf_warm" "$(echo "$kiln_warm / $dnf_warm" | bc -l)"
echo "targets: warm ratio <= 0.33, cold ratio <= 1.00"
