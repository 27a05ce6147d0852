"""Cluster membership and service ownership: a pure table of members, their states and the owner map.

Sans-I/O: every method takes the monotonic ``now_ms`` (and ``wall_ms`` only for values shown); the Trio
shell (``nacosfast.server.membership``) sends and receives the status reports and calls ``tick``.

States follow Nacos (compatibility.md §9.1): a member is ``UP`` while it is heard from, ``SUSPICIOUS``
once it has been silent for ``suspicious_after_ms`` (it still counts as healthy, as in Nacos), and
``DOWN`` once silent for ``down_after_ms``, after ``fail_limit`` failed reports in a row, or at once
when a connection to it is refused (nothing listens there: the process is gone). Its next report makes
it ``UP`` again. *Heard from* means either direction: a report it sent us, or an answer to ours. This
node is always ``UP`` (the self-beat of the seeds), so its healthy list is computed even with no peer.

Ownership (Nacos DistroMapper, made stable; docs/cluster.md): the owner of a service is
``healthy[xxh3_64(namespace + "##" + group@@service) % len(healthy)]`` over the *sorted* healthy
addresses, the same on every node that agrees on membership. ``version`` is bumped on every change of
a member's state or of the member list; ``stable(now_ms)`` says nothing changed for ``settle_ms``.

Invariants: ``self_address`` is always a member and always ``UP``; ``healthy_addresses()`` is sorted
and holds exactly the ``UP`` and ``SUSPICIOUS`` members; there are at most ``MAX_MEMBERS`` members.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from xxhash import xxh3_64_intdigest

from nacosfast.limits import (
    MAX_MEMBERS,
    MEMBER_DOWN_AFTER_MS,
    MEMBER_FAIL_LIMIT,
    MEMBER_REPORT_INTERVAL_MS,
    MEMBER_SUSPICIOUS_AFTER_MS,
    MEMBERSHIP_SETTLE_MS,
)

__all__ = ["DOWN", "SUSPICIOUS", "UP", "Member", "MemberTable", "MemberTimings", "owner_among", "service_key"]

UP: Final = "UP"
SUSPICIOUS: Final = "SUSPICIOUS"
DOWN: Final = "DOWN"
HEALTHY_STATES: Final = frozenset({UP, SUSPICIOUS})
"""States that keep a member in the healthy list (Nacos ``DistroMapper``: UP or SUSPICIOUS)."""


def owner_among(healthy: tuple[str, ...], service_key: str) -> str:
    """The owner of ``service_key`` given the sorted, non-empty healthy member list."""
    if len(healthy) == 1:
        return healthy[0]
    return healthy[xxh3_64_intdigest(service_key.encode()) % len(healthy)]


def service_key(namespace: str, grouped_name: str) -> str:
    """The ownership key of a service: ``namespace##group@@service``."""
    return f"{namespace}##{grouped_name}"


@dataclass(frozen=True, slots=True)
class MemberTimings:
    """How fast members are reported and judged (defaults from ``nacosfast.limits``; tests scale them)."""

    report_interval_ms: int = MEMBER_REPORT_INTERVAL_MS
    suspicious_after_ms: int = MEMBER_SUSPICIOUS_AFTER_MS
    down_after_ms: int = MEMBER_DOWN_AFTER_MS
    fail_limit: int = MEMBER_FAIL_LIMIT
    settle_ms: int = MEMBERSHIP_SETTLE_MS

    def __post_init__(self) -> None:
        if self.report_interval_ms < 1:
            raise ValueError("member report interval must be at least 1 ms")
        if not self.report_interval_ms <= self.suspicious_after_ms <= self.down_after_ms:
            raise ValueError("member timings must satisfy report interval <= suspicious <= down")
        if self.fail_limit < 1 or self.settle_ms < 0:
            raise ValueError("member fail limit must be at least 1 and the settle window not negative")


@dataclass(slots=True)
class Member:
    """One member as this node sees it."""

    address: str
    state: str
    last_heard_ms: int
    """Monotonic ms of the last report received from it or answered by it."""
    last_report_wall_ms: int = 0
    """Epoch ms of that report (0: never heard from), shown as ``lastRefreshTime``."""
    fail_count: int = 0
    """Failed reports to it in a row."""
    version: str = ""
    """The version it reported (empty until it reports)."""

    @property
    def ip(self) -> str:
        """The host part of the address."""
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        """The port part of the address."""
        return int(self.address.rpartition(":")[2])


