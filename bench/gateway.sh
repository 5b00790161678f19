#!/usr/bin/env bash
# Gateway load run: wrk directly against a tiny upstream, then through
# `gatehouse gateway` (with a valid bearer token, scope api) and through a
# plain proxy (bench/plainproxy: a bare httputil.ReverseProxy with a pooled
# buffer and the gateway's transport settings, no auth) to the same
# upstream, in the same run, on loopback.
#
#   bash bench/gateway.sh            # 2 threads, 64 connections, 20 s per run
#   CONNS=32 SECS=10 bash bench/gateway.sh
#   ROUNDS=5 bash bench/gateway.sh   # plain proxy / gateway pairs (default 3)
#   UPSTREAM_DELAY=1ms bash bench/gateway.sh   # an upstream that takes 1 ms per response
#   PLAIN_FLUSH=10ms bash bench/gateway.sh     # the plain proxy with the gateway's flush interval
#   GATEHOUSE_BIN=/tmp/gatehouse-old bash bench/gateway.sh  # another build of gatehouse (e.g. before a change)
#   GATEWAY_FLAGS=--pprof bash bench/gateway.sh  # more gateway flags; --pprof: profiles at :9305/debug/pprof/
#
# Prints each run's RESULT line and a summary: requests/s and p99 for all
# three, the throughput ratio (target: gateway >= 70% of direct) and the p99
# the gateway adds (target: < 2 ms). Only 200 responses count as requests.
# At 64 connections wrk keeps every process busy, so p99 there is mostly
# queueing; a second pair of runs at LIGHT_CONNS (default 4) connections
# shows the latency the gateway adds when the machine is not saturated.
# It also prints the CPU time per request of wrk, the upstream and the
# proxy (from /proc/<pid>/stat, utime + stime, over the requests served),
# and the proxy's heap allocations per request (Go's count of allocated
# objects, from the gateway's /metrics and the plain proxy's expvar):
# with everything on the same cores, the best possible throughput ratio is
# (wrk + upstream) / (wrk + upstream + gateway).
#
# The plain proxy and the gateway run ROUNDS times each, alternately (the
# machine's speed drifts); the summary gives the medians and the median of
# each pair's ratio of the gateway's CPU per request to the plain proxy's
# (target: <= 1.15).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
conns=${CONNS:-64}
secs=${SECS:-20}
threads=${THREADS:-2}
warmup=${WARMUP:-3}
light=${LIGHT_CONNS:-4}
light_secs=${LIGHT_SECS:-10}
rounds=${ROUNDS:-3}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

