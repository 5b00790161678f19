#!/usr/bin/env bash
# Token reuse window load run (issue 13 §3): one client asking 64 requests
# at a time, against the reference "practical limit" server (fresh tokens,
# the yardstick), Gatehouse (SQLite) signing every token, and Gatehouse
# handing out the token it issued before (clients update
# --reuse-min-remaining 50), back to back, driven by
# ../shared/bench/load-token.sh.
#
#   bash bench/reuse.sh            # 64 connections, 20 s per run
#   CONNS=32 SECS=10 bash bench/reuse.sh
#
# Ports 9186 (reference) and 9187 (Gatehouse), apart from load.sh's.
# Prints each run's RESULT line and a summary: tokens/s of each run, reuse
# on vs off, and each vs the reference.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
conns=${CONNS:-64}
secs=${SECS:-20}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$shared/bench/load-token.sh" ] || { echo "missing $shared/bench/load-token.sh (set SHARED=...)" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

echo "building..."
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse)
(cd "$shared/bench/limit-server" && go build -o "$work/limit-server" .)

secret="ghs_bench-secret-0123456789abcdefghijklmnopqrstuv"
export GATEHOUSE_DATA_DIR="$work/data"
export GATEHOUSE_LOG_LEVEL=warn

. "$root/bench/lib.sh"

run_load() { # name url pid
  echo; echo "### $1"
  PID=$3 "$shared/bench/load-token.sh" "$2" bench-client "$secret" "$conns" "$secs" | tee "$work/$1.out"
}

# 1. Reference server: a fresh token per request.
"$work/limit-server" -addr 127.0.0.1:9186 -client-id bench-client -client-secret "$secret" 2>"$work/limit.log" &
pids+=($!); ref=$!
wait_up 127.0.0.1 9186
run_load reference http://127.0.0.1:9186/token "$ref"
kill "$ref"; wait "$ref" 2>/dev/null || true

printf '%s\n' "$secret" | "$work/gatehouse" clients create --name bench --id bench-client \
  --scopes "api:read-only search" --secret-stdin --output json >/dev/null
serve_run() { # name
  "$work/gatehouse" serve --addr 127.0.0.1:9187 2>"$work/$1.log" &
  gh=$!; pids+=($gh)
  wait_up 127.0.0.1 9187
  run_load "$1" http://127.0.0.1:9187/oauth/token "$gh"
  kill -TERM "$gh"; wait "$gh" 2>/dev/null || true
}
# 2. Gatehouse, reuse off (the default): every request signs a token.
serve_run reuse-off
# 3. Gatehouse, reuse on for the client: the same token while it has more
# than half its lifetime (1 h) left.
"$work/gatehouse" clients update bench-client --reuse-min-remaining 50 >/dev/null
serve_run reuse-on

field() { sed -n "s/^RESULT .*$2=\([0-9.]*\).*/\1/p" "$work/$1.out" | tail -1; }
r=$(field reference tokens_per_s); off=$(field reuse-off tokens_per_s); on=$(field reuse-on tokens_per_s)
echo
echo "### summary ($conns connections, ${secs}s each, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-12s %12s %10s\n' run tokens/s p99_ms
for n in reference reuse-off reuse-on; do printf '%-12s %12s %10s\n' "$n" "$(field $n tokens_per_s)" "$(field $n p99_ms)"; done
awk -v r="$r" -v off="$off" -v on="$on" 'BEGIN {
  printf "reuse on vs off: %.2fx\n", on/off
  printf "reuse off vs reference: %.2fx; reuse on vs reference: %.2fx\n", off/r, on/r
}'
