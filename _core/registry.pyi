"""Copy-on-write service registry: namespace → grouped service → instances.

Writers build a new immutable ``Service`` snapshot of the touched service and swap it into the
namespace table; readers hold a snapshot and never see a half-applied write. Each snapshot carries a
revision (from one registry-wide counter, so it never goes backwards, even across delete/re-create)
and order-independent xxh3 digests of its ephemeral and persistent instance sets. Every write returns
a ``Change`` (or ``None`` when nothing changed) for push and replication.

Instance identity inside one service is ``(ephemeral, key)`` with ``key`` the Nacos datumKey
``ip:port:unknown:cluster`` (``ip:unknown:cluster`` when the port is 0): the same ip:port may exist
once as ephemeral and once as persistent, and once per cluster.

A write copies only what it touches: instance sets are split into chunks of 128 with a small key
index, so a write to a 10,000-instance service copies one chunk and a few hundred references. The
instance digest is xxh3-64 of a canonical, versioned byte encoding of every field, stable across
processes and releases (peers compare it); a set's digest is the sum mod 2**64 of its instances'.
"""

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Final, final

DEFAULT_BEAT_INTERVAL_MS: Final[int]
"""5000: the client beat period Nacos tells clients (``preserved.heart.beat.interval``)."""
DEFAULT_BEAT_TIMEOUT_MS: Final[int]
"""15000: unhealthy after this long without a beat (``preserved.heart.beat.timeout``)."""
DEFAULT_DELETE_TIMEOUT_MS: Final[int]
"""30000: removed after this long without a beat (``preserved.ip.delete.timeout``)."""
MAX_WEIGHT: Final[float]
"""10000.0: the largest weight Nacos accepts."""
MAX_CACHED_VARIANTS: Final[int]
"""How many encoded responses one snapshot memoizes before it stops caching new variants."""
__pyx_capi__: Final[dict[str, Any]]
"""The C functions other compiled modules ``cimport`` (``new_instance``, ``shared_metadata``)."""

@final
class Instance:
    """An immutable service instance (Nacos ``Instance``); change one with :meth:`replace`.

    Raises ``ValueError`` with a Nacos-style message for a port outside 0..65535, a weight that is
    not finite or outside 0..10000 (``instance format invalid: The weights range from 0.0 to
    10000.0``), an empty ip or cluster, non-string metadata keys/values (``metadata format
    incorrect: ...``) or text that cannot be UTF-8 (lone surrogates); ``TypeError`` for arguments of
    the wrong type. ``-0.0`` is stored as ``0.0``.

    Identical metadata maps, cluster names and app names are shared between instances to save memory.
    ``metadata`` is a read-only ``dict`` subclass with its keys sorted: json-serializable, and its
    mutators raise ``TypeError`` (``dict(instance.metadata)`` gives a mutable copy). Instances compare
    and hash by every field; they pickle and copy.
    """

    def __init__(
        self,
        ip: str,
        port: int,
        cluster: str = "DEFAULT",
        *,
        weight: float = 1.0,
        healthy: bool = True,
        enabled: bool = True,
        ephemeral: bool = True,
        marked: bool = False,
        metadata: Mapping[str, str] | None = None,
        app: str | None = None,
        instance_id: str | None = None,
    ) -> None: ...
    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def cluster(self) -> str: ...
    @property
    def weight(self) -> float: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def ephemeral(self) -> bool: ...
    @property
    def marked(self) -> bool: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...
    @property
    def app(self) -> str | None: ...
    @property
    def instance_id(self) -> str | None:
        """An explicit id (snowflake generator); ``None`` means the default id, see :meth:`id_in`."""
    @property
    def key(self) -> str:
        """The Nacos datumKey: ``ip:port:unknown:cluster``, or ``ip:unknown:cluster`` for port 0."""
    @property
    def beat_interval_ms(self) -> int:
        """``preserved.heart.beat.interval`` when it is all ASCII digits (Java ``^\\d+$``), else the
        default; values of ``limits.CORE_MAX_ABS_MS`` or more saturate just below it."""
    @property
    def beat_timeout_ms(self) -> int:
        """``preserved.heart.beat.timeout`` when it is all digits, else the default."""
    @property
    def delete_timeout_ms(self) -> int:
        """``preserved.ip.delete.timeout`` when it is all digits, else the default."""
    def id_in(self, service_name: str) -> str:
        """The instanceId shown to clients: the explicit id, else ``ip#port#cluster#service_name``."""
    def replace(
        self,
        *,
        cluster: str = ...,
        weight: float = ...,
        healthy: bool = ...,
        enabled: bool = ...,
        ephemeral: bool = ...,
        marked: bool = ...,
        metadata: Mapping[str, str] | None = ...,
        app: str | None = ...,
        instance_id: str | None = ...,
    ) -> Instance:
        """A copy with the given fields changed (validated like the constructor)."""
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Service:
    """One immutable snapshot of a service: its instances, revision, digests and app attributes."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str:
        """The grouped name, ``group@@service``."""
    @property
    def revision(self) -> int:
        """Registry-wide monotonically increasing; a new value on every change of this service."""
    @property
    def ephemeral_digest(self) -> int:
        """Order-independent xxh3-64 digest of the ephemeral instance set (0 when empty)."""
    @property
    def persistent_digest(self) -> int:
        """Order-independent xxh3-64 digest of the persistent instance set (0 when empty)."""
    @property
    def meta(self) -> Any:
        """Service attributes owned by the application (threshold, metadata, selector, clusters)."""
    @property
    def ephemeral_count(self) -> int: ...
    @property
    def persistent_count(self) -> int: ...
    def __len__(self) -> int:
        """All instances, ephemeral and persistent."""
    def instances(self, ephemeral: bool | None = None) -> list[Instance]:
        """Instances in insertion order: ephemeral ones, persistent ones, or (``None``) both
        (ephemeral first). An update keeps an instance's place; a removed and re-added key goes last."""
    def get(self, key: str, ephemeral: bool) -> Instance | None:
        """The instance with this datumKey in the ephemeral or persistent set."""
    def clusters(self) -> list[str]:
        """Sorted names of the clusters that hold at least one instance."""
    def cached(self, variant: Hashable) -> Any:
        """A value memoized on this snapshot for ``variant``, or ``None``."""
    def cache(self, variant: Hashable, value: Any) -> None:
        """Memoize ``value`` (an encoded response) on this snapshot; a new variant is ignored once
        ``MAX_CACHED_VARIANTS`` are held (an existing one may be replaced). The next write makes a
        new snapshot with an empty cache, so nothing here is ever stale."""