work=$(mktemp -d /tmp/gatehouse-gw-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "building..."
(cd "$root" && go build -o "$work/upstream" ./bench/upstream && go build -o "$work/plainproxy" ./bench/plainproxy)
if [ -n "${GATEHOUSE_BIN:-}" ]; then
  cp "$GATEHOUSE_BIN" "$work/gatehouse"
else
  (cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse)
fi

as_port=${AS_PORT:-9301} up_port=${UP_PORT:-9302} gw_port=${GW_PORT:-9303} pp_port=${PP_PORT:-9304}
gm_port=${GM_PORT:-9305} pd_port=${PD_PORT:-9306} # the gateway's metrics, the plain proxy's expvar
secret="ghs_bench-gateway-secret-0123456789abcdefghijkl"
export GATEHOUSE_DATA_DIR="$work/data"
export GATEHOUSE_LOG_LEVEL=warn

. "$root/bench/lib.sh"

# Authorization server, one client, one token.
printf '%s\n' "$secret" | "$work/gatehouse" clients create --name bench-gateway --id bench-gateway \
  --scopes api --secret-stdin --output json >/dev/null
"$work/gatehouse" serve --addr "127.0.0.1:$as_port" 2>"$work/serve.log" &
pids+=($!)
wait_up 127.0.0.1 "$as_port"
token=$(curl -sf -u "bench-gateway:$secret" -d grant_type=client_credentials -d scope=api \
  "http://127.0.0.1:$as_port/oauth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$token" ] || { echo "no access token from the server" >&2; cat "$work/serve.log" >&2; exit 1; }

# Upstream, gateway and plain proxy.
"$work/upstream" -addr "127.0.0.1:$up_port" -delay "${UPSTREAM_DELAY:-0s}" 2>"$work/upstream.log" &
pids+=($!); up_pid=$!
"$work/gatehouse" gateway --addr "127.0.0.1:$gw_port" --upstream "http://127.0.0.1:$up_port" \
  --issuer "http://127.0.0.1:$as_port" --metrics-addr "127.0.0.1:$gm_port" ${GATEWAY_FLAGS:-} 2>"$work/gateway.log" &
pids+=($!); gw_pid=$!
"$work/plainproxy" -addr "127.0.0.1:$pp_port" -upstream "http://127.0.0.1:$up_port" \
  -flush-interval "${PLAIN_FLUSH:-0s}" -debug-addr "127.0.0.1:$pd_port" 2>"$work/plainproxy.log" &
pids+=($!); pp_pid=$!
wait_up 127.0.0.1 "$up_port"
wait_up 127.0.0.1 "$gw_port"
wait_up 127.0.0.1 "$pp_port"
wait_up 127.0.0.1 "$gm_port"
wait_up 127.0.0.1 "$pd_port"

direct="http://127.0.0.1:$up_port/records/1"
gated="http://127.0.0.1:$gw_port/records/1"
plain="http://127.0.0.1:$pp_port/records/1"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$gated")
[ "$code" = 200 ] || { echo "gateway with the token answered $code, want 200" >&2; cat "$work/gateway.log" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$gated")
[ "$code" = 401 ] || { echo "gateway without a token answered $code, want 401" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$plain")
[ "$code" = 200 ] || { echo "plain proxy answered $code, want 200" >&2; cat "$work/plainproxy.log" >&2; exit 1; }

lua="$work/count.lua"
cat >"$lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT ok=%d bad=%d socket_errors=%d timeouts=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.2f secs=%.2f rps=%.1f\n",
    o, b, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, secs, o / secs))
end
LUA
hz=$(getconf CLK_TCK)
# Heap allocations of a proxy so far (Go's runtime count of allocated
# objects): the gateway's go_memstats_mallocs_total, the plain proxy's
# expvar memstats.Mallocs. Reading them allocates a little in the process,
# nothing beside a run's millions.
mallocs() {
  case $1 in
  gateway) curl -sf "http://127.0.0.1:$gm_port/metrics" | awk '/^go_memstats_mallocs_total / {printf "%.0f\n", $2}' ;;
  plain) curl -sf "http://127.0.0.1:$pd_port/debug/vars" | tr ',' '\n' | sed -n 's/.*"Mallocs": *\([0-9]*\).*/\1/p' | head -1 ;;
  *) echo 0 ;;
  esac
}

run() { # name url gateway|plain|- [header]; uses $c connections for $s seconds
  echo; echo "### $1 ($c connections)"
  local hdr=() t=$threads
  [ -n "${4:-}" ] && hdr=(-H "$4")
  [ "$t" -gt "$c" ] && t=$c
  if [ "$warmup" != 0 ]; then
    wrk -t"$t" -c"$c" -d"${warmup}s" "${hdr[@]}" -s "$lua" "$2" >/dev/null
  fi
  local u0 p0=0 u1 p1=0 m0 m1 pid=
  case $3 in gateway) pid=$gw_pid ;; plain) pid=$pp_pid ;; esac
  m0=$(mallocs "$3")
  u0=$(cpu_ticks "$up_pid"); [ -n "$pid" ] && p0=$(cpu_ticks "$pid")
  # wrk's own CPU time (user, system seconds) from bash's time.
  { TIMEFORMAT='WRKCPU %U %S'; time wrk -t"$t" -c"$c" -d"${s}s" --latency "${hdr[@]}" -s "$lua" "$2"; } \
    2>"$work/$1.wrkcpu" | tee "$work/$1.out"
  u1=$(cpu_ticks "$up_pid"); [ -n "$pid" ] && p1=$(cpu_ticks "$pid")
  m1=$(mallocs "$3")
  awk -v hz="$hz" -v u="$((u1 - u0))" -v p="$((p1 - p0))" -v proxied="$([ -n "$pid" ] && echo 1 || echo 0)" -v m="$((m1 - m0))" \
    -v ok="$(sed -n 's/^RESULT ok=\([0-9]*\).*/\1/p' "$work/$1.out")" \
    -v w="$(awk '/^WRKCPU/ {print $2 + $3}' "$work/$1.wrkcpu")" 'BEGIN {
    printf "CPU per request: wrk %.1f us, upstream %.1f us", 1e6*w/ok, 1e6*u/hz/ok
    if (proxied) printf ", proxy %.1f us (%.1f allocations)", 1e6*p/hz/ok, m/ok
    printf "\n"
    if (proxied) printf "PROXYCPU %.2f\nPROXYALLOCS %.1f\n", 1e6*p/hz/ok, m/ok
  }' | tee -a "$work/$1.out"
}
field() { sed -n "s/^RESULT .*[ ]$2=\([0-9.]*\).*/\1/p" "$work/$1.out" | tail -1; }
proxycpu() { sed -n 's/^PROXYCPU //p' "$work/$1.out"; }
proxyallocs() { sed -n 's/^PROXYALLOCS //p' "$work/$1.out"; }
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

