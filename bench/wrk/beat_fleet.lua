-- wrk: light beats for a fleet of N instances at a fixed total rate, to read the server's beat latency
-- without the load generator's own queueing (wrk has no rate flag; each connection waits delay()).
--   CONNECTIONS=1024 wrk -t1 -c1024 -d40s --latency -s bench/wrk/beat_fleet.lua http://127.0.0.1:8848 \
--       -- 100000 1000 20000 [jitter]
-- Arguments: instances, services, beats per second in total, jitter (default 0.5). Instance i is the
-- one bench/load.py registers: service bench-(i % services), ip 127.(1 + i>>16).(i>>8 & 255).(i & 255),
-- port 8000 + i % 1000.
--
-- Each connection waits connections/rate seconds between beats on average, each wait drawn uniformly
-- from (1 - jitter, 1 + jitter) times that. With jitter 0 the waits are equal, and connections answered
-- in the same turn of the server send again in the same millisecond a wait later: the generator locks
-- its connections into bursts (up to ~100 beats within 1 ms at 20,000/s) that a fleet of independent
-- clients, each on its own timer, does not send. The jitter keeps arrivals spread as such a fleet's are.
local instances, services, rate, jitter = 100000, 1000, 20000, 0.5
local connections = 1024
local next_index = 0

function init(args)
  if args[1] ~= nil then instances = tonumber(args[1]) end
  if args[2] ~= nil then services = tonumber(args[2]) end
  if args[3] ~= nil then rate = tonumber(args[3]) end
  if args[4] ~= nil then jitter = tonumber(args[4]) end
  -- wrk does not tell a script its -c; the caller passes the same value as CONNECTIONS. (Read here:
  -- init() runs in each thread's own Lua state; a value set in setup() would be lost.)
  connections = tonumber(os.getenv("CONNECTIONS") or "1024")
  wrk.method = "PUT"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
end

function delay()
  -- connections/rate seconds on average per connection: rate beats/s in total
  return connections * 1000 / rate * (1 - jitter + 2 * jitter * math.random())
end

local requests = {}

function request()
  local i = next_index
  next_index = (next_index + 1) % instances
  local ready = requests[i]
  if ready == nil then  -- framed once per instance and kept: later rounds cost wrk no formatting
    -- LuaJIT (wrk) has no bit operators: i>>16, (i>>8)&255 and i&255 by arithmetic
    local ip = string.format("127.%d.%d.%d", 1 + math.floor(i / 65536), math.floor(i / 256) % 256, i % 256)
    local path = string.format(
      "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%%40%%40bench-%d"
        .. "&clusterName=DEFAULT&ip=%s&port=%d", i % services, ip, 8000 + i % 1000)
    ready = wrk.format(nil, path)
    requests[i] = ready
  end
  return ready
end

if os.getenv("CHECK_ANSWERS") ~= "0" then
  function response(status, headers, body)
    if status ~= 200 or not string.find(body, "10200", 1, true) then
      io.stderr:write("unexpected beat answer: " .. status .. " " .. body .. "\n")
    end
  end
end
