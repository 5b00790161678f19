#!/usr/bin/env bash
# Node loss under load: two `gatehouse serve` nodes on one PostgreSQL schema
# behind HAProxy (health-checked on /readyz every 500 ms, fall 2, rise 2;
# retries and redispatch on connection failure). wrk issues tokens
# (client_credentials, spread over CLIENTS clients) through the balancer,
# while a writer creates clients through the balancer with the admin console
# (login, POST /console/apps/new, read the secret from the page it redirects
# to): the only HTTP write path there is. Mid-run node a is killed with
# SIGKILL, and restarted DOWN seconds later.
#
#   bash bench/nodeloss.sh           # 32 connections, 40 s, kill at 12 s, down 10 s
#   CONNS=64 SECS=60 KILL_AT=20 DOWN=15 bash bench/nodeloss.sh
#   DATABASE_URL=postgres://... bash bench/nodeloss.sh   # default: the local test database
#
# A fresh schema is created for the run and dropped at the end. Prints the
# tokens (200 with an access_token) and the other responses for every second,
# then per phase: before the kill, from the kill until HAProxy has node a
# back up (the seconds that hold either moment count as during), and after;
# wrk's socket errors and timeouts; and the writes: how many creations the
# console acknowledged (303 to the new client's page), how many of those are
# missing from the database at the end (must be 0), and for how many a token
# cannot be issued through the balancer with the secret the console showed
# (must be 0). Exits non-zero if any is not 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
conns=${CONNS:-32}
secs=${SECS:-40}
kill_at=${KILL_AT:-12}
down=${DOWN:-10}
nclients=${CLIENTS:-20}
base_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
haproxy=${HAPROXY:-/usr/sbin/haproxy}
lb_port=${LB_PORT:-9311} a_port=${A_PORT:-9312} b_port=${B_PORT:-9313}
export PATH="/usr/local/go/bin:$PATH"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x "$haproxy" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
command -v psql >/dev/null || { echo "psql not found (apt-get install -y postgresql-client)" >&2; exit 2; }
[ $((kill_at + down + 8)) -le "$secs" ] || { echo "KILL_AT + DOWN + 8 must be at most SECS" >&2; exit 2; }

work=$(mktemp -d /tmp/gatehouse-nodeloss.XXXXXX)
schema="nodeloss_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
cleanup() {
  touch "$work/stop"
  { for p in "${pids[@]}"; do kill "$p" || true; done; wait; } 2>/dev/null
  psql -q "$base_url" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building..."
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/seed" ./bench/seed)

. "$root/bench/lib.sh"

psql -q "$base_url" -c "CREATE SCHEMA $schema" >/dev/null
case "$base_url" in *\?*) dsn="$base_url&search_path=$schema" ;; *) dsn="$base_url?search_path=$schema" ;; esac
export GATEHOUSE_DATABASE_URL=$dsn
export GATEHOUSE_DATA_DIR="$work/data"
export GATEHOUSE_SECRET="bench-nodeloss-master-key-0123456789abcdef"
export GATEHOUSE_LOG_LEVEL=warn
lb="http://127.0.0.1:$lb_port"
secret="ghs_bench-nodeloss-secret-0123456789abcdefghij"
password="bench-nodeloss-password"

"$work/gatehouse" migrate >/dev/null
SEED_SECRET=$secret "$work/seed" -n "$nclients" >/dev/null
printf '%s\n' "$password" | "$work/gatehouse" users create --username bench --display-name Bench --role admin >/dev/null

# serve NAME PORT: start a node; its pid goes into node_NAME.
serve() {
  "$work/gatehouse" serve --addr "127.0.0.1:$2" --issuer "$lb" 2>>"$work/$1.log" &
  pids+=($!)
  printf -v "node_$1" %s $!
}
serve a "$a_port"
serve b "$b_port"
wait_up 127.0.0.1 "$a_port"
wait_up 127.0.0.1 "$b_port"

