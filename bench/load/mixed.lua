-- wrk script: 80% GET of a random document, 20% PUT (a durable write) of a
-- random document. Needs ENGRAM_KEY in the environment.
local key = os.getenv("ENGRAM_KEY")
local docs = tonumber(os.getenv("DOCS") or "10000")
local body = '{"text":"an agent remembered something about the weather","n":1,"tags":["a","b"]}'
math.randomseed(os.time())

request = function()
  local id = math.random(0, docs - 1)
  local path = "/v1/spaces/load/collections/items/docs/d" .. id
  if math.random() < 0.8 then
    return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. key })
  end
  return wrk.format("PUT", path, { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }, body)
end

local statuses = {}
response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function()
  for status, n in pairs(statuses) do
    io.write(string.format("status %d: %d\n", status, n))
  end
end
