"""Durable records of the CP data: one key per persistent instance, service, namespace, and the switches.

Each record sets one key to a whole value (or deletes it), so a write costs O(1) to encode whatever the
size of its service, and a snapshot is one small record per live key. The keys (tuples here; the paths
are the shape an etcd store would use)::

    ("instance", ns, service, cluster, ip, port)  instance/<ns>/<group@@service>/<cluster>/<ip>:<port>
    ("service", ns, service)                       service/<ns>/<group@@service>   (its attributes)
    ("namespace", id)                              namespace/<id>
    ("switches",)                                  switches

Format version 2 (JSON, ``"v":2``):

- ``{"t":"instance","ns","name","value":{instance}}`` / ``{"t":"instance","ns","name","ip","port",
  "cluster","deleted":true}``: one persistent instance;
- ``{"t":"service","ns","name","meta":{...}}``: a service's attributes;
- ``{"t":"service","ns","name","deleted":true}``: the service is gone: its attributes and every
  persistent instance under it (an etcd range delete of ``instance/<ns>/<name>/``);
- ``{"t":"namespace","value":{...}}`` / ``{"t":"namespace","id","deleted":true}``;
- ``{"t":"switches","value":{...}}``.

Replay applies records in order (later ones win). It also reads format version 1, where a service
record held the attributes and the whole persistent instance list (a data directory written by
earlier releases loads unchanged; the next snapshot rewrites it per key).

Writes are journaled before they are applied (``effects.persist``), and the ledger
(``nacosfast.naming.ledger``) keeps each pending key's durable value: ``settle`` drops what became
durable, ``undo`` puts refused keys back, and ``snapshot`` writes durable values only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any, Final

from nacosfast._core.registry import Change, Instance, Service
from nacosfast.errors import BadRequest
from nacosfast.limits import STORE_MAX_RECORD_BYTES
from nacosfast.naming.meta import DEFAULT_SERVICE_META, ServiceMeta
from nacosfast.naming.names import datum_key
from nacosfast.naming.namespaces import Namespace
from nacosfast.naming.state import NamingState
from nacosfast.naming.switches import Switches

__all__ = [
    "FORMAT_VERSION",
    "SWITCHES_KEY",
    "current",
    "decode",
    "encode",
    "instance_key",
    "is_durable",
    "key_path",
    "namespace_key",
    "observe",
    "removal_record",
    "replay",
    "service_key",
    "settle",
    "snapshot",
    "undo",
]

FORMAT_VERSION: Final = 2
WHOLE_SERVICE_VERSION: Final = 1
"""Format version 1: a service record held the whole persistent instance list (still replayed)."""
INSTANCE: Final = "instance"
SERVICE: Final = "service"
NAMESPACE: Final = "namespace"
SWITCHES: Final = "switches"
SWITCHES_KEY: Final = (SWITCHES,)


# --- keys -------------------------------------------------------------------------------------------


def instance_key(namespace: str, name: str, instance: Instance) -> tuple[str, str, str, str, str, int]:
    """The key of one persistent instance."""
    return (INSTANCE, namespace, name, instance.cluster, instance.ip, instance.port)


def service_key(namespace: str, name: str) -> tuple[str, str, str]:
    """The key of a service's attributes."""
    return (SERVICE, namespace, name)


def namespace_key(namespace_id: str) -> tuple[str, str]:
    """The key of one custom namespace."""
    return (NAMESPACE, namespace_id)


def key_path(key: Hashable) -> str:
    """The key as a path: ``instance/<ns>/<service>/<cluster>/<ip>:<port>``, ``service/<ns>/<service>``..."""
    assert isinstance(key, tuple)
    if key[0] == INSTANCE:
        return f"{INSTANCE}/{key[1]}/{key[2]}/{key[3]}/{key[4]}:{key[5]}"
    return "/".join(str(part) for part in key)


def durable_meta(service: Service | None) -> ServiceMeta | None:
    """A service's attributes as the durable store holds them: ``None`` unless persisted."""
    meta = service.meta if service is not None else None
    return meta if isinstance(meta, ServiceMeta) and meta.persisted else None


def current(state: NamingState, key: Hashable) -> Any:
    """The value ``key`` has in memory (``None`` when absent)."""
    assert isinstance(key, tuple)
    kind = key[0]
    if kind == INSTANCE:
        service = state.registry.get(key[1], key[2])
        return service.get(datum_key(key[4], key[5], key[3]), False) if service is not None else None
    if kind == SERVICE:
        return durable_meta(state.registry.get(key[1], key[2]))
    if kind == NAMESPACE:
        return state.namespaces.get(key[1])
    if kind == SWITCHES:
        return state.switches
    raise ValueError(f"unknown journal key {key!r}")


