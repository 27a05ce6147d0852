"""The journal: one record per key, replay (format versions 1 and 2), undo of refused writes, snapshots.

``MemoryJournal`` numbers records 1, 2, ...; nothing is settled or refused unless a test says so, so
the ledger holds every write as pending until then.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nacosfast._core.registry import Instance
from nacosfast.errors import Unavailable
from nacosfast.limits import EMPTY_SERVICE_CLEAN_ROUNDS, EMPTY_SERVICE_MIN_AGE_MS
from nacosfast.naming.app import NamingApp
from nacosfast.naming.expiry import clean_empty_services
from nacosfast.naming.journal import (
    FORMAT_VERSION,
    SWITCHES_KEY,
    instance_key,
    is_durable,
    key_path,
    namespace_key,
    replay,
    service_key,
    settle,
    snapshot,
    undo,
)
from nacosfast.naming.state import NamingState
from nacosfast.store import AppendLog
from tests.instance_helpers import INSTANCE_PATH, SERVICE, deregister, hosts, register
from tests.naming_helpers import PYTHON_UA, MemoryJournal, RecordingPush, call

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def durable_view(state: NamingState) -> dict[str, Any]:
    """Everything the durable store holds: persistent instances (every field) and service attributes,
    custom namespaces, switches."""
    services: dict[str, Any] = {}
    registry = state.registry
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            assert service is not None
            if not is_durable(service):
                continue
            services[f"{namespace}/{name}"] = {
                "meta": service.meta.to_json(),
                "instances": sorted(
                    [
                        i.key,
                        i.weight,
                        i.healthy,
                        i.enabled,
                        i.marked,
                        dict(i.metadata),
                        i.app,
                        i.id_in(name),
                    ]
                    for i in service.instances(ephemeral=False)
                ),
            }
    return {
        "services": services,
        "namespaces": sorted(namespace.namespace_id for namespace in state.namespaces.all()),
        "switches": state.switches.to_json(),
    }


def fresh_state() -> NamingState:
    return NamingState(push=RecordingPush(), journal=MemoryJournal())


def replayed(payloads: list[bytes]) -> NamingState:
    fresh = fresh_state()
    assert replay(fresh, payloads) == len(payloads)
    return fresh


def records(journal_: MemoryJournal) -> list[dict[str, Any]]:
    return [json.loads(payload) for payload in journal_.payloads]


# --- records ----------------------------------------------------------------------------------------


def test_journal_writes_one_record_per_changed_key(app: NamingApp, journal: MemoryJournal) -> None:
    first = register(app, ephemeral="false").durable_seq
    second = register(app, ip="10.0.0.2", ephemeral="false", weight=2).durable_seq
    third = deregister(app, ephemeral="false").durable_seq
    assert (first, second, third) == (2, 3, 4)
    kinds = [
        (r["t"], r.get("value", {}).get("ip", r.get("ip")), r.get("deleted", False)) for r in records(journal)
    ]
    assert kinds == [
        ("service", None, False),  # the first persistent instance marks the service persisted
        ("instance", "10.0.0.1", False),
        ("instance", "10.0.0.2", False),
        ("instance", "10.0.0.1", True),
    ]
    assert {r["v"] for r in records(journal)} == {FORMAT_VERSION}


def test_journal_record_size_does_not_grow_with_the_service(app: NamingApp, journal: MemoryJournal) -> None:
    register(app, ip="10.0.0.1", ephemeral="false")
    small = len(journal.payloads[-1])
    for index in range(2, 2_000):
        register(app, ip=f"10.1.{index // 250}.{index % 250}", ephemeral="false")
    assert len(journal.payloads[-1]) <= small + 4  # only the ip is longer
    deregister(app, ip="10.0.0.1", ephemeral="false")
    assert len(journal.payloads[-1]) < small


def test_journal_ephemeral_writes_are_not_recorded(app: NamingApp, journal: MemoryJournal) -> None:
    register(app)
    register(app, ip="10.0.0.2", metadata="a=b")
    deregister(app)
    call(app, "PUT", "/v1/ns/instance/beat", {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080})
    call(app, "PATCH", INSTANCE_PATH, {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080, "weight": 3})
    assert journal.payloads == []


def test_journal_key_paths_suit_a_key_value_store() -> None:
    instance = Instance("10.0.0.1", 8080, "c1", ephemeral=False)
    assert key_path(instance_key("dev", "G@@orders", instance)) == "instance/dev/G@@orders/c1/10.0.0.1:8080"
    assert key_path(service_key("dev", "G@@orders")) == "service/dev/G@@orders"
    assert key_path(namespace_key("dev")) == "namespace/dev"
    assert key_path(SWITCHES_KEY) == "switches"


# --- replay -----------------------------------------------------------------------------------------


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
    create = {"serviceName": "G@@doomed", "protectThreshold": "0.5"}
    assert call(app, "POST", "/v1/ns/service", create).body == b"ok"
    register(app, service="G@@doomed", ip="10.3.0.1", ephemeral="false")
    assert call(app, "DELETE", "/v1/ns/service", {"serviceName": "G@@doomed"}).body == b"ok"

    expected = durable_view(naming_state)
    assert set(expected["services"]) == {f"public/{SERVICE}", "ns1/G@@other"}
    assert expected["services"]["ns1/G@@other"]["instances"] == []  # the persisted attributes stay
    fresh = replayed(journal.payloads)
    assert durable_view(fresh) == expected
    assert fresh.registry.get("public", "G@@ephemeral-only") is None
    service = fresh.registry.get("public", SERVICE)
    assert service is not None
    assert service.ephemeral_count == 0
    ids = {i.ip: i.id_in(SERVICE) for i in service.instances(ephemeral=False)}
    assert ids == {"10.0.0.1": "0", "10.0.0.2": "1", "10.0.0.4": "10.0.0.4#8080#DEFAULT#DEFAULT_GROUP@@svc"}


def test_journal_replays_a_data_directory_of_format_version_1(tmp_path: Path) -> None:
    """``fixtures/store-v1`` was written by the whole-service encoder (commit 104be93): a snapshot and
    a log segment holding namespaces, switches, services with clusters, persistent instances (snowflake
    ids, port 0), updates, deregistrations, a service deletion and a namespace deletion. It loads
    unchanged; a snapshot then rewrites it per key and the next start loads that."""
    data_dir = tmp_path / "data"
    shutil.copytree(FIXTURES / "store-v1", data_dir)
    expected = json.loads((FIXTURES / "store-v1.expected.json").read_text())
    state = fresh_state()
    with AppendLog.open(data_dir) as log:
        replayed_count = replay(state, log.replay())
        assert replayed_count > 0
        assert durable_view(state) == expected
        assert state.registry.get("public", "DEFAULT_GROUP@@doomed") is None
        assert any(json.loads(payload)["v"] == 1 for payload in log.replay())
        log.write_snapshot(list(snapshot(state)))
    upgraded = fresh_state()
    with AppendLog.open(data_dir) as log:
        payloads = list(log.replay())
        assert {json.loads(payload)["v"] for payload in payloads} == {2}
        replay(upgraded, payloads)
    assert durable_view(upgraded) == expected


# --- undo of refused writes -------------------------------------------------------------------------


def test_journal_undo_removes_a_refused_register_and_its_new_service(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal, push: RecordingPush
) -> None:
    number = register(app, ephemeral="false").durable_seq
    assert [h["ip"] for h in hosts(app)] == ["10.0.0.1"]
    push.changed.clear()
    assert undo(naming_state, number, 0) == 2  # the instance and the service's attributes
    assert naming_state.registry.get("public", SERVICE) is None
    assert set(push.changed) == {("public", SERVICE)}  # subscribers hear of the undo
    assert len(naming_state.ledger) == 0


def test_journal_undo_restores_the_durable_value_not_a_refused_one(
    app: NamingApp, naming_state: NamingState
) -> None:
    settle(naming_state, register(app, ephemeral="false", weight=1).durable_seq)
    second = register(app, ephemeral="false", weight=2).durable_seq
    third = register(app, ephemeral="false", weight=3).durable_seq
    undo(naming_state, second, 0)  # a newer write to the key is pending: memory keeps it
    assert [h["weight"] for h in hosts(app)] == [3.0]
    undo(naming_state, third, 0)  # now the key goes back to what is on disk, not to weight 2
    assert [h["weight"] for h in hosts(app)] == [1.0]


def test_journal_undo_keeps_what_became_durable_in_between(app: NamingApp, naming_state: NamingState) -> None:
    first = register(app, ephemeral="false", weight=1).durable_seq
    second = register(app, ephemeral="false", weight=2).durable_seq
    settle(naming_state, first)
    undo(naming_state, second, 0)
    assert [h["weight"] for h in hosts(app)] == [1.0]


def test_journal_undo_of_a_refused_deregister_and_service_removal(
    app: NamingApp, naming_state: NamingState
) -> None:
    for ip in ("10.0.0.1", "10.0.0.2"):
        settle(naming_state, register(app, ip=ip, ephemeral="false", metadata=f"ip={ip}").durable_seq)
    before = durable_view(naming_state)
    undo(naming_state, deregister(app, ephemeral="false").durable_seq, 0)
    assert durable_view(naming_state) == before
    removal = call(app, "DELETE", "/v1/ns/service", {"serviceName": SERVICE})
    assert naming_state.registry.get("public", SERVICE) is None
    undo(naming_state, removal.durable_seq, 0)
    assert durable_view(naming_state) == before


def test_journal_undo_of_namespace_and_switch_writes(app: NamingApp, naming_state: NamingState) -> None:
    create = {"customNamespaceId": "dev", "namespaceName": "Dev", "namespaceDesc": ""}
    created = call(app, "POST", "/v1/console/namespaces", create)
    switched = call(app, "PUT", "/v1/ns/operator/switches", {"entry": "clientBeatInterval", "value": "7000"})
    assert naming_state.switches.clientBeatInterval == 7000
    undo(naming_state, max(created.durable_seq, switched.durable_seq), 0)
    assert naming_state.namespaces.get("dev") is None
    assert naming_state.switches.clientBeatInterval == 5000


def test_journal_snapshot_holds_durable_values_only(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    settle(naming_state, register(app, ephemeral="false", weight=1).durable_seq)
    durable = durable_view(naming_state)
    register(app, ephemeral="false", weight=2)  # pending
    register(app, ip="10.0.0.2", ephemeral="false")  # pending
    assert durable_view(replayed(list(snapshot(naming_state)))) == durable
    settle(naming_state, len(journal.payloads))
    assert durable_view(replayed(list(snapshot(naming_state)))) == durable_view(naming_state)


def test_journal_snapshot_is_the_state_when_it_was_taken(app: NamingApp, naming_state: NamingState) -> None:
    settle(naming_state, register(app, ephemeral="false", metadata="a=1").durable_seq)
    settle(
        naming_state,
        call(
            app, "PUT", "/v1/ns/operator/switches", {"entry": "distroThreshold", "value": "0.5"}
        ).durable_seq,
    )
    taken = durable_view(naming_state)
    records = snapshot(naming_state)  # read later, as a worker thread does
    for number in (
        register(app, ephemeral="false", metadata="a=2").durable_seq,
        register(app, ip="10.0.0.2", ephemeral="false").durable_seq,
        call(
            app, "PUT", "/v1/ns/operator/switches", {"entry": "distroThreshold", "value": "0.9"}
        ).durable_seq,
        call(app, "DELETE", "/v1/ns/service", {"serviceName": SERVICE}).durable_seq,
    ):
        settle(naming_state, number)
    assert durable_view(replayed(list(records))) == taken


_OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["register", "deregister", "remove", "create", "outcome"]),
        st.integers(0, 3),  # which instance / service
        st.booleans(),  # for "outcome": durable or refused
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(_OPERATIONS)
def test_journal_memory_matches_the_durable_records_once_every_write_is_decided(
    operations: list[tuple[str, int, bool]],
) -> None:
    """Writes interleaved with outcomes reported in journal order: once every write is decided, memory
    equals a replay of the records that were made durable, and a snapshot replays to the same."""
    sink = MemoryJournal()
    state = NamingState(push=RecordingPush(), journal=sink)
    app = NamingApp(state)
    durable: list[bytes] = []
    decided = 0

    def decide(through: int, ok: bool) -> None:
        nonlocal decided
        if ok:
            durable.extend(sink.payloads[decided:through])
            settle(state, through)
        else:
            undo(state, through, 0)
        decided = through

    for kind, which, ok in operations:
        service = f"G@@s{which % 2}"
        ip = f"10.0.0.{which}"
        if kind == "register":
            call(
                app,
                "POST",
                INSTANCE_PATH,
                {"serviceName": service, "ip": ip, "port": 80, "ephemeral": "false", "weight": which + 1},
            )
        elif kind == "deregister":
            call(
                app,
                "DELETE",
                INSTANCE_PATH,
                {"serviceName": service, "ip": ip, "port": 80, "ephemeral": "false"},
            )
        elif kind == "remove":
            call(app, "DELETE", "/v1/ns/service", {"serviceName": service})
        elif kind == "create":
            call(app, "POST", "/v1/ns/service", {"serviceName": service, "protectThreshold": which / 4})
        elif len(sink.payloads) > decided:
            decide(decided + 1 + which % (len(sink.payloads) - decided), ok)
    decide(len(sink.payloads), False)
    assert len(state.ledger) == 0
    assert durable_view(state) == durable_view(replayed(durable))
    assert durable_view(replayed(list(snapshot(state)))) == durable_view(state)


class RefusingJournal:
    """A journal that has too much waiting for the disk."""

    def append(self, payload: bytes) -> int:
        raise Unavailable("storage failure: too many records are waiting for the disk")


def test_empty_service_cleanup_keeps_a_service_whose_removal_the_journal_refuses(
    app: NamingApp, naming_state: NamingState
) -> None:
    assert call(app, "POST", "/v1/ns/service", {"serviceName": "G@@empty"}).body == b"ok"
    naming_state.journal = RefusingJournal()
    for look in range(EMPTY_SERVICE_CLEAN_ROUNDS + 1):
        assert clean_empty_services(naming_state, look * EMPTY_SERVICE_MIN_AGE_MS) == []
    assert naming_state.registry.get("public", "G@@empty") is not None
    naming_state.journal = MemoryJournal()
    assert clean_empty_services(
        naming_state, (EMPTY_SERVICE_CLEAN_ROUNDS + 1) * EMPTY_SERVICE_MIN_AGE_MS
    ) == [("public", "G@@empty")]
