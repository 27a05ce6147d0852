#!/usr/bin/env bash
# A fleet of INSTANCES ephemeral instances beating every 5 s: the server's beat latency, CPU per beat
# and memory per instance, on a fresh server per run (see bench/README.md, "Beat fleet").
#
#   bench/beat_fleet.sh .venv/bin/python [server flags...]        # 100,000 instances, 20,000 beats/s
#   INSTANCES=200000 bench/beat_fleet.sh .venv/bin/python         # 40,000 beats/s
#
# Each run: start a server on core SERVER_CORE (empty data directory, push off), register the fleet
# with bench/load.py (2 metadata keys per instance, over SERVICES services), then beat it from wrk on
# core LOAD_CORE at RATE beats/s over CONNECTIONS connections (bench/wrk/beat_fleet.lua, JITTER) for
# DURATION seconds, while tcpdump captures the middle of the run on the loopback interface. wrk checks
# every answer's body unless CHECK_ANSWERS=0 (that check costs wrk ~7 us of its core per beat).
# bench/pcap_latency.py reads the server's own latency from the capture (request in -> answer out,
# none of wrk's queueing); wrk's percentiles are printed beside it. After the beats, every instance
# must still be registered and healthy (Prometheus `nacosfast_instances`). Medians over RUNS runs end
# the output. Needs wrk, tcpdump (root, for the capture), curl, taskset.
set -euo pipefail

PYTHON=${1:?usage: $0 <python of the venv> [server flags...]}
shift
INSTANCES=${INSTANCES:-100000}
SERVICES=${SERVICES:-1000}
RATE=${RATE:-$((INSTANCES / 5))}
CONNECTIONS=${CONNECTIONS:-1024}
DURATION=${DURATION:-20}
RUNS=${RUNS:-3}
JITTER=${JITTER:-0.5}
PORT=${PORT:-18848}
SERVER_CORE=${SERVER_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
CAPTURE_SKIP_S=2
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/nacosfast-fleet.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)
URL="http://127.0.0.1:$PORT"

for tool in wrk tcpdump curl taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y wrk tcpdump curl util-linux)" >&2; exit 2; }
done
((DURATION > 2 * CAPTURE_SKIP_S)) || { echo "DURATION must exceed $((2 * CAPTURE_SKIP_S)) s" >&2; exit 2; }

SERVER=""
stop_server() {
  if [[ -n "$SERVER" ]]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "fleet: $INSTANCES instances over $SERVICES services, $RATE beats/s over $CONNECTIONS connections," \
  "jitter $JITTER, ${DURATION} s per run, $RUNS runs"
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/data"
  taskset -c "$SERVER_CORE" "$PYTHON" -m nacosfast server --host 127.0.0.1 --port "$PORT" \
    --data-dir "$WORK/data" --log-level WARNING --push-port 0 "$@" 2>"$WORK/server.log" &
  SERVER=$!
  for _ in $(seq 100); do curl -fs "$URL/nacos/v1/ns/operator/metrics" >/dev/null 2>&1 && break; sleep 0.1; done
  taskset -c "$LOAD_CORE" "$PYTHON" "$HERE/load.py" register --url "$URL" --pid "$SERVER" \
    -n "$INSTANCES" -s "$SERVICES" -c 64 >"$WORK/register.txt" 2>&1
  bytes_per_instance=$(grep -o '[0-9]* bytes per instance' "$WORK/register.txt" | cut -d' ' -f1)
  before=$(cpu_ticks "$SERVER")
  CONNECTIONS=$CONNECTIONS taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$HERE/wrk/beat_fleet.lua" "$URL" -- "$INSTANCES" "$SERVICES" "$RATE" "$JITTER" \
    >"$WORK/wrk.txt" 2>&1 &
  WRK=$!
  sleep "$CAPTURE_SKIP_S"
  taskset -c "$LOAD_CORE" timeout "$((DURATION - 2 * CAPTURE_SKIP_S))" \
    tcpdump -i lo -s 96 -B 262144 -w "$WORK/capture.pcap" "tcp port $PORT" 2>"$WORK/tcpdump.txt" || true
  wait "$WRK"
  after=$(cpu_ticks "$SERVER")
  curl -fs "$URL/nacos/actuator/prometheus" >"$WORK/metrics.txt"
  stop_server
  server_line=$("$PYTHON" "$HERE/pcap_latency.py" "$WORK/capture.pcap" "$PORT" --skip-seconds 0)
  "$PYTHON" - "$WORK" "$run" "$((after - before))" "$CLK_TCK" "$DURATION" "$INSTANCES" \
    "${bytes_per_instance:-0}" "$server_line" <<'EOF' | tee -a "$WORK/rows.txt"
import re, sys
work, run, ticks, clk_tck, duration, instances, rss, server = sys.argv[1:]
wrk = open(f"{work}/wrk.txt").read()
unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}
def wrk_ms(pct):
    value, scale = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", wrk, re.M).groups()
    return float(value) * unit[scale]
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
import os
non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
if os.environ.get("CHECK_ANSWERS") == "0":  # wrk's Lua check off: only its status count is known
    unexpected = f"non-2xx {non_2xx.group(1) if non_2xx else 0} (bodies unchecked)"
else:
    unexpected = wrk.count("unexpected beat answer") + (int(non_2xx.group(1)) if non_2xx else 0)
metrics = open(f"{work}/metrics.txt").read()
def instances_of(healthy):
    found = re.search(rf'nacosfast_instances\{{[^}}]*healthy="{healthy}"[^}}]*ephemeral="true"[^}}]*\}} (\d+)', metrics)
    found = found or re.search(rf'nacosfast_instances\{{[^}}]*ephemeral="true"[^}}]*healthy="{healthy}"[^}}]*\}} (\d+)', metrics)
    return int(found.group(1)) if found else -1
server_pct = dict(re.findall(r"(p[\d.]+) ([\d.]+)", server))
dropped = re.search(r"(\d+) packets dropped by kernel", open(f"{work}/tcpdump.txt").read())
cpu_us = int(ticks) / int(clk_tck) / (rate * float(duration)) * 1e6
print(f"run {run}: {rate:,.0f} beats/s  server p50 {server_pct['p50']} p99 {server_pct['p99']} "
      f"p99.9 {server_pct['p99.9']} ms | wrk p50 {wrk_ms(50):.2f} p99 {wrk_ms(99):.2f} ms | "
      f"{cpu_us:.1f} us CPU/beat | {rss} B/instance | healthy {instances_of('true')}/{instances} "
      f"unhealthy {instances_of('false')} | unexpected answers {unexpected} | "
      f"capture dropped {dropped.group(1) if dropped else '?'}")
EOF
done
"$PYTHON" - "$WORK/rows.txt" <<'EOF'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def median(pattern):
    return statistics.median(float(re.search(pattern, row).group(1).replace(",", "")) for row in rows)
rate, p50, p99 = median(r"([\d,]+) beats/s"), median(r"server p50 ([\d.]+)"), median(r"server p50 [\d.]+ p99 ([\d.]+)")
p999, wrk_p99 = median(r"p99.9 ([\d.]+)"), median(r"wrk p50 [\d.]+ p99 ([\d.]+)")
cpu, rss = median(r"([\d.]+) us CPU/beat"), median(r"\| (\d+) B/instance")
print(f"median of {len(rows)}: {rate:,.0f} beats/s, server p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
      f"p99.9 {p999:.3f} ms; wrk p99 {wrk_p99:.2f} ms; {cpu:.1f} us CPU per beat; {rss:.0f} bytes per instance")
EOF
