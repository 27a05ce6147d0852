"""Push targets end to end (a real node on loopback): packets go to the address a list request came
from, not to the ``clientIP`` it names — unless ``push_to_client_ip`` restores Nacos's behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from nacosfast.config import Settings
from nacosfast.server.main import RunningServer, serve
from nacosfast.wire.message import Response

SERVICE = "DEFAULT_GROUP@@reflect"
JAVA_UA = b"Nacos-Java-Client:v1.4.8"
WAIT_S = 10.0
"""How long the expected packet may take (the coalescing window is 10 ms; a busy machine is slow)."""
QUIET_S = 0.5
"""How long the other address is watched after the expected packet arrived (both would go together)."""


async def http(port: int, method: str, target: str) -> Response:
    """One request from 127.0.0.1 with ``Connection: close``; the status and body."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            f"{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n".encode()
            + b"User-Agent: "
            + JAVA_UA
            + b"\r\nContent-Length: 0\r\n\r\n"
        )
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return Response(status=int(head.split(b" ")[1]), body=body)


async def receive_one(sock: trio.socket.SocketType, within_s: float) -> bytes | None:
    with trio.move_on_after(within_s):
        data: bytes = await sock.recv(65536)
        return data
    return None


@pytest.mark.parametrize("push_to_client_ip", [False, True])
async def test_list_naming_another_client_ip_is_pushed_to_the_requester_by_default(
    tmp_path: Path, push_to_client_ip: bool
) -> None:
    named = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    requester = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    with named, requester:
        await named.bind(("127.0.0.2", 0))
        udp_port = named.getsockname()[1]
        await requester.bind(("127.0.0.1", udp_port))  # the same port at the requesting address
        settings = Settings(
            port=0, data_dir=str(tmp_path), push_coalesce_ms=10, push_to_client_ip=push_to_client_ip
        )
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                running: RunningServer = await nursery.start(serve, settings)
                port = running.http_port
                base = f"/nacos/v1/ns/instance?serviceName={SERVICE}&port=80&ephemeral=true"
                assert (await http(port, "POST", base + "&ip=10.0.0.1")).status == 200
                listed = await http(
                    port,
                    "GET",
                    f"/nacos/v1/ns/instance/list?serviceName={SERVICE}&udpPort={udp_port}&clientIP=127.0.0.2",
                )
                assert listed.status == 200
                assert json.loads(listed.body)["cacheMillis"] == 10_000  # subscribed for push
                assert (await http(port, "POST", base + "&ip=10.0.0.2")).status == 200
                expected, other = (named, requester) if push_to_client_ip else (requester, named)
                packet = await receive_one(expected, WAIT_S)
                assert packet is not None, "no push arrived"
                assert b"10.0.0.2" in packet or packet[:2] == b"\x1f\x8b"
                assert await receive_one(other, QUIET_S) is None
                nursery.cancel_scope.cancel()
