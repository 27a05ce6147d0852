#!/usr/bin/env bash
# Compare a running nacosfast server with nginx (`return 200`, 1 worker) under the same wrk load.
#
#   bench/wrk_compare.sh http://127.0.0.1:8848            # a real nacosfast server
#   bench/wrk_compare.sh http://127.0.0.1:18848 hello     # bench/hello_server.py (no fixtures)
#
# The server is pinned to core SERVER_CORE (its pid is found from the listening port, or give
# SERVER_PID), nginx to the same core, wrk to WRK_CORE. Each scenario runs RUNS times for DURATION
# against each server, alternating (in rounds: every scenario once per round), and the median is
# printed with the server CPU time per request (from /proc/<pid>/stat) and the ratio to nginx. Needs wrk, nginx, curl, taskset, ss
# (apt-get install -y wrk nginx).
#
# Scenarios (SCENARIOS, default all): list, list-udp (polls that subscribe for push, 64 UDP ports, as
# Java 1.4 and Node clients poll), beat, register (wrk -t1 -c64) and list-close (wrk -t1 -c16
# -H 'Connection: close': a new TCP connection per request, as nacos-sdk-python does).
set -euo pipefail

URL=${1:?usage: $0 <nacosfast base URL, e.g. http://127.0.0.1:8848> [hello]}
MODE=${2:-nacos}
URL=${URL%/}
DURATION=${DURATION:-10s}
RUNS=${RUNS:-3}
NGINX_PORT=${NGINX_PORT:-18080}
SERVER_CORE=${SERVER_CORE:-0}
WRK_CORE=${WRK_CORE:-1}
SCENARIOS=${SCENARIOS:-list list-udp beat register list-close}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/nacosfast-wrk.XXXXXX)
NGINX_URL="http://127.0.0.1:${NGINX_PORT}"
CLK_TCK=$(getconf CLK_TCK)

for tool in wrk nginx curl taskset ss; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk nginx curl util-linux iproute2)" >&2; exit 2; }
done

# --- nginx: one worker, `return 200 "ok"`, config and files under $WORK ---------------------------------
cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    server {
        listen 127.0.0.1:${NGINX_PORT};
        location / { return 200 "ok"; }
    }
}
EOF
taskset -c "$SERVER_CORE" nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_MASTER=$!
EXPIRY_WAS=""
cleanup() {
  kill "$NGINX_MASTER" 2>/dev/null || true
  wait "$NGINX_MASTER" 2>/dev/null || true
  if [[ -n "$EXPIRY_WAS" ]]; then  # give the server back its beat expiry as it was
    curl -fs -X PUT "$URL/nacos/v1/ns/operator/switches?entry=check&value=$EXPIRY_WAS" >/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -fs "$NGINX_URL/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$NGINX_URL/" >/dev/null || { echo "nginx did not start:" >&2; cat "$WORK/nginx-error.log" >&2; exit 1; }
NGINX_PIDS="$NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')"

# --- the nacosfast server: find its pid from the port and pin it ------------------------------------------
PORT=${URL##*:}
SERVER_PID=${SERVER_PID:-$(ss -Hltnp "sport = :$PORT" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)}
if [[ -n "$SERVER_PID" ]]; then
  taskset -a -p -c "$SERVER_CORE" "$SERVER_PID" >/dev/null
else
  echo "warning: no pid listening on port $PORT found; the server is not pinned and its CPU is not measured" >&2
fi

cpu_ticks() {  # total user+system clock ticks of the given pids (fields 14 and 15 of /proc/<pid>/stat)
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
  done
  echo "$total"
}

register() {  # register one ephemeral instance on nacosfast (fixtures for list and beat)
  curl -fs -X POST "$URL/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40$1&ip=$2&port=8080&ephemeral=true&namespaceId=public" >/dev/null \
    || echo "warning: registering $1 $2 failed" >&2
}

fixtures() {  # (re-)register what a scenario reads; ephemeral instances expire without beats
  [[ "$MODE" == hello ]] && return 0
  case $1 in
    list | list-udp | list-close) for i in $(seq 1 10); do register bench.list "10.1.0.$i"; done ;;
    beat) for i in $(seq 0 63); do register bench.beat "10.0.$((i / 250)).$((i % 250 + 1))"; done ;;
  esac
}