class MemberTable:
    """The members of the cluster, their states, the healthy list and the owner of each service."""

    def __init__(
        self,
        self_address: str,
        addresses: tuple[str, ...] | list[str],
        now_ms: int,
        timings: MemberTimings | None = None,
    ) -> None:
        """Members ``addresses`` plus this node; every listed peer starts ``UP`` (heard from ``now_ms``)."""
        self.self_address = self_address
        self.timings = timings or MemberTimings()
        self.version = 0
        self.changed_ms = now_ms
        self._members: dict[str, Member] = {self_address: Member(self_address, UP, now_ms)}
        self._healthy: tuple[str, ...] = (self_address,)
        self._peers: tuple[str, ...] = ()
        self._last_tick_ms: int | None = None
        self.set_members(addresses, now_ms)
        self.version = 1
        self.changed_ms = now_ms

    # --- reading -------------------------------------------------------------------------------------

    def healthy_addresses(self) -> tuple[str, ...]:
        """Sorted addresses of the ``UP`` and ``SUSPICIOUS`` members, this node included."""
        return self._healthy

    def peers(self) -> tuple[str, ...]:
        """Healthy members other than this node, sorted."""
        return self._peers

    def others(self) -> tuple[str, ...]:
        """Every member other than this node, in any state (status reports go to all of them)."""
        return tuple(sorted(address for address in self._members if address != self.self_address))

    def members(self) -> list[Member]:
        """Every member, sorted by address."""
        return [self._members[address] for address in sorted(self._members)]

    def get(self, address: str) -> Member | None:
        """The member with this address, if it is one."""
        return self._members.get(address)

    def __contains__(self, address: object) -> bool:
        return address in self._members

    def stable(self, now_ms: int) -> bool:
        """Whether no member changed state (and the list did not change) for the settle window."""
        return now_ms - self.changed_ms >= self.timings.settle_ms

    def owner_of(self, service_key: str) -> str:
        """The address of the member that owns ``service_key`` (``namespace##group@@service``)."""
        return owner_among(self._healthy, service_key)

    def is_owner(self, service_key: str) -> bool:
        """Whether this node owns ``service_key``."""
        return self.owner_of(service_key) == self.self_address

    # --- changing ------------------------------------------------------------------------------------

    def set_members(self, addresses: tuple[str, ...] | list[str], now_ms: int) -> bool:
        """Replace the member list (this node always stays); new members start ``UP``. Changed?"""
        wanted = set(addresses)
        wanted.add(self.self_address)
        if len(wanted) > MAX_MEMBERS:
            raise ValueError(f"too many members: {len(wanted)} (at most {MAX_MEMBERS})")
        current = set(self._members)
        if wanted == current:
            return False
        for address in current - wanted:
            del self._members[address]
        for address in wanted - current:
            self._members[address] = Member(address, UP, now_ms)
        self._changed(now_ms)
        return True

    def on_report(self, address: str, now_ms: int, wall_ms: int, version: str = "") -> bool:
        """``address`` was heard from (its report arrived, or it answered ours); ``False`` if unknown."""
        member = self._members.get(address)
        if member is None:
            return False
        member.last_heard_ms = now_ms
        member.last_report_wall_ms = wall_ms
        member.fail_count = 0
        if version:
            member.version = version
        self._set_state(member, UP, now_ms)
        return True

    def on_failure(self, address: str, now_ms: int, *, refused: bool = False) -> None:
        """A report to ``address`` failed: one more failure (``refused``: nothing listens, DOWN at once)."""
        member = self._members.get(address)
        if member is None or address == self.self_address:
            return
        member.fail_count += 1
        if refused or member.fail_count >= self.timings.fail_limit:
            self._set_state(member, DOWN, now_ms)
        elif member.state == UP:
            self._set_state(member, SUSPICIOUS, now_ms)

    def tick(self, now_ms: int, wall_ms: int) -> None:
        """Beat this node itself and turn silent peers ``SUSPICIOUS``, then ``DOWN``.

        If the previous tick is more than ``down_after_ms`` ago, this node itself did not run (a
        stopped process, a paused VM): the peers' silence says nothing, so each is given a fresh
        window (heard from now) instead of being judged DOWN.
        """
        timings = self.timings
        me = self._members[self.self_address]
        stalled = self._last_tick_ms is not None and now_ms - self._last_tick_ms > timings.down_after_ms
        self._last_tick_ms = now_ms
        me.last_heard_ms = now_ms
        me.last_report_wall_ms = wall_ms
        if stalled:
            for member in self._members.values():
                member.last_heard_ms = max(member.last_heard_ms, now_ms)
            return
        for member in list(self._members.values()):
            if member is me or member.state == DOWN:
                continue
            silent_ms = now_ms - member.last_heard_ms
            if silent_ms >= timings.down_after_ms:
                self._set_state(member, DOWN, now_ms)
            elif silent_ms >= timings.suspicious_after_ms and member.state == UP:
                self._set_state(member, SUSPICIOUS, now_ms)

    def _set_state(self, member: Member, state: str, now_ms: int) -> None:
        if member.state != state:
            member.state = state
            self._changed(now_ms)

    def _changed(self, now_ms: int) -> None:
        self.version += 1
        self.changed_ms = now_ms
        self._healthy = tuple(
            sorted(address for address, member in self._members.items() if member.state in HEALTHY_STATES)
        )
        me = self.self_address
        self._peers = tuple(address for address in self._healthy if address != me)