def is_durable(service: Service) -> bool:
    """Whether a service belongs in the durable store: persisted attributes or persistent instances."""
    return service.persistent_count > 0 or durable_meta(service) is not None


# --- encoding ---------------------------------------------------------------------------------------


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


def _dump(record: dict[str, Any]) -> bytes:
    record["v"] = FORMAT_VERSION
    payload = json.dumps(record, separators=(",", ":")).encode()
    if len(payload) > STORE_MAX_RECORD_BYTES:
        raise BadRequest(
            f"record of {len(payload)} bytes is larger than the {STORE_MAX_RECORD_BYTES}-byte storage limit"
        )
    return payload


def encode(key: Hashable, value: Any) -> bytes:
    """The record that sets ``key`` to ``value`` (``None``: deletes it). ``BadRequest`` if too large."""
    assert isinstance(key, tuple)
    kind = key[0]
    if kind == INSTANCE:
        _, namespace, name, cluster, ip, port = key
        if value is None:
            return _dump(
                {"t": INSTANCE, "ns": namespace, "name": name, "ip": ip, "port": port, "cluster": cluster}
                | {"deleted": True}
            )
        return _dump({"t": INSTANCE, "ns": namespace, "name": name, "value": _instance_json(value)})
    if kind == SERVICE:
        if value is None:
            raise ValueError("a service's attributes are deleted with the whole service: removal_record")
        return _dump({"t": SERVICE, "ns": key[1], "name": key[2], "meta": value.to_json()})
    if kind == NAMESPACE:
        if value is None:
            return _dump({"t": NAMESPACE, "id": key[1], "deleted": True})
        return _dump({"t": NAMESPACE, "value": value.to_json()})
    if kind == SWITCHES:
        return _dump({"t": SWITCHES, "value": value.to_json()})
    raise ValueError(f"unknown journal key {key!r}")


def removal_record(namespace: str, name: str) -> bytes:
    """The record that deletes a service: its attributes and every persistent instance under it."""
    return _dump({"t": SERVICE, "ns": namespace, "name": name, "deleted": True})


# --- applying (replay and undo) ---------------------------------------------------------------------


def _put_instance(state: NamingState, namespace: str, name: str, instance: Instance) -> Change | None:
    return state.registry.put_instance(namespace, name, instance, DEFAULT_SERVICE_META)


def _remove_instance(state: NamingState, namespace: str, name: str, key: str) -> Change | None:
    return state.registry.remove_instance(namespace, name, key, False)


def _set_meta(state: NamingState, namespace: str, name: str, meta: ServiceMeta | None) -> Change | None:
    """Set the durable attributes; ``None`` (not persisted) drops a service that holds nothing else."""
    registry = state.registry
    if meta is not None:
        return registry.set_meta(namespace, name, meta)
    service = registry.get(namespace, name)
    if service is None or durable_meta(service) is None:
        return None
    if len(service):
        return registry.set_meta(namespace, name, DEFAULT_SERVICE_META)
    return registry.remove_service(namespace, name)


def _remove_service(state: NamingState, namespace: str, name: str) -> Change | None:
    """Drop a service's durable part: attributes and persistent instances (ephemeral ones stay)."""
    registry = state.registry
    existing = registry.get(namespace, name)
    if existing is None:
        return None
    if existing.ephemeral_count:  # ephemeral data is not journaled: keep it, drop the durable part
        registry.replace_instances(namespace, name, False, [], DEFAULT_SERVICE_META)
        return registry.set_meta(namespace, name, DEFAULT_SERVICE_META)
    return registry.remove_service(namespace, name)


def _apply(state: NamingState, key: tuple[Any, ...], value: Any) -> Change | None:
    """Set ``key`` to ``value`` in memory, as its record would at replay."""
    kind = key[0]
    if kind == INSTANCE:
        _, namespace, name, cluster, ip, port = key
        if value is None:
            return _remove_instance(state, namespace, name, datum_key(ip, port, cluster))
        return _put_instance(state, namespace, name, value)
    if kind == SERVICE:
        return _set_meta(state, key[1], key[2], value)
    if kind == NAMESPACE:
        if value is None:
            state.namespaces.remove(key[1])
        else:
            state.namespaces.put(value)
    elif kind == SWITCHES:
        state.switches = value
    return None


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
        version = record.get("v")
        if version not in (WHOLE_SERVICE_VERSION, FORMAT_VERSION):
            raise ValueError(f"journal record of unknown format version {version!r}")
        kind = record["t"]
        if kind == INSTANCE:
            if record.get("deleted"):
                key = datum_key(record["ip"], int(record["port"]), record["cluster"])
                _remove_instance(state, record["ns"], record["name"], key)
            else:
                _put_instance(state, record["ns"], record["name"], _instance_from_json(record["value"]))
        elif kind == SERVICE:
            _replay_service(state, record)
        elif kind == NAMESPACE:
            if record.get("deleted"):
                state.namespaces.remove(record["id"])
            else:
                state.namespaces.put(Namespace.from_json(record["value"]))
        elif kind == SWITCHES:
            state.switches = Switches.from_json(record["value"])
        elif extra is not None and kind in extra:
            extra[kind](record)
        else:
            raise ValueError(f"journal record of unknown type {kind!r}")
        applied += 1
    return applied


