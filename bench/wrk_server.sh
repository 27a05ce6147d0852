#!/usr/bin/env bash
# Start a fresh nacosfast server (empty data directory; push on, from a kernel-chosen UDP port: the
# list-udp scenario subscribes), run bench/wrk_compare.sh against it, stop it. `make bench` runs
# this; pass extra server flags after the python, e.g. --no-fast-path:
#
#   bench/wrk_server.sh .venv/bin/python [--no-fast-path]
#
# PORT (default 18848) and everything bench/wrk_compare.sh reads (RUNS, DURATION, SCENARIOS, cores)
# come from the environment.
set -euo pipefail

PYTHON=${1:?usage: $0 <python of the venv> [server flags...]}
shift
PORT=${PORT:-18848}
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(mktemp -d /tmp/nacosfast-bench.XXXXXX)
taskset -c "${SERVER_CORE:-0}" "$PYTHON" -m nacosfast server --host 127.0.0.1 --port "$PORT" \
  --data-dir "$DATA" --log-level WARNING --push-port 0 "$@" &
SERVER=$!
stop() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$DATA"
}
trap stop EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/nacos/v1/ns/operator/metrics" >/dev/null 2>&1 && break
  sleep 0.1
done
SERVER_PID=$SERVER "$HERE/wrk_compare.sh" "http://127.0.0.1:$PORT"
