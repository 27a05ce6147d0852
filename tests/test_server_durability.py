"""nacosfast.server.durability: group commit, failures as 503, snapshots, shutdown, and kill -9.

These tests run on Trio's real clock: the flusher works in threads, which an autojump clock would
jump past. Every wait is short and bounded.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from nacosfast.errors import Unavailable
from nacosfast.server.durability import Durability
from nacosfast.store import AppendLog

REPO_ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 10.0
"""Upper bound for any single wait in these tests (they finish in milliseconds when all is well)."""
POLL_S = 0.001


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a condition that a worker thread makes true (a thread cannot set a trio.Event directly)."""
    with trio.fail_after(WAIT_S):
        while True:
            if condition():
                return
            await trio.sleep(POLL_S)


def wal_files(log: AppendLog) -> list[str]:
    return sorted(name for name in os.listdir(log.data_dir) if name.startswith("wal-"))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AppendLog]:
    opened = AppendLog.open(tmp_path / "data")
    yield opened
    opened._release()  # the test may have left it failing; the files are checked by reopening


def reopen(log: AppendLog) -> list[bytes]:
    log._release()
    with AppendLog.open(log.data_dir) as fresh:
        return list(fresh.replay())


def fail_with(code: int) -> Callable[..., int]:
    def fail(*args: object) -> int:
        raise OSError(code, os.strerror(code))

    return fail


def outcome_recorder(durability: Durability, results: list[str]) -> Callable[[int], Awaitable[None]]:
    """A task that waits for ``seq`` and records ``durable`` or the ``Unavailable`` message."""

    async def waiter(seq: int) -> None:
        try:
            await durability.wait_durable(seq)
            results.append("durable")
        except Unavailable as error:
            results.append(error.message)

    return waiter


