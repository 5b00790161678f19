#!/usr/bin/env bash
# Token endpoint load run: the reference "practical limit" server and
# Gatehouse (SQLite) driven back to back by ../shared/bench/load-token.sh,
# then Gatehouse again with many clients in the store: first one hot client,
# then requests spread over all of them.
#
#   bash bench/load.sh            # 10,000 clients, 64 connections, 20 s per run
#   CONNS=32 SECS=10 bash bench/load.sh
#   NCLIENTS=1000000 SEEDED=/tmp/gatehouse-1m SPREAD_SECS=120 bash bench/load.sh
#
# NCLIENTS: clients in the store for the many-clients runs (seeded with
#   bench/seed; a million take a quarter of an hour or more).
# SEEDED: a data directory to use for them, kept between runs: seeded on
#   the first run (with bench-client too), used as it is on the next ones.
#   Default: a fresh one in the run's temporary directory.
# SPREAD_SECS: length of the spread run (default SECS); at a million
#   clients, long enough to go through all of them (~10k tokens/s).
# MAX_CLIENTS: cache.max_clients for the many-clients server (default: the
#   built-in default).
# SERVER_CONFIG: more YAML for the many-clients server's configuration,
#   e.g. SERVER_CONFIG='usage: {enabled: false}'.
# SERVER_ENV: environment for the many-clients server only, e.g.
#   SERVER_ENV='GOGC=80'.
# PROFILE: write a CPU profile of the spread run (all but its first and last
#   5 s) to this file (the server serves pprof on its metrics listener).
# HEAP_PROFILE: write a heap profile of the server halfway through the
#   spread run to this file (go tool pprof -sample_index=inuse_space -top).
#
# The spread run prints the CPU the server used per token (from /proc) and
# gatehouse_usage_uncounted_total (usage counts the tally dropped).
#
# The spread run reads the clients' Authorization headers from a file
# (bench/seed -headers, in a random order) in bench/many-clients.lua. The
# server's VmRSS is sampled every second from /proc; its VmHWM (peak) too.
# Prints each run's RESULT line and a summary with the ratios the targets in
# docs/BENCHMARKS.md are stated in.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
conns=${CONNS:-64}
secs=${SECS:-20}
nclients=${NCLIENTS:-10000}
spread_secs=${SPREAD_SECS:-$secs}
seeded=${SEEDED:-}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$shared/bench/load-token.sh" ] || { echo "missing $shared/bench/load-token.sh (set SHARED=...)" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "building..."
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/seed" ./bench/seed)
(cd "$shared/bench/limit-server" && go build -o "$work/limit-server" .)

secret="ghs_bench-secret-0123456789abcdefghijklmnopqrstuv"
export GATEHOUSE_DATA_DIR="$work/data"
export GATEHOUSE_LOG_LEVEL=warn

. "$root/bench/lib.sh"

run_load() { # name url pid
  echo; echo "### $1"
  PID=$3 "$shared/bench/load-token.sh" "$2" bench-client "$secret" "$conns" "$secs" | tee "$work/$1.out"
}

# sample PID: append "phase VmRSS VmHWM" (kB) to $work/rss every second
# while PID runs; the phase is what $work/phase says.
sample() {
  while [ -r "/proc/$1/status" ]; do
    awk -v p="$(cat "$work/phase" 2>/dev/null)" '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {if (r) print p, r, h}' \
      "/proc/$1/status" >>"$work/rss" 2>/dev/null || break
    sleep 1
  done
}
phase() { echo "$1" >"$work/phase"; }
# peak_rss PHASE: the largest VmRSS sampled in PHASE, in MB.
peak_rss() { awk -v p="$1" '$1 == p && $2 > m {m = $2} END {printf "%d", m / 1024}' "$work/rss"; }

create_bench_client() {
  printf '%s\n' "$secret" | "$work/gatehouse" clients create --name bench --id bench-client \
    --scopes "api:read-only search" --secret-stdin --output json >/dev/null
}

# 1. Reference server.
"$work/limit-server" -addr 127.0.0.1:9096 -client-id bench-client -client-secret "$secret" 2>"$work/limit.log" &
pids+=($!); ref=$!
wait_up 127.0.0.1 9096
run_load reference http://127.0.0.1:9096/token "$ref"
kill "$ref"; wait "$ref" 2>/dev/null || true

# 2. Gatehouse with one client.
create_bench_client
"$work/gatehouse" serve --addr 127.0.0.1:9097 2>"$work/gatehouse.log" &
gh=$!; pids+=($gh)
wait_up 127.0.0.1 9097
run_load gatehouse-1-client http://127.0.0.1:9097/oauth/token "$gh"
kill -TERM "$gh"; wait "$gh" 2>/dev/null || true

# 3. Gatehouse with many clients in the store: first the same single client,
# then requests spread over all of them.
if [ -n "$seeded" ]; then
  export GATEHOUSE_DATA_DIR="$seeded"
  if [ ! -e "$seeded/seeded-$nclients" ]; then
    echo; echo "### seeding $nclients clients into $seeded (kept for later runs)"
    create_bench_client
    SEED_SECRET=$secret "$work/seed" -n "$nclients"
    touch "$seeded/seeded-$nclients"
  fi
else
  SEED_SECRET=$secret "$work/seed" -n "$nclients"
