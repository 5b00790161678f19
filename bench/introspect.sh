#!/usr/bin/env bash
# Introspection load run, on SQLite and on PostgreSQL in one run, for this
# checkout and (with BASE) an earlier commit, alternated: the RFC 7662
# endpoint asked about one client-credentials token again and again by
# ../shared/bench/load-introspect.sh (wrk, 64 connections, counting only
# 200s with "active":true).
#
#   bash bench/introspect.sh                          # this checkout, 20 s per run, 1 round
#   BASE=main ROUNDS=2 bash bench/introspect.sh       # main and this checkout, alternated
#   SECS=10 CONNS=32 PG='postgres://...' bash bench/introspect.sh
#
# BASE is any git revision; it is built from `git archive`. Each round runs
# every build (BASE first in odd rounds, this checkout first in even ones)
# on SQLite and on PostgreSQL (SQLite first in odd rounds; PG, default the
# local test database, a schema of its own per run, dropped at the end),
# so that a machine growing busier or quieter favours neither. Prints each
# run's RESULT line and a summary: introspections/s per build and store (the
# median of the rounds), PostgreSQL / SQLite per build and this checkout /
# BASE per store.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
secs=${SECS:-20}
conns=${CONNS:-64}
rounds=${ROUNDS:-1}
base=${BASE:-}
pg=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$shared/bench/load-introspect.sh" ] || { echo "missing $shared/bench/load-introspect.sh (set SHARED=...)" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
schemas=()
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for s in "${schemas[@]}"; do psql "$pg" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "building..."
builds=(new)
(cd "$root" && go build -o "$work/gatehouse-new" ./cmd/gatehouse)
if [ -n "$base" ]; then
  mkdir "$work/src-base"
  git -C "$root" archive "$base" | tar -x -C "$work/src-base"
  (cd "$work/src-base" && GOFLAGS=-buildvcs=false go build -o "$work/gatehouse-base" ./cmd/gatehouse)
  builds=(base new)
fi
. "$root/bench/lib.sh"

secret="ghs_bench-secret-0123456789abcdefghijklmnopqrstuv"
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_SECRET=bench-master-key-0123456789abcdefghijkl

# pg_ticks: cpu_ticks (lib.sh) summed over the processes of the postgres
# user (0 if none).
pg_ticks() {
  local p t=0
  for p in $(pgrep -u postgres 2>/dev/null); do t=$((t + $(cpu_ticks "$p" 2>/dev/null || echo 0))); done
  echo "$t"
}

run() { # build store round; GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL set by the caller
  local bin="$work/gatehouse-$1" name="$1-$2-$3"
  printf '%s\n' "$secret" | "$bin" clients create --name bench --id bench-client \
    --scopes "api:read-only search" --secret-stdin --output json >/dev/null
  printf '%s\n' "$secret" | "$bin" clients create --name rs --id bench-rs \
    --scopes "search" --secret-stdin --output json >/dev/null
  "$bin" serve --addr 127.0.0.1:9099 2>"$work/$name.log" &
  local gh=$!; pids+=($gh)
  wait_up 127.0.0.1 9099
  local tok
  tok=$(curl -s -u "bench-client:$secret" -d grant_type=client_credentials \
    http://127.0.0.1:9099/oauth/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  echo; echo "### $name"
  local g0 p0
  g0=$(cpu_ticks "$gh"); p0=$(pg_ticks)
  "$shared/bench/load-introspect.sh" http://127.0.0.1:9099/oauth/introspect bench-rs "$secret" "$tok" "$conns" "$secs" | tee "$work/$name.out"
  echo "CPU during the run: gatehouse $(( $(cpu_ticks "$gh") - g0 )) ticks, PostgreSQL's processes $(( $(pg_ticks) - p0 )) ticks (of $(getconf CLK_TCK) a second)" | tee -a "$work/$name.out"
  kill -TERM "$gh"; wait "$gh" 2>/dev/null || true
}

sep='&'; case "$pg" in *\?*) ;; *) sep='?';; esac
for r in $(seq 1 "$rounds"); do
  order=("${builds[@]}")
  if [ $((r % 2)) = 0 ] && [ ${#builds[@]} = 2 ]; then order=("${builds[1]}" "${builds[0]}"); fi # alternate which goes first
  stores=(sqlite postgres)
  [ $((r % 2)) = 0 ] && stores=(postgres sqlite)
  for b in "${order[@]}"; do
    for s in "${stores[@]}"; do
      if [ "$s" = sqlite ]; then
        GATEHOUSE_DATA_DIR="$work/data-$b-sqlite-$r" run "$b" sqlite "$r"
      else
        schema="bench_introspect_$$_${b}_$r"; schemas+=("$schema")
        psql "$pg" -qc "CREATE SCHEMA $schema" >/dev/null
        GATEHOUSE_DATA_DIR="$work/data-$b-pg-$r" GATEHOUSE_DATABASE_URL="$pg${sep}search_path=$schema" run "$b" postgres "$r"
      fi
    done
  done
done

rate() { sed -n 's/^RESULT .*per_s=\([0-9.]*\).*/\1/p' "$1" | tail -1; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else printf "%.1f\n", (v[NR/2]+v[NR/2+1])/2}'; }
echo
echo "### summary (${conns} connections, ${secs}s each, ${rounds} round(s), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ))"
printf '%-6s %-10s %s\n' build store "introspections/s per round -> median"
declare -A med
for b in "${builds[@]}"; do
  for s in sqlite postgres; do
    all=$(for r in $(seq 1 "$rounds"); do rate "$work/$b-$s-$r.out"; done)
    med[$b-$s]=$(printf '%s\n' $all | median)
    printf '%-6s %-10s %s -> %s\n' "$b" "$s" "$(echo $all)" "${med[$b-$s]}"
  done
  awk -v p="${med[$b-postgres]}" -v q="${med[$b-sqlite]}" -v b="$b" 'BEGIN{printf "%s: PostgreSQL / SQLite = %.2f\n", b, p/q}'
done
if [ -n "$base" ]; then
  for s in sqlite postgres; do
    awk -v n="${med[new-$s]}" -v o="${med[base-$s]}" -v s="$s" 'BEGIN{printf "%s: new / base = %.2f\n", s, n/o}'
  done
fi
