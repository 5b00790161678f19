#!/usr/bin/env bash
# Token endpoint load run: the reference "practical limit" server and
# Gatehouse (SQLite) driven back to back by ../shared/bench/load-token.sh,
# then Gatehouse again with 10,000 clients in the store.
#
#   bash bench/load.sh            # 64 connections, 20 s per run
#   CONNS=32 SECS=10 bash bench/load.sh
#
# Prints each run's RESULT line and a summary with the ratios the targets
# in docs/BENCHMARKS.md are stated in.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
conns=${CONNS:-64}
secs=${SECS:-20}
nclients=${NCLIENTS:-10000}
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

# 1. Reference server.
"$work/limit-server" -addr 127.0.0.1:9096 -client-id bench-client -client-secret "$secret" 2>"$work/limit.log" &
pids+=($!); ref=$!
wait_up 127.0.0.1 9096
run_load reference http://127.0.0.1:9096/token "$ref"
kill "$ref"; wait "$ref" 2>/dev/null || true

# 2. Gatehouse with one client.
printf '%s\n' "$secret" | "$work/gatehouse" clients create --name bench --id bench-client \
  --scopes "api:read-only search" --secret-stdin --output json >/dev/null
"$work/gatehouse" serve --addr 127.0.0.1:9097 2>"$work/gatehouse.log" &
gh=$!; pids+=($gh)
wait_up 127.0.0.1 9097
run_load gatehouse-1-client http://127.0.0.1:9097/oauth/token "$gh"
kill -TERM "$gh"; wait "$gh" 2>/dev/null || true

# 3. Gatehouse with many clients in the store: first the same single client,
# then requests spread over all of them (every one cached and verified).
SEED_SECRET=$secret "$work/seed" -n "$nclients"
"$work/gatehouse" serve --addr 127.0.0.1:9097 2>"$work/gatehouse.log" &
gh=$!; pids+=($gh)
wait_up 127.0.0.1 9097
run_load "gatehouse-${nclients}-clients" http://127.0.0.1:9097/oauth/token "$gh"
echo; echo "### gatehouse-${nclients}-clients-spread"
NCLIENTS=$nclients SEED_SECRET=$secret wrk -t2 -c"$conns" -d"${secs}s" --latency \
  -s "$root/bench/many-clients.lua" http://127.0.0.1:9097/oauth/token | tee "$work/spread.out"
grep -E '^(VmHWM|VmRSS)' "/proc/$gh/status" | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/SERVER /' | tee -a "$work/spread.out"
kill -TERM "$gh"; wait "$gh" 2>/dev/null || true

field() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$work/$1.out" | tail -1; }
rss() { sed -n 's/^SERVER .*VmHWM: \([0-9]*\) kB.*/\1/p' "$work/$1.out" | tail -1; }
r_tps=$(field reference tokens_per_s); r_p99=$(field reference p99_ms)
g_tps=$(field gatehouse-1-client tokens_per_s); g_p99=$(field gatehouse-1-client p99_ms)
m_tps=$(field "gatehouse-${nclients}-clients" tokens_per_s); m_p99=$(field "gatehouse-${nclients}-clients" p99_ms)
s_tps=$(field spread tokens_per_s); s_p99=$(field spread p99_ms)
echo
echo "### summary ($conns connections, ${secs}s each, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-28s %12s %10s %12s\n' run tokens/s p99_ms peak_rss_MB
printf '%-28s %12s %10s %12s\n' reference "$r_tps" "$r_p99" "$(( $(rss reference) / 1024 ))"
printf '%-28s %12s %10s %12s\n' gatehouse-1-client "$g_tps" "$g_p99" "$(( $(rss gatehouse-1-client) / 1024 ))"
printf '%-28s %12s %10s %12s\n' "gatehouse-${nclients}-clients" "$m_tps" "$m_p99" "$(( $(rss "gatehouse-${nclients}-clients") / 1024 ))"
printf '%-28s %12s %10s %12s\n' "  ...spread over all" "$s_tps" "$s_p99" "$(( $(rss spread) / 1024 ))"
awk -v r="$r_tps" -v g="$g_tps" -v m="$m_tps" -v s="$s_tps" -v rp="$r_p99" -v gp="$g_p99" 'BEGIN {
  printf "throughput vs reference: %.0f%% (target >= 60%%)\n", 100*g/r
  printf "p99 vs reference: %.2fx (target <= 1.5x)\n", gp/rp
  printf "rate with many clients stored vs 1 client: %.0f%% (target >= 90%%)\n", 100*m/g
  printf "rate spread over all stored clients vs 1 client: %.0f%% (target >= 90%%)\n", 100*s/g
}'
