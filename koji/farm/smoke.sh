#!/usr/bin/env bash
# Smoke test of the farm: up.sh, `koji hello` with the admin's client certificate, both builders
# enabled and ready in `koji list-hosts`, a `sleep` task (Koji's own, koji/tasks.py SleepTask)
# run to `closed` on each builder's arch, down.sh, then no process, port or mount left.
# Prints the bring-up and teardown times. Usage: smoke.sh [STATE_DIR] (default: a temp dir,
# removed when the smoke test passes). Takes up.sh's environment (KILN_FARM_REPO_DIR and
# KILN_FARM_EXTERNAL_REPO: then the tag's external repo is checked too).
set -euo pipefail
# shellcheck source=koji/farm/common.sh
source "$(dirname "$0")/common.sh"
own_state=0
if [ -z "${1:-}" ]; then own_state=1; fi
STATE=${1:-$(mktemp -d /tmp/kiln-farm-smoke.XXXXXX)}
STATE=$(farm_state_dir "$STATE")
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
downed=0
trap '[ "$downed" = 1 ] || bash "$FARM_HERE/down.sh" "$STATE" >/dev/null 2>&1 || true' EXIT

t=$(date +%s%N)
bash "$FARM_HERE/up.sh" "$STATE"
up_ms=$(ms "$t")
# shellcheck disable=SC1091
source "$STATE/env"
koji() { PYTHONPATH=$KOJI_SRC "$KOJI_PYTHON" "$KOJI_SRC/cli/koji" --config "$KOJI_CONFIG" --profile "$KOJI_PROFILE" "$@"; }

hello=$(koji hello)
echo "$hello"
grep -q 'kojiadmin' <<<"$hello" || fail "koji hello did not greet kojiadmin"
grep -q 'Authenticated via client certificate' <<<"$hello" || fail "koji hello: not authenticated by certificate"

hosts=$(koji list-hosts)
echo "$hosts"
for b in $BUILDERS; do
  grep -Eq "^${b%%:*} +Y +Y +[0-9.]+/[0-9.]+ +${b#*:} " <<<"$hosts" || fail "${b%%:*} not enabled and ready for ${b#*:}"
done

for b in $BUILDER_NAMES; do
  grep -Eq '^Channels: .*\bimage\b' <<<"$(koji hostinfo "$b")" || fail "$b is not in the image channel"
done
taginfo=$(koji taginfo kiln-fixtures)
grep -q '^Arches: x86_64 aarch64$' <<<"$taginfo" || fail "tag kiln-fixtures: wrong arches: $taginfo"
grep -q '^kiln-fixtures ' <<<"$(koji list-targets --name kiln-fixtures --quiet)" || fail "no target kiln-fixtures"
if [ -n "${KILN_FARM_EXTERNAL_REPO:-}" ]; then
  grep -q 'kiln-fixtures-repo (http' <<<"$taginfo" || fail "tag kiln-fixtures: no external repo: $taginfo"
  # what Koji will hand out for x86_64 must be a repository
  url=$(koji list-external-repos --quiet | awk '$1 == "kiln-fixtures-repo" {print $2}')
  url=${url//\$arch/x86_64}
  curl -fsS -o /dev/null "${url%/}/repodata/repomd.xml" || fail "external repo $url has no repodata"
fi

# One `sleep` task per builder arch, in the image channel, as kiln's arch tasks will be.
declare -A task
t=$(date +%s%N)
for b in $BUILDERS; do
  task[${b#*:}]=$(koji call --python makeTask '"sleep"' '[1]' channel='"image"' arch="'${b#*:}'")
done
koji watch-task "${task[@]}"
task_ms=$(ms "$t")
for b in $BUILDERS; do
  info=$(koji taskinfo "${task[${b#*:}]}")
  grep -q '^State: closed' <<<"$info" || fail "task ${task[${b#*:}]} not closed: $info"
  grep -q "^Host: ${b%%:*}\$" <<<"$info" || fail "task ${task[${b#*:}]} did not run on ${b%%:*}: $info"
done

ports=$(cat "$STATE/ports")
t=$(date +%s%N)
downed=1
bash "$FARM_HERE/down.sh" "$STATE"
down_ms=$(ms "$t")

# Independent of down.sh's own check: by command line, listening ports and mounts.
# shellcheck disable=SC2009 # by command line, on purpose
left=$(ps -eo pid=,args= | grep -F "$STATE" | grep -v -e grep -e smoke.sh || true)
[ -z "$left" ] || fail "processes left: $left"
for p in $ports; do
  [ -z "$(ss -Htln "sport = :$p")" ] || fail "port $p still listening"
done
! grep -qF " $STATE" /proc/self/mounts || fail "mounts left under $STATE"

[ "$own_state" = 0 ] || rm -rf "$STATE"
echo "smoke: OK: bring-up ${up_ms} ms, two sleep tasks closed in ${task_ms} ms, teardown ${down_ms} ms"
