-- wrk script: client_credentials requests spread over many clients. The
-- Authorization header values come from the file in HEADERS, one a line
-- (bench/seed -headers writes them, in a random order); with THREADS wrk
-- threads, thread t sends lines t, t+THREADS, t+2*THREADS, ... in turn, so
-- the threads together use every client once before any client again.
-- Counts 200s with an access_token.
--
--   HEADERS=/tmp/auth.txt THREADS=2 wrk -t2 -c64 -d20s -s bench/many-clients.lua URL
local path = os.getenv("HEADERS")
local nthreads = tonumber(os.getenv("THREADS") or "2")
local body = "grant_type=client_credentials"

local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, bad, i = 0, 0, 0
  auth = {}
  if not path then error("set HEADERS to a file of Authorization header values (bench/seed -headers)") end
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == offset then auth[#auth + 1] = line end
    n = n + 1
  end
  if #auth == 0 then error("no header values for thread " .. offset .. " in " .. path) end
  -- The request is the same but for the header value: format it once with
  -- a placeholder and keep what comes before and after.
  local mark = "\0AUTH\0"
  local req = wrk.format("POST", nil, {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = mark,
  }, body)
  local at = string.find(req, mark, 1, true)
  before, after = string.sub(req, 1, at - 1), string.sub(req, at + #mark)
end

function request()
  i = i % #auth + 1
  return before .. auth[i] .. after
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"access_token"', 1, true) then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT ok=%d bad=%d non2xx=%d socket_errors=%d timeouts=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f secs=%.2f tokens_per_s=%.1f\n",
    o, b, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, secs, o / secs))
end