fi
SEED_SECRET=$secret "$work/seed" -n "$nclients" -create=false -headers "$work/auth.txt" >/dev/null
{
  [ -n "${MAX_CLIENTS:-}" ] && printf 'cache:\n  max_clients: %s\n' "$MAX_CLIENTS"
  [ -n "${PROFILE:-}${HEAP_PROFILE:-}" ] && printf 'metrics_pprof: true\n'
  [ -n "${SERVER_CONFIG:-}" ] && printf '%s\n' "$SERVER_CONFIG"
  true
} >"$work/config.yaml"
phase start
# shellcheck disable=SC2086 # SERVER_ENV is a list of assignments
env ${SERVER_ENV:-} "$work/gatehouse" serve --addr 127.0.0.1:9097 --metrics-addr 127.0.0.1:9098 \
  --config "$work/config.yaml" 2>"$work/gatehouse.log" &
gh=$!; pids+=($gh)
sample "$gh" & pids+=($!)
wait_up 127.0.0.1 9097
sleep 3 # the change feed's first reads, key loading
many="gatehouse-${nclients}-clients"
phase hot
run_load "$many" http://127.0.0.1:9097/oauth/token "$gh"
phase spread
echo; echo "### $many-spread (${spread_secs}s)"
if [ -n "${PROFILE:-}" ]; then
  (sleep 5; curl -fsS -o "$PROFILE" "http://127.0.0.1:9098/debug/pprof/profile?seconds=$((spread_secs - 10))") &
  pids+=($!)
fi
cpu0=$(cpu_ticks "$gh")
if [ -n "${HEAP_PROFILE:-}" ]; then
  (sleep $((spread_secs / 2)); curl -fsS -o "$HEAP_PROFILE" "http://127.0.0.1:9098/debug/pprof/heap") &
  pids+=($!)
fi
HEADERS="$work/auth.txt" THREADS=2 wrk -t2 -c"$conns" -d"${spread_secs}s" --timeout 10s --latency \
  -s "$root/bench/many-clients.lua" http://127.0.0.1:9097/oauth/token | tee "$work/spread.out"
cpu1=$(cpu_ticks "$gh")
phase after
sleep 2
grep -E '^(VmHWM|VmRSS)' "/proc/$gh/status" | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/SERVER /' | tee -a "$work/spread.out"
curl -fsS http://127.0.0.1:9098/metrics | grep -E '^gatehouse_(client_cache_|usage_uncounted_total)' | tee "$work/cache.out" || true
kill -TERM "$gh"; wait "$gh" 2>/dev/null || true
echo "server warnings and errors (last 10):"
grep -E 'level=(WARN|ERROR)' "$work/gatehouse.log" | tail -10 || true

field() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$work/$1.out" | tail -1; }
hwm() { sed -n 's/^SERVER .*VmHWM: \([0-9]*\) kB.*/\1/p' "$work/$1.out" | tail -1; }
r_tps=$(field reference tokens_per_s); r_p99=$(field reference p99_ms)
g_tps=$(field gatehouse-1-client tokens_per_s); g_p99=$(field gatehouse-1-client p99_ms)
m_tps=$(field "$many" tokens_per_s); m_p99=$(field "$many" p99_ms)
s_tps=$(field spread tokens_per_s); s_p99=$(field spread p99_ms)
metric() { awk -v m="$1" '$1 == m {printf "%d", $2}' "$work/cache.out"; }
echo
echo "### summary ($conns connections, ${secs}s each, spread ${spread_secs}s, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-34s %12s %10s %12s\n' run tokens/s p99_ms peak_rss_MiB
printf '%-34s %12s %10s %12s\n' reference "$r_tps" "$r_p99" "$(( $(hwm reference) / 1024 ))"
printf '%-34s %12s %10s %12s\n' gatehouse-1-client "$g_tps" "$g_p99" "$(( $(hwm gatehouse-1-client) / 1024 ))"
printf '%-34s %12s %10s %12s\n' "$many, after start" - - "$(peak_rss start)"
printf '%-34s %12s %10s %12s\n' "$many, one client" "$m_tps" "$m_p99" "$(peak_rss hot)"
printf '%-34s %12s %10s %12s\n' "  ...spread over all" "$s_tps" "$s_p99" "$(peak_rss spread)"
echo "server VmHWM (peak RSS over its life): $(( $(hwm spread) / 1024 )) MiB; samples: $(wc -l <"$work/rss")"
s_ok=$(sed -n 's/^RESULT ok=\([0-9]*\).*/\1/p' "$work/spread.out" | tail -1)
awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$s_ok" 'BEGIN {
  printf "spread: the server used %.1f s of CPU, %.0f µs a token\n", t/hz, 1e6*t/hz/n }'
echo "usage counts the tally could not hold (gatehouse_usage_uncounted_total): $(metric gatehouse_usage_uncounted_total)"
echo "client cache: $(metric gatehouse_client_cache_hits_total) hits, $(metric gatehouse_client_cache_misses_total) misses, $(metric gatehouse_client_cache_evictions_total) evictions, $(metric gatehouse_client_cache_entries) entries"
awk -v r="$r_tps" -v g="$g_tps" -v m="$m_tps" -v s="$s_tps" -v rp="$r_p99" -v gp="$g_p99" 'BEGIN {
  printf "throughput vs reference: %.0f%% (target >= 60%%)\n", 100*g/r
  printf "p99 vs reference: %.2fx (target <= 1.5x)\n", gp/rp
  printf "rate with many clients stored, one client used, vs 1 client: %.0f%% (target >= 90%%)\n", 100*m/g
  printf "rate spread over all stored clients vs 1 client: %.0f%%\n", 100*s/g
  printf "rate spread over all stored clients vs reference: %.2f (target at 1M >= 0.5)\n", s/r
}'
