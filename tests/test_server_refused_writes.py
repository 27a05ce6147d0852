"""A write the disk refuses leaves no trace; a service may outgrow the record limit; a full disk recovers.

The naming application over a real ``AppendLog`` and ``Durability``, wired as ``server.main`` wires
them. The disk-full tests run the file operations inline (``worker``) under ``autojump_clock`` and
simulate a small filesystem by wrapping ``os.pwrite``: a write past the free space is cut short and
then fails with ENOSPC, as on a full tmpfs. ``test_disk_full_tmpfs.py`` does the same on a real one.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import trio

from nacosfast.errors import Unavailable
from nacosfast.limits import MAX_METADATA_VALUE_LENGTH, STORE_MAX_RECORD_BYTES
from nacosfast.naming import journal
from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from nacosfast.server.clock import monotonic_ms
from nacosfast.server.durability import Durability
from nacosfast.store import AppendLog
from tests.naming_helpers import RecordingPush, call

SERVICE: Final = "DEFAULT_GROUP@@growing"
KIB: Final = 1024
METADATA_ENTRIES: Final = 7
"""Entries of ``MAX_METADATA_VALUE_LENGTH`` characters: about 56 KiB of metadata per instance."""


def big_metadata(index: int) -> str:
    """About 56 KiB of metadata, distinct per instance."""
    return json.dumps(
        {
            f"k{entry}": f"{index:06d}".ljust(MAX_METADATA_VALUE_LENGTH, "x")
            for entry in range(METADATA_ENTRIES)
        }
    )


async def inline(fn: Callable[..., Any], *args: Any, abandon_on_cancel: bool = False) -> Any:
    """Run the log's file operations on the Trio thread, so that ``autojump_clock`` can drive time."""
    await trio.lowlevel.checkpoint()
    return fn(*args)


@dataclass
class Node:
    """One node's naming state over a durable log, wired as ``server.main`` does."""

    log: AppendLog
    durability: Durability
    state: NamingState
    app: NamingApp

    @classmethod
    def open(cls, data_dir: Path, **options: Any) -> Node:
        log = AppendLog.open(data_dir)
        state = NamingState(push=RecordingPush(), journal=None)  # type: ignore[arg-type]
        durability = Durability(
            log,
            snapshot_source=lambda: journal.snapshot(state),
            on_durable=lambda through: journal.settle(state, through),
            on_refused=lambda through: journal.undo(state, through, monotonic_ms()),
            **options,
        )
        state.journal = durability
        journal.replay(state, log.replay())
        return cls(log, durability, state, NamingApp(state))

    async def register(self, index: int) -> int:
        """A persistent instance ``10.0.<index>`` with big metadata; the answer's status once decided."""
        params = {
            "serviceName": SERVICE,
            "ip": f"10.0.{index // 250}.{index % 250}",
            "port": 8080,
            "ephemeral": "false",
            "metadata": big_metadata(index),
        }
        response = call(self.app, "POST", "/v1/ns/instance", params)
        if response.status == 200 and response.durable_seq:
            try:
                await self.durability.wait_durable(response.durable_seq)
            except Unavailable:
                return 503
        return response.status

    def listed(self) -> set[str]:
        """The ips ``instance/list`` shows."""
        params = {"serviceName": SERVICE, "healthyOnly": "false"}
        response = call(self.app, "GET", "/v1/ns/instance/list", params)
        if response.status == 404:
            return set()
        return {host["ip"] for host in json.loads(response.body)["hosts"]}


def ip_of(index: int) -> str:
    return f"10.0.{index // 250}.{index % 250}"


def stored(data_dir: Path) -> set[str]:
    """The instance ips a restart loads (what survives ``kill -9``)."""
    node = Node.open(data_dir)
    try:
        return node.listed()
    finally:
        node.log.close()