class CountingSync:
    """Stands in for os.fdatasync and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = os.fdatasync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.real(fd)


async def test_group_commit_one_fsync_for_records_appended_together(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = CountingSync()
    monkeypatch.setattr(os, "fdatasync", sync)
    durability = Durability(log, snapshot_source=list)
    async with trio.open_nursery() as nursery:
        seqs = [durability.append(f"r{i}".encode()) for i in range(500)]
        await nursery.start(durability.run)
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(seqs[-1])
        assert sync.calls == 1
        assert durability.durable_seq == 500
        nursery.cancel_scope.cancel()
    assert reopen(log) == [f"r{i}".encode() for i in range(500)]


async def test_group_commit_with_concurrent_writers(log: AppendLog, monkeypatch: pytest.MonkeyPatch) -> None:
    sync = CountingSync()
    monkeypatch.setattr(os, "fdatasync", sync)
    durability = Durability(log, snapshot_source=list)
    writers, rounds = 64, 20
    acknowledged: list[int] = []

    async def writer(number: int) -> None:
        for index in range(rounds):
            seq = durability.append(f"w{number}-{index}".encode())
            await durability.wait_durable(seq)
            assert durability.durable_seq >= seq
            acknowledged.append(seq)

    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        with trio.fail_after(WAIT_S):
            async with trio.open_nursery() as group:
                for number in range(writers):
                    group.start_soon(writer, number)
        nursery.cancel_scope.cancel()
    total = writers * rounds
    assert sorted(acknowledged) == list(range(1, total + 1))
    # Each writer waits for its own record, so a round carries about one record per writer.
    assert rounds <= sync.calls <= total // 8
    assert durability.counters()["fsyncs"] == sync.calls
    assert len(reopen(log)) == total


async def test_wait_durable_raises_unavailable_when_the_disk_is_full(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    durability = Durability(log, snapshot_source=list, retry_interval_ms=20)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        first = durability.append(b"before")
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(first)

        monkeypatch.setattr(os, "pwrite", fail_with(errno.ENOSPC))
        seq = durability.append(b"while full")
        with (
            trio.fail_after(WAIT_S),
            pytest.raises(Unavailable, match="storage failure: No space left") as info,
        ):
            await durability.wait_durable(seq)
        assert info.value.status == 503
        assert durability.failing
        assert durability.refused(seq) == "No space left on device"
        assert durability.refused(first) is None
        later = durability.append(b"also while full")  # waits for a retry, which fails too
        with trio.fail_after(WAIT_S), pytest.raises(Unavailable, match="No space"):
            await durability.wait_durable(later)
        assert durability.counters()["failedFlushes"] >= 2

        assert durability.counters()["refusedRecords"] == 2
        assert log.pending_records == 0  # refused records are discarded, not kept for a retry
        monkeypatch.undo()  # space is freed: the next write goes through
        last = durability.append(b"after")
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(last)
        assert durability.counters()["failing"] is False
        with pytest.raises(Unavailable, match="No space"):  # a refused record stays refused
            await durability.wait_durable(seq)
        nursery.cancel_scope.cancel()
    assert reopen(log) == [b"before", b"after"]


async def test_log_stays_replayable_when_the_disk_stays_full(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    durability = Durability(log, snapshot_source=list, retry_interval_ms=20, shutdown_flush_timeout_ms=1_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(durability.append(b"kept"))
        monkeypatch.setattr(os, "fdatasync", fail_with(errno.EIO))
        seq = durability.append(b"lost")
        with trio.fail_after(WAIT_S), pytest.raises(Unavailable, match="Input/output error"):
            await durability.wait_durable(seq)
        nursery.cancel_scope.cancel()
    with pytest.raises(Unavailable, match="Input/output error"):  # refused: it never will be durable
        await durability.wait_durable(seq)
    monkeypatch.undo()
    assert reopen(log) == [b"kept"]
    with AppendLog.open(log.data_dir) as again:
        assert again.append(b"next") == 2


async def test_pending_records_are_flushed_at_shutdown(log: AppendLog) -> None:
    durability = Durability(log, snapshot_source=list)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        for i in range(10):
            durability.append(f"r{i}".encode())
        nursery.cancel_scope.cancel()  # before the flusher got to them
    assert durability.durable_seq == 10
    with pytest.raises(Unavailable, match="shutting down"):
        durability.append(b"too late")
    await durability.wait_durable(10)  # durable ones still answer
    assert len(reopen(log)) == 10


async def test_waiters_fail_when_shutdown_cannot_flush(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    durability = Durability(log, snapshot_source=list, retry_interval_ms=60_000)
    results: list[str] = []
    waiter = outcome_recorder(durability, results)

    monkeypatch.setattr(os, "pwrite", fail_with(errno.ENOSPC))
    async with trio.open_nursery() as outer, trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        first = durability.append(b"a")
        outer.start_soon(waiter, first)
        await wait_until(lambda: durability.failing)
        second = durability.append(b"b")  # waits for a retry that is a minute away
        outer.start_soon(waiter, second)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()  # the shutdown flush fails as well
    assert results == ["storage failure: No space left on device"] * 2
    with pytest.raises(Unavailable, match="No space left"):  # refused by the shutdown flush
        await durability.wait_durable(second)
    monkeypatch.undo()
    assert reopen(log) == []


async def test_shutdown_is_bounded_when_the_disk_hangs(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, gate = threading.Event(), threading.Event()
    real_sync = os.fdatasync

    def hanging_sync(fd: int) -> None:
        entered.set()
        gate.wait(WAIT_S)
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", hanging_sync)
    durability = Durability(log, snapshot_source=list, shutdown_flush_timeout_ms=50)
    results: list[str] = []
    waiter = outcome_recorder(durability, results)

    with trio.fail_after(WAIT_S):
        async with trio.open_nursery() as outer, trio.open_nursery() as nursery:
            await nursery.start(durability.run)
            outer.start_soon(waiter, durability.append(b"a"))
            await wait_until(entered.is_set)
            outer.start_soon(waiter, durability.append(b"b"))
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert results == ["storage failure: the server is shutting down"] * 2
    gate.set()  # the disk comes back: the abandoned flushes (a, then b) finish in their threads
    await wait_until(lambda: log.durable_seq == 2)
    monkeypatch.undo()
    assert reopen(log) == [b"a", b"b"]  # written after their waiters heard 503: the outcome was unknown


async def test_append_refuses_when_too_much_is_pending(log: AppendLog) -> None:
    durability = Durability(log, snapshot_source=list, max_pending_bytes=1_000)
    durability.append(b"x" * 500)
    with pytest.raises(Unavailable, match="waiting for the disk"):
        durability.append(b"x" * 500)
    assert durability.counters()["lastSeq"] == durability.pending_records == 1


async def test_wait_durable_rejects_a_seq_never_appended(log: AppendLog) -> None:
    durability = Durability(log, snapshot_source=list)
    with pytest.raises(ValueError, match="never appended"):
        await durability.wait_durable(1)
    await durability.wait_durable(0)


async def test_run_twice_is_refused(log: AppendLog) -> None:
    durability = Durability(log, snapshot_source=list)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        with pytest.raises(RuntimeError, match="already started"):
            await durability.run()
        nursery.cancel_scope.cancel()


async def test_snapshot_when_the_log_passes_its_record_count(log: AppendLog) -> None:
    state: list[bytes] = []
    durability = Durability(
        log, snapshot_log_records=50, snapshot_source=lambda: state[: durability.durable_seq]
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        for batch in range(1, 6):
            for _ in range(60):  # each batch takes the log past 50 records once
                payload = f"r{len(state)}".encode()
                state.append(payload)
                seq = durability.append(payload)
            with trio.fail_after(WAIT_S):
                await durability.wait_durable(seq)
            await wait_until(lambda: durability.snapshots == batch)  # noqa: B023 - awaited right here
            assert log.snapshot_seq == seq  # the state was taken after the whole batch
        nursery.cancel_scope.cancel()
    assert durability.snapshots == 5
    assert log.log_records < 60
    assert len(wal_files(log)) == 1
    assert reopen(log) == state


async def test_flushing_goes_on_while_a_snapshot_is_written(
    log: AppendLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: list[bytes] = []
    entered, gate = threading.Event(), threading.Event()
    real_rename = os.rename

    def held_rename(source: str, target: str) -> None:  # only write_snapshot renames
        entered.set()
        gate.wait(WAIT_S)
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", held_rename)
    durability = Durability(
        log, snapshot_log_records=50, snapshot_source=lambda: state[: durability.durable_seq]
    )

    def add(count: int) -> int:
        seq = 0
        for _ in range(count):
            state.append(f"r{len(state)}".encode())
            seq = durability.append(state[-1])
        return seq

    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(add(60))  # passes 50: the snapshot starts
        await wait_until(entered.is_set)  # its state is taken, its file is held before the rename
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(add(10))  # durable while the snapshot is still held
        assert durability.snapshots == 0
        gate.set()
        await wait_until(lambda: durability.snapshots == 1)
        nursery.cancel_scope.cancel()
    assert log.snapshot_seq == 60
    assert log.log_records == 10  # the rotation came first: only the records written meanwhile remain
    assert reopen(log) == state


async def test_snapshot_when_the_log_passes_its_size(log: AppendLog) -> None:
    state = [b"x" * 1_000 for _ in range(20)]
    durability = Durability(log, snapshot_source=lambda: state, snapshot_log_bytes=10_000)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        for payload in state:
            durability.append(payload)
        with trio.fail_after(WAIT_S):
            await durability.wait_durable(20)
        await wait_until(lambda: durability.snapshots > 0)
        nursery.cancel_scope.cancel()
    assert log.snapshot_seq == 20
    assert reopen(log) == state


async def test_failed_snapshot_is_retried_and_the_server_keeps_going(log: AppendLog) -> None:
    state: list[bytes] = []
    attempts = 0

    def source() -> Iterable[bytes]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("state not ready")
        return state[: durability.durable_seq]  # the durable state: a record may be pending now

    durability = Durability(log, snapshot_source=source, snapshot_log_records=5, retry_interval_ms=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        with trio.fail_after(WAIT_S):
            while durability.snapshots == 0:
                payload = f"r{len(state)}".encode()
                state.append(payload)
                await durability.wait_durable(durability.append(payload))
                await trio.sleep(0.005)
        nursery.cancel_scope.cancel()
    assert durability.failed_snapshots == 1
    assert reopen(log) == state


# --- kill -9 ------------------------------------------------------------------------------------------


def read_acks(process: subprocess.Popen[bytes], *, want: int, after_first_s: float) -> dict[int, bytes]:
    """Acknowledgements printed so far: read until ``want`` or ``after_first_s`` after the first one."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    acks: dict[int, bytes] = {}
    buffer = b""
    start_deadline = time.monotonic() + 30.0  # interpreter start-up on a loaded machine
    deadline = start_deadline
    while len(acks) < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65_536)
        if not chunk:
            raise AssertionError(f"writer exited early with {process.wait(WAIT_S)}")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            seq, payload = line.split(b" ")
            acks[int(seq)] = payload
        if acks and deadline == start_deadline:
            deadline = time.monotonic() + after_first_s
    return acks


