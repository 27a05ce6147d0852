"""``nacosfast import-log``: copy a standalone node's durable log into etcd, once (idempotent).

The log is replayed into a fresh state and written as one record per key (``journal.snapshot``); each
key is created only if etcd does not hold it yet (a transaction on ``create_revision == 0``), so running
the import again, or after nodes started writing to etcd, changes nothing that is already there.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from nacosfast.auth.store import PERMISSION_RECORD, ROLE_RECORD, USER_RECORD
from nacosfast.config import Settings
from nacosfast.naming import journal
from nacosfast.naming.node import build_state
from nacosfast.server.clock import wall_ms
from nacosfast.server.etcd import etcd_client, has_log
from nacosfast.server.etcd_http import EtcdClient
from nacosfast.store.etcd_keys import check_prefix, record_target, write_request
from nacosfast.store.log import AppendLog

__all__ = ["import_log", "run_import"]

log = logging.getLogger("nacosfast.etcd")


def _skip(record: dict[str, Any]) -> None:
    """An auth record: not imported."""


class _NoJournal:
    """The journal of the throw-away state the log is replayed into (nothing is written there)."""

    def append(self, payload: bytes) -> int:
        raise RuntimeError("the import writes nothing to the log")


async def import_log(client: EtcdClient, prefix: str, data_dir: str) -> tuple[int, int]:
    """Create every key of the log in ``data_dir`` that etcd lacks; ``(created, already there)``."""
    store = AppendLog.open(data_dir)
    try:
        state = build_state(_NoJournal(), wall_ms)
        # Users, roles and permissions are not kept in etcd (auth with etcd is refused at start).
        skipped = dict.fromkeys((USER_RECORD, ROLE_RECORD, PERMISSION_RECORD), _skip)
        journal.replay(state, store.replay(), skipped)
        records = list(journal.snapshot(state))
    finally:
        store.close()
    created = existing = 0
    for payload in records:
        reply = await client.call("/v3/kv/txn", write_request(record_target(prefix, payload), None))
        if reply.get("succeeded"):
            created += 1
        else:
            existing += 1
    return created, existing


def run_import(settings: Settings) -> int:
    """The command: import ``settings.data_dir`` into ``settings.etcd``; the exit status."""

    async def main() -> tuple[int, int]:
        client = etcd_client(settings)
        try:
            return await import_log(client, check_prefix(settings.etcd_prefix), settings.data_dir)
        finally:
            await client.aclose()

    if not has_log(settings.data_dir):
        log.error("no standalone log in %s", settings.data_dir)
        return 1
    created, existing = trio.run(main)
    log.info("imported %s into etcd: %d keys created, %d already there", settings.data_dir, created, existing)
    return 0
