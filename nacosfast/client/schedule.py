"""A due-time heap of keyed entries, for the beat schedule and the host reactor's polls (sans-I/O).

Entries are rescheduled by pushing a new ``(due_ms, key, generation)``; a heap item is stale when its
entry is gone, was replaced (another generation) or was moved (another ``due_ms``), and stale items are
dropped as they surface, so rescheduling never searches the heap.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Generic, Protocol, TypeVar


class Scheduled(Protocol):
    """What the heap reads of an entry (``in_flight`` is set when the entry is handed out)."""

    due_ms: int
    generation: int
    in_flight: bool


K = TypeVar("K")
E = TypeVar("E", bound=Scheduled)


class DueHeap(Generic[K, E]):
    """``(due_ms, key, generation)`` items over an entry table the owner keeps."""

    __slots__ = ("_entries", "_heap")

    def __init__(self, entries: Mapping[K, E]) -> None:
        self._heap: list[tuple[int, K, int]] = []
        self._entries = entries

    def push(self, key: K, entry: E) -> None:
        """Schedule ``entry`` at its ``due_ms``."""
        heapq.heappush(self._heap, (entry.due_ms, key, entry.generation))

    def due(self, now_ms: int) -> list[tuple[K, E]]:
        """Entries due by ``now_ms``; each is marked in flight until its owner reschedules it."""
        ready: list[tuple[K, E]] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            due_ms, key, generation = heapq.heappop(heap)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation or entry.due_ms != due_ms or entry.in_flight:
                continue  # stale heap item
            entry.in_flight = True
            ready.append((key, entry))
        return ready

    def next_deadline_ms(self) -> int | None:
        """The earliest live due time, or ``None`` when nothing is scheduled."""
        heap = self._heap
        while heap:
            due_ms, key, generation = heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation and entry.due_ms == due_ms:
                return due_ms
            heapq.heappop(heap)
        return None
