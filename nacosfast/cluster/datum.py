"""The Distro datum: one service's ephemeral instance set with its owner's version, and its wire form.

A datum is ``(key, version, digest, instances)``: ``key`` is ``namespace##group@@service``, ``version``
an int64 Lamport version (see ``nacosfast.cluster.distro``), ``digest`` the registry's order-independent
xxh3 digest of the set (``Service.ephemeral_digest``, 0 when empty) and ``instances`` the set itself.

Wire form (UTF-8 JSON, compact; the peer transport compresses it with zstd)::

    {"d": [[key, version, digest, rows], ...], ...extra fields}
    rows = one JSON string: the instances' row texts joined by "\n" ("" for an empty set)
    row  = [ip, port, cluster, weight, flags, metadata, app, instance_id]   (compact JSON)

``flags`` is a bit set (1 healthy, 2 enabled, 4 marked); ``metadata`` an object of strings; ``app``
and ``instance_id`` a string or ``null``. A row text is a pure function of the instance (metadata keys
are sorted, JSON escapes newlines), so equal texts mean equal instances.

Why rows as text: a service's whole set is replicated on every change, and most of it did not change.
``DatumCodec`` remembers, per service, the row texts of the set it last sent or applied: encoding
reuses the texts of unchanged instances (a dict lookup instead of a JSON dump), and decoding reuses the
``Instance`` of every row it has seen (a split and a dict lookup instead of a JSON parse, validation and
construction). Only changed instances cost real work on either side. The encoded rows of a snapshot
are also memoized on the snapshot, so a service sent to several peers is encoded once.

Decoding validates everything (types, ranges, names through the naming checks, new instances through
the ``Instance`` constructor) and raises ``ValueError`` on any defect: a peer's message can never
half-apply or crash the node.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from nacosfast._core.registry import Instance, Service
from nacosfast.cluster.view import service_key, split_service_key
from nacosfast.errors import NacosError
from nacosfast.naming.names import check_grouped_name, check_namespace

__all__ = ["Datum", "DatumCodec"]

_HEALTHY: Final = 1
_ENABLED: Final = 2
_MARKED: Final = 4
_INT64_MAX: Final = 2**63 - 1
_UINT64_MAX: Final = 2**64 - 1
_CACHE_VARIANT: Final = ("distro-rows",)
_INSTANCE_FIELDS: Final = 8
_ROW_SEPARATOR: Final = "\n"
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class Datum:
    """One service's ephemeral instances as replicated between nodes."""

    key: str
    namespace: str
    name: str
    version: int
    digest: int
    rows: dict[str, Instance]
    """Row text → instance, in the order sent."""

    @property
    def instances(self) -> list[Instance]:
        """The instances, in the order sent."""
        return list(self.rows.values())


def _row_text(instance: Instance) -> str:
    flags = (
        (_HEALTHY if instance.healthy else 0)
        | (_ENABLED if instance.enabled else 0)
        | (_MARKED if instance.marked else 0)
    )
    return _compact(
        [
            instance.ip,
            instance.port,
            instance.cluster,
            instance.weight,
            flags,
            instance.metadata,
            instance.app,
            instance.instance_id,
        ]
    )


