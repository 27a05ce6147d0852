"""Robustness of the HTTP shell under hostile clients: real loopback sockets, short timeouts."""

from __future__ import annotations

import trio

from nacosfast.server.http import HttpLimits
from tests.test_server_http import GET, connect, socket_server

QUIET_MS = 1_000
"""``shed_min_quiet_ms`` of these tests. A connection opened just before a newcomer must still be
younger than this when the newcomer arrives, even on a busy 2-core machine: a second is generous."""
AGED_S = QUIET_MS / 1000 + 0.1
"""Sleeping this long makes the connections opened before quiet enough to be shed (the clock only
moves forward, so this part does not depend on the machine's load)."""
TICK_MS = 20


def shedding_limits(max_connections: int) -> HttpLimits:
    return HttpLimits(max_connections=max_connections, shed_min_quiet_ms=QUIET_MS, tick_ms=TICK_MS)


async def test_at_the_connection_limit_the_quiet_longest_connection_makes_room() -> None:
    with trio.fail_after(10):
        async with socket_server(limits=shedding_limits(2)) as (port, _):
            oldest, oldest_reader = await connect(port)
            await oldest.send_all(GET)
            assert (await oldest_reader.answer()).status == 200
            await trio.sleep(AGED_S)
            silent, silent_reader = await connect(port)  # not quiet long enough yet to be shed
            newcomer, newcomer_reader = await connect(port)
            async with oldest, silent, newcomer:
                await newcomer.send_all(GET)
                assert (await newcomer_reader.answer()).status == 200
                assert await oldest_reader.closed()  # quiet long enough: shed
                assert oldest_reader.done == []
                await silent.send_all(GET)  # the young one was left alone
                assert (await silent_reader.answer()).status == 200


async def test_a_connection_sending_a_body_is_never_shed() -> None:
    with trio.fail_after(10):
        async with socket_server(limits=shedding_limits(1)) as (port, _):
            busy, busy_reader = await connect(port)
            await busy.send_all(b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
            await trio.sleep(AGED_S)
            refused, refused_reader = await connect(port)
            async with busy, refused:
                assert await refused_reader.closed()
                assert refused_reader.done == []
                await busy.send_all(b"def")
                answer = await busy_reader.answer()
                assert answer.status == 200
                assert answer.body.endswith(b"|abcdef")


async def test_a_flood_of_idle_connections_cannot_lock_clients_out() -> None:
    flood_size = 40
    with trio.fail_after(20):
        async with socket_server(limits=shedding_limits(flood_size)) as (port, _):
            flood = [(await connect(port))[0] for _ in range(flood_size)]
            await trio.sleep(AGED_S)
            for _ in range(5):  # every newcomer is served while the flood holds every slot
                client, reader = await connect(port)
                async with client:
                    await client.send_all(GET)
                    assert (await reader.answer()).status == 200
            for stream in flood:
                await stream.aclose()
