#!/usr/bin/env bash
# Admin API load run, on SQLite and on PostgreSQL: client creates per
# second (POST /admin/v1/clients), list pages per second (GET
# /admin/v1/clients?limit=50 over the clients created), and token issuance
# alone and while clients are being created at the same time.
#
#   bash bench/adminapi.sh                     # 20 s per run
#   SECS=10 PG='postgres://...' bash bench/adminapi.sh
#
# PG defaults to the local test database; a schema of its own is created
# and dropped. Prints each run and a summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
secs=${SECS:-20}
pg=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$shared/bench/load-token.sh" ] || { echo "missing $shared/bench/load-token.sh (set SHARED=...)" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
schema=bench_admin_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building..."
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse)
. "$root/bench/lib.sh"

secret="ghs_bench-secret-0123456789abcdefghijklmnopqrstuv"
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_SECRET=bench-master-key-0123456789abcdefghijkl

wrk_rate() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1" | tail -1; }
wrk_bad() { sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1" | tail -1; }
field() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$1" | tail -1; }

run() { # name: one store's runs; GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL set by the caller
  local name=$1 out="$work/$1"
  printf '%s\n' "$secret" | "$work/gatehouse" clients create --name bench --id bench-client \
    --scopes "api:read-only search" --secret-stdin --output json >/dev/null
  printf '%s\n' "$secret" | "$work/gatehouse" clients create --name ops --id bench-admin \
    --scopes gatehouse:admin --secret-stdin --output json >/dev/null
  "$work/gatehouse" serve --addr 127.0.0.1:9098 2>"$work/$name.log" &
  local gh=$!; pids+=($gh)
  wait_up 127.0.0.1 9098
  ADMIN_TOKEN=$(curl -s -u "bench-admin:$secret" -d grant_type=client_credentials -d scope=gatehouse:admin \
    http://127.0.0.1:9098/oauth/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  export ADMIN_TOKEN

  echo; echo "### $name: create (8 connections)"
  wrk -t2 -c8 -d"${secs}s" -s "$root/bench/admin-create.lua" http://127.0.0.1:9098/admin/v1/clients | tee "$out.create"
  echo; echo "### $name: list, 50 per page (16 connections)"
  wrk -t2 -c16 -d"${secs}s" -H "Authorization: Bearer $ADMIN_TOKEN" \
    'http://127.0.0.1:9098/admin/v1/clients?limit=50&q=bench' | tee "$out.list"
  echo; echo "### $name: tokens alone (64 connections)"
  PID=$gh "$shared/bench/load-token.sh" http://127.0.0.1:9098/oauth/token bench-client "$secret" 64 "$secs" | tee "$out.tokens"
  echo; echo "### $name: tokens while clients are created (64 + 4 connections)"
  wrk -t1 -c4 -d"$((secs + 5))s" -s "$root/bench/admin-create.lua" http://127.0.0.1:9098/admin/v1/clients >"$out.bgcreate" &
  local bg=$!
  PID=$gh "$shared/bench/load-token.sh" http://127.0.0.1:9098/oauth/token bench-client "$secret" 64 "$secs" | tee "$out.mixed"
  wait "$bg"; echo "background creates/s: $(wrk_rate "$out.bgcreate")"
  kill -TERM "$gh"; wait "$gh" 2>/dev/null || true
}

GATEHOUSE_DATA_DIR="$work/sqlite" run sqlite
psql "$pg" -qc "CREATE SCHEMA $schema" >/dev/null
sep='&'; case "$pg" in *\?*) ;; *) sep='?';; esac
GATEHOUSE_DATA_DIR="$work/pg" GATEHOUSE_DATABASE_URL="$pg${sep}search_path=$schema" run postgres

echo
echo "### summary (${secs}s each, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-10s %12s %10s %12s %10s %14s %14s %8s\n' store creates/s non2xx lists/s non2xx tokens/s tokens/s+cr ratio
for s in sqlite postgres; do
  a=$(field "$work/$s.tokens" tokens_per_s); b=$(field "$work/$s.mixed" tokens_per_s)
  printf '%-10s %12s %10s %12s %10s %14s %14s %8s\n' "$s" "$(wrk_rate "$work/$s.create")" "$(wrk_bad "$work/$s.create")" \
    "$(wrk_rate "$work/$s.list")" "$(wrk_bad "$work/$s.list")" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')"
done
