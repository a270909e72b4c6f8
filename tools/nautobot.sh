#!/usr/bin/env bash
# A local Nautobot for the CMDB integration tests and the inventory benchmark.
#
#   tools/nautobot.sh start [--fresh]   install what is missing, start PostgreSQL,
#                                       Redis and Nautobot on 127.0.0.1:$PORT
#                                       (--fresh: restore an empty database first)
#   tools/nautobot.sh stop              stop Nautobot (PostgreSQL and Redis stay up)
#   tools/nautobot.sh status            say what runs; exit 0 when the API answers
#   tools/nautobot.sh env               print NOSPOF_CMDB_URL=... and NOSPOF_CMDB_TOKEN=...
#   tools/nautobot.sh reset             stop, restore an empty database, start
#
# State lives outside the checkout, in ${NOSPOF_STATE_DIR:-/var/cache/nospof}:
#   nautobot-<version>/          the virtualenv, nautobot_config.py, media root
#   nautobot-<version>.dump      pg_dump of the freshly migrated database: the
#                                ~200 s migration runs once per Nautobot version
#   nautobot-secret-key, nautobot-db-password, nautobot-admin-password,
#   nautobot-token               generated once, mode 0600, never printed
#                                (except the token, by `env`, on request)
#   nautobot.pid, nautobot.log   the server (gunicorn)
# Needs root (apt-get, PostgreSQL administration). Only 127.0.0.1 is used.
set -euo pipefail

NAUTOBOT_VERSION="${NOSPOF_NAUTOBOT_VERSION:-3.2.7}"
GUNICORN_VERSION="23.0.0"
PORT="${NOSPOF_NAUTOBOT_PORT:-8480}"
STATE="${NOSPOF_STATE_DIR:-/var/cache/nospof}"
VENV="$STATE/nautobot-$NAUTOBOT_VERSION"
DUMP="$STATE/nautobot-$NAUTOBOT_VERSION.dump"
PIDFILE="$STATE/nautobot.pid"
LOG="$STATE/nautobot.log"
DB="nautobot"
DBUSER="nautobot"
URL="http://127.0.0.1:$PORT"
START_TIMEOUT="${NOSPOF_NAUTOBOT_START_TIMEOUT:-180}"
WORKERS="${NOSPOF_NAUTOBOT_WORKERS:-3}"

say() { printf 'nautobot.sh: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "run as root (it installs packages and administers PostgreSQL)"; }

# ------------------------------------------------------------------ secrets
secret() {  # secret NAME [BYTES]: the value of a 0600 file, generated once
  local file="$STATE/$1" bytes="${2:-24}"
  if [ ! -s "$file" ]; then
    (umask 077; python3 -c "import secrets,sys; print(secrets.token_hex(int(sys.argv[1])))" "$bytes" >"$file.tmp")
    mv "$file.tmp" "$file"
  fi
  chmod 0600 "$file"
  cat "$file"
}

# ------------------------------------------------------------------ packages
apt_install() {  # apt_install PKG...: install the missing ones
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------------ services
pg_cluster() {  # "VERSION NAME PORT" of the first cluster
  pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1, $2, $3}'
}

start_postgres() {
  local cluster
  cluster="$(pg_cluster)"
  if [ -z "$cluster" ]; then
    local version
    version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
    say "creating PostgreSQL $version cluster main"
    pg_createcluster "$version" main >/dev/null 9>&-
    cluster="$(pg_cluster)"
  fi
  set -- $cluster
  PGPORT="$3"
  if ! pg_lsclusters --no-header | awk -v v="$1" -v n="$2" '$1==v && $2==n {print $4}' | grep -q online; then
    say "starting PostgreSQL $1/$2"
    pg_ctlcluster "$1" "$2" start 9>&-
  fi
  for _ in $(seq 1 30); do
    runuser -u postgres -- pg_isready -q -h 127.0.0.1 -p "$PGPORT" && return 0
    sleep 1
  done
  die "PostgreSQL $1/$2 did not accept connections on 127.0.0.1:$PGPORT; see /var/log/postgresql/"
}

start_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then return 0; fi
  say "starting Redis"
  if [ -x /etc/init.d/redis-server ]; then
    service redis-server start >/dev/null 2>&1 9>&- || true
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
      --dir /var/lib/redis --logfile /var/log/redis/redis-server.log >/dev/null 9>&-
  fi
  for _ in $(seq 1 20); do
    redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.5
  done
  die "Redis did not answer on 127.0.0.1:6379; see /var/log/redis/"
}

psql_admin() {  # SQL on stdin, as the postgres superuser
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres "$@"
}

