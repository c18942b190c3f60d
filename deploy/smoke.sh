#!/usr/bin/env bash
# deploy/smoke.sh: the plain-host layout, started on this machine and checked end to end.
#
# nginx (Debian's package) with TLS and deploy/nginx/qtrack.conf in front of two
# `qtrack serve` processes and one `qtrack worker`, on the PostgreSQL and Redis already
# running here, with a database of its own (created, then dropped). Through the proxy it
# checks /readyz, a login, a scan that changes an item, the webhook delivery of that change
# to a local receiver, that both app servers answered, that /metrics sums the three
# processes, and that nginx refuses an oversized body. It stops everything it started.
#
#   deploy/smoke.sh              (make install first; needs nginx, PostgreSQL, Redis)
#   QTRACK_SMOKE_IMAGE=localhost/qtrack deploy/smoke.sh
#                                the same layout with the migration, both app servers and the
#                                worker run as containers of deploy/Containerfile's image
#                                (podman, host network), the rest as above
#
# QTRACK_SMOKE_POSTGRES   PostgreSQL to create the database on (postgresql://postgres@127.0.0.1:5432)
# QTRACK_SMOKE_REDIS_URL  the Redis database it may flush (redis://127.0.0.1:6379/12)
# QTRACK_SMOKE_IMAGE      run qtrack from this container image instead of $BIN/qtrack
# QTRACK_SMOKE_PODMAN_ARGS  extra `podman run` options (default: the ulimits below)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${QTRACK_SMOKE_BIN:-$ROOT/.venv/bin}
PG=${QTRACK_SMOKE_POSTGRES:-postgresql://postgres@127.0.0.1:5432}
REDIS_URL=${QTRACK_SMOKE_REDIS_URL:-redis://127.0.0.1:6379/12}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
STARTED=$(date +%s)

say() { printf "smoke: [%3ss] %s\n" "$(( $(date +%s) - STARTED ))" "$*"; }
fail() { printf 'smoke: FAILED: %s\n' "$*" >&2; exit 1; }

IMAGE=${QTRACK_SMOKE_IMAGE:-}
# podman gives a container RLIMIT_NOFILE/NPROC above this machine's hard limits by default,
# which a container host without CAP_SYS_RESOURCE (this one) refuses: ask for less.
PODMAN_ARGS=${QTRACK_SMOKE_PODMAN_ARGS:---ulimit nofile=4096:4096 --ulimit nproc=4096:4096}
if [ -n "$IMAGE" ]; then
  command -v podman >/dev/null || fail "no podman (apt-get install podman)"
  podman image exists "$IMAGE" || fail "no image $IMAGE (docs/deploy.md: Trying the image here)"
else
  [ -x "$BIN/qtrack" ] || fail "no $BIN/qtrack (run make install)"
fi
[ -x "$NGINX" ] || fail "no nginx (apt-get install nginx)"

WORK=$(mktemp -d /tmp/qtrack-smoke.XXXXXX)
chmod 755 "$WORK"
DB="qtrack_smoke_$$"
PIDS=()

cleanup() {
  local rc=$?
  set +e
  if [ -f "$WORK/nginx/nginx.pid" ]; then
    kill -QUIT "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$IMAGE" ]; then
    for role in migrate app1 app2 worker; do
      podman rm -f -t 5 "qtrack-smoke-$$-$role" >/dev/null 2>&1
    done
  fi
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK"/*.log "$WORK"/nginx/error.log; do
      [ -f "$log" ] || continue
      echo "----- $(basename "$log") (last 30 lines)"
      tail -n 30 "$log"
    done
  fi
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  "$BIN/python" -c "import redis, sys; redis.Redis.from_url(sys.argv[1]).flushdb()" "$REDIS_URL" \
    2>/dev/null
  rm -rf "$WORK"
  say "cleaned up after $(( $(date +%s) - STARTED )) s"
  exit "$rc"
}
trap cleanup EXIT INT TERM

# Three free ports: the proxy and the two app servers.
read -r P_PROXY P_APP1 P_APP2 < <("$BIN/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

say "database $DB, proxy https://127.0.0.1:$P_PROXY, app servers :$P_APP1 :$P_APP2"
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null || fail "cannot create database $DB"

# What /etc/qtrack/qtrack.env holds on a real host (deploy/systemd/qtrack.env.example).
export QTRACK_ENV=prod
export QTRACK_SECRET_KEY
QTRACK_SECRET_KEY=$("$BIN/python" -c "import secrets; print(secrets.token_urlsafe(48))")
export QTRACK_DATABASE_URL="postgresql+asyncpg://${PG#postgresql://}/$DB"
export QTRACK_REDIS_URL="$REDIS_URL"
export QTRACK_PUBLIC_BASE_URL="https://127.0.0.1:$P_PROXY"
export QTRACK_TRUSTED_PROXIES=127.0.0.1
export QTRACK_TRUSTED_HOSTS=127.0.0.1,localhost
export QTRACK_JOBS_IN_PROCESS=off
export QTRACK_METRICS_DIR="$WORK/metrics"
export QTRACK_WEBHOOKS_ALLOW_PRIVATE=true
export QTRACK_ADMIN_USERNAME=admin
export QTRACK_ADMIN_PASSWORD
QTRACK_ADMIN_PASSWORD="smoke-$("$BIN/python" -c "import secrets; print(secrets.token_hex(8))")"
export QTRACK_LOG_FORMAT=json
cd "$WORK"

# `qtrack ROLE ARGS...`: the installed command, or a container of the image. Run in the
# background (`qtrack ... &`, a subshell), it replaces that subshell, so that the pid in
# PIDS is the process itself and cleanup stops it (not only its subshell). A container
# shares the host's network (PostgreSQL, Redis and nginx are on 127.0.0.1), gets this run's
# QTRACK_* environment, and the metrics folder bound at the same path; it shares the host's
# process ids too, because the processes of one metrics folder must have distinct ids.
qtrack() {
  local role=$1
  shift
  if [ -n "$IMAGE" ]; then
    # shellcheck disable=SC2086  # PODMAN_ARGS is a list of options
    set -- podman run --rm --name "qtrack-smoke-$$-$role" --network=host --pid=host \
      $PODMAN_ARGS --env 'QTRACK_*' --volume "$QTRACK_METRICS_DIR:$QTRACK_METRICS_DIR" \
      "$IMAGE" "$@"
  else
    set -- "$BIN/qtrack" "$@"
  fi
  if [ "$BASHPID" != "$$" ]; then
    exec "$@"
  fi
  "$@"
}
mkdir -p "$QTRACK_METRICS_DIR"
# The image runs as user 10001: let it write the metrics folder.
[ -n "$IMAGE" ] && chmod 777 "$QTRACK_METRICS_DIR"

qtrack migrate db upgrade >"$WORK/migrate.log" 2>&1 || fail "qtrack db upgrade"
say "migrated${IMAGE:+ (image $IMAGE)}"

# The port as QTRACK_PORT (not --port): the image's HEALTHCHECK asks that port.
QTRACK_PORT=$P_APP1 qtrack app1 serve >"$WORK/app1.log" 2>&1 &
PIDS+=($!)
QTRACK_PORT=$P_APP2 qtrack app2 serve >"$WORK/app2.log" 2>&1 &
PIDS+=($!)
qtrack worker worker >"$WORK/worker.log" 2>&1 &
PIDS+=($!)

# The proxy: deploy/nginx/qtrack.conf as shipped, with this run's ports and certificate.
mkdir -p "$WORK/nginx/tmp" "$WORK/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK/tls/privkey.pem" -out "$WORK/tls/fullchain.pem" >/dev/null 2>&1
"$BIN/python" - "$ROOT/deploy/nginx" "$WORK" "$P_PROXY" "$P_APP1" "$P_APP2" <<'EOF'
import sys
from pathlib import Path

shipped, work, proxy, app1, app2 = Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:]
upstream = (shipped / "qtrack-upstream.conf").read_text()
upstream = upstream.replace("127.0.0.1:8001", f"127.0.0.1:{app1}")
upstream = upstream.replace("127.0.0.1:8002", f"127.0.0.1:{app2}")
(work / "nginx" / "qtrack-upstream.conf").write_text(upstream)
site = (shipped / "qtrack.conf").read_text()
# The port-80 server only redirects to https: left out here (port 80 may be taken).
start = site.index("server {")
site = site[:start] + site[site.index("}\n", site.index("return 301", start)) + 2 :]
for old, new in (
    ("/etc/nginx/qtrack-upstream.conf", f"{work}/nginx/qtrack-upstream.conf"),
    ("/etc/qtrack/tls/", f"{work}/tls/"),
    ("listen 443 ssl http2;", f"listen 127.0.0.1:{proxy} ssl http2;"),
    ("    listen [::]:443 ssl http2;\n", ""),
    ("server_name qtrack.example.com;", "server_name 127.0.0.1 localhost;"),
):
    assert old in site, old
    site = site.replace(old, new)
(work / "nginx" / "qtrack.conf").write_text(site)
EOF
NGINX_USER=$(id -un)
cat >"$WORK/nginx/nginx.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user $NGINX_USER;" )
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    include $WORK/nginx/qtrack.conf;
}
EOF
"$NGINX" -t -q -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
  || fail "nginx refuses the configuration"
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
  || fail "nginx does not start"

say "started; checking"
"$BIN/python" "$ROOT/deploy/smoke_checks.py" \
  --proxy "https://127.0.0.1:$P_PROXY" --ca "$WORK/tls/fullchain.pem" \
  --apps "$P_APP1,$P_APP2" --logs "$WORK/app1.log,$WORK/app2.log" \
  --password "$QTRACK_ADMIN_PASSWORD" || fail "checks"

if [ -n "$IMAGE" ]; then
  # The image's own HEALTHCHECK, run by podman in each app container.
  for role in app1 app2; do
    podman healthcheck run "qtrack-smoke-$$-$role" >/dev/null 2>&1 \
      || fail "the image's health check in $role"
    say "ok: the image's health check passes in $role"
  done
fi

say "all checks passed in $(( $(date +%s) - STARTED )) s"
