-- wrk: light heartbeats as a Nacos Java client 1.4 sends them (PUT /nacos/v1/ns/instance/beat,
-- no `beat` body), cycling over <count> instances of one service:
--   wrk -t1 -c64 -d10s -s bench/wrk/beat.lua http://127.0.0.1:8848 [-- <serviceName> <count> [<accessToken>]]
-- The instances 10.0.<i/250>.<i%250+1>:8080 (i < count) must exist: bench/wrk_compare.sh registers them.
local service = "bench.beat"
local count = 64
local n = 0
local token = ""

function init(args)
  if args[1] ~= nil then service = args[1] end
  if args[2] ~= nil then count = tonumber(args[2]) end
  if args[3] ~= nil then token = "&accessToken=" .. args[3] end
  wrk.method = "PUT"
  wrk.headers["User-Agent"] = "Nacos-Java-Client:v1.4.1"
  wrk.headers["Client-Version"] = "1.4.1"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded;charset=UTF-8"
end

function request()
  local i = n % count
  n = n + 1
  local path = "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%40%40" .. service
    .. "&clusterName=DEFAULT&ip=10.0." .. math.floor(i / 250) .. "." .. (i % 250 + 1) .. "&port=8080&app=bench" .. token
  return wrk.format(nil, path, nil, "")
end