def _replay_service(state: NamingState, record: dict[str, Any]) -> None:
    namespace, name = record["ns"], record["name"]
    if record.get("deleted"):
        _remove_service(state, namespace, name)
        return
    meta = ServiceMeta.from_json(record["meta"])
    state.registry.set_meta(namespace, name, meta)
    if "instances" in record:  # format version 1: the whole persistent list
        instances = [_instance_from_json(item) for item in record["instances"]]
        state.registry.replace_instances(namespace, name, False, instances, meta)


# --- outcomes and snapshots -------------------------------------------------------------------------


def settle(state: NamingState, through: int) -> None:
    """Every journaled write numbered up to ``through`` is durable."""
    state.ledger.settle(through)


def _restore_order(item: tuple[Hashable, Any]) -> int:
    """Attributes before instances (they create the service), dropping a service after its instances."""
    key, value = item
    assert isinstance(key, tuple)
    if key[0] == SERVICE:
        return 0 if value is not None else 2
    return 1


def undo(state: NamingState, through: int, now_ms: int) -> int:
    """Writes up to ``through`` were refused by the disk: put their keys back to their durable values
    (unless a newer write to the key is pending) and tell push. Returns how many keys were restored."""
    restore = sorted(state.ledger.refuse(through), key=_restore_order)
    for key, value in restore:
        assert isinstance(key, tuple)
        change = _apply(state, key, value)
        if change is not None:
            service = change.service
            state.push.service_changed(service.namespace, service.name, now_ms)
    return len(restore)


def snapshot(state: NamingState) -> Iterator[bytes]:
    """One record per durable key, with durable values only (a key with a pending write contributes the
    value it had before that write): the state as of the last write reported to ``settle``/``undo``.

    The state is captured when this is called (switches and namespaces encoded, services as their
    immutable snapshots, pending keys' durable values); the rest is encoded as the result is consumed,
    so a worker thread can write it while the application goes on.
    """
    pending = dict(state.ledger.durable())
    head: list[bytes] = []
    if SWITCHES_KEY not in pending:
        head.append(encode(SWITCHES_KEY, state.switches))  # mutable in place: encoded now
    for namespace in state.namespaces.all():
        key = namespace_key(namespace.namespace_id)
        if key not in pending:
            head.append(encode(key, namespace))
    registry = state.registry
    services = [
        (namespace_id, service)
        for namespace_id in registry.namespaces()
        for name in registry.services(namespace_id)
        if (service := registry.get(namespace_id, name)) is not None
    ]
    return _snapshot_records(head, services, pending)


def _snapshot_records(
    head: list[bytes], services: list[tuple[str, Service]], pending: dict[Hashable, Any]
) -> Iterator[bytes]:
    yield from head
    for namespace_id, service in services:
        name = service.name
        meta = durable_meta(service)
        key: Hashable = service_key(namespace_id, name)
        if meta is not None and key not in pending:
            yield encode(key, meta)
        for instance in service.instances(ephemeral=False):
            key = instance_key(namespace_id, name, instance)
            if key not in pending:
                yield encode(key, instance)
    for key, value in pending.items():
        if value is not None:
            yield encode(key, value)


# --- another writer's records (a shared store such as etcd) -----------------------------------------


def decode(payload: bytes) -> Any:
    """The value a (format version 2) record sets its key to."""
    record = json.loads(payload)
    kind = record["t"]
    if kind == INSTANCE:
        return _instance_from_json(record["value"])
    if kind == SERVICE:
        return ServiceMeta.from_json(record["meta"])
    if kind == NAMESPACE:
        return Namespace.from_json(record["value"])
    if kind == SWITCHES:
        return Switches.from_json(record["value"])
    raise ValueError(f"journal record of unknown type {kind!r}")


def observe(state: NamingState, key: Hashable, payload: bytes | None, now_ms: int) -> None:
    """The shared store now holds ``payload`` (``None``: nothing) at ``key``: apply it and tell push.

    A key with a write of this node still pending keeps its value in memory; the observed value
    becomes its durable value (what an undo restores)."""
    assert isinstance(key, tuple)
    value = None if payload is None else decode(payload)
    if key in state.ledger:
        state.ledger.observe(key, value)
        return
    change = _apply(state, key, value)
    if change is not None:
        service = change.service
        state.push.service_changed(service.namespace, service.name, now_ms)
