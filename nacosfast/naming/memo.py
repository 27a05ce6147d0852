"""Bounded memo tables that one node owns (on its ``NamingState``), never the process.

Several nodes run in one test process: whatever a handler remembers between requests lives here, in an
object created per state, so two nodes share nothing mutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from nacosfast.limits import MAX_BEAT_REPLY_VARIANTS, MAX_LIST_QUERY_MEMO

if TYPE_CHECKING:
    from nacosfast.naming.client_info import ClientKind
    from nacosfast.naming.instances import ListQuery

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """A dict of at most ``limit`` entries.

    When full, ``clear_when_full`` empties it and starts again (hostile variety costs one recomputation
    per request, never memory); otherwise further keys are simply not remembered.
    """

    __slots__ = ("_clear_when_full", "_entries", "_limit")

    def __init__(self, limit: int, *, clear_when_full: bool) -> None:
        self._entries: dict[K, V] = {}
        self._limit = limit
        self._clear_when_full = clear_when_full

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The remembered value, or ``None``."""
        return self._entries.get(key)

    def put(self, key: K, value: V) -> None:
        """Remember ``value`` for ``key`` within the bound."""
        if len(self._entries) >= self._limit:
            if not self._clear_when_full:
                return
            self._entries.clear()
        self._entries[key] = value

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


@dataclass(frozen=True, slots=True)
class PushMinimums:
    """The ``push*Version`` switch texts and the oldest pushable client version of each kind they give."""

    source: tuple[str, ...] = ()
    minimums: dict[ClientKind, tuple[int, int, int]] = field(default_factory=dict)


def _list_query_memo() -> BoundedMemo[bytes, ListQuery]:
    return BoundedMemo(MAX_LIST_QUERY_MEMO, clear_when_full=True)


def _beat_reply_memo() -> BoundedMemo[tuple[int, int, bool | None], bytes]:
    return BoundedMemo(MAX_BEAT_REPLY_VARIANTS, clear_when_full=False)


@dataclass(slots=True)
class NamingMemos:
    """What the instance endpoints remember between requests, for one node."""

    list_queries: BoundedMemo[bytes, ListQuery] = field(default_factory=_list_query_memo)
    """``instance/list`` query string → its validated parameters (only for requests whose parameters
    all come from the query string: the answer is a function of those bytes, the state and the client)."""
    beat_replies: BoundedMemo[tuple[int, int, bool | None], bytes] = field(default_factory=_beat_reply_memo)
    """(code, clientBeatInterval, lightBeatEnabled) → the encoded beat reply."""
    push_minimums: PushMinimums = field(default_factory=PushMinimums)
    """A one-entry memo: the switches' ``push*Version`` texts, parsed."""
