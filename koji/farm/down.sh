#!/usr/bin/env bash
# Stop everything koji/farm/up.sh started under STATE_DIR (kojid and its tasks, httpd, postgres,
# any child of theirs), unmount what is mounted under STATE_DIR, then check that no process, port
# or mount is left: exit 1 naming what is. Safe to call twice, or after a failed up.sh. Logs and
# data stay in STATE_DIR for a look afterwards (up.sh starts from clean subdirectories).
set -uo pipefail
# shellcheck source=koji/farm/common.sh
source "$(dirname "$0")/common.sh"
[ -n "${1:-}" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
STATE=$(cd "$1" && pwd -P)
T0=$(date +%s%N)

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
wait_gone() { # pid, tenths of a second
  local i
  for ((i = 0; i < $2; i++)); do alive "$1" || return 0; sleep 0.1; done
  return 1
}
pid_of() { [ -f "$1" ] && cat "$1" 2>/dev/null; }

# kojid first, while the hub still answers: on SIGTERM it kills its tasks' processes, frees the
# tasks and logs out (koji/daemon.py TaskManager.shutdown).
kojids=()
for f in "$STATE"/run/kojid-*.pid; do
  pid=$(pid_of "$f") || continue
  alive "$pid" && kill -TERM "$pid" 2>/dev/null && kojids+=("$pid")
  rm -f "$f"
done
for pid in "${kojids[@]}"; do
  wait_gone "$pid" 150 || kill -KILL -- "-$pid" "$pid" 2>/dev/null
done

# httpd holds nothing worth a graceful stop, which takes seconds (each child finalizes its Python):
# the parent and its children are killed together, so none is respawned.
pid=$(pid_of "$STATE/run/httpd.pid") && if alive "$pid"; then
  # shellcheck disable=SC2046
  kill -KILL "$pid" $(pgrep -P "$pid") 2>/dev/null
  wait_gone "$pid" 50
fi
rm -f "$STATE/run/httpd.pid"

if [ -f "$STATE/pg/data/postmaster.pid" ]; then
  # a throwaway database: no shutdown checkpoint needed
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$STATE/pg/data" -m immediate -w -t 20 stop \
    >/dev/null 2>&1 || true
fi

# Whatever still carries the mark (tasks' children, httpd or postgres workers): TERM, then KILL.
pids=$(farm_marked_pids "$STATE")
if [ -n "$pids" ]; then
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for p in $pids; do wait_gone "$p" 50 || kill -KILL "$p" 2>/dev/null; done
  for p in $pids; do wait_gone "$p" 20; done
fi

# Mounts a task left under the state dir, deepest first.
for m in $(farm_mounts "$STATE" | sort -r); do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
done

# the directories up.sh had to make outside STATE_DIR, when still empty and no other farm runs
if [ -f "$STATE/run/created-dirs" ] && ! grep -lzq '^KILN_FARM_STATE=' /proc/[0-9]*/environ 2>/dev/null; then
  tac "$STATE/run/created-dirs" | while read -r d; do rmdir "$d" 2>/dev/null; done
  rm -f "$STATE/run/created-dirs"
fi

left=0
pids=$(farm_marked_pids "$STATE")
if [ -n "$pids" ]; then
  echo "down.sh: processes left running:" >&2
  # shellcheck disable=SC2086
  ps -o pid,user,args -p "$(echo $pids | tr ' ' ,)" >&2
  left=1
fi
ports=$(farm_listening "$STATE")
if [ -n "$ports" ]; then
  echo "down.sh: ports still listening: $ports" >&2
  left=1
fi
mounts=$(farm_mounts "$STATE")
if [ -n "$mounts" ]; then
  echo "down.sh: still mounted: $mounts" >&2
  left=1
fi
[ "$left" = 0 ] && rm -f "$STATE/env" "$STATE/ports"
echo "farm down in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
exit "$left"