run_wrk() {  # run_wrk <scenario> <run> <base url> <pids...>: prints "<req/s> <cpu us per request> <non-2xx>"
  local scenario=$1 run=$2 base=$3
  shift 3
  local args=(-t1 -c64 -d"$DURATION") script=list extra=()
  case $scenario in
    list) ;;
    list-udp) script=list_udp ;;
    beat) script=beat ;;
    register) script=register; extra=(-- $((run * 2000000))) ;;  # new instances in every run
    list-close) args=(-t1 -c16 -d"$DURATION" -H "Connection: close") ;;
  esac
  local before after out rps requests errors
  before=$(cpu_ticks "$@")
  out=$(taskset -c "$WRK_CORE" wrk "${args[@]}" -s "$HERE/wrk/$script.lua" "$base" "${extra[@]}")
  after=$(cpu_ticks "$@")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  errors=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  errors=${errors:-0}
  if grep -q "Socket errors" <<<"$out"; then
    echo "  ($(grep "Socket errors" <<<"$out" | sed 's/^ *//') on $base)" >&2
  fi
  if [[ $# -gt 0 && ${requests:-0} -gt 0 ]]; then
    awk -v r="$rps" -v t=$((after - before)) -v n="$requests" -v hz="$CLK_TCK" -v e="$errors" \
      'BEGIN { printf "%s %.1f %s\n", r, t / hz * 1e6 / n, e }'
  else
    echo "$rps - $errors"
  fi
}

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A TARGET=([list]=0.40 [list-udp]=0.40 [beat]=0.35 [register]=0.22 [list-close]=0.40)
# Both cores are in use during a run: anything else running skews the figures (CPU us per request
# is the least sensitive to it). Say so rather than print a quiet-looking table.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Beat expiry is off during the runs: each register run adds ~400,000 instances that never beat, and
# marking them unhealthy 15 s later and removing them at 30 s would land on whichever scenario runs
# then (a list-close run after register rounds cost 65 instead of 44 us per request). The switch is
# restored on exit.
if [[ "$MODE" != hello ]]; then
  EXPIRY_WAS=$(curl -fs "$URL/nacos/v1/ns/operator/switches" | grep -o '"healthCheckEnabled":[a-z]*' | cut -d: -f2)
  curl -fs -X PUT "$URL/nacos/v1/ns/operator/switches?entry=check&value=false" >/dev/null \
    || echo "warning: could not switch beat expiry off; later scenarios pay for the register runs' expiry" >&2
fi
declare -A OURS=() OURS_CPU=() THEIRS=() THEIRS_CPU=()
# Round after round, each scenario once per round: load that drifts during the whole run weighs on
# every scenario alike, so their CPU figures stay comparable with each other.
for run in $(seq "$RUNS"); do
  for scenario in $SCENARIOS; do
    read -r rps cpu errors < <(run_wrk "$scenario" "$run" "$NGINX_URL" $NGINX_PIDS)
    THEIRS[$scenario]+=" $rps" THEIRS_CPU[$scenario]+=" $cpu"
    fixtures "$scenario"
    read -r rps cpu errors < <(run_wrk "$scenario" "$run" "$URL" ${SERVER_PID:-})
    OURS[$scenario]+=" $rps" OURS_CPU[$scenario]+=" $cpu"
    [[ "$errors" == 0 ]] || echo "  warning: $errors non-2xx answers from nacosfast in $scenario" >&2
  done
done
printf '%-11s %14s %12s %14s %12s %7s %7s\n' scenario "nacosfast r/s" "us CPU/req" "nginx r/s" "us CPU/req" ratio target
for scenario in $SCENARIOS; do
  # shellcheck disable=SC2086  # word splitting turns " a b c" into the runs
  m_ours=$(echo ${OURS[$scenario]} | median)
  # shellcheck disable=SC2086
  m_theirs=$(echo ${THEIRS[$scenario]} | median)
  # shellcheck disable=SC2086
  c_ours=$(echo ${OURS_CPU[$scenario]} | median)
  # shellcheck disable=SC2086
  c_theirs=$(echo ${THEIRS_CPU[$scenario]} | median)
  ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "%.2f", a / b }')
  printf '%-11s %14.0f %12s %14.0f %12s %7s %7s\n' "$scenario" "$m_ours" "$c_ours" "$m_theirs" "$c_theirs" \
    "$ratio" "${TARGET[$scenario]}"
  echo "  runs: nacosfast${OURS[$scenario]} (us CPU/req${OURS_CPU[$scenario]}) | nginx${THEIRS[$scenario]}" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (a 1-minute figure well above 2 means other work shared the cores)" >&2
