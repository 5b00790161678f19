-- wrk script: POST /admin/v1/clients with a new name each time.
-- ADMIN_TOKEN (env) is a gatehouse:admin access token.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ADMIN_TOKEN")
local n = 0
local id = math.random(1, 1e9)
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"name":"bench %d-%d","scopes":["api:read-only"]}', id, n))
end