# The balancer. Token traffic is round-robin; the console is sticky by
# cookie (its one-time secret page lives in the memory of the node that
# created the client), and follows the token servers' health.
cat >"$work/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 10s
  retries 3
  option redispatch 1
frontend fe
  bind 127.0.0.1:$lb_port
  use_backend console if { path_beg /console/ }
  default_backend tokens
backend tokens
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
  server a 127.0.0.1:$a_port check
  server b 127.0.0.1:$b_port check
backend console
  balance roundrobin
  cookie GHNODE insert indirect nocache
  server a 127.0.0.1:$a_port track tokens/a cookie a
  server b 127.0.0.1:$b_port track tokens/b cookie b
EOF
# haproxy prints server state changes ("Server tokens/a is DOWN") on stderr;
# each line is stamped with the time it arrives.
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }
"$haproxy" -f "$work/haproxy.cfg" -db 2> >(stamp >"$work/haproxy.log") >/dev/null &
pids+=($!)
wait_up 127.0.0.1 "$lb_port"
for _ in $(seq 1 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$lb/readyz")" = 200 ] && break
  sleep 0.1
done

# wrk script: tokens for seed-00000 .. seed-N, counted per second.
lua="$work/tokens.lua"
{
  echo 'local auth = {'
  for i in $(seq 0 $((nclients - 1))); do
    printf '  "Basic %s",\n' "$(printf 'seed-%05d:%s' "$i" "$secret" | base64 -w0)"
  done
  echo '}'
  cat <<'LUA'
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local threads = {}
function setup(thread) thread:set("offset", #threads); table.insert(threads, thread) end
function init(args) i = offset; ok = {}; bad = {}; codes = {} end
function request()
  i = (i + 1) % #auth
  wrk.headers["Authorization"] = auth[i + 1]
  return wrk.format()
end
function response(status, headers, body)
  local s = os.time()
  if status == 200 and string.find(body, '"access_token"', 1, true) then ok[s] = (ok[s] or 0) + 1
  else bad[s] = (bad[s] or 0) + 1; codes[status] = (codes[status] or 0) + 1 end
end
function done(summary, latency, requests)
  local o, b, c, seen, keys = {}, {}, {}, {}, {}
  for _, t in ipairs(threads) do
    for k, n in pairs(t:get("codes")) do c[k] = (c[k] or 0) + n end
    for s, n in pairs(t:get("ok")) do o[s] = (o[s] or 0) + n; seen[s] = true end
    for s, n in pairs(t:get("bad")) do b[s] = (b[s] or 0) + n; seen[s] = true end
  end
  for s in pairs(seen) do table.insert(keys, s) end
  table.sort(keys)
  for _, s in ipairs(keys) do io.write(string.format("SECOND %d %d %d\n", s, o[s] or 0, b[s] or 0)) end
  local st = ""
  for k, n in pairs(c) do st = st .. string.format(" %d:%d", k, n) end
  io.write("STATUSES" .. st .. "\n")
  local e = summary.errors
  io.write(string.format("RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeouts=%d p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(99) / 1000, latency.max / 1000))
end
LUA
} >"$lua"

# Writer: log in to the console through the balancer, then create clients
# one after another until told to stop. A creation is acknowledged when the
# console answers 303 to /console/apps/ID/created?ticket=...; the page there
# shows the secret once.
writer() {
  local jar="$work/cookies" page csrf n=0 id out code loc
  page=$(curl -sf -c "$jar" -b "$jar" "$lb/console/login")
  csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
  code=$(curl -s -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" --data-urlencode "csrf_token=$csrf" \
    --data-urlencode username=bench --data-urlencode "password=$password" "$lb/console/login")
  [ "$code" = 303 ] || { echo "console login: got $code, want 303" >&2; return 1; }
  page=$(curl -sf -c "$jar" -b "$jar" "$lb/console/apps/new")
  csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
  [ -n "$csrf" ] || { echo "console: no CSRF token on /console/apps/new" >&2; return 1; }
  echo ready >"$work/writer.ready"
  while [ ! -e "$work/stop" ]; do
    n=$((n + 1)); id=$(printf 'nl-%05d' "$n")
    out=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 10 -c "$jar" -b "$jar" \
      --data-urlencode "csrf_token=$csrf" --data-urlencode "name=nodeloss $n" --data-urlencode "client_id=$id" \
      --data-urlencode grant_types=client_credentials --data-urlencode scopes=search \
      --data-urlencode token_endpoint_auth_method=client_secret_basic "$lb/console/apps/new") || true
    code=${out%% *} loc=${out#* }
    if [ "$code" = 303 ] && [[ "$loc" == "$lb/console/apps/$id/created?ticket="* ]]; then
      echo "$(date +%s) $id" >>"$work/acked"
      page=$(curl -s --max-time 10 -c "$jar" -b "$jar" "$loc") || true
      s=$(sed -n 's/.*<code id="client-secret">\([^<]*\)<.*/\1/p' <<<"$page")
      if [ -n "$s" ]; then echo "$id $s" >>"$work/secrets"; else echo "$(date +%s) $id" >>"$work/nosecret"; fi
    else
      echo "$(date +%s) $id ${code:-000}" >>"$work/failed"
    fi
  done
}
touch "$work/acked" "$work/secrets" "$work/nosecret" "$work/failed"
writer &
pids+=($!); writer_pid=$!
for _ in $(seq 1 100); do [ -e "$work/writer.ready" ] && break; sleep 0.1; done
[ -e "$work/writer.ready" ] || { echo "writer did not log in" >&2; exit 1; }

echo "load: wrk -t2 -c$conns -d${secs}s through $lb; kill -9 node a at ${kill_at}s, restart it ${down}s later"
wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s -s "$lua" "$lb/oauth/token" >"$work/wrk.out" &
pids+=($!); wrk_pid=$!
sleep "$kill_at"
kill -9 "$node_a"
kill_ts=$(date +%s.%N)
wait "$node_a" 2>/dev/null || true
echo "killed node a (pid $node_a) at $(date -u +%T)"
sleep "$down"
serve a "$a_port"
restart_ts=$(date +%s.%N)
echo "restarted node a (pid $node_a) at $(date -u +%T)"
for _ in $(seq 1 200); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$a_port/readyz")" = 200 ] && break
  sleep 0.05
done
ready_ts=$(date +%s.%N)
wait "$wrk_pid"
touch "$work/stop"
wait "$writer_pid" || true

# When HAProxy took node a out and put it back.
down_ts=$(awk '/tokens\/a is DOWN/ {print $1; exit}' "$work/haproxy.log")
up_ts=$(awk -v k="$kill_ts" '/tokens\/a is UP/ && $1 > k {print $1; exit}' "$work/haproxy.log")
[ -n "$down_ts" ] || down_ts=$kill_ts
[ -n "$up_ts" ] || up_ts=$ready_ts

# Writes: every acknowledged client must be in the database, and a token
# must be issued for it through the balancer with the secret shown.
"$work/gatehouse" clients list --output json >"$work/clients.json"
acked=$(wc -l <"$work/acked")
lost=0
while read -r _ id; do
  grep -q "\"client_id\": *\"$id\"" "$work/clients.json" || { lost=$((lost + 1)); echo "LOST $id"; }
done <"$work/acked"
no_token=0
while read -r id s; do
  out=$(curl -s -u "$id:$s" -d grant_type=client_credentials "$lb/oauth/token")
  [[ "$out" == *'"access_token"'* ]] || { no_token=$((no_token + 1)); echo "NO TOKEN $id: $out"; }
done <"$work/secrets"
both=ok
for p in "$a_port" "$b_port"; do
  out=$(curl -s -u "seed-00000:$secret" -d grant_type=client_credentials "http://127.0.0.1:$p/oauth/token")
  [[ "$out" == *'"access_token"'* ]] || both="node on port $p issues no token"
done

awk '/^SECOND/ {print $2, $3, $4}' "$work/wrk.out" >"$work/seconds"
t0=$(head -1 "$work/seconds" | cut -d' ' -f1)
echo
echo "### per second (t = seconds since the load started; kill at $(awk -v a="$kill_ts" -v t="$t0" 'BEGIN{printf "%.1f", a-t}'), restart at $(awk -v a="$restart_ts" -v t="$t0" 'BEGIN{printf "%.1f", a-t}'))"
printf '%4s %8s %8s %9s\n' t tokens non200 writes
while read -r s o b; do
  printf '%4d %8d %8d %9d\n' "$((s - t0))" "$o" "$b" "$(awk -v s="$s" '$1 == s' "$work/acked" | wc -l)"
done <"$work/seconds"

# Phases: a second is "before" if it ended by the kill, "after" if it began
# once HAProxy had node a up again, and "during" otherwise (so the seconds
# of the kill and of the return count as during). The first and last
# (partial) seconds are left out.
phases() { # kill_ts up_ts
  awk -v k="$1" -v u="$2" 'NR == 1 {next} {s[NR] = $1; o[NR] = $2; b[NR] = $3} END {
    for (i = 2; i < NR; i++) {
      p = (s[i] + 1 <= k) ? 1 : (s[i] >= u) ? 3 : 2
      n[p]++; ok[p] += o[i]; bad[p] += b[i]
    }
    split("before (both nodes)|during (kill until HAProxy has a UP)|after (both nodes)", name, "|")
    for (p = 1; p <= 3; p++)
      if (n[p]) printf "%-36s %6d %10.0f %10d\n", name[p], n[p], ok[p] / n[p], bad[p]
      else printf "%-36s %6d %10s %10s\n", name[p], 0, "-", "-"
  }' "$work/seconds"
}
result=$(grep '^RESULT' "$work/wrk.out")
field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$result"; }
echo
echo "### summary ($conns connections, ${secs}s, $(nproc) cores, $(date -u +%Y-%m-%d))"
printf '%-36s %6s %10s %10s\n' phase secs tokens/s non200
phases "$kill_ts" "$up_ts"
awk -v k="$kill_ts" -v d="$down_ts" -v r="$restart_ts" -v y="$ready_ts" -v u="$up_ts" 'BEGIN {
  printf "HAProxy marked a DOWN %.2f s after the kill; a answered /readyz %.2f s after its restart; HAProxy had it UP %.2f s after the restart\n", d-k, y-r, u-r
}'
echo "requests through the balancer: $(field requests); non-200: $(field non2xx) (by status:$(statuses=$(sed -n 's/^STATUSES//p' "$work/wrk.out"); echo "${statuses:- none}")); socket errors: connect $(field connect), read $(field read), write $(field write); timeouts $(field timeouts); p99 $(field p99_ms) ms, max $(field max_ms) ms"
echo "writes acknowledged: $acked; lost (not in the database): $lost; no token through the balancer: $no_token; acknowledged but secret page not shown: $(wc -l <"$work/nosecret"); not acknowledged: $(wc -l <"$work/failed")"
echo "both nodes issue tokens directly at the end: $both"
[ -s "$work/nosecret" ] && awk -v t="$t0" '{printf "  secret page not shown: %s at t=%d\n", $2, $1 - t}' "$work/nosecret"
[ -s "$work/failed" ] && awk -v t="$t0" '{printf "  not acknowledged: %s at t=%d (HTTP %s)\n", $2, $1 - t, $3}' "$work/failed"
[ "$lost" = 0 ] && [ "$no_token" = 0 ] && [ "$both" = ok ]
