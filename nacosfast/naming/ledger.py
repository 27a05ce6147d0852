"""Writes applied in memory but not yet durable, per journal key: what to restore if the disk refuses.

A durable write is applied to the registry (or namespace table, or switches) as soon as its record is
handed to the journal, and acknowledged once the record is fsync'd. Until then the ledger remembers,
for each key the write touched, the key's *durable* value (what a restart would load) and the value of
every write still pending, in order. The server reports outcomes in journal order:

- ``settle(through)``: every write numbered up to ``through`` is durable; the newest of them becomes
  the key's durable value.
- ``refuse(through)``: every write up to ``through`` was discarded; a key whose pending writes were all
  refused goes back to its durable value (the caller applies it). A key with a newer pending write is
  left alone: memory already holds that newer value, and if it is refused too, the durable value is
  still the one to restore. So an undo never resurrects a refused value or clobbers a newer one.

Keys are tuples; see ``nacosfast.naming.journal`` for their kinds. Values are whatever the journal
stores for a key (an ``Instance``, a ``ServiceMeta``, ...) or ``None`` for "absent".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Ledger"]


@dataclass(slots=True)
class _Entry:
    durable: Any
    pending: deque[Any] = field(default_factory=deque)
    """Values of this key's pending writes, oldest first (their numbers are in ``Ledger._order``)."""


class Ledger:
    """Pending durable writes by key; see the module docstring."""

    __slots__ = ("_entries", "_order")

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}
        self._order: deque[tuple[int, Hashable]] = deque()
        """(write number, key) of every pending write, in journal order."""

    def __len__(self) -> int:
        """Keys with at least one pending write."""
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def record(self, key: Hashable, before: Any, after: Any, number: int) -> None:
        """Write ``number`` sets ``key`` from ``before`` (its value in memory now) to ``after``.

        Numbers never go down (one write may set several keys under the same number)."""
        if self._order and number < self._order[-1][0]:
            raise ValueError(f"write {number} comes after write {self._order[-1][0]}")
        entry = self._entries.get(key)
        if entry is None:  # nothing pending: the value in memory is the durable one
            entry = self._entries[key] = _Entry(before)
        entry.pending.append(after)
        self._order.append((number, key))

    def settle(self, through: int) -> None:
        """Writes up to ``through`` are durable."""
        order, entries = self._order, self._entries
        while order and order[0][0] <= through:
            _, key = order.popleft()
            entry = entries[key]
            entry.durable = entry.pending.popleft()
            if not entry.pending:
                del entries[key]

    def refuse(self, through: int) -> list[tuple[Hashable, Any]]:
        """Writes up to ``through`` were discarded; returns ``(key, durable value)`` to restore, in the
        order the keys were first refused."""
        order, entries = self._order, self._entries
        restore: list[tuple[Hashable, Any]] = []
        while order and order[0][0] <= through:
            _, key = order.popleft()
            entry = entries[key]
            entry.pending.popleft()
            if not entry.pending:
                del entries[key]
                restore.append((key, entry.durable))
        return restore

    def durable(self) -> Iterator[tuple[Hashable, Any]]:
        """``(key, durable value)`` of every key with a pending write (for a snapshot of durable state)."""
        for key, entry in self._entries.items():
            yield key, entry.durable

    def observe(self, key: Hashable, value: Any) -> None:
        """Another writer made ``value`` the durable value of ``key`` (which has a pending write)."""
        self._entries[key].durable = value
