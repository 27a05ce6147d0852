"""Durable records of the CP data: persistent instances, service metadata, namespaces, switches.

Each record is the whole current value of one object (as a Nacos Raft datum is): a service's
attributes plus its persistent instance list, one namespace, or the switches. Replay keeps the last
record of each object; a tombstone removes it. A snapshot is simply one record per live object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from nacosfast._core.registry import Instance, Service
from nacosfast.naming.meta import DEFAULT_SERVICE_META, ServiceMeta
from nacosfast.naming.namespaces import Namespace
from nacosfast.naming.state import NamingState
from nacosfast.naming.switches import Switches

FORMAT_VERSION: Final = 1


def _instance_json(instance: Instance) -> dict[str, Any]:
    return {
        "ip": instance.ip,
        "port": instance.port,
        "cluster": instance.cluster,
        "weight": instance.weight,
        "healthy": instance.healthy,
        "enabled": instance.enabled,
        "marked": instance.marked,
        "metadata": dict(instance.metadata),
        "app": instance.app,
        "instanceId": instance.instance_id,
    }


def _instance_from_json(data: dict[str, Any]) -> Instance:
    return Instance(
        data["ip"],
        int(data["port"]),
        data["cluster"],
        weight=float(data["weight"]),
        healthy=bool(data["healthy"]),
        enabled=bool(data["enabled"]),
        ephemeral=False,
        marked=bool(data["marked"]),
        metadata=data["metadata"],
        app=data.get("app"),
        instance_id=data.get("instanceId"),
    )


def _encode(record: dict[str, Any]) -> bytes:
    record["v"] = FORMAT_VERSION
    return json.dumps(record, separators=(",", ":")).encode()


def service_record(namespace: str, name: str, service: Service | None) -> bytes:
    """The durable state of one service, or its tombstone when it is gone or holds nothing durable."""
    if service is None or not is_durable(service):
        return _encode({"t": "service", "ns": namespace, "name": name, "deleted": True})
    meta = service.meta if isinstance(service.meta, ServiceMeta) else DEFAULT_SERVICE_META
    return _encode(
        {
            "t": "service",
            "ns": namespace,
            "name": name,
            "meta": meta.to_json(),
            "instances": [_instance_json(instance) for instance in service.instances(ephemeral=False)],
        }
    )


def namespace_record(namespace_id: str, namespace: Namespace | None) -> bytes:
    """One custom namespace, or its tombstone."""
    if namespace is None:
        return _encode({"t": "namespace", "id": namespace_id, "deleted": True})
    return _encode({"t": "namespace", "value": namespace.to_json()})


def switches_record(switches: Switches) -> bytes:
    """The whole switch domain."""
    return _encode({"t": "switches", "value": switches.to_json()})


def is_durable(service: Service) -> bool:
    """Whether a service belongs in the durable store: persisted attributes or persistent instances."""
    meta = service.meta
    return service.persistent_count > 0 or (isinstance(meta, ServiceMeta) and meta.persisted)


def snapshot(state: NamingState) -> Iterator[bytes]:
    """One record per durable object: the log's snapshot content."""
    yield switches_record(state.switches)
    for namespace in state.namespaces.all():
        yield namespace_record(namespace.namespace_id, namespace)
    for namespace_id in state.registry.namespaces():
        for name in state.registry.services(namespace_id):
            service = state.registry.get(namespace_id, name)
            if service is not None and is_durable(service):
                yield service_record(namespace_id, name, service)


def replay(
    state: NamingState,
    payloads: Iterable[bytes],
    extra: Mapping[str, Callable[[dict[str, Any]], None]] | None = None,
) -> int:
    """Apply records in order (later ones win); return how many were applied.

    ``extra`` maps record types kept by other modules (``auth.*``: ``nacosfast.auth.store``) to the
    function that applies one.

    Raises ``ValueError`` on a record this version cannot read: the log is checksummed, so that means
    a newer format, and starting with a partial state would lose data on the next snapshot.
    """
    applied = 0
    for payload in payloads:
        record = json.loads(payload)
        if record.get("v") != FORMAT_VERSION:
            raise ValueError(f"journal record of unknown format version {record.get('v')!r}")
        kind = record["t"]
        if kind == "service":
            _apply_service(state, record)
        elif kind == "namespace":
            if record.get("deleted"):
                state.namespaces.remove(record["id"])
            else:
                state.namespaces.put(Namespace.from_json(record["value"]))
        elif kind == "switches":
            state.switches = Switches.from_json(record["value"])
        elif extra is not None and kind in extra:
            extra[kind](record)
        else:
            raise ValueError(f"journal record of unknown type {kind!r}")
        applied += 1
    return applied


def _apply_service(state: NamingState, record: dict[str, Any]) -> None:
    namespace, name = record["ns"], record["name"]
    registry = state.registry
    if record.get("deleted"):
        existing = registry.get(namespace, name)
        if existing is None:
            return
        if existing.ephemeral_count:  # ephemeral data is not journaled: keep it, drop the durable part
            registry.replace_instances(namespace, name, False, [], DEFAULT_SERVICE_META)
            registry.set_meta(namespace, name, DEFAULT_SERVICE_META)
        else:
            registry.remove_service(namespace, name)
        return
    meta = ServiceMeta.from_json(record["meta"])
    registry.set_meta(namespace, name, meta)
    instances = [_instance_from_json(item) for item in record["instances"]]
    registry.replace_instances(namespace, name, False, instances, meta)
