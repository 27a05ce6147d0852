"""Persistent instances and service attributes are journaled; replay rebuilds exactly that data."""

from __future__ import annotations

import json
from typing import Any

from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import replay
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.state import NamingState
from tests.instance_helpers import INSTANCE_PATH, SERVICE, deregister, register
from tests.naming_helpers import PYTHON_UA, MemoryJournal, RecordingPush, call


def _durable_view(state: NamingState) -> dict[tuple[str, str], Any]:
    """Persistent instances (every field) and service attributes of every service that has either."""
    view: dict[tuple[str, str], Any] = {}
    registry = state.registry
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            assert service is not None
            meta = service.meta if isinstance(service.meta, ServiceMeta) else None
            if not service.persistent_count and not (meta and meta.persisted):
                continue
            view[(namespace, name)] = (
                meta.to_json() if meta else None,
                sorted(
                    (
                        i.key,
                        i.ip,
                        i.port,
                        i.cluster,
                        i.weight,
                        i.healthy,
                        i.enabled,
                        i.marked,
                        json.dumps(dict(i.metadata), sort_keys=True),
                        i.app,
                        i.id_in(name),
                    )
                    for i in service.instances(ephemeral=False)
                ),
            )
    return view


def _replayed(journal: MemoryJournal) -> NamingState:
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    assert replay(fresh, journal.payloads) == len(journal.payloads)
    return fresh


def test_journal_records_each_persistent_write_with_its_sequence(
    app: NamingApp, journal: MemoryJournal
) -> None:
    seqs = [
        register(app, ephemeral="false").durable_seq,
        register(app, ip="10.0.0.2", ephemeral="false", weight=2).durable_seq,
        deregister(app, ephemeral="false").durable_seq,
    ]
    assert seqs == [1, 2, 3]
    assert [[i["ip"] for i in json.loads(p)["instances"]] for p in journal.payloads] == [
        ["10.0.0.1"],
        ["10.0.0.1", "10.0.0.2"],
        ["10.0.0.2"],
    ]


def test_journal_ephemeral_writes_are_not_recorded(app: NamingApp, journal: MemoryJournal) -> None:
    register(app)
    register(app, ip="10.0.0.2", metadata="a=b")
    deregister(app)
    call(app, "PUT", "/v1/ns/instance/beat", {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080})
    call(app, "PATCH", INSTANCE_PATH, {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080, "weight": 3})
    assert journal.payloads == []


def test_journal_replay_reproduces_persistent_data(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    snowflake = '{"preserved.instance.id.generator":"snowflake","zone":"a"}'
    register(app, ephemeral="false", metadata=snowflake, weight="2.5", app="shop")
    register(app, ip="10.0.0.2", ephemeral="false", metadata=snowflake, clusterName="c1")
    register(app, ip="10.0.0.3", ephemeral="false", enabled="false", healthy="false")
    register(app, ip="10.0.0.4", ephemeral="false")
    register(app, service="G@@other", ip="10.1.0.1", port=0, ephemeral="false", namespaceId="ns1")
    register(app, service="G@@ephemeral-only", ip="10.2.0.1")
    register(app, ip="10.0.0.9")  # ephemeral, beside the persistent ones
    update = {"serviceName": SERVICE, "ip": "10.0.0.4", "port": 8080, "ephemeral": "false", "weight": 7}
    assert call(app, "PUT", INSTANCE_PATH, update, user_agent=PYTHON_UA).body == b"ok"
    patch = {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080, "clusterName": "c1", "metadata": "k=v"}
    assert call(app, "PATCH", INSTANCE_PATH, patch).body == b"ok"
    batch = {"serviceName": SERVICE, "consistencyType": "persist", "metadata": '{"batch":"1"}'}
    assert call(app, "PUT", "/v1/ns/instance/metadata/batch", batch).status == 200
    deregister(app, ip="10.0.0.3", ephemeral="false")
    deregister(app, service="G@@other", ip="10.1.0.1", port=0, ephemeral="false", namespaceId="ns1")

    expected = _durable_view(naming_state)
    assert set(expected) == {("public", SERVICE), ("ns1", "G@@other")}
    assert expected[("ns1", "G@@other")][1] == []  # no instances left, the persisted attributes stay
    fresh = _replayed(journal)
    assert _durable_view(fresh) == expected
    assert fresh.registry.get("public", "G@@ephemeral-only") is None
    service = fresh.registry.get("public", SERVICE)
    assert service is not None
    assert service.ephemeral_count == 0
    ids = {i.ip: i.id_in(SERVICE) for i in service.instances(ephemeral=False)}
    assert ids == {"10.0.0.1": "0", "10.0.0.2": "1", "10.0.0.4": "10.0.0.4#8080#DEFAULT#DEFAULT_GROUP@@svc"}


def test_journal_replay_keeps_the_last_record_of_a_service(app: NamingApp, journal: MemoryJournal) -> None:
    for weight in (1, 2, 3):
        register(app, ephemeral="false", weight=weight)
    fresh = _replayed(journal)
    service = fresh.registry.get("public", SERVICE)
    assert service is not None
    assert [i.weight for i in service.instances(ephemeral=False)] == [3.0]


def test_journal_persistent_register_after_ephemeral_marks_service_persisted(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    register(app)
    assert journal.payloads == []
    register(app, ip="10.0.0.2", ephemeral="false")
    record = json.loads(journal.payloads[-1])
    assert record["meta"]["persisted"] is True
    assert [i["ip"] for i in record["instances"]] == ["10.0.0.2"]
    fresh = _replayed(journal)
    assert _durable_view(fresh) == _durable_view(naming_state)
