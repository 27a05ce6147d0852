"""Run N requests through one request path in process, without sockets, for instruction counts.

    python bench/request_path.py <beat|list|list-udp|register> <python|fast> <N>

``python``: ``HttpConnection.feed`` + ``NamingApp.handle`` + ``respond`` (what the hub runs without
the compiled path); ``fast``: ``FastPath.serve`` on the same bytes. Under
``valgrind --tool=callgrind`` the difference between two values of N, divided by their difference,
is the instructions one request costs (setup and interpreter start-up cancel out); see
``bench/README.md``, *Where the time goes*. Every answer is checked to be a 200.

``list-udp`` polls as ``bench/wrk/list_udp.lua`` does (``udpPort`` cycling over ``SUBSCRIBERS`` ports):
each poll refreshes one subscriber of a real ``PushHub``.
"""

from __future__ import annotations

import sys

from nacosfast.limits import MAX_PIPELINED_REQUESTS
from nacosfast.naming.app import NamingApp
from nacosfast.naming.fast import build_fast_path
from nacosfast.naming.push import PushHub
from nacosfast.naming.state import NamingState
from nacosfast.wire.http import HttpConnection, HttpDate
from nacosfast.wire.message import Request

WALL_MS = 1_700_000_000_000
HEADERS = b"User-Agent: Nacos-Java-Client:v1.4.1\r\nClient-Version: 1.4.1\r\n"
INSTANCES = 64
SUBSCRIBERS = 64


class _Sink:
    """Push and journal sinks that only count."""

    def __init__(self) -> None:
        self.count = 0

    def service_changed(self, namespace: str, service: str, now_ms: int) -> None:
        self.count += 1

    def append(self, payload: bytes) -> int:
        self.count += 1
        return self.count


def _request(scenario: str, i: int) -> bytes:
    if scenario == "beat":
        k = i % INSTANCES
        target = (
            "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%40%40bench.beat"
            f"&clusterName=DEFAULT&ip=10.0.{k // 250}.{k % 250 + 1}&port=8080&app=bench"
        )
        method = "PUT"
    elif scenario == "list":
        target = (
            "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40bench.list&namespaceId=public"
            "&clusters=&healthyOnly=false&udpPort=0&clientIP=127.0.0.1&app=bench"
        )
        method = "GET"
    elif scenario == "list-udp":
        target = (
            "/nacos/v1/ns/instance/list?app=unknown&healthyOnly=false&namespaceId=public&clientIP=127.0.0.1"
            f"&udpPort={30000 + i % SUBSCRIBERS}&serviceName=DEFAULT_GROUP%40%40bench.list&clusters="
        )
        method = "GET"
    else:
        target = (
            f"/nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40bench.reg.{i % 1000}"
            f"&groupName=DEFAULT_GROUP&clusterName=DEFAULT&ip=10.1.{i // 12800 % 256}.{i // 50 % 256}"
            f"&port={20000 + i % 50}&weight=1.0&enable=true&healthy=true&ephemeral=true"
            "&metadata=%7B%7D&app=bench"
        )
        method = "POST"
    return f"{method} {target} HTTP/1.1\r\n".encode() + HEADERS + b"\r\n"


def main() -> None:
    scenario, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sink = _Sink()
    state = NamingState(push=sink, journal=sink)  # type: ignore[arg-type]
    if scenario == "list-udp":
        state.push = PushHub(lambda *subscriber: b"")
    app = NamingApp(state)
    for k in range(INSTANCES):
        for service, ip in (
            ("bench.beat", f"10.0.{k // 250}.{k % 250 + 1}"),
            ("bench.list", f"10.1.0.{k % 10}"),
        ):
            query = f"serviceName=DEFAULT_GROUP%40%40{service}&ip={ip}&port=8080".encode()
            app.handle(Request("POST", "/nacos/v1/ns/instance", query), 0, WALL_MS)
    date = HttpDate()
    date.refresh(WALL_MS)
    requests = [_request(scenario, i) for i in range(count)]
    warm = HttpConnection(("127.0.0.1", 1), date=date)
    for k in range(SUBSCRIBERS if scenario == "list-udp" else 1):  # fills the list memo and render cache
        for request in warm.feed(_request(scenario, count + k)):
            warm.respond(request, app.handle(request, 1, WALL_MS))
    conn = HttpConnection(("127.0.0.1", 1), date=date)
    fast = build_fast_path(state)
    for number, data in enumerate(requests):
        now_ms = 10 + number
        if path == "fast":
            out, _, answered, _ = fast.serve(
                data, now_ms, WALL_MS, date.line, MAX_PIPELINED_REQUESTS, "127.0.0.1"
            )
            assert answered == 1, out
        else:
            (request,) = conn.feed(data, now_ms)
            out = conn.respond(request, app.handle(request, now_ms, WALL_MS))
        assert out.startswith(b"HTTP/1.1 200 "), out


if __name__ == "__main__":
    main()
