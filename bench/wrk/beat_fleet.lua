-- wrk: light beats for a fleet of N instances at a fixed total rate, to read the server's beat latency
-- without the load generator's own queueing (wrk has no rate flag; each connection waits delay()).
--   wrk -t1 -c1024 -d40s --latency -s bench/wrk/beat_fleet.lua http://127.0.0.1:8848 -- 100000 1000 20000
-- Arguments: instances, services, beats per second in total. Instance i is the one bench/load.py
-- registers: service bench-(i % services), ip 127.(1 + i>>16).(i>>8 & 255).(i & 255), port 8000 + i % 1000.
local instances, services, rate = 100000, 1000, 20000
local connections = 1024
local next_index = 0

function init(args)
  if args[1] ~= nil then instances = tonumber(args[1]) end
  if args[2] ~= nil then services = tonumber(args[2]) end
  if args[3] ~= nil then rate = tonumber(args[3]) end
  wrk.method = "PUT"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
end

function setup(thread)
  -- wrk does not tell a script its -c; the caller passes the same value as CONNECTIONS.
  connections = tonumber(os.getenv("CONNECTIONS") or "1024")
end

function delay()
  -- every connection waits connections/rate seconds between beats: rate beats/s in total
  return connections * 1000 / rate
end

function request()
  local i = next_index
  next_index = (next_index + 1) % instances
  -- LuaJIT (wrk) has no bit operators: i>>16, (i>>8)&255 and i&255 by arithmetic
  local ip = string.format("127.%d.%d.%d", 1 + math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
  local path = string.format(
    "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%%40%%40bench-%d"
      .. "&clusterName=DEFAULT&ip=%s&port=%d", i % services, ip, 8000 + i % 1000)
  return wrk.format(nil, path)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, "10200", 1, true) then
    io.stderr:write("unexpected beat answer: " .. status .. " " .. body .. "\n")
  end
end
