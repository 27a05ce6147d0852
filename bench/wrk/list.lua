-- wrk: the query a Nacos Java client 1.4 polls with (GET /nacos/v1/ns/instance/list).
--   wrk -t1 -c64 -d10s -s bench/wrk/list.lua http://127.0.0.1:8848 [-- <serviceName>]
-- The service should hold a few instances (bench/wrk_compare.sh registers 10 in bench.list).
local service = "bench.list"

function init(args)
  if args[1] ~= nil then service = args[1] end
  local path = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40" .. service
    .. "&namespaceId=public&clusters=&healthyOnly=false&udpPort=0&clientIP=127.0.0.1&app=bench"
  wrk.method = "GET"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
  wrk.headers["Client-Version"] = "1.4.1"
  wrk.headers["Accept-Encoding"] = "gzip,deflate,sdch"
  req = wrk.format(nil, path)
end

function request()
  return req
end