db_role() {  # the nautobot role, with the stored password (never on a command line)
  local password
  password="$(secret nautobot-db-password)"
  if ! psql_admin -tA -c "SELECT 1 FROM pg_roles WHERE rolname='$DBUSER'" | grep -q 1; then
    printf "CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$DBUSER" "$password" | psql_admin
  else
    printf "ALTER ROLE %s LOGIN PASSWORD '%s';\n" "$DBUSER" "$password" | psql_admin
  fi
}

db_exists() { psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; }

# ------------------------------------------------------------------ nautobot
install_venv() {
  if [ -x "$VENV/bin/nautobot-server" ] && [ -f "$VENV/.installed" ]; then return 0; fi
  say "installing Nautobot $NAUTOBOT_VERSION into $VENV (pip, ~20 s)"
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "nautobot==$NAUTOBOT_VERSION" "gunicorn==$GUNICORN_VERSION" >"$STATE/pip.log" 2>&1 \
    || { tail -20 "$STATE/pip.log" >&2; die "pip install nautobot==$NAUTOBOT_VERSION failed (log: $STATE/pip.log)"; }
  touch "$VENV/.installed"
}

write_config() {
  secret nautobot-secret-key 48 >/dev/null
  secret nautobot-db-password >/dev/null
  mkdir -p "$VENV/root"
  cat >"$VENV/nautobot_config.py.tmp" <<EOF
# Written by tools/nautobot.sh: a local Nautobot for tests (127.0.0.1 only).
# Secrets are read from 0600 files in the state directory, never stored here.
import os

from nautobot.core.settings import *  # noqa: F401,F403

STATE_DIR = "$STATE"


def _secret(name):
    with open(os.path.join(STATE_DIR, name), encoding="utf-8") as handle:
        return handle.read().strip()


SECRET_KEY = _secret("nautobot-secret-key")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DEBUG = False
DATABASES = {
    "default": {
        "NAME": "$DB",
        "USER": "$DBUSER",
        "PASSWORD": _secret("nautobot-db-password"),
        "HOST": "127.0.0.1",
        "PORT": "$PGPORT",
        "CONN_MAX_AGE": 300,
        "ENGINE": "django.db.backends.postgresql",
    }
}
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
        "TIMEOUT": 300,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
}
CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
MAX_PAGE_SIZE = 1000
PAGINATE_COUNT = 50
INSTALLATION_METRICS_ENABLED = False
MEDIA_ROOT = os.path.join("$VENV", "root", "media")
STATIC_ROOT = os.path.join("$VENV", "root", "static")
GIT_ROOT = os.path.join("$VENV", "root", "git")
JOBS_ROOT = os.path.join("$VENV", "root", "jobs")
EOF
  mv "$VENV/nautobot_config.py.tmp" "$VENV/nautobot_config.py"
}

nb() {  # nautobot-server with our config
  NAUTOBOT_ROOT="$VENV/root" NAUTOBOT_CONFIG="$VENV/nautobot_config.py" \
    "$VENV/bin/nautobot-server" --config="$VENV/nautobot_config.py" "$@"
}

pg_as_nautobot() {  # pg_dump/pg_restore as the nautobot role over 127.0.0.1
  PGPASSWORD="$(cat "$STATE/nautobot-db-password")" "$@" -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER"
}

create_database() {
  printf 'CREATE DATABASE %s OWNER %s;\n' "$DB" "$DBUSER" | psql_admin
  if [ -s "$DUMP" ]; then
    say "restoring the migrated database from $DUMP"
    pg_as_nautobot pg_restore --no-owner --exit-on-error -d "$DB" "$DUMP"
  else
    say "migrating a new database (once per Nautobot version, ~210 s)"
    local started=$SECONDS
    nb migrate --no-input >"$STATE/migrate.log" 2>&1 \
      || { tail -20 "$STATE/migrate.log" >&2; drop_database; die "nautobot-server migrate failed (log: $STATE/migrate.log)"; }
    say "migrated in $((SECONDS - started)) s; saving $DUMP"
    pg_as_nautobot pg_dump -Fc -f "$DUMP.tmp" "$DB"
    mv "$DUMP.tmp" "$DUMP"
  fi
}

drop_database() {
  printf 'DROP DATABASE IF EXISTS %s WITH (FORCE);\n' "$DB" | psql_admin
}

ensure_admin() {  # the admin user and the API token, both from the 0600 files
  secret nautobot-admin-password >/dev/null
  secret nautobot-token 20 >/dev/null
  NOSPOF_STATE_DIR="$STATE" nb shell >"$STATE/admin.log" 2>&1 <<'EOF' \
    || { tail -20 "$STATE/admin.log" >&2; die "could not create the admin user and token (log: $STATE/admin.log)"; }
import os
from django.contrib.auth import get_user_model
from nautobot.users.models import Token
state = os.environ["NOSPOF_STATE_DIR"]
read = lambda name: open(os.path.join(state, name), encoding="utf-8").read().strip()
User = get_user_model()
user, _ = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
user.is_staff = user.is_superuser = True
user.set_password(read("nautobot-admin-password"))
user.save()
key = read("nautobot-token")
Token.objects.exclude(key=key).filter(user=user, description="nospof").delete()
Token.objects.update_or_create(key=key, defaults={"user": user, "description": "nospof", "write_enabled": True})
EOF
}