def run_and_kill(data_dir: Path, *, snapshot_records: int) -> dict[int, bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kill9_writer", str(data_dir), str(snapshot_records), "1000000"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        acks = read_acks(process, want=400, after_first_s=0.5)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT_S)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    return acks


@pytest.mark.parametrize("snapshot_records", [100, 1_000_000])
def test_acknowledged_records_survive_kill_9(tmp_path: Path, snapshot_records: int) -> None:
    data_dir = tmp_path / "data"
    acknowledged: dict[int, bytes] = {}
    for _ in range(2):  # the second run starts from what the first one's kill left
        acks = run_and_kill(data_dir, snapshot_records=snapshot_records)
        assert acks, "the writer acknowledged nothing"
        acknowledged |= acks
        with AppendLog.open(data_dir) as log:
            stored = list(log.replay())
            assert log.last_seq == len(stored)
            for seq, payload in acknowledged.items():
                assert stored[seq - 1] == payload, seq
            seq = log.append(b"appended after the kill")
            assert log.flush() == seq
        with AppendLog.open(data_dir) as log:
            assert list(log.replay())[-1] == b"appended after the kill"
        acknowledged[seq] = b"appended after the kill"
    if snapshot_records < 1_000_000 and max(acknowledged) >= 600:  # several snapshots were due
        assert (data_dir / "snapshot").exists()