class SmallDisk:
    """``os.pwrite`` as on a filesystem of ``capacity`` bytes holding the data directory and a
    ballast file of ``ballast`` bytes: growth past the free space is written short, then ENOSPC."""

    def __init__(self, data_dir: Path, capacity: int, ballast: int) -> None:
        self.data_dir = data_dir
        self.capacity = capacity
        self.ballast = ballast
        self.real_pwrite = os.pwrite

    def used(self) -> int:
        return self.ballast + sum(
            entry.stat().st_size for entry in os.scandir(self.data_dir) if entry.is_file()
        )

    def __call__(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        size = os.fstat(fd).st_size
        room = self.capacity - self.used()
        allowed = size + room - offset
        if offset + len(data) > size and len(data) > allowed:
            if allowed <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            data = data[:allowed]
        return self.real_pwrite(fd, data, offset)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


async def test_a_write_refused_by_a_full_disk_is_undone(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    node = Node.open(data_dir, worker=inline)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.durability.run)
        assert await node.register(0) == 200
        monkeypatch.setattr(os, "pwrite", SmallDisk(data_dir, node.log.log_bytes + 1_000, 0))
        assert await node.register(1) == 503
        assert node.listed() == {ip_of(0)}  # other clients never see the refused host again
        assert node.durability.counters()["pendingBytes"] == 0  # nothing kept for a retry
        nursery.cancel_scope.cancel()
    node.log.close()
    monkeypatch.undo()
    assert stored(data_dir) == {ip_of(0)}


async def test_disk_full_recovers_once_space_for_the_live_data_is_freed(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock
) -> None:
    """The issue's scenario: a 2 MiB disk, one growing service, 20 refused writes after it filled up,
    then 600 KiB freed: writes succeed again within a retry interval."""
    disk = SmallDisk(data_dir, 2 * KIB * KIB, 700 * KIB)
    monkeypatch.setattr(os, "pwrite", disk)
    node = Node.open(data_dir, worker=inline)
    acknowledged: set[str] = set()
    async with trio.open_nursery() as nursery:
        await nursery.start(node.durability.run)
        index = 0
        while (status := await node.register(index)) == 200:
            acknowledged.add(ip_of(index))
            index += 1
            assert index < 100, "the disk never filled up"
        assert status == 503
        assert len(acknowledged) >= 10
        for _ in range(20):
            index += 1
            assert await node.register(index) == 503
            assert node.listed() == acknowledged  # no phantom host
        assert node.durability.counters()["pendingBytes"] == 0

        disk.ballast -= 600 * KIB
        freed_at = trio.current_time()
        index += 1
        while await node.register(index) != 200:
            assert trio.current_time() - freed_at < 15, "writes did not recover"
            await trio.sleep(0.1)
        recovered_s = trio.current_time() - freed_at
        acknowledged.add(ip_of(index))
        assert recovered_s < 2.0
        for _ in range(3):  # and it keeps working while space lasts
            index += 1
            assert await node.register(index) == 200
            acknowledged.add(ip_of(index))
        assert node.listed() == acknowledged
        nursery.cancel_scope.cancel()
    node.log.close()
    monkeypatch.undo()
    assert stored(data_dir) == acknowledged


async def test_a_persistent_service_grows_past_the_record_limit(data_dir: Path) -> None:
    """Done-when of issue 8: past 16 MiB of instance data in one service, every write and every
    snapshot succeeds (real threads and clock; snapshots every 2 MiB of log)."""
    node = Node.open(data_dir, snapshot_log_bytes=2 * KIB * KIB)
    count = (STORE_MAX_RECORD_BYTES + 4 * KIB * KIB) // (METADATA_ENTRIES * MAX_METADATA_VALUE_LENGTH)
    largest_snapshot = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(node.durability.run)
        with trio.fail_after(60):
            for index in range(count):
                assert await node.register(index) == 200, index
                largest_snapshot = max(largest_snapshot, snapshot_bytes(data_dir))
        nursery.cancel_scope.cancel()  # a snapshot being written is finished first
    counters = node.durability.counters()
    assert counters["failedSnapshots"] == 0
    assert counters["snapshots"] >= 5
    service = node.state.registry.get("public", SERVICE)
    assert service is not None
    instance_bytes = sum(len(json.dumps(dict(i.metadata))) for i in service.instances(ephemeral=False))
    assert instance_bytes > STORE_MAX_RECORD_BYTES
    node.log.close()
    assert stored(data_dir) == {ip_of(index) for index in range(count)}
    assert max(largest_snapshot, snapshot_bytes(data_dir)) > STORE_MAX_RECORD_BYTES


def snapshot_bytes(data_dir: Path) -> int:
    path = data_dir / "snapshot"
    return path.stat().st_size if path.exists() else 0
