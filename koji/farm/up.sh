#!/usr/bin/env bash
# Bring up a real Koji on this machine, everything under STATE_DIR (see koji/README.md):
# PostgreSQL (private cluster, unix socket only) with Koji's schema, Apache httpd + mod_wsgi serving
# Koji's hub over HTTPS with client certificates, two kojid builders, and the admin's CLI config.
# Writes STATE_DIR/env and prints how long the bring-up took. Run as root.
#
# Env: KOJI_SRC (default $REPO/../shared/koji), KILN (kiln binary the builders run; default `kiln`
# on PATH), KILN_FARM_REPO_DIR (served at $KILN_FARM_REPO_URL), KILN_FARM_EXTERNAL_REPO (the tag's
# external repo: a URL, or a path relative to KILN_FARM_REPO_URL; `$arch` is left for Koji),
# KILN_CACHE (default /var/cache/kiln: holds the Python venv with PyPI's python-multilib).
#
# A failure or a signal part-way runs down.sh, so nothing it started is left behind.
set -euo pipefail
# shellcheck source=koji/farm/common.sh
source "$(dirname "$0")/common.sh"
STATE=$(farm_state_dir "${1:-}")
T0=$(date +%s%N)
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 ))"; }
log() { local ms; ms=$(elapsed); printf '[farm %3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "up.sh: run as root" >&2; exit 2; }
if [ -f "$STATE/env" ] || [ -n "$(farm_marked_pids "$STATE")" ] || [ -n "$(farm_mounts "$STATE")" ]; then
  echo "up.sh: $STATE already holds a farm; run down.sh $STATE first" >&2
  exit 2
fi

KOJI_SRC=$(cd "${KOJI_SRC:-$REPO/../shared/koji}" && pwd -P)
[ -f "$KOJI_SRC/schemas/schema.sql" ] || { echo "up.sh: no Koji source at $KOJI_SRC" >&2; exit 2; }
# the paths go unquoted into httpd's, PostgreSQL's and Koji's configs
for path in "$STATE" "$KOJI_SRC" "$REPO"; do
  case $path in *[[:space:]\"\']*) echo "up.sh: no spaces or quotes in paths, please: $path" >&2; exit 2 ;; esac
done
# the builders' kiln, as an absolute path (kojid runs tasks from its own directories)
KILN_BIN=${KILN:-kiln}
if kiln_path=$(command -v "$KILN_BIN"); then KILN_BIN=$(realpath -s "$kiln_path"); fi
CACHE=${KILN_CACHE:-/var/cache/kiln}
PYENV=$CACHE/koji-python-multilib-1.3

done_ok=0
on_exit() {
  local rc=$?
  if [ "$done_ok" != 1 ]; then
    echo "up.sh: failed (exit $rc) after $(elapsed) ms; logs in $STATE/log; cleaning up" >&2
    tail -n 20 "$STATE"/log/*.log 2>/dev/null >&2 || true
    # this script's own background jobs (CLI calls, key making) first; down.sh does the rest
    # shellcheck disable=SC2046
    kill $(jobs -p) 2>/dev/null || true
    bash "$FARM_HERE/down.sh" "$STATE" >&2 || true
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Started processes carry the mark (common.sh); `marked CMD...` runs CMD with it.
marked() { env KILN_FARM_STATE="$STATE" "$@"; }

chmod 755 "$STATE"
# what an earlier farm here left (down.sh keeps the logs, configs and files for a look)
rm -rf "${STATE:?}"/{log,run,pki,pg,hub.conf.d,koji,builders,ports}
mkdir -p "$STATE"/{log,run/docroot,pki,pg,hub.conf.d,koji,builders}
# httpd's children (www-data) and postgres reach their files through STATE_DIR.
for who in postgres www-data; do
  runuser -u "$who" -- test -x "$STATE/." || {
    echo "up.sh: $who cannot reach $STATE (a parent directory is not searchable): pick another STATE_DIR" >&2
    exit 2
  }
done
# What httpd's children (www-data) read: Koji's source, the hub plugins, the served repos. A
# checkout under a private directory (/root, a mktemp -d) is out of their reach: then the
# directory is bind-mounted read-only into STATE_DIR/mnt (down.sh unmounts it).
www_path() { # directory, name under STATE_DIR/mnt -> a path www-data can read it at
  if runuser -u www-data -- test -r "$1/." -a -x "$1/."; then
    echo "$1"
  else
    mkdir -p "$STATE/mnt/$2"
    mount --bind "$1" "$STATE/mnt/$2"
    mount -o remount,bind,ro "$STATE/mnt/$2"
    echo "$STATE/mnt/$2"
  fi
}
HUB_KOJI_SRC=$(www_path "$KOJI_SRC" koji-src)
HUB_PLUGINS=""
[ -f "$REPO/koji/hub/kiln_hub.py" ] && HUB_PLUGINS=$(www_path "$REPO/koji/hub" kiln-hub-plugins)

pick_port() { # a free TCP port on 127.0.0.1, not one already picked
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    grep -qx "$p" "$STATE/ports" 2>/dev/null && continue
    [ -n "$(ss -Htan "sport = :$p")" ] && continue
    echo "$p" >>"$STATE/ports"
    echo "$p"
    return 0
  done
  echo "up.sh: no free port found" >&2
  return 1
}
PORT=$(pick_port)       # https: the hub, /kojifiles
HTTP_PORT=$(pick_port)  # plain http: /kojifiles and the repos, for tools without our CA

# --- Python for kojid and the CLI: Debian's python3 (rpm, dnf, librepo... come from apt) plus
# PyPI's python-multilib, which kojid imports at start; a venv that sees the system packages.
python_env() {
  mkdir -p "$CACHE"
  { # one farm at a time makes it
    flock 9
    if [ ! -x "$PYENV/bin/python3" ] || ! "$PYENV/bin/python3" -c 'import multilib.multilib' 2>/dev/null; then
      rm -rf "$PYENV"
      /usr/bin/python3 -m venv --system-site-packages "$PYENV"
      "$PYENV/bin/pip" install -q --disable-pip-version-check python-multilib==1.3
    fi
  } 9>"$CACHE/koji-python.lock"
}

# --- certificates: one CA; the hub's server cert for 127.0.0.1; client certs (CN = Koji user name).
certs() {
  local d=$STATE/pki n
  cd "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj "/O=kiln farm/CN=kiln farm CA" -keyout ca.key -out ca.crt 2>/dev/null
  cert() { # name, extensions file
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/O=kiln farm/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
      -extfile "$2" -out "$1.crt" 2>/dev/null
    cat "$1.crt" "$1.key" >"$1.pem"
    rm -f "$1.csr"
  }
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  cert hub server.ext
  for n in kojiadmin $BUILDER_NAMES; do cert "$n" client.ext; done
  chmod 600 ./*.key ./*.pem
}

# --- PostgreSQL: a private cluster owned by the postgres user, reachable only through its socket
# in STATE_DIR; durability is off (a throwaway database).
PGDATA=$STATE/pg/data
PGSOCK=$STATE/pg/sock
psql_koji() { "$PGBIN/psql" -h "$PGSOCK" -U koji -d koji -q -v ON_ERROR_STOP=1 -X "$@"; }
PG_OPTS="-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
pg_start() { # data dir, socket dir, log file
  marked runuser -u postgres -- "$PGBIN/pg_ctl" -D "$1" -w -t 60 -l "$3" -o "-k $2 $PG_OPTS" \
    start >/dev/null
}
# initdb alone takes about 2 s, so a cluster with Koji's schema loaded is made once per
# PostgreSQL version and schema.sql, kept in the cache, and copied for each farm.
pg_template() {
  local key tmpl tmp
  key=$("$PGBIN/postgres" --version | awk '{print $3}')-$(sha256sum "$KOJI_SRC/schemas/schema.sql" | cut -c1-16)
  tmpl=$CACHE/koji-pg-$key
  if [ ! -f "$tmpl/PG_VERSION" ]; then
    # made where postgres can reach (STATE_DIR; the cache may be under /root), then kept
    mkdir -p "$CACHE"
    tmp=$(mktemp -d "$STATE/pg-template.XXXXXX")
    chmod 755 "$tmp"
    chown postgres: "$tmp"
    runuser -u postgres -- "$PGBIN/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 \
      --locale=C --no-sync --wal-segsize=1 >"$STATE/log/initdb.log" 2>&1
    pg_start "$tmp/data" "$tmp" "$tmp/log"
    "$PGBIN/psql" -h "$tmp" -U postgres -d postgres -q -v ON_ERROR_STOP=1 -X \
      -c "CREATE ROLE koji LOGIN" -c "CREATE DATABASE koji OWNER koji"
    "$PGBIN/psql" -h "$tmp" -U koji -d koji -q -v ON_ERROR_STOP=1 -X \
      -f "$KOJI_SRC/schemas/schema.sql" >"$STATE/log/schema.log" 2>&1
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null
    cp -a "$tmp/data" "$tmpl.tmp.$$"
    # another farm may have made it meanwhile: then that one stays
    mv -T "$tmpl.tmp.$$" "$tmpl" 2>/dev/null || rm -rf "$tmpl.tmp.$$"
    rm -rf "$tmp"
  fi
  echo "$tmpl"
}
postgres_up() {
  if [ ${#PGSOCK} -gt 90 ]; then
    echo "up.sh: $PGSOCK is too long for a unix socket path: pick a shorter STATE_DIR" >&2
    return 1
  fi
  local tmpl
  tmpl=$(pg_template)
  # The cluster lives in memory (a tmpfs that down.sh unmounts): copying it there is instant,
  # where a fresh tree on this disk can cost seconds.
  mount -t tmpfs -o size=1g,mode=0755 kiln-farm-pg "$STATE/pg"
  mkdir -p "$PGSOCK"
  chown postgres: "$STATE/pg" "$PGSOCK"
  cp -a "$tmpl" "$PGDATA"
  touch "$STATE/log/postgres.log"
  chown postgres: "$STATE/log/postgres.log"
  pg_start "$PGDATA" "$PGSOCK" "$STATE/log/postgres.log"
  # Koji's bootstrap (server_howto.rst): the admin user, certificate-authenticated, with admin.
  psql_koji <<'SQL'
INSERT INTO users (name, status, usertype) VALUES ('kojiadmin', 0, 0);
INSERT INTO user_perms (user_id, perm_id, creator_id)
  SELECT u.id, p.id, u.id FROM users u, permissions p WHERE u.name = 'kojiadmin' AND p.name = 'admin';
SQL
}

# --- httpd: Debian's apache2 binary with only this config; the hub from KOJI_SRC under mod_wsgi.
httpd_up() {
  local plugins=""
  [ -n "$HUB_PLUGINS" ] && plugins=kiln_hub
  # hub.conf: options from Koji's hub_conf.rst; the scheduler runs at every builder check-in
  # (RunInterval, default 60 s) so a new task is picked up within a builder's sleeptime.
  cat >"$STATE/hub.conf" <<EOF
[hub]
DBConnectionString = dbname=koji user=koji host=$PGSOCK
KojiDir = $STATE/koji
LoginCreatesUser = On
DNUsernameComponent = CN
KojiWebURL = https://127.0.0.1:$PORT/koji
DisableNotifications = True
PluginPath = ${HUB_PLUGINS:-$REPO/koji/hub}
Plugins = $plugins
RunInterval = 1
KojiTraceback = normal
LogLevel = WARNING
EOF
  mkdir -p "$STATE/koji"/{packages,repos,work,scratch,repos-dist}
  chown -R www-data: "$STATE/koji"
  chmod 644 "$STATE/hub.conf"
  cat >"$STATE/httpd.conf" <<EOF
ServerRoot $STATE
ServerName 127.0.0.1
PidFile $STATE/run/httpd.pid
DefaultRuntimeDir $STATE/run
Mutex file:$STATE/run default
User www-data
Group www-data
ErrorLog $STATE/log/httpd-error.log
LogLevel warn
LogFormat "%h %t \"%r\" %>s %b %D" farm
CustomLog $STATE/log/httpd-access.log farm
TypesConfig /etc/mime.types
LoadModule mpm_prefork_module $APACHE_MODULES/mod_mpm_prefork.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule authz_host_module $APACHE_MODULES/mod_authz_host.so
LoadModule alias_module $APACHE_MODULES/mod_alias.so
LoadModule mime_module $APACHE_MODULES/mod_mime.so
LoadModule dir_module $APACHE_MODULES/mod_dir.so
LoadModule autoindex_module $APACHE_MODULES/mod_autoindex.so
LoadModule env_module $APACHE_MODULES/mod_env.so
LoadModule socache_shmcb_module $APACHE_MODULES/mod_socache_shmcb.so
LoadModule ssl_module $APACHE_MODULES/mod_ssl.so
LoadModule wsgi_module $APACHE_MODULES/mod_wsgi.so
# Koji's hub runs embedded in prefork children (as its packaged httpd.conf has it); recycled now
# and then as server_howto.rst advises.
StartServers 3
MinSpareServers 2
MaxSpareServers 6
MaxRequestWorkers 24
MaxConnectionsPerChild 200
Timeout 300
Listen 127.0.0.1:$PORT
Listen 127.0.0.1:$HTTP_PORT
SSLSessionCache shmcb:$STATE/run/ssl_scache(512000)
WSGIPythonPath $HUB_KOJI_SRC
# each child imports the hub as it starts, not on its first request
WSGIImportScript $HUB_KOJI_SRC/kojihub/app/kojiapp.py process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGISocketPrefix $STATE/run/wsgi
<Directory />
    AllowOverride None
    Require all denied
</Directory>
# empty: mod_wsgi's PATH_TRANSLATED lookup of /kojihub/ssllogin lands here
DocumentRoot "$STATE/run/docroot"
<Directory "$STATE/run/docroot">
    Require all granted
</Directory>
Alias /kojifiles "$STATE/koji/"
<Directory "$STATE/koji">
    Options Indexes SymLinksIfOwnerMatch
    IndexOptions +NameWidth=*
    Require all granted
</Directory>
EOF
  if [ -n "${KILN_FARM_REPO_DIR:-}" ]; then
    local repo_dir
    repo_dir=$(www_path "$(cd "$KILN_FARM_REPO_DIR" && pwd -P)" repos)
    cat >>"$STATE/httpd.conf" <<EOF
Alias /repos "$repo_dir/"
<Directory "$repo_dir">
    Options Indexes FollowSymLinks
    Require all granted
</Directory>
EOF
  fi
  # The hub over HTTPS; a client certificate is asked for (optional, so anonymous calls work)
  # and handed to the hub's sslLogin through mod_ssl's variables (server_howto.rst).
  cat >>"$STATE/httpd.conf" <<EOF
<VirtualHost 127.0.0.1:$PORT>
    SSLEngine on
    SSLCertificateFile $STATE/pki/hub.crt
    SSLCertificateKeyFile $STATE/pki/hub.key
    SSLCACertificateFile $STATE/pki/ca.crt
    SSLVerifyClient optional
    SSLVerifyDepth 10
    Alias /kojihub $HUB_KOJI_SRC/kojihub/app/kojiapp.py
    <Directory "$HUB_KOJI_SRC/kojihub/app">
        Options ExecCGI
        SetHandler wsgi-script
        WSGIApplicationGroup %{GLOBAL}
        WSGIScriptReloading Off
        SetEnv koji.hub.ConfigFile $STATE/hub.conf
        SetEnv koji.hub.ConfigDir $STATE/hub.conf.d
        SSLOptions +StdEnvVars
        Require all granted
    </Directory>
</VirtualHost>
EOF
  marked /usr/sbin/apache2 -f "$STATE/httpd.conf" -k start
}

koji_cli() { marked PYTHONPATH="$KOJI_SRC" "$PYENV/bin/python3" "$KOJI_SRC/cli/koji" --config "$STATE/koji.conf" --profile kiln-farm "$@"; }

write_client_config() {
  cat >"$STATE/koji.conf" <<EOF
[kiln-farm]
server = https://127.0.0.1:$PORT/kojihub
topurl = http://127.0.0.1:$HTTP_PORT/kojifiles
topdir = $STATE/koji
weburl = https://127.0.0.1:$PORT/koji
authtype = ssl
cert = $STATE/pki/kojiadmin.pem
serverca = $STATE/pki/ca.crt
plugin_paths = $REPO/koji/cli
; watch-task and the build commands poll every second, not every 6
poll_interval = 1
EOF
}

wait_hub() {
  local reply
  for _ in $(seq 300); do
    if reply=$(curl -fsS --cacert "$STATE/pki/ca.crt" -X POST -H 'Content-Type: text/xml' \
        --data '<?xml version="1.0"?><methodCall><methodName>getAPIVersion</methodName><params/></methodCall>' \
        "https://127.0.0.1:$PORT/kojihub" 2>/dev/null); then
      # a hub plugin that fails to load puts the hub offline: every call answers with a fault
      if grep -q '<fault>' <<<"$reply"; then
        echo "up.sh: the hub answers with a fault (a plugin failed to load? see $STATE/log/httpd-error.log):" >&2
        echo "$reply" >&2
        return 1
      fi
      return 0
    fi
    sleep 0.1
  done
  echo "up.sh: the hub did not answer" >&2
  return 1
}

# --- kojid: one per builder, each with its own config, cert, work and "mock" dirs. Image tasks
# of kiln's plugin run kiln directly, so mock is never called; kojid only lists mock's dirs.
kojid_up() {
  local name=$1 dir=$STATE/builders/$1 plugins=""
  [ -f "$REPO/koji/builder/kiln_builder.py" ] && plugins=kiln_builder
  mkdir -p "$dir"/{work,mock}
  cat >"$dir/kojid.conf" <<EOF
[kojid]
server = https://127.0.0.1:$PORT/kojihub
topurl = http://127.0.0.1:$HTTP_PORT/kojifiles
topdir = $STATE/koji
workdir = $dir/work
mockdir = $dir/mock
mockuser = root
cert = $STATE/pki/$name.pem
serverca = $STATE/pki/ca.crt
sleeptime = 1
maxjobs = 4
minspace = 1024
pluginpath = $REPO/koji/builder
plugins = $plugins
log_level = INFO
EOF
  # kojid takes no task while the 1-minute load average is above 4 x the CPU count
  # (koji/daemon.py readyForTask; not configurable). On a 2-core machine shared with other builds
  # that is often, and the second arch task would wait for the first. The load itself comes from
  # sysinfo(2) and cannot be shown otherwise; the CPU count comes from sysconf, which reads
  # /sys/devices/system/cpu/online: each kojid runs in its own mount namespace where that file
  # says 64 CPUs, so the check allows a load of 256. Thread pools that size themselves by the
  # CPUs a process may run on (sched_getaffinity: nproc, Rust's available_parallelism, xz) still
  # see the real count, and kiln's sandboxes mount a sysfs of their own.
  [ -f "$STATE/run/cpu-online" ] || printf '0-63\n' >"$STATE/run/cpu-online"
  # --fg: no daemonizing, so the pid is ours to record (setsid, unshare and sh all exec).
  (
    cd "$dir"
    # shellcheck disable=SC2016 # the inner shell expands them
    exec setsid env KILN_FARM_STATE="$STATE" KILN="$KILN_BIN" PYTHONPATH="$KOJI_SRC" \
      unshare --mount --propagation private -- \
      sh -c 'mount --bind "$0" /sys/devices/system/cpu/online && exec "$@"' "$STATE/run/cpu-online" \
      "$PYENV/bin/python3" "$KOJI_SRC/builder/kojid" --fg --force-lock -c "$dir/kojid.conf" \
      </dev/null >"$STATE/log/kojid-$name.log" 2>&1
  ) &
  echo $! >"$STATE/run/kojid-$name.pid"
}

wait_builders_ready() {
  local n
  for _ in $(seq 600); do
    n=$(psql_koji -tA -c "SELECT count(*) FROM host JOIN host_config ON host_config.host_id = host.id
      AND host_config.active WHERE host.ready AND host_config.enabled")
    [ "$n" = 2 ] && return 0
    for b in $BUILDERS; do
      kill -0 "$(cat "$STATE/run/kojid-${b%%:*}.pid")" 2>/dev/null || {
        echo "up.sh: kojid ${b%%:*} exited" >&2; return 1; }
    done
    sleep 0.1
  done
  echo "up.sh: the builders did not check in" >&2
  return 1
}

# /etc/mock/koji: kojid lists it on every loop (TaskManager._scanLocalBuildroots, a fixed path),
# and without it never asks for a task. An empty directory, as mock's package would leave it.
for d in /etc/mock /etc/mock/koji; do
  if [ ! -d "$d" ]; then
    mkdir "$d"
    echo "$d" >>"$STATE/run/created-dirs"
  fi
done

# checked before anything starts
if [ -n "${KILN_FARM_REPO_DIR:-}" ]; then
  REPO_URL=http://127.0.0.1:$HTTP_PORT/repos/
else
  REPO_URL=
fi
ext_url=
if [ -n "${KILN_FARM_EXTERNAL_REPO:-}" ]; then
  case $KILN_FARM_EXTERNAL_REPO in
    *://*) ext_url=$KILN_FARM_EXTERNAL_REPO ;;
    *) [ -n "$REPO_URL" ] || { echo "up.sh: a relative KILN_FARM_EXTERNAL_REPO needs KILN_FARM_REPO_DIR" >&2; exit 2; }
       ext_url=$REPO_URL${KILN_FARM_EXTERNAL_REPO#/} ;;
  esac
  case $ext_url in *[[:space:]\"\\]*) echo "up.sh: no spaces, quotes or backslashes in KILN_FARM_EXTERNAL_REPO" >&2; exit 2 ;; esac
fi

log "state $STATE, hub port $PORT, http port $HTTP_PORT"
python_env & pyenv_job=$!
certs & certs_job=$!
postgres_up
wait "$certs_job"
log "postgres up, schema loaded, certificates made"
httpd_up
write_client_config
wait_hub
log "hub answers"
wait "$pyenv_job"

# The admin's setup, as one multicall of the hub calls that Koji's CLI commands make (each CLI
# run is a Python start and a TLS login: nine of them took seconds of CPU). Per builder:
# `koji add-host NAME ARCH`, `koji add-host-to-channel NAME image` (kiln's arch tasks) and
# `... createrepo` (for `koji regen-repo --make-task`), `koji edit-host NAME --capacity 4`;
# then `koji add-tag kiln-fixtures --arches "x86_64 aarch64"`, `koji add-target kiln-fixtures
# kiln-fixtures kiln-fixtures` (the tag is its own build and destination tag) and, given an
# external repo, `koji add-external-repo --tag kiln-fixtures kiln-fixtures-repo URL`.
# ({"__starstar": true, ...} is how Koji's XML-RPC carries keyword arguments.)
setup_calls() {
  local b name arch
  for b in $BUILDERS; do
    name=${b%%:*}; arch=${b#*:}
    echo '{"methodName": "addHost", "params": ["'"$name"'", ["'"$arch"'"]]},'
    echo '{"methodName": "addHostToChannel", "params": ["'"$name"'", "image"]},'
    echo '{"methodName": "addHostToChannel", "params": ["'"$name"'", "createrepo"]},'
    echo '{"methodName": "editHost", "params": ["'"$name"'", {"__starstar": true, "capacity": 4.0}]},'
  done
  echo '{"methodName": "createTag", "params": ["kiln-fixtures", {"__starstar": true, "arches": "x86_64 aarch64"}]},'
  if [ -n "$ext_url" ]; then
    echo '{"methodName": "createExternalRepo", "params": ["kiln-fixtures-repo", "'"$ext_url"'"]},'
    echo '{"methodName": "addExternalRepoToTag", "params": ["kiln-fixtures", "kiln-fixtures-repo", 5]},'
  fi
  echo '{"methodName": "createBuildTarget", "params": ["kiln-fixtures", "kiln-fixtures", "kiln-fixtures"]}'
}
calls="[$(setup_calls)]"
echo "$calls" >"$STATE/log/setup.log"
koji_cli call --json --bare-strings callMethod multiCall "$calls" >>"$STATE/log/setup.log" 2>&1 || {
  echo "up.sh: the setup multicall failed (see $STATE/log/setup.log)" >&2; exit 1; }
if grep -q '"faultCode"' "$STATE/log/setup.log"; then
  echo "up.sh: a setup call failed:" >&2
  grep '"faultString"' "$STATE/log/setup.log" >&2
  exit 1
fi
for b in $BUILDER_NAMES; do kojid_up "$b"; done
log "hosts (channels image and createrepo, capacity 4), tag and target kiln-fixtures${ext_url:+, external repo $ext_url}; kojid started"

wait_builders_ready
log "both builders ready"

cat >"$STATE/env" <<EOF
KOJI_CONFIG=$STATE/koji.conf
KOJI_PROFILE=kiln-farm
KOJI_HUB_URL=https://127.0.0.1:$PORT/kojihub
KOJI_PORT=$PORT
KOJI_TOPDIR=$STATE/koji
KOJI_SRC=$KOJI_SRC
KOJI_PYTHON=$PYENV/bin/python3
KOJI_TOPURL=http://127.0.0.1:$HTTP_PORT/kojifiles
KILN_FARM_REPO_URL=$REPO_URL
KILN_FARM_STATE=$STATE
EOF
done_ok=1
echo "farm up in $(elapsed) ms ($STATE/env)"
