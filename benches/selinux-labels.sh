#!/usr/bin/env bash
# What SELinux labelling costs a build: `kiln build --image-only` of a fixture set with
# `selinux --enforcing` and a compiled policy dropped into the root by `%post --nochroot`, then
# the labelling step's time (from build.log) against the install stage's (the stage table).
# Usage: benches/selinux-labels.sh POLICY_ROOT [FIXTURES_OUT] [SET] [KILN_BINARY]
#   POLICY_ROOT: a directory with etc/selinux/<type>/contexts/files/file_contexts, e.g. the one
#   tests/selinux_labels.rs makes (target/tmp/selinux-policy-default/root: Debian 12's
#   selinux-policy-default compiled with semodule).
#   SET: desktop-x86_64 (the --large set, default when present) or live-x86_64.
# Env: RUNS (default 3). No thresholds: a measurement. Needs root.
set -euo pipefail
policy=${1:?usage: $0 POLICY_ROOT [FIXTURES_OUT] [SET] [KILN_BINARY]}
fx=${2:-${KILN_FIXTURES:-/var/cache/kiln/fixtures}}
set_name=${3:-}
kiln=${4:-target/release/kiln}
if [[ -z $set_name ]]; then
  if [[ -d $fx/desktop-x86_64 ]]; then set_name=desktop-x86_64; else set_name=live-x86_64; fi
fi
type=$(sed -n 's/^SELINUXTYPE=//p' "$policy/etc/selinux/config")
[[ -f $policy/etc/selinux/$type/contexts/files/file_contexts ]] || {
  echo "no file_contexts under $policy/etc/selinux/$type" >&2; exit 1; }
work=$(mktemp -d /var/tmp/kiln-bench-selinux.XXXXXX)
trap 'rm -rf "$work"' EXIT
sed 's/^selinux .*/selinux --enforcing/' "$fx/ks/$set_name.ks" >"$work/bench.ks"
cat >>"$work/bench.ks" <<EOF
%post --nochroot
cp -a $policy/etc/selinux/. "\$INSTALL_ROOT/etc/selinux/"
sed -i 's/^SELINUXTYPE=.*/SELINUXTYPE=$type/' "\$INSTALL_ROOT/etc/selinux/config"
%end
EOF
for run in $(seq 1 "${RUNS:-3}"); do
  out=$work/out-$run
  "$kiln" build --ks "$work/bench.ks" --image-only -f BENCH --resultdir "$out" \
    --tmpdir "$work" --cache "$work/cache" --compression zstd --compress-arg level=3 \
    2>"$work/stderr-$run" >/dev/null
  install=$(awk '$1 == "install" {print $2}' "$work/stderr-$run")
  line=$(grep -m1 'SELinux labels (' "$out/build.log")
  split=$(grep -m1 'SELinux: ' "$out/build.log" | sed 's/.*SELinux: //')
  label=$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' <<<"$line")
  paths=$(sed -n 's/.*): [0-9]* of \([0-9]*\) paths.*/\1/p' <<<"$line")
  echo "run $run ($set_name): install stage ${install} s, labelling ${label} s for ${paths} paths ($split): $(awk -v l="$label" -v i="$install" 'BEGIN {printf "%.1f", 100 * l / i}') % of the install stage"
  rm -rf "$out"
done
