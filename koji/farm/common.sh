# shellcheck shell=bash disable=SC2034
# Shared by up.sh, down.sh and smoke.sh (sourced, not run): paths and the process sweep.
# Every process the farm starts carries KILN_FARM_STATE=<state dir> in its environment, and so
# does everything those processes start (kiln, its helpers, httpd's and postgres's children):
# down.sh finds what is left by that mark, whatever parent it has been reparented to.

FARM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$FARM_HERE/../.." && pwd)
PGBIN=${KILN_FARM_PGBIN:-/usr/lib/postgresql/15/bin}
APACHE_MODULES=/usr/lib/apache2/modules
BUILDERS="builder-x86_64:x86_64 builder-aarch64:aarch64"
BUILDER_NAMES="builder-x86_64 builder-aarch64"

farm_state_dir() { # STATE_DIR argument -> absolute path (the mark must match exactly)
  [ -n "${1:-}" ] || { echo "usage: $0 STATE_DIR" >&2; exit 2; }
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

# PIDs of live processes whose environment carries this farm's mark (this shell excluded).
farm_marked_pids() {
  local state=$1 f pid
  # one grep over all environments (NUL-separated entries: -z); a zombie's is empty
  grep -lzxF "KILN_FARM_STATE=$state" /proc/[0-9]*/environ 2>/dev/null | while read -r f; do
    pid=${f#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] || echo "$pid"
  done
}

# Mount points at or under the state dir (kiln's work dirs live there on the builders).
farm_mounts() {
  local state=$1
  awk -v s="$state" '{ gsub(/\\040/, " ", $2); if ($2 == s || index($2, s "/") == 1) print $2 }' /proc/self/mounts
}

# TCP listeners on the farm's ports (written by up.sh into STATE_DIR/ports).
farm_listening() {
  local state=$1 p
  [ -f "$state/ports" ] || return 0
  while read -r p; do
    [ -n "$(ss -Htln "sport = :$p")" ] && echo "$p"
  done <"$state/ports"
  return 0
}
