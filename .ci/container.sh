#!/usr/bin/env bash
# CI: build the production image with podman (as ../shared/CONTAINERS.md describes for these
# machines) and prove it: run it on a SQLite volume and against the PostgreSQL .ci/postgres.sh
# starts, wait for /readyz, sign in, open a session and read it back, check it runs as non-root.
#
#   bash .ci/container.sh            (root; installs podman, runc, debootstrap when missing)
#
# Only loopback addresses are targets: containers run with --network host on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
IMAGE=${HOLDSPACE_IMAGE:-localhost/holdspace:ci}
BASE=docker.io/library/debian:bookworm-slim
started=$(date +%s)
say() { printf '[container %3ss] %s\n' "$(($(date +%s) - started))" "$*"; }

# 1. podman with runc (crun refuses this machine's hybrid cgroups), and its configuration.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq && apt-get install -y -qq podman runc debootstrap >/dev/null
fi
if [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  cat >/etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
fi

TMP=$(mktemp -d)
containers=()
volumes=()
pg_db=""
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
  for v in "${volumes[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1 || true; done
  if [ -n "$pg_db" ]; then su postgres -c "psql -qc 'drop database if exists $pg_db'" >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# 2. The base image, made the way Debian makes debian:bookworm-slim (no registry is reachable).
if ! podman image exists "$BASE"; then
  say "making $BASE with debootstrap"
  debootstrap --variant=minbase bookworm "$TMP/rootfs" >/dev/null
  tar -C "$TMP/rootfs" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$TMP/rootfs"
fi

# 3. Build, with the host's certificate authority mounted for the build only (never baked in).
say "building $IMAGE"
printf '[global]\ncert = /run/host-ca.crt\n' >"$TMP/pip.conf"
build_started=$(date +%s)
podman build --quiet --pull=never --network host --format docker \
  -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
  -v "$TMP/pip.conf:/etc/pip.conf:ro" -t "$IMAGE" . >/dev/null
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
say "built in $(($(date +%s) - build_started)) s, $((size / 1000000)) MB"

# The image itself: non-root, a health check, no compiler, no pip, no certificate of this host.
user=$(podman image inspect "$IMAGE" --format '{{.Config.User}}')
[ -n "$user" ] && [ "${user%%:*}" != root ] && [ "${user%%:*}" != 0 ] || { echo "image runs as root ($user)"; exit 1; }
health=$(podman image inspect "$IMAGE" --format '{{.Config.Healthcheck.Test}}')
[[ $health == *healthz* ]] || { echo "no HEALTHCHECK on /healthz"; exit 1; }
podman run --rm --no-healthcheck --network none --entrypoint /bin/sh "$IMAGE" -c '
  set -e
  for tool in gcc cc make pip pip3 npm node; do if command -v "$tool" >/dev/null; then echo "build tool in the image: $tool"; exit 1; fi; done
  test ! -e /run/host-ca.crt && test ! -e /etc/pip.conf
  test "$(id -u)" != 0
'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')

# Run one configuration: $1 a name, then `podman run` options (database URL, volume).
prove() {
  local name=$1; shift
  local port; port=$(free_port)
  local run=(podman run --rm --no-healthcheck --network host -e HOLDSPACE_SECRET_KEY="$SECRET" "$@")
  say "$name: migrate, add a lead and a room"
  "${run[@]}" "$IMAGE" migrate
  printf '%s\n' "$PASSWORD" | "${run[@]}" -i "$IMAGE" user add ci.lead --role lead --password-stdin
  local room; room=$("${run[@]}" "$IMAGE" room add "CI Room" --lead ci.lead | sed -n 's/.*(id \([^,)]*\).*/\1/p')
  local ctr="holdspace-ci-$name-$$"
  containers+=("$ctr")
  say "$name: serve on 127.0.0.1:$port ${workers_note:-}"
  # (Without systemd podman cannot schedule the periodic health check; it says so: hide that line.)
  podman run -d --name "$ctr" --network host -e HOLDSPACE_SECRET_KEY="$SECRET" \
    -e HOLDSPACE_HOST=127.0.0.1 -e HOLDSPACE_PORT="$port" "$@" "$IMAGE" \
    2> >(grep -v 'systemd connection' >&2) >/dev/null
  if ! python3 .ci/smoke.py "http://127.0.0.1:$port" ci.lead "$PASSWORD" "$room"; then
    podman logs "$ctr" | tail -n 30; exit 1
  fi
  local uid; uid=$(podman exec "$ctr" id -u)
  [ "$uid" != 0 ] || { echo "$name: the server runs as root"; exit 1; }
  podman healthcheck run "$ctr" >/dev/null || { echo "$name: HEALTHCHECK failed"; exit 1; }
  podman logs "$ctr" >"$TMP/$name.log" 2>&1
  grep -q '"route": "/api/v1/sessions"' "$TMP/$name.log" || { echo "$name: no JSON request log line"; exit 1; }
  if grep -q "CI Room\|$PASSWORD" "$TMP/$name.log"; then echo "$name: the log holds data it must not"; exit 1; fi
  local stop_started; stop_started=$(date +%s)
  podman stop -t 15 "$ctr" 2> >(grep -v 'systemd connection' >&2) >/dev/null
  [ $(($(date +%s) - stop_started)) -lt 12 ] || { echo "$name: shutdown was not graceful (killed after 15 s)"; exit 1; }
  say "$name: passed (uid $uid, health check healthy, JSON log lines, stopped in $(($(date +%s) - stop_started)) s)"
}

# 4a. SQLite on a named volume (the image's default database).
vol="holdspace-ci-data-$$"
volumes+=("$vol")
podman volume create "$vol" >/dev/null
prove sqlite -v "$vol:/data"
say "sqlite: backup and verify inside the container"
podman run --rm --no-healthcheck --network none -v "$vol:/data" "$IMAGE" backup /data/backup.db >/dev/null
podman run --rm --no-healthcheck --network none -v "$vol:/data" "$IMAGE" verify --database /data/backup.db
podman run --rm --no-healthcheck --network none -e HOLDSPACE_WORKERS=2 -v "$vol:/data" -e HOLDSPACE_SECRET_KEY="$SECRET" "$IMAGE" serve \
  2>"$TMP/refused" && { echo "two workers on SQLite were not refused"; exit 1; }
grep -q "needs PostgreSQL" "$TMP/refused"

# 4b. PostgreSQL (the server CI already runs), two worker processes.
pg_url=$(bash .ci/postgres.sh)
pg_db="holdspace_ci_$$"
su postgres -c "psql -qc 'create database $pg_db owner holdspace'" >/dev/null
workers_note="(2 workers)" prove postgres -e HOLDSPACE_DATABASE_URL="${pg_url%/*}/$pg_db" -e HOLDSPACE_WORKERS=2

# 4c. The demo runs from the same image.
podman run --rm --no-healthcheck --network none -v "$vol:/data" -e HOLDSPACE_DATABASE_URL=sqlite:////data/demo.db "$IMAGE" demo --no-serve >"$TMP/demo.out"
grep -q "Demo logins" "$TMP/demo.out"
say "demo seeds from the image"
say "container checks passed in $(($(date +%s) - started)) s (image $((size / 1000000)) MB)"
