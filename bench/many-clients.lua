-- wrk script: client_credentials requests spread over many clients
-- (seed-00000 .. seed-NNNNN, all with the secret in SEED_SECRET), so the
-- server's client cache holds all of them. Counts 200s with an access_token.
local n = tonumber(os.getenv("NCLIENTS") or "10000")
local secret = os.getenv("SEED_SECRET")
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, bad, i = 0, 0, offset
  headers = {}
  for k = 0, n - 1 do
    headers[k] = "Basic " .. b64(string.format("seed-%05d:%s", k, secret))
  end
  wrk.method = "POST"
  wrk.body = "grant_type=client_credentials"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  i = (i + 7919) % n
  wrk.headers["Authorization"] = headers[i]
  return wrk.format()
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"access_token"', 1, true) then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT ok=%d bad=%d non2xx=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f secs=%.2f tokens_per_s=%.1f\n",
    o, b, summary.errors.status, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, secs, o / secs))
end
