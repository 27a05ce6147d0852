"""Everything the naming application holds, in one place, and the interfaces it drives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from nacosfast._core.beats import BeatTable
from nacosfast._core.registry import Registry, Service
from nacosfast.cluster.members import MemberTable
from nacosfast.naming.client_info import ClientInfoMemo
from nacosfast.naming.ledger import Ledger
from nacosfast.naming.memo import NamingMemos
from nacosfast.naming.namespaces import NamespaceTable
from nacosfast.naming.switches import Switches
from nacosfast.wire.message import Request, Response


class SubscriberView(Protocol):
    """One push subscriber as ``/service/subscribers`` shows it."""

    def to_json(self) -> dict[str, str]:
        """Nacos's ``Subscriber`` JSON: addrStr, agent, app, ip, namespaceId, serviceName."""
        ...


class PushSink(Protocol):
    """What the application needs from UDP push (``nacosfast.naming.push``)."""

    def subscribe(
        self,
        namespace: str,
        service: str,
        clusters: str,
        client_ip: str,
        udp_port: int,
        agent: str,
        app: str,
        tenant: str,
        now_ms: int,
        *,
        peer_ip: str,
    ) -> None:
        """Add or refresh a subscriber; ``peer_ip`` is where its list request came from."""
        ...

    def service_changed(self, namespace: str, service: str, now_ms: int) -> None: ...
    def subscribers(self, namespace: str, service: str) -> Sequence[SubscriberView]: ...
    def subscribers_fuzzy(self, namespace: str, service: str) -> Sequence[SubscriberView]:
        """Nacos ``getClientsFuzzy``: substring match on the service name and on the group."""
        ...

    @property
    def subscriber_count(self) -> int: ...
    def counters(self) -> dict[str, Any]: ...
    def push_state(self, detail: bool = False, reset: bool = False) -> dict[str, Any]:
        """The ``/operator/push/state`` answer."""
        ...


class JournalSink(Protocol):
    """Where durable records go (``nacosfast.server.durability.Durability`` in the server)."""

    def append(self, payload: bytes) -> int:
        """Buffer one record; return the sequence number to wait on before acknowledging."""
        ...


class ReplicationSink(Protocol):
    """Where local changes of ephemeral instances go in a cluster (``nacosfast.cluster.distro``)."""

    def local_change(self, namespace: str, name: str, now_ms: int) -> None:
        """A local write touched this service (called after every registry write that notifies push)."""
        ...

    def status(self) -> dict[str, Any]:
        """Readiness and counters, shown by ``/operator/metrics``."""
        ...


class Forwarding(Protocol):
    """How a cluster node hands writes and beats for services it does not own to their owner."""

    def forward(self, owner: str, request: Request) -> Response:
        """A response whose ``deferred`` answer is the owner's (or, if the owner cannot be reached,
        this node's own, as if the request had been forwarded here)."""
        ...

    def relay_beat(self, owner: str, namespace: str, name: str, key: str) -> None:
        """Pass one beat of a known instance on to ``owner`` (batched, fire and forget)."""
        ...

    def counters(self) -> dict[str, int]:
        """Forwarding figures for ``operator/metrics``."""
        ...


class HealthCheckSink(Protocol):
    """What the application needs from the active health checker (``naming.healthcheck``)."""

    def check_rt(self, namespace: str, service: str, cluster: str) -> tuple[int, int, int] | None:
        """(best, worst, normalized) response times of a checked cluster, or ``None``."""
        ...

    def service_changed(self, namespace: str, name: str, service: Service | None) -> None:
        """A write changed this service (its snapshot after the write, ``None`` once removed)."""
        ...


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """How this node presents itself (health and member endpoints)."""

    host: str = "127.0.0.1"
    port: int = 8848
    standalone: bool = True


@dataclass(frozen=True, slots=True)
class HostFigures:
    """The host's load as ``/operator/metrics`` shows it; sampled by the server (the naming layer reads
    no ``/proc``), all 0.0 until the first sample."""

    cpu: float = 0.0
    """Busy fraction of all CPUs, 0..1, over the last sampling period."""
    load: float = 0.0
    """One-minute load average."""
    mem: float = 0.0
    """Fraction of physical memory in use, 0..1."""


@dataclass(slots=True)
class NamingState:
    """The registry, heartbeat table, namespaces, switches and effect sinks of one node."""

    push: PushSink
    journal: JournalSink
    identity: ServerIdentity = field(default_factory=ServerIdentity)
    registry: Registry = field(default_factory=Registry)
    beats: BeatTable = field(default_factory=BeatTable)
    namespaces: NamespaceTable = field(default_factory=NamespaceTable)
    switches: Switches = field(default_factory=Switches)
    ledger: Ledger = field(default_factory=Ledger)
    """Durable writes applied in memory whose records are not yet on disk (``naming.journal``)."""
    started_wall_ms: int = 0
    clients: ClientInfoMemo = field(default_factory=ClientInfoMemo)
    """Parsed ``User-Agent`` strings of this node's clients."""
    empty_services: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    """Empty-service cleanup (``naming.expiry``): (namespace, name) → (revision, consecutive empty
    observations, monotonic ms of the first one)."""
    health_checks: HealthCheckSink | None = None
    """The active health checker, once the server has started one."""
    next_empty_check_ms: int | None = None
    """When ``naming.expiry`` next looks for empty services; ``None`` until its first sweep."""
    host: HostFigures = field(default_factory=HostFigures)
    """The latest host figures, replaced by the server's sampler task."""
    memos: NamingMemos = field(default_factory=NamingMemos)
    """What the endpoints remember between requests (bounded; this node's own)."""
    members: MemberTable | None = None
    """Cluster membership and ownership; ``None`` on a standalone node (it owns everything)."""
    forwarding: Forwarding | None = None
    """Where writes for services owned elsewhere go; ``None`` on a standalone node."""
    owned_under: tuple[str, ...] | None = None
    """The healthy member list under which ``naming.expiry`` last took over services (``None``: not
    yet): when it changes, services newly owned have their instances' beat times re-armed."""
    replication: ReplicationSink | None = None
    """Distro replication of ephemeral instances; ``None`` on a standalone node."""
    ready: bool = True
    """False while a cluster node warms up (loads its peers' data): client requests other than the
    operator's get 503 ``STARTING`` and nothing expires, so a restarted node never answers or expires
    from an empty registry."""
