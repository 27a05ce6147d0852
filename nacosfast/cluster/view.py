"""What replication needs to know about the cluster: who is healthy, who owns a service, is it settled.

``MembershipView`` is the interface; the membership layer's ``MemberTable`` satisfies it (and owns the
ownership rule, ``members.owner_among``, used here too).
``StaticMembership`` is a small in-memory implementation whose members are set by hand (tests, and
a node whose member list never changes).

Ownership: the owner of ``service_key`` (``namespace##group@@service``) is
``sorted(healthy)[xxh3_64(service_key) % len(healthy)]`` — the same on every node that agrees on the
healthy list.
"""

from __future__ import annotations

from typing import Protocol

from nacosfast.cluster.members import owner_among, service_key

__all__ = ["MembershipView", "StaticMembership", "owner_among", "service_key", "split_service_key"]

KEY_SEPARATOR = "##"
"""Between the namespace and the grouped name in a service key (namespace ids never contain ``#``)."""


def split_service_key(key: str) -> tuple[str, str]:
    """``(namespace, grouped_name)`` of a service key; ``ValueError`` if it has no separator."""
    namespace, separator, name = key.partition(KEY_SEPARATOR)
    if not separator or not namespace or not name:
        raise ValueError(f"not a service key: {key[:128]!r}")
    return namespace, name


class MembershipView(Protocol):
    """The membership facts replication reads (all answers for the current membership)."""

    @property
    def self_address(self) -> str:
        """This node's ``ip:port``."""
        ...

    @property
    def version(self) -> int:
        """Bumped on every membership change (a member added, removed or changing health)."""
        ...

    def healthy_addresses(self) -> tuple[str, ...]:
        """Sorted addresses of the healthy members, this node included."""
        ...

    def peers(self) -> tuple[str, ...]:
        """Healthy members other than this node, sorted."""
        ...

    def stable(self, now_ms: int) -> bool:
        """No membership change within the settle window (deletions happen only then)."""
        ...

    def owner_of(self, service_key: str) -> str:
        """The address of the member that owns ``service_key``."""
        ...

    def is_owner(self, service_key: str) -> bool:
        """Whether this node owns ``service_key``."""
        ...


class StaticMembership:
    """A ``MembershipView`` whose healthy members are set explicitly (``set_healthy``)."""

    def __init__(
        self, self_address: str, members: tuple[str, ...] | list[str], now_ms: int = 0, settle_ms: int = 0
    ) -> None:
        self.self_address = self_address
        self.version = 0
        self.settle_ms = settle_ms
        self.changed_ms = now_ms
        self._healthy: tuple[str, ...] = ()
        self._peers: tuple[str, ...] = ()
        self.set_healthy(members, now_ms)

    def set_healthy(self, members: tuple[str, ...] | list[str], now_ms: int) -> None:
        """Make ``members`` (plus this node) the healthy list; a change bumps ``version``."""
        healthy = tuple(sorted({*members, self.self_address}))
        if healthy == self._healthy:
            return
        self._healthy = healthy
        self._peers = tuple(address for address in healthy if address != self.self_address)
        self.version += 1
        self.changed_ms = now_ms

    def healthy_addresses(self) -> tuple[str, ...]:
        """Sorted healthy addresses, this node included."""
        return self._healthy

    def peers(self) -> tuple[str, ...]:
        """Healthy members other than this node."""
        return self._peers

    def stable(self, now_ms: int) -> bool:
        """No change for ``settle_ms``."""
        return now_ms - self.changed_ms >= self.settle_ms

    def owner_of(self, service_key: str) -> str:
        """The owner among the healthy members."""
        return owner_among(self._healthy, service_key)

    def is_owner(self, service_key: str) -> bool:
        """Whether this node owns ``service_key``."""
        return self.owner_of(service_key) == self.self_address
