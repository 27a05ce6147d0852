"""The beat reactor's schedule (Nacos ``BeatReactor``), sans-I/O.

One entry per registered ephemeral instance. An entry is due every ``period`` ms; the shell sends its
beat and reports the reply. The server's ``clientBeatInterval`` sets the period, ``lightBeatEnabled``
lets the next beats go without the instance JSON, and code 20404 (the server lost the instance, e.g.
after a restart) asks for a register. A beat that fails is simply tried again a period later: a
beat schedule never stops while the instance is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from nacosfast.client.api import RESOURCE_NOT_FOUND, BeatReply, InstanceSpec
from nacosfast.client.limits import BEAT_INTERVAL_MS, MAX_BEAT_INTERVAL_MS, MIN_BEAT_INTERVAL_MS
from nacosfast.client.schedule import DueHeap

PRESERVED_BEAT_INTERVAL: str = "preserved.heart.beat.interval"
"""Instance metadata key naming the beat period in ms (compatibility.md §2.5)."""

BeatKey = tuple[str, str, int, str]
"""(grouped service, ip, port, cluster)."""


class BeatAction(Enum):
    """What the shell does after a beat reply."""

    NOTHING = "nothing"
    REGISTER = "register"


def _clamp(interval_ms: int) -> int:
    return max(MIN_BEAT_INTERVAL_MS, min(MAX_BEAT_INTERVAL_MS, interval_ms))


def initial_period_ms(spec: InstanceSpec, default_ms: int = BEAT_INTERVAL_MS) -> int:
    """The metadata's ``preserved.heart.beat.interval`` when it is a number, else the default."""
    text = spec.metadata.get(PRESERVED_BEAT_INTERVAL, "")
    return _clamp(int(text)) if text.isdigit() else _clamp(default_ms)


@dataclass(slots=True)
class BeatEntry:
    """One instance's beat state."""

    spec: InstanceSpec
    period_ms: int
    due_ms: int
    light: bool = False
    """The server allows light beats (no instance JSON)."""
    in_flight: bool = False
    generation: int = 0
    """Bumped on every re-add: a reply for a removed and re-added instance is ignored."""
    beats: int = 0
    registers: int = 0


@dataclass(slots=True)
class BeatSchedule:
    """Due times of every registered ephemeral instance."""

    default_interval_ms: int = BEAT_INTERVAL_MS
    _entries: dict[BeatKey, BeatEntry] = field(default_factory=dict)
    _heap: DueHeap[BeatKey, BeatEntry] = field(init=False)
    _generations: int = 0

    def __post_init__(self) -> None:
        self._heap = DueHeap(self._entries)

    @staticmethod
    def key_of(spec: InstanceSpec) -> BeatKey:
        return spec.grouped, spec.ip, spec.port, spec.cluster

    def add(self, spec: InstanceSpec, now_ms: int) -> BeatKey:
        """Start beating for ``spec`` (replacing an older entry): first beat one period from now."""
        key = self.key_of(spec)
        period = initial_period_ms(spec, self.default_interval_ms)
        self._generations += 1
        entry = BeatEntry(spec, period, now_ms + period, generation=self._generations)
        self._entries[key] = entry
        self._heap.push(key, entry)
        return key

    def remove(self, key: BeatKey) -> BeatEntry | None:
        """Stop beating for ``key``; the removed entry."""
        return self._entries.pop(key, None)

    def get(self, key: BeatKey) -> BeatEntry | None:
        return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[BeatKey]:
        return list(self._entries)

    def due(self, now_ms: int) -> list[tuple[BeatKey, BeatEntry]]:
        """Entries whose beat is due; each is marked in flight until its reply is reported."""
        return self._heap.due(now_ms)

    def next_deadline_ms(self) -> int | None:
        """The earliest due time, or ``None`` when nothing is scheduled."""
        return self._heap.next_deadline_ms()

    def _reschedule(self, key: BeatKey, entry: BeatEntry, now_ms: int) -> None:
        entry.in_flight = False
        entry.due_ms = now_ms + entry.period_ms
        self._heap.push(key, entry)

    def on_reply(self, key: BeatKey, generation: int, reply: BeatReply, now_ms: int) -> BeatAction:
        """Record a beat answer; whether the instance must be registered again."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation:
            return BeatAction.NOTHING
        entry.beats += 1
        if reply.interval_ms > 0:
            entry.period_ms = _clamp(reply.interval_ms)
        entry.light = reply.light_beat_enabled
        self._reschedule(key, entry, now_ms)
        if reply.code == RESOURCE_NOT_FOUND:
            entry.registers += 1
            entry.light = False  # the next beat carries the instance, in case the register fails
            return BeatAction.REGISTER
        return BeatAction.NOTHING

    def on_failure(self, key: BeatKey, generation: int, now_ms: int) -> None:
        """The beat could not be sent or was refused: try again one period later, with a full beat."""
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation:
            return
        entry.light = False
        self._reschedule(key, entry, now_ms)