class DatumCodec:
    """Encodes and decodes datum messages for one node, reusing the rows of unchanged instances."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Instance]] = {}
        """Service key → row text → instance, for the set last sent or applied (a memo only: any
        text/instance pair is correct forever, so a stale entry costs memory, never correctness)."""

    def forget(self, key: str) -> None:
        """Drop the memo of a service that is gone."""
        self._rows.pop(key, None)

    def remember(self, datum: Datum) -> None:
        """``datum`` was applied: its rows are now this service's memo."""
        self._rows[datum.key] = datum.rows

    def rows_json(self, key: str, service: Service | None) -> bytes:
        """The JSON string of a snapshot's ephemeral rows (memoized on the snapshot)."""
        if service is None:
            return b'""'
        cached = service.cached(_CACHE_VARIANT)
        if isinstance(cached, bytes):
            return cached
        known = self._rows.get(key)
        text_of = {instance: text for text, instance in known.items()} if known else {}
        rows: dict[str, Instance] = {}
        for instance in service.instances(ephemeral=True):
            text = text_of.get(instance)
            rows[text if text is not None else _row_text(instance)] = instance
        self._rows[key] = rows
        encoded = _compact(_ROW_SEPARATOR.join(rows)).encode()
        service.cache(_CACHE_VARIANT, encoded)
        return encoded

    def encode(
        self, entries: Iterable[tuple[str, int, Service | None]], extra: dict[str, Any] | None = None
    ) -> bytes:
        """A datum message: each entry is ``(key, version, snapshot)`` (``None``: an empty set)."""
        parts = []
        for key, version, service in entries:
            digest = service.ephemeral_digest if service is not None else 0
            parts.append(
                b"[%s,%d,%d,%s]" % (_compact(key).encode(), version, digest, self.rows_json(key, service))
            )
        prefix = b"{"
        if extra:
            prefix += _compact(extra)[1:-1].encode() + b","
        return prefix + b'"d":[' + b",".join(parts) + b"]}"

    def decode(self, payload: bytes) -> tuple[list[Datum], dict[str, Any]]:
        """The datums of a message and its other top-level fields; ``ValueError`` if anything is wrong."""
        try:
            message = json.loads(payload)
        except (ValueError, RecursionError):
            raise ValueError("datum: the message is not JSON") from None
        if not isinstance(message, dict) or not isinstance(message.get("d"), list):
            raise ValueError('datum: the message must be an object with a "d" list')
        datums = [self._datum(entry) for entry in message.pop("d")]
        return datums, message

    def _datum(self, entry: Any) -> Datum:
        if not isinstance(entry, list) or len(entry) != 4:
            raise ValueError("datum: an entry must be [key, version, digest, rows]")
        key, version, digest, text = entry
        if not isinstance(key, str):
            raise ValueError("datum: the key must be a string")
        try:
            namespace, name = split_service_key(key)
            namespace = check_namespace(namespace)
            name = check_grouped_name(name)
        except NacosError as error:
            raise ValueError(f"datum: bad service key: {error.message}") from None
        except ValueError as error:
            raise ValueError(f"datum: {error}") from None
        if service_key(namespace, name) != key:
            raise ValueError("datum: the service key is not canonical")
        if not isinstance(text, str):
            raise ValueError("datum: rows must be a string")
        known = self._rows.get(key) or {}
        rows: dict[str, Instance] = {}
        if text:
            for row in text.split(_ROW_SEPARATOR):
                instance = known.get(row)
                rows[row] = instance if instance is not None else _parse_row(row)
        return Datum(
            key,
            namespace,
            name,
            _integer(version, 0, _INT64_MAX, "version"),
            _integer(digest, 0, _UINT64_MAX, "digest"),
            rows,
        )


def _integer(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"datum: {what} must be an integer in {low}..{high}")
    return value


def _parse_row(text: str) -> Instance:
    try:
        row = json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("datum: an instance row is not JSON") from None
    if not isinstance(row, list) or len(row) != _INSTANCE_FIELDS:
        raise ValueError("datum: an instance must be a list of 8 fields")
    ip, port, cluster, weight, flags, metadata, app, instance_id = row
    if not isinstance(ip, str) or not isinstance(cluster, str):
        raise ValueError("datum: ip and cluster must be strings")
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ValueError("datum: weight must be a number")
    flags = _integer(flags, 0, _HEALTHY | _ENABLED | _MARKED, "flags")
    if not isinstance(metadata, dict):
        raise ValueError("datum: metadata must be an object")
    if app is not None and not isinstance(app, str):
        raise ValueError("datum: app must be a string or null")
    if instance_id is not None and not isinstance(instance_id, str):
        raise ValueError("datum: instance_id must be a string or null")
    try:
        return Instance(
            ip,
            _integer(port, 0, 65535, "port"),
            cluster,
            weight=float(weight),
            healthy=bool(flags & _HEALTHY),
            enabled=bool(flags & _ENABLED),
            ephemeral=True,
            marked=bool(flags & _MARKED),
            metadata=metadata,
            app=app,
            instance_id=instance_id,
        )
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"datum: bad instance: {error}") from None
