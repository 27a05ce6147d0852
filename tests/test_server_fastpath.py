"""The hub with the compiled request path, over loopback sockets: the same bytes as without it.

Reads that mix requests the compiled path answers with ones it leaves to the Python path, and
requests split across reads, are sent to one server with the fast path and one without; the answers
must match byte for byte (apart from the clock-dependent ``Date`` and ``lastRefTime``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import trio

from nacosfast._core.fastpath import FastPath
from nacosfast.naming.app import NamingApp
from nacosfast.naming.fast import build_fast_path
from nacosfast.naming.state import NamingState
from nacosfast.server.http import serve_http
from nacosfast.wire.http import HttpDate
from nacosfast.wire.message import Request, Response
from tests.auth_helpers import auth_node
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush

BEAT = (
    b"PUT /nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.1&port=8080 HTTP/1.1\r\n"
    b"User-Agent: Nacos-Java-Client:v1.4.1\r\n\r\n"
)
LIST = b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40svc HTTP/1.1\r\n\r\n"
LIST_UDP = (  # a poll that subscribes for push: the subscriber is aimed at the connection's address
    b"GET /nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40svc&udpPort=54321&clientIP=10.0.0.7"
    b" HTTP/1.1\r\nUser-Agent: Nacos-Java-Client:v1.4.1\r\n\r\n"
)
REGISTER = (
    b"POST /nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40svc&ip=10.0.0.2&port=1 HTTP/1.1\r\n\r\n"
)
OTHER = b"GET /nacos/v1/ns/service/list?pageNo=1&pageSize=10 HTTP/1.1\r\n\r\n"
CLOSE = BEAT.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
READS = (
    BEAT + BEAT,
    LIST_UDP,
    LIST_UDP + BEAT,
    LIST + BEAT,  # the first list is rendered by the Python path, the beat after it too
    LIST + REGISTER + BEAT + BEAT[:40],
    BEAT[40:] + OTHER + BEAT,
    LIST + CLOSE,  # the register made a new snapshot: this list is rendered by the Python path
)


async def _served(
    handle: Callable[[Request], Response], fast_path: FastPath | None, reads: tuple[bytes, ...]
) -> bytes:
    """The hub's answers to ``reads`` sent on one connection (closed by its last request), each
    arriving as a read of its own."""

    async def durable_now(seq: int) -> None:
        return None

    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_http(
                handle, durable_now, "127.0.0.1", 0, fast_path=fast_path, task_status=task_status
            )
        )
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        received = bytearray()
        async with stream:
            for data in reads:
                await stream.send_all(data)
                await trio.sleep(0.05)
            while chunk := await stream.receive_some():
                received += chunk
        nursery.cancel_scope.cancel()
    return bytes(received)


async def _exchange(fast: bool) -> tuple[bytes, dict[str, int], list[tuple[str, str, int]]]:
    push = RecordingPush()
    state = NamingState(push=push, journal=MemoryJournal())
    app = NamingApp(state)
    app.handle(Request("POST", "/nacos/v1/ns/instance", BEAT.split(b"?")[1].split(b" ")[0]), 0, WALL_EPOCH_MS)
    fast_path = build_fast_path(state) if fast else None

    def handle(request: Request) -> Response:
        return app.handle(request, 1, WALL_EPOCH_MS)

    received = await _served(handle, fast_path, READS)
    counts = fast_path.counts() if fast_path is not None else {}
    subscribed = [(s["peer_ip"], s["client_ip"], s["udp_port"]) for s in push.subscriptions]
    return received, counts, subscribed


def _normalized(answers: bytes) -> bytes:
    answers = re.sub(rb"Date: [^\r]*\r\n", b"", answers)
    return re.sub(rb'"lastRefTime":\d+', b'"lastRefTime":0', answers)


async def test_hub_answers_the_same_with_and_without_the_fast_path() -> None:
    with trio.fail_after(20):
        with_fast, counts, subscribed = await _exchange(fast=True)
        without, _, subscribed_without = await _exchange(fast=False)
    assert _normalized(with_fast) == _normalized(without)
    assert with_fast.count(b"HTTP/1.1 200 OK") == 15
    assert subscribed == subscribed_without == [("127.0.0.1", "10.0.0.7", 54321)] * 2
    # Fast: both beats of read 1; the subscribing list and the beat of read 3; list, register and beat
    # of read 5. Read 2 is a list not yet rendered, read 4 starts with one, read 6 with the rest of a
    # request, read 7 with a list of the snapshot the register made: those go to the Python path whole.
    assert counts == {"beat": 4, "list": 2, "register": 1, "deregister": 0}


async def test_with_auth_on_the_hub_refuses_unauthenticated_hot_requests_as_the_python_path() -> None:
    node = auth_node()
    state = node.app.state
    app = node.app
    # A registered instance and a rendered list, put there by a peer (past the gate): without auth the
    # compiled path would answer this beat and this list itself.
    register = Request("POST", "/nacos/v1/ns/instance", BEAT.split(b"?")[1].split(b" ")[0])
    assert app.handle(register, 0, WALL_EPOCH_MS, forwarded=True).status == 200
    listing = Request("GET", "/nacos/v1/ns/instance/list", LIST.split(b"?")[1].split(b" ")[0])
    assert app.handle(listing, 0, WALL_EPOCH_MS, forwarded=True).status == 200
    date = HttpDate()
    date.refresh(WALL_EPOCH_MS)
    assert build_fast_path(state).serve(BEAT + LIST, 1, WALL_EPOCH_MS, date.line, 8, "127.0.0.1")[2] == 2

    def handle(request: Request) -> Response:
        return app.handle(request, 1, WALL_EPOCH_MS)

    fast_path = build_fast_path(state, auth=node.gate)
    data = (BEAT + LIST + CLOSE,)
    with trio.fail_after(20):
        with_fast = await _served(handle, fast_path, data)
        without = await _served(handle, None, data)
    assert _normalized(with_fast) == _normalized(without)
    assert with_fast.count(b"HTTP/1.1 403 ") == 3
    refused = handle(Request("PUT", "/nacos/v1/ns/instance/beat", register.query))
    assert refused.status == 403
    assert refused.body in with_fast
    assert fast_path.counts() == {"beat": 0, "list": 0, "register": 0, "deregister": 0}
