-- wrk script: GET a random document of the 10,000 loaded by scripts/bench-load.
-- Needs ENGRAM_KEY in the environment.
local key = os.getenv("ENGRAM_KEY")
local docs = tonumber(os.getenv("DOCS") or "10000")
math.randomseed(os.time())

request = function()
  local id = math.random(0, docs - 1)
  return wrk.format("GET", "/v1/spaces/load/collections/items/docs/d" .. id, { ["Authorization"] = "Bearer " .. key })
end