@final
class Change:
    """What one write did: the new snapshot, and the instance before/after for single writes
    (``put_instance``, ``remove_instance``, ``set_healthy``); ``None`` for both otherwise."""

    @property
    def service(self) -> Service:
        """The snapshot after the write (for a removed service: its last snapshot)."""
    @property
    def before(self) -> Instance | None: ...
    @property
    def after(self) -> Instance | None: ...
    @property
    def service_removed(self) -> bool: ...

@final
class Registry:
    """namespace → grouped name → ``Service`` snapshot. Writes swap in new snapshots."""

    def __init__(self) -> None: ...
    def get(self, namespace: str, name: str) -> Service | None:
        """The current snapshot, or ``None``."""
    def namespaces(self) -> list[str]:
        """Sorted ids of namespaces holding at least one service."""
    def services(self, namespace: str) -> list[str]:
        """Sorted grouped names of the services in ``namespace``."""
    @property
    def service_count(self) -> int: ...
    @property
    def instance_count(self) -> int:
        """All instances in all services, ephemeral and persistent."""
    def ensure_service(self, namespace: str, name: str, meta: Any) -> Service:
        """The existing snapshot, or a new empty service created with ``meta``."""
    def set_meta(self, namespace: str, name: str, meta: Any) -> Change:
        """Create the service or replace its attributes; always a new revision."""
    def remove_service(self, namespace: str, name: str) -> Change | None:
        """Drop the service and all its instances; ``None`` if it did not exist."""
    def put_instance(self, namespace: str, name: str, instance: Instance, meta: Any) -> Change | None:
        """Upsert by ``(ephemeral, key)``, creating the service with ``meta`` if it is missing
        (``meta`` is ignored for an existing service).

        ``None`` when an equal instance was already stored (no new revision).
        """
    def put_instances(
        self, namespace: str, name: str, instances: Iterable[Instance], meta: Any
    ) -> Change | None:
        """Upsert many instances (either flag) as one write and one revision; a later duplicate key
        wins. ``None`` if nothing changed in the end (and then a missing service is not created).
        ``TypeError`` before any change if an item is not an ``Instance``."""
    def remove_instance(self, namespace: str, name: str, key: str, ephemeral: bool) -> Change | None:
        """Remove one instance; ``None`` when the service or instance does not exist."""
    def replace_instances(
        self, namespace: str, name: str, ephemeral: bool, instances: Iterable[Instance], meta: Any
    ) -> Change | None:
        """Make the ephemeral (or persistent) set exactly ``instances`` (replication apply).

        Instances already stored keep their place, new keys follow in the given order, a later
        duplicate key wins. ``None`` when the set already holds exactly these instances (in any
        order; a missing service with no instances is not created). ``ValueError`` if an instance's
        ``ephemeral`` flag differs from ``ephemeral``; the other set is never touched.
        """
    def set_healthy(
        self, namespace: str, name: str, key: str, ephemeral: bool, healthy: bool
    ) -> Change | None:
        """Flip one instance's health; ``None`` when missing or already in that state."""
