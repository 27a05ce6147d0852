"""Helper process for the kill -9 test (tests/test_server_durability.py); not a test module.

``python -m tests.kill9_writer DATA_DIR SNAPSHOT_RECORDS MAX_RECORDS`` opens the log, replays it, then
appends records from several concurrent writers through ``Durability`` and prints ``<seq> <payload>``
for each one only after ``wait_durable`` returned (that line is the acknowledgement). Its state for
snapshots is the list of every durable payload in seq order, so a replay must yield payload ``seq`` at
index ``seq - 1``. It stops by itself after MAX_RECORDS records; the test kills it long before.
"""

from __future__ import annotations

import sys

import trio

from nacosfast.server.durability import Durability
from nacosfast.store.log import AppendLog

WRITERS = 16


async def main(data_dir: str, snapshot_records: int, max_records: int) -> None:
    log = AppendLog.open(data_dir)
    state = list(log.replay())
    if len(state) != log.last_seq:
        raise SystemExit(f"replayed {len(state)} records, but the log ends at {log.last_seq}")
    durability = Durability(
        log, snapshot_source=lambda: state[: durability.durable_seq], snapshot_log_records=snapshot_records
    )
    start = len(state)

    async def writer(number: int) -> None:
        for index in range(max_records // WRITERS):
            payload = f"w{number}-{start}-{index}".encode()
            seq = durability.append(payload)
            state.append(payload)
            assert seq == len(state)
            await durability.wait_durable(seq)
            sys.stdout.write(f"{seq} {payload.decode()}\n")
            sys.stdout.flush()

    async with trio.open_nursery() as nursery:
        await nursery.start(durability.run)
        async with trio.open_nursery() as writers:
            for number in range(WRITERS):
                writers.start_soon(writer, number)
        nursery.cancel_scope.cancel()
    log.close()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
