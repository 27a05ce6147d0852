"""The etcd store's ordering rules with a scripted etcd (no sockets): outcomes are reported in write
order, and an event for a key arriving while this node's write to it is unreported is applied after
that report — unless this node's own write is newer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Hashable
from typing import Any

import trio

from nacosfast.server.etcd import EtcdStore
from nacosfast.server.etcd_http import EtcdClient
from nacosfast.store.etcd_keys import b64, path_of, unb64

PREFIX = "/p"


def namespace_record(namespace_id: str, name: str) -> bytes:
    return json.dumps(
        {"t": "namespace", "value": {"id": namespace_id, "name": name, "desc": ""}, "v": 2}
    ).encode()


class ScriptedEtcd(EtcdClient):
    """Commits every transaction (revision + 1), holding those whose key has a closed gate; the watch
    yields what the test sends."""

    def __init__(self) -> None:
        super().__init__(("http://127.0.0.1:1",))
        self.revision = 1
        self.gates: dict[str, trio.Event] = {}
        self.events_in, self.events_out = trio.open_memory_channel[dict[str, Any]](16)

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/v3/kv/range":
            return {"header": {"revision": str(self.revision)}, "kvs": []}
        key = unb64(body["success"][0]["request_put"]["key"]).decode()
        gate = self.gates.get(key)
        if gate is not None:
            await gate.wait()
        self.revision += 1
        return {"header": {"revision": str(self.revision)}, "succeeded": True}

    async def stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async for message in self.events_out:
            yield message

    async def put_event(self, path: str, value: bytes, revision: int) -> None:
        kv = {"key": b64(path), "value": b64(value), "mod_revision": str(revision)}
        await self.events_in.send({"result": {"header": {"revision": str(revision)}, "events": [{"kv": kv}]}})


async def test_an_event_during_an_unreported_write_is_applied_after_the_report() -> None:
    etcd = ScriptedEtcd()
    observed: list[tuple[Hashable, bytes | None]] = []
    reported: list[int] = []
    store = EtcdStore(
        etcd,
        PREFIX,
        observe=lambda key, value: observed.append((key, value)),
        on_durable=reported.append,
    )
    slow, busy = path_of(PREFIX, ("namespace", "slow")), path_of(PREFIX, ("namespace", "busy"))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        etcd.gates[slow] = trio.Event()
        first = store.append(namespace_record("slow", "mine"))
        second = store.append(namespace_record("busy", "mine"))
        await trio.testing.wait_all_tasks_blocked()
        assert etcd.revision == 2  # "busy" committed at 2; "slow" held; nothing reported yet
        assert reported == []
        await etcd.put_event(busy, namespace_record("busy", "own echo"), 2)  # this node's own write
        await etcd.put_event(busy, namespace_record("busy", "theirs"), 3)  # another node, later
        await trio.testing.wait_all_tasks_blocked()
        assert observed == []  # deferred: this node's write to "busy" is not reported yet
        etcd.gates[slow].set()
        await store.wait_durable(second)
        assert reported == [first, second]
        assert observed == [(("namespace", "busy"), namespace_record("busy", "theirs"))]

        # An older event than this node's own committed write is not applied after the report.
        etcd.gates[slow] = trio.Event()
        etcd.revision += 1  # revision 4: a change elsewhere
        third = store.append(namespace_record("slow", "again"))
        fourth = store.append(namespace_record("busy", "mine 2"))
        await trio.testing.wait_all_tasks_blocked()
        assert etcd.revision == 5  # "busy" committed at 5
        await etcd.put_event(busy, namespace_record("busy", "older"), 4)
        await trio.testing.wait_all_tasks_blocked()
        etcd.gates[slow].set()
        await store.wait_durable(fourth)
        assert reported == [first, second, third, fourth]
        assert len(observed) == 1
        nursery.cancel_scope.cancel()


async def test_an_unreadable_watch_event_restarts_the_watch_and_later_events_apply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    etcd = ScriptedEtcd()
    observed: list[tuple[Hashable, bytes | None]] = []
    store = EtcdStore(etcd, PREFIX, observe=lambda key, value: observed.append((key, value)))
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        await etcd.events_in.send({"result": {"events": [{"type": "PUT"}]}})  # no kv
        await trio.sleep(1)
        assert store.watch_restarts == 1
        await etcd.put_event(path_of(PREFIX, ("namespace", "later")), namespace_record("later", "x"), 2)
        await trio.sleep(1)
        assert observed == [(("namespace", "later"), namespace_record("later", "x"))]
        nursery.cancel_scope.cancel()
