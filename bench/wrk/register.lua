-- wrk: registrations of new ephemeral instances as a Nacos Java client 1.4 sends them
-- (POST /nacos/v1/ns/instance, parameters in the query), spread over 1,000 services
-- (bench.reg.0 .. bench.reg.999), each request a distinct ip:port:
--   wrk -t1 -c64 -d10s -s bench/wrk/register.lua http://127.0.0.1:8848 [-- <first request number>]
-- Give each run a different first number (bench/wrk_compare.sh does) so that every run registers
-- instances that do not exist yet.
local n = 0
local thread_id = 0
local counter = 0

function setup(thread)
  thread:set("thread_id", counter)
  counter = counter + 1
end

function init(args)
  if args[1] ~= nil then n = tonumber(args[1]) end
  wrk.method = "POST"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
  wrk.headers["Client-Version"] = "1.4.1"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=UTF-8"
end

function request()
  -- a distinct (ip, port) per request: 16M addresses per thread-octet, 50 ports per address
  local c = n
  n = n + 1
  local a = (thread_id * 37 + math.floor(c / 3276800)) % 256
  local ip = "10." .. a .. "." .. (math.floor(c / 12800) % 256) .. "." .. (math.floor(c / 50) % 256)
  local port = 20000 + (c % 50)
  local path = "/nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40bench.reg." .. (c % 1000)
    .. "&groupName=DEFAULT_GROUP&clusterName=DEFAULT&ip=" .. ip .. "&port=" .. port
    .. "&weight=1.0&enable=true&healthy=true&ephemeral=true&metadata=%7B%7D&app=bench"
  return wrk.format(nil, path, nil, "")
end
