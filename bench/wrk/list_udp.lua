-- wrk: instance/list polls that subscribe for UDP push, as <count> Nacos Java 1.4 clients send them
-- (each listens on its own UDP port and names it in every poll):
--   wrk -t1 -c64 -d10s -s bench/wrk/list_udp.lua http://127.0.0.1:8848 [-- <serviceName> <count>]
-- Poll i goes out with udpPort=<30000 + i % count>&clientIP=127.0.0.1, so the server holds <count>
-- subscribers and refreshes one per poll. Nothing listens on those ports: run it on a node whose
-- service does not change meanwhile, or the pushes it sends go unanswered (ICMP, then retries).
-- The service should hold a few instances (bench/wrk_compare.sh registers 10 in bench.list).
local service = "bench.list"
local count = 64
local requests = {}
local n = 0

function init(args)
  if args[1] ~= nil then service = args[1] end
  if args[2] ~= nil then count = tonumber(args[2]) end
  wrk.method = "GET"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
  wrk.headers["Client-Version"] = "1.4.1"
  wrk.headers["Accept-Encoding"] = "gzip,deflate,sdch"
  wrk.headers["Request-Module"] = "Naming"
  for i = 0, count - 1 do
    local path = "/nacos/v1/ns/instance/list?app=unknown&healthyOnly=false&namespaceId=public"
      .. "&clientIP=127.0.0.1&udpPort=" .. (30000 + i) .. "&serviceName=DEFAULT_GROUP%40%40" .. service
      .. "&clusters="
    requests[i] = wrk.format(nil, path)
  end
end

function request()
  local req = requests[n % count]
  n = n + 1
  return req
end
