#!/usr/bin/env bash
# Start Debian's PostgreSQL for the tests that run on the production store; prints the test URL.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
command -v pg_ctlcluster >/dev/null 2>&1 || apt-get install -y -qq postgresql >/dev/null
if ! pg_lsclusters -h | grep -q .; then
  pg_createcluster 15 main >/dev/null
fi
read -r version cluster _ < <(pg_lsclusters -h | head -n 1)
pg_ctlcluster "$version" "$cluster" start >/dev/null 2>&1 || true
for _ in $(seq 1 30); do
  su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='holdspace'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"create role holdspace login superuser password 'holdspace-test'\"" >/dev/null
echo "postgresql+psycopg://holdspace:holdspace-test@127.0.0.1:5432/postgres"