c=$conns s=$secs
run direct "$direct" -
for i in $(seq 1 "$rounds"); do
  run "plain-$i" "$plain" plain "Authorization: Bearer $token"
  run "gateway-$i" "$gated" gateway "Authorization: Bearer $token"
done
c=$light s=$light_secs
run direct-light "$direct" -
run gateway-light "$gated" gateway "Authorization: Bearer $token"
grep -E '^(VmHWM|VmRSS)' "/proc/$gw_pid/status" | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/GATEWAY /'
grep -E '^(VmHWM|VmRSS)' "/proc/$pp_pid/status" | tr -s ' \t' ' ' | paste -sd' ' | sed 's/^/PLAIN /'

# Medians over the rounds; the CPU ratio is the median of each pair's.
med() { for i in $(seq 1 "$rounds"); do field "$1-$i" "$2"; done | median; }
for i in $(seq 1 "$rounds"); do
  awk -v g="$(proxycpu "gateway-$i")" -v p="$(proxycpu "plain-$i")" 'BEGIN {printf "%.3f\n", g/p}'
done >"$work/ratios"
d_rps=$(field direct rps); d_p99=$(field direct p99_ms)
p_rps=$(med plain rps); p_p99=$(med plain p99_ms)
g_rps=$(med gateway rps); g_p99=$(med gateway p99_ms)
p_cpu=$(for i in $(seq 1 "$rounds"); do proxycpu "plain-$i"; done | median)
g_cpu=$(for i in $(seq 1 "$rounds"); do proxycpu "gateway-$i"; done | median)
ratio=$(median <"$work/ratios")
p_allocs=$(for i in $(seq 1 "$rounds"); do proxyallocs "plain-$i"; done | median)
g_allocs=$(for i in $(seq 1 "$rounds"); do proxyallocs "gateway-$i"; done | median)
dl_rps=$(field direct-light rps); dl_p99=$(field direct-light p99_ms); dl_p50=$(field direct-light p50_ms)
gl_rps=$(field gateway-light rps); gl_p99=$(field gateway-light p99_ms); gl_p50=$(field gateway-light p50_ms)
bad() { local n=0 i; for i in $(seq 1 "$rounds"); do n=$((n + $(field "$1-$i" bad))); done; echo "$n"; }
echo
echo "### summary ($threads threads, $conns connections, ${secs}s each, $rounds rounds, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-26s %12s %10s %8s %18s\n' run requests/s p99_ms non200 proxy_cpu_us/req
printf '%-26s %12s %10s %8s %18s\n' "direct ($conns conns)" "$d_rps" "$d_p99" "$(field direct bad)" -
printf '%-26s %12s %10s %8s %18s\n' "plain proxy ($conns conns)" "$p_rps" "$p_p99" "$(bad plain)" "$p_cpu"
printf '%-26s %12s %10s %8s %18s\n' "gateway ($conns conns)" "$g_rps" "$g_p99" "$(bad gateway)" "$g_cpu"
printf '%-26s %12s %10s %8s %18s\n' "direct ($light conns)" "$dl_rps" "$dl_p99" "$(field direct-light bad)" -
printf '%-26s %12s %10s %8s %18s\n' "gateway ($light conns)" "$gl_rps" "$gl_p99" "$(field gateway-light bad)" -
echo "(plain proxy and gateway: medians of $rounds alternating runs)"
awk -v d="$d_rps" -v g="$g_rps" -v p="$p_rps" -v dp="$d_p99" -v gp="$g_p99" -v dlp="$dl_p99" -v glp="$gl_p99" -v dl5="$dl_p50" -v gl5="$gl_p50" -v c="$conns" -v l="$light" -v r="$ratio" -v rs="$(paste -sd' ' "$work/ratios")" -v ga="$g_allocs" -v pa="$p_allocs" 'BEGIN {
  printf "gateway CPU per request vs plain proxy: %.3f (median of pairs: %s) (target <= 1.15)\n", r, rs
  printf "gateway throughput vs plain proxy: %.0f%%\n", 100*g/p
  printf "heap allocations per request: gateway %s, plain proxy %s\n", ga, pa
  printf "gateway throughput vs direct: %.0f%% (target >= 70%%)\n", 100*g/d
  printf "p99 added by the gateway: %.2f ms at %d connections, %.2f ms at %d (p50: %.2f ms) (target < 2 ms)\n", gp-dp, c, glp-dlp, l, gl5-dl5
}'
for r in direct plain-1 gateway-1; do printf '  %-10s %s\n' "$r:" "$(grep -h '^CPU per request' "$work/$r.out")"; done
