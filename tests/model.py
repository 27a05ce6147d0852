"""A small, obvious pure-Python reference model of the compiled core (registry, beats, digest).

Same API and the same observable results as ``nacosfast._core``: hypothesis drives identical command
sequences through both and compares everything (``tests/test_core_hypothesis.py``). The model trades
all speed for plainness: whole dicts are copied on every write, digests are recomputed from scratch.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import xxhash
import zstandard

from nacosfast import limits

DEFAULT_BEAT_INTERVAL_MS = limits.CLIENT_BEAT_INTERVAL_MS
DEFAULT_BEAT_TIMEOUT_MS = limits.HEARTBEAT_TIMEOUT_MS
DEFAULT_DELETE_TIMEOUT_MS = limits.IP_DELETE_TIMEOUT_MS
MAX_WEIGHT = 10000.0
MAX_CACHED_VARIANTS = limits.CORE_MAX_CACHED_VARIANTS
MAX_DIGEST_MESSAGE_BYTES = limits.CORE_MAX_DIGEST_MESSAGE_BYTES
BEAT_UNKNOWN, BEAT_OK, BEAT_REVIVED = 0, 1, 2
MASK64 = (1 << 64) - 1
_DIGITS = re.compile(r"[0-9]+")
_MISSING: Any = object()


# --- registry ----------------------------------------------------------------------------------------


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def _preserved(metadata: Mapping[str, str], key: str, default: int) -> int:
    value = metadata.get(key)
    if value is None or not _DIGITS.fullmatch(value):
        return default
    digits = value.lstrip("0") or "0"
    if len(digits) > 19:  # int() refuses > 4300 digits; anything this long saturates anyway
        return limits.CORE_MAX_ABS_MS - 1
    return min(int(digits), limits.CORE_MAX_ABS_MS - 1)


def _metadata_digest(metadata: Mapping[str, str]) -> int:
    encoded = struct.pack("<I", len(metadata))
    for key in sorted(metadata):
        encoded += _text(key) + _text(metadata[key])
    return xxhash.xxh3_64_intdigest(encoded)


@dataclass(frozen=True, eq=False)
class Instance:
    ip: str
    port: int
    cluster: str = "DEFAULT"
    weight: float = 1.0
    healthy: bool = True
    enabled: bool = True
    ephemeral: bool = True
    marked: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)
    app: str | None = None
    instance_id: str | None = None
    digest: int = 0

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
    ) -> None:
        if not ip:
            raise ValueError("instance format invalid: the ip is empty")
        if not 0 <= port <= 65535:
            raise ValueError(f"instance format invalid: port {port} is outside 0..65535")
        if not cluster:
            raise ValueError("instance format invalid: the cluster name is empty")
        weight = float(weight)
        if not (math.isfinite(weight) and 0.0 <= weight <= MAX_WEIGHT):
            raise ValueError("instance format invalid: The weights range from 0.0 to 10000.0")
        items = dict(metadata or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in items.items()):
            raise ValueError("metadata format incorrect: keys and values must be strings")
        values = {
            "ip": ip,
            "port": port,
            "cluster": cluster,
            "weight": weight + 0.0,
            "healthy": bool(healthy),
            "enabled": bool(enabled),
            "ephemeral": bool(ephemeral),
            "marked": bool(marked),
            "metadata": dict(sorted(items.items())),
            "app": app,
            "instance_id": instance_id,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "digest", self._compute_digest())  # also checks the text is UTF-8

    @property
    def key(self) -> str:
        if self.port == 0:
            return f"{self.ip}:unknown:{self.cluster}"
        return f"{self.ip}:{self.port}:unknown:{self.cluster}"

    @property
    def beat_interval_ms(self) -> int:
        return _preserved(self.metadata, "preserved.heart.beat.interval", DEFAULT_BEAT_INTERVAL_MS)

    @property
    def beat_timeout_ms(self) -> int:
        return _preserved(self.metadata, "preserved.heart.beat.timeout", DEFAULT_BEAT_TIMEOUT_MS)

    @property
    def delete_timeout_ms(self) -> int:
        return _preserved(self.metadata, "preserved.ip.delete.timeout", DEFAULT_DELETE_TIMEOUT_MS)

    def _compute_digest(self) -> int:
        """xxh3-64 of the canonical encoding (the same bytes the core hashes)."""
        try:
            flags = self.healthy | self.enabled << 1 | self.ephemeral << 2 | self.marked << 3
            encoded = b"\x01" + _text(self.ip) + struct.pack("<I", self.port) + _text(self.cluster)
            encoded += struct.pack(
                "<dBB", self.weight, flags, (self.app is not None) | (self.instance_id is not None) << 1
            )
            if self.app is not None:
                encoded += _text(self.app)
            if self.instance_id is not None:
                encoded += _text(self.instance_id)
            encoded += struct.pack("<Q", _metadata_digest(self.metadata))
        except UnicodeEncodeError:
            raise ValueError("instance format invalid: a field is not valid text") from None
        return xxhash.xxh3_64_intdigest(encoded)

    def id_in(self, service_name: str) -> str:
        if self.instance_id is not None:
            return self.instance_id
        return f"{self.ip}#{self.port}#{self.cluster}#{service_name}"

    def replace(self, **changes: Any) -> Instance:
        fields = {
            name: getattr(self, name)
            for name in (
                "cluster",
                "weight",
                "healthy",
                "enabled",
                "ephemeral",
                "marked",
                "metadata",
                "app",
                "instance_id",
            )
        }
        fields.update(changes)
        cluster = fields.pop("cluster")
        return Instance(self.ip, self.port, cluster, **fields)

    def fields(self) -> tuple[Any, ...]:
        return (
            self.ip,
            self.port,
            self.cluster,
            self.weight,
            self.healthy,
            self.enabled,
            self.ephemeral,
            self.marked,
            dict(self.metadata),
            self.app,
            self.instance_id,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        return self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.key)


def _set_digest(instances: dict[str, Instance]) -> int:
    return sum(inst.digest for inst in instances.values()) & MASK64


@dataclass(eq=False)
class Service:
    namespace: str
    name: str
    revision: int
    meta: Any
    ephemeral_set: dict[str, Instance]
    persistent_set: dict[str, Instance]
    _cache: dict[Hashable, Any] = field(default_factory=dict)

    @property
    def ephemeral_digest(self) -> int:
        return _set_digest(self.ephemeral_set)

    @property
    def persistent_digest(self) -> int:
        return _set_digest(self.persistent_set)

    @property
    def ephemeral_count(self) -> int:
        return len(self.ephemeral_set)

    @property
    def persistent_count(self) -> int:
        return len(self.persistent_set)

    def __len__(self) -> int:
        return len(self.ephemeral_set) + len(self.persistent_set)

    def instances(self, ephemeral: bool | None = None) -> list[Instance]:
        if ephemeral is None:
            return [*self.ephemeral_set.values(), *self.persistent_set.values()]
        return list((self.ephemeral_set if ephemeral else self.persistent_set).values())

    def get(self, key: str, ephemeral: bool) -> Instance | None:
        return (self.ephemeral_set if ephemeral else self.persistent_set).get(key)

    def clusters(self) -> list[str]:
        return sorted({inst.cluster for inst in self.instances()})

    def cached(self, variant: Hashable) -> Any:
        return self._cache.get(variant)

    def cache(self, variant: Hashable, value: Any) -> None:
        if len(self._cache) < MAX_CACHED_VARIANTS or variant in self._cache:
            self._cache[variant] = value


@dataclass
class Change:
    service: Service
    before: Instance | None = None
    after: Instance | None = None
    service_removed: bool = False


class Registry:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Service]] = {}
        self.revision = 0

    def get(self, namespace: str, name: str) -> Service | None:
        return self.tables.get(namespace, {}).get(name)

    def namespaces(self) -> list[str]:
        return sorted(ns for ns, services in self.tables.items() if services)

    def services(self, namespace: str) -> list[str]:
        return sorted(self.tables.get(namespace, {}))

    @property
    def service_count(self) -> int:
        return sum(len(services) for services in self.tables.values())

    @property
    def instance_count(self) -> int:
        return sum(len(s) for services in self.tables.values() for s in services.values())

    def _install(
        self,
        namespace: str,
        name: str,
        meta: Any,
        ephemeral: dict[str, Instance],
        persistent: dict[str, Instance],
    ) -> Service:
        old = self.get(namespace, name)
        self.revision += 1
        service = Service(
            namespace, name, self.revision, old.meta if old is not None else meta, ephemeral, persistent
        )
        self.tables.setdefault(namespace, {})[name] = service
        return service

    def _sets(self, namespace: str, name: str) -> tuple[dict[str, Instance], dict[str, Instance]]:
        old = self.get(namespace, name)
        return (dict(old.ephemeral_set), dict(old.persistent_set)) if old is not None else ({}, {})

    def ensure_service(self, namespace: str, name: str, meta: Any) -> Service:
        old = self.get(namespace, name)
        return old if old is not None else self._install(namespace, name, meta, {}, {})

    def set_meta(self, namespace: str, name: str, meta: Any) -> Change:
        ephemeral, persistent = self._sets(namespace, name)
        self.tables.get(namespace, {}).pop(name, None)
        return Change(self._install(namespace, name, meta, ephemeral, persistent))

    def remove_service(self, namespace: str, name: str) -> Change | None:
        old = self.tables.get(namespace, {}).pop(name, None)
        if old is None:
            return None
        if not self.tables[namespace]:
            del self.tables[namespace]
        return Change(old, service_removed=True)

    def put_instance(self, namespace: str, name: str, instance: Instance, meta: Any) -> Change | None:
        return self._put(namespace, name, [instance], meta, single=True)

    def put_instances(
        self, namespace: str, name: str, instances: Iterable[Instance], meta: Any
    ) -> Change | None:
        return self._put(namespace, name, list(instances), meta, single=False)

    def _put(
        self, namespace: str, name: str, batch: list[Instance], meta: Any, single: bool
    ) -> Change | None:
        ephemeral, persistent = self._sets(namespace, name)
        before_sets = (dict(ephemeral), dict(persistent))
        for inst in batch:
            (ephemeral if inst.ephemeral else persistent)[inst.key] = inst
        if (ephemeral, persistent) == before_sets:
            return None
        service = self._install(namespace, name, meta, ephemeral, persistent)
        if not single:
            return Change(service)
        inst = batch[0]
        return Change(service, before_sets[0 if inst.ephemeral else 1].get(inst.key), inst)

    def remove_instance(self, namespace: str, name: str, key: str, ephemeral: bool) -> Change | None:
        if self.get(namespace, name) is None:
            return None
        sets = self._sets(namespace, name)
        before = sets[0 if ephemeral else 1].pop(key, None)
        if before is None:
            return None
        return Change(self._install(namespace, name, None, *sets), before, None)

    def replace_instances(
        self, namespace: str, name: str, ephemeral: bool, instances: Iterable[Instance], meta: Any
    ) -> Change | None:
        wanted: dict[str, Instance] = {}
        for inst in instances:
            if inst.ephemeral != ephemeral:
                raise ValueError("replace_instances: an instance's ephemeral flag does not match the set")
            wanted[inst.key] = inst
        sets = self._sets(namespace, name)
        current = sets[0 if ephemeral else 1]
        if current == wanted:
            return None
        merged = {key: wanted[key] for key in current if key in wanted}
        merged.update(wanted)
        current.clear()
        current.update(merged)
        return Change(self._install(namespace, name, meta, *sets))

    def set_healthy(
        self, namespace: str, name: str, key: str, ephemeral: bool, healthy: bool
    ) -> Change | None:
        service = self.get(namespace, name)
        before = service.get(key, ephemeral) if service is not None else None
        if before is None or before.healthy == healthy:
            return None
        return self.put_instance(namespace, name, before.replace(healthy=healthy), None)


# --- beats -------------------------------------------------------------------------------------------


class BeatTable:
    def __init__(self, capacity_hint: int = 1024) -> None:
        self.entries: dict[Hashable, list[Any]] = {}  # key -> [last, timeout, delete, healthy]

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.entries

    def track(
        self, key: Hashable, now_ms: int, timeout_ms: int, delete_ms: int, healthy: bool = True
    ) -> None:
        self.entries[key] = [now_ms, timeout_ms, delete_ms, healthy]

    def untrack(self, key: Hashable) -> bool:
        return self.entries.pop(key, None) is not None

    def beat(self, key: Hashable, now_ms: int) -> int:
        entry = self.entries.get(key)
        if entry is None:
            return BEAT_UNKNOWN
        entry[0] = now_ms
        if entry[3]:
            return BEAT_OK
        entry[3] = True
        return BEAT_REVIVED

    def last_beat(self, key: Hashable) -> int | None:
        entry = self.entries.get(key)
        return None if entry is None else entry[0]

    def is_healthy(self, key: Hashable) -> bool | None:
        entry = self.entries.get(key)
        return None if entry is None else entry[3]

    def set_timeouts(self, key: Hashable, timeout_ms: int, delete_ms: int) -> bool:
        entry = self.entries.get(key)
        if entry is None:
            return False
        entry[1:3] = [timeout_ms, delete_ms]
        return True

    def touch_all(self, now_ms: int) -> None:
        for entry in self.entries.values():
            entry[0] = now_ms

    def sweep(self, now_ms: int) -> tuple[list[Hashable], list[Hashable]]:
        unhealthy: list[Hashable] = []
        expired: list[Hashable] = []
        for key, (last, timeout, delete, healthy) in list(self.entries.items()):
            if now_ms - last > delete:
                expired.append(key)
                del self.entries[key]
            elif healthy and now_ms - last > timeout:
                self.entries[key][3] = False
                unhealthy.append(key)
        return unhealthy, expired


# --- digest ------------------------------------------------------------------------------------------

_HEAD = struct.Struct("<4sI")
_ENTRY = struct.Struct("<qQI")


class DigestTable:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def set(self, key: str, version: int, digest: int) -> None:
        self.entries[key] = (version, digest)

    def get(self, key: str) -> tuple[int, int] | None:
        return self.entries.get(key)

    def remove(self, key: str) -> bool:
        return self.entries.pop(key, None) is not None

    def keys(self) -> list[str]:
        return sorted(self.entries)

    def encode(self, keys: Iterable[str] | None = None) -> bytes:
        chosen = sorted(self.entries if keys is None else {k for k in keys if k in self.entries})
        raw = _HEAD.pack(b"NFD1", len(chosen))
        for key in chosen:
            text = key.encode("utf-8")
            raw += _ENTRY.pack(*self.entries[key], len(text)) + text
        return zstandard.ZstdCompressor(level=1).compress(raw)

    def diff(self, remote: DigestTable) -> tuple[list[str], list[str]]:
        fetch = sorted(k for k, v in remote.entries.items() if self.entries.get(k) != v)
        delete = sorted(k for k in self.entries if k not in remote.entries)
        return fetch, delete


def decode(data: bytes, max_bytes: int = MAX_DIGEST_MESSAGE_BYTES) -> DigestTable:
    """The plain version of the core's ``decode``: same checks, same ``ValueError``s (not the messages)."""
    try:
        size = zstandard.frame_content_size(data)
        if size < 0 or size > max_bytes:
            raise ValueError("digest message: missing or too large content size")
        raw = zstandard.ZstdDecompressor().decompress(data, allow_extra_data=False)
    except zstandard.ZstdError as error:
        raise ValueError(str(error)) from None
    if len(raw) != size or len(raw) < _HEAD.size or raw[:4] != b"NFD1":
        raise ValueError("digest message: bad header")
    (count,) = struct.unpack_from("<I", raw, 4)
    table = DigestTable()
    pos = _HEAD.size
    for _ in range(count):
        if len(raw) - pos < _ENTRY.size:
            raise ValueError("digest message: truncated")
        version, digest, length = _ENTRY.unpack_from(raw, pos)
        pos += _ENTRY.size
        if length > len(raw) - pos:
            raise ValueError("digest message: truncated")
        key = raw[pos : pos + length].decode("utf-8")  # UnicodeDecodeError is a ValueError
        pos += length
        if key in table.entries:
            raise ValueError("digest message: duplicate key")
        table.entries[key] = (version, digest)
    if pos != len(raw):
        raise ValueError("digest message: trailing bytes")
    return table