server_pid() {  # the running server's pid, or nothing
  [ -s "$PIDFILE" ] || return 0
  local pid
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

api_answers() {  # exit 0 when GET /api/ answers 200 with the token
  [ -s "$STATE/nautobot-token" ] || return 1
  NOSPOF_URL="$URL/api/" NOSPOF_TOKEN_FILE="$STATE/nautobot-token" python3 - <<'EOF' 2>/dev/null
import os, sys, urllib.request
token = open(os.environ["NOSPOF_TOKEN_FILE"]).read().strip()
req = urllib.request.Request(os.environ["NOSPOF_URL"], headers={"Authorization": "Token " + token, "Accept": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

start_server() {
  say "starting Nautobot on $URL (log: $LOG)"
  : >"$LOG"
  (
    cd "$VENV"
    export NAUTOBOT_ROOT="$VENV/root" NAUTOBOT_CONFIG="$VENV/nautobot_config.py"
    setsid "$VENV/bin/gunicorn" nautobot.core.wsgi:application \
      --bind "127.0.0.1:$PORT" --workers "$WORKERS" --threads 2 --timeout 600 \
      --pid "$PIDFILE" --access-logfile - --error-logfile - >>"$LOG" 2>&1 </dev/null 9>&- &
  )
  local waited=0
  while ! api_answers; do
    if [ $waited -ge $START_TIMEOUT ]; then
      tail -30 "$LOG" >&2
      die "Nautobot did not answer GET $URL/api/ within ${START_TIMEOUT} s (log: $LOG)"
    fi
    if [ $waited -ge 5 ] && [ -z "$(server_pid)" ]; then
      tail -30 "$LOG" >&2
      die "the Nautobot server exited while starting (log: $LOG)"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "Nautobot $NAUTOBOT_VERSION answers on $URL (pid $(server_pid))"
}

stop_server() {
  local pid
  pid="$(server_pid)"
  if [ -z "$pid" ]; then rm -f "$PIDFILE"; return 0; fi
  say "stopping Nautobot (pid $pid)"
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; return 0; }
    sleep 1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

cmd_start() {
  local fresh="${1:-}"
  need_root
  mkdir -p "$STATE"
  chmod 0755 "$STATE"
  exec 9>"$STATE/nautobot.lock"
  flock -w 900 9 || die "another tools/nautobot.sh has held $STATE/nautobot.lock for 15 minutes"
  if [ "$fresh" != "--fresh" ] && [ -n "$(server_pid)" ] && api_answers; then
    say "Nautobot already answers on $URL"
    return 0
  fi
  apt_install postgresql redis-server python3-venv
  start_postgres
  start_redis
  install_venv
  write_config
  db_role
  if [ "$fresh" = "--fresh" ]; then
    stop_server
    drop_database
  fi
  if ! db_exists; then
    create_database
  fi
  ensure_admin
  if [ -n "$(server_pid)" ] && api_answers; then
    say "Nautobot already answers on $URL"
    return 0
  fi
  stop_server
  start_server
}

cmd_stop() {
  mkdir -p "$STATE"
  exec 9>"$STATE/nautobot.lock"
  flock -w 900 9 || die "another tools/nautobot.sh has held $STATE/nautobot.lock for 15 minutes"
  stop_server
}

cmd_status() {
  local pid
  pid="$(server_pid)"
  if [ -n "$pid" ] && api_answers; then
    echo "Nautobot $NAUTOBOT_VERSION runs (pid $pid) and answers on $URL"
    return 0
  fi
  if [ -n "$pid" ]; then echo "Nautobot runs (pid $pid) but $URL/api/ does not answer"; return 1; fi
  echo "Nautobot is not running"
  return 3
}

cmd_env() {
  [ -s "$STATE/nautobot-token" ] || die "no token yet: run tools/nautobot.sh start first"
  echo "NOSPOF_CMDB_URL=$URL"
  echo "NOSPOF_CMDB_TOKEN=$(cat "$STATE/nautobot-token")"
}

case "${1:-}" in
  start) shift; cmd_start "${1:-}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  reset) cmd_start --fresh ;;
  *) echo "usage: $0 start [--fresh] | stop | status | env | reset" >&2; exit 2 ;;
esac
