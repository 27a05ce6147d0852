"""The Distro planner without I/O: versioned apply, convergence under reordering/duplication/loss,
anti-entropy repair, and peer input that is malformed."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacosfast.cluster.datum import DatumCodec
from nacosfast.cluster.distro import (
    KIND_DIGEST,
    KIND_FETCH,
    KIND_SNAPSHOT,
    KIND_SYNC,
    KIND_TABLE,
    VERSION_EPOCH_SHIFT,
    Distro,
    DistroConfig,
)
from nacosfast.cluster.view import StaticMembership, service_key
from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState, ServerIdentity
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush, call

A = "127.0.0.1:8848"
B = "127.0.0.1:8849"
CONFIG = DistroConfig(sync_delay_ms=10, tombstone_ms=0)


class PureNode:
    """A node driven by hand: no runner, time passed explicitly."""

    def __init__(self, address: str, epoch_ms: int = WALL_EPOCH_MS) -> None:
        host, _, port = address.rpartition(":")
        self.state = NamingState(
            push=RecordingPush(), journal=MemoryJournal(), identity=ServerIdentity(host, int(port), False)
        )
        self.view = StaticMembership(address, [A, B])
        self.distro = Distro(self.state, self.view, epoch_ms, 0, CONFIG)
        self.distro.snapshot_loaded()
        self.app = NamingApp(self.state)

    def write(self, method: str, service: str, ip: str, now_ms: int) -> None:
        params = {"serviceName": service, "ip": ip, "port": 80}
        response = call(self.app, method, "/v1/ns/instance", params, now_ms=now_ms)
        assert response.status == 200

    def contents(self) -> dict[str, list[str]]:
        registry = self.state.registry
        found = {}
        for namespace in registry.namespaces():
            for name in registry.services(namespace):
                service = registry.get(namespace, name)
                assert service is not None
                if service.ephemeral_count:
                    found[service_key(namespace, name)] = sorted(
                        f"{i.key}/{i.healthy}/{i.weight}" for i in service.instances(ephemeral=True)
                    )
        return found


def services_owned_by(address: str, count: int) -> list[str]:
    view = StaticMembership(A, [A, B])
    names = (f"svc{index}" for index in range(1000))
    owned = [n for n in names if view.owner_of(service_key("public", f"DEFAULT_GROUP@@{n}")) == address]
    return owned[:count]


OWNED_BY_A = services_owned_by(A, 3)

operations = st.lists(
    st.tuples(st.sampled_from(["POST", "DELETE"]), st.integers(0, 2), st.integers(0, 3), st.integers(0, 40)),
    min_size=1,
    max_size=30,
)


def run_writes(owner: PureNode, ops: list[tuple[str, int, int, int]]) -> tuple[list[bytes], int]:
    """Apply ``ops`` on ``owner``; every sync payload it would send to B, and the final time."""
    messages = []
    now_ms = 0
    for method, service, ip, pause in [*ops, ("", 0, 0, 1_000)]:
        if method:
            owner.write(method, OWNED_BY_A[service], f"10.0.0.{ip}", now_ms)
        now_ms += pause
        for batch in owner.distro.due_syncs(now_ms):
            messages.append(batch.payload)
            owner.distro.sync_done(batch)
    return messages, now_ms


def anti_entropy(owner: PureNode, replica: PureNode, now_ms: int) -> None:
    """One anti-entropy round from ``owner`` to ``replica``, every call made by hand."""
    summary = owner.distro.digest_round(now_ms)
    assert summary is not None
    replica.distro.handle(KIND_DIGEST, summary, now_ms)
    while (repair := replica.distro.next_repair()) is not None:
        table = owner.distro.handle(KIND_TABLE, repair.table_request, now_ms)
        for keys in replica.distro.plan_repair(repair, table, now_ms):
            reply = owner.distro.handle(KIND_FETCH, replica.distro.fetch_request(keys), now_ms)
            replica.distro.fetched(reply, now_ms)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, data=st.data())
def test_distro_reordered_and_duplicated_syncs_converge(ops: list[Any], data: st.DataObject) -> None:
    owner, replica = PureNode(A), PureNode(B)
    messages, now_ms = run_writes(owner, ops)
    # every message at least once, in any order, some several times
    order = data.draw(st.permutations([*range(len(messages)), *data.draw(st.lists(st.integers(0, 99)))]))
    for index in order:
        if index < len(messages):
            replica.distro.handle(KIND_SYNC, messages[index], now_ms)
    assert replica.contents() == owner.contents()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, data=st.data())
def test_distro_lost_syncs_are_repaired_by_anti_entropy(ops: list[Any], data: st.DataObject) -> None:
    owner, replica = PureNode(A), PureNode(B)
    messages, now_ms = run_writes(owner, ops)
    some = st.lists(st.sampled_from(messages), max_size=2 * len(messages)) if messages else st.just([])
    delivered = data.draw(some)
    for payload in delivered:
        replica.distro.handle(KIND_SYNC, payload, now_ms)
    anti_entropy(owner, replica, now_ms)
    assert replica.contents() == owner.contents()
    # and then nothing differs: the next round finds no bucket to repair
    anti_entropy(owner, replica, now_ms + 1)
    assert replica.distro.counters["bucketsRepaired"] == replica.distro.counters["bucketsRepaired"]
    summary = owner.distro.digest_round(now_ms + 2)
    assert summary is not None
    replica.distro.handle(KIND_DIGEST, summary, now_ms + 2)
    assert replica.distro.next_repair() is None


def test_distro_old_datum_never_overwrites_new() -> None:
    owner, replica = PureNode(A), PureNode(B)
    name = OWNED_BY_A[0]
    owner.write("POST", name, "10.0.0.1", 0)
    (first,) = owner.distro.due_syncs(100)
    owner.distro.sync_done(first)
    owner.write("POST", name, "10.0.0.2", 200)
    (second,) = owner.distro.due_syncs(300)
    replica.distro.handle(KIND_SYNC, second.payload, 300)
    replica.distro.handle(KIND_SYNC, first.payload, 300)  # late and old (Nacos #4355 applied it)
    assert replica.contents() == owner.contents()
    assert replica.distro.counters["datumsStale"] == 1


def test_distro_restarted_owner_versions_rise() -> None:
    before = PureNode(A, epoch_ms=WALL_EPOCH_MS)
    for ip in range(20):
        before.write("POST", OWNED_BY_A[0], f"10.0.0.{ip}", ip)
    after = PureNode(A, epoch_ms=WALL_EPOCH_MS + 1)  # restarted 1 ms later, knowing nothing
    after.write("POST", OWNED_BY_A[0], "10.0.0.99", 0)
    key = service_key("public", f"DEFAULT_GROUP@@{OWNED_BY_A[0]}")
    assert after.distro.records[key].version > before.distro.records[key].version
    assert after.distro.records[key].version >> VERSION_EPOCH_SHIFT == WALL_EPOCH_MS + 1


def test_distro_snapshot_pages_cover_everything() -> None:
    source = PureNode(A)
    for index in range(25):
        source.write("POST", f"page{index}", "10.0.0.1", index)
    source.distro.config = DistroConfig(snapshot_page_keys=7)
    target = PureNode(B)
    cursor = None
    pages = 0
    while True:
        reply = source.distro.handle(KIND_SNAPSHOT, target.distro.snapshot_request(cursor), 0)
        ready, cursor = target.distro.load_snapshot_page(reply, 0)
        assert ready
        pages += 1
        if cursor is None:
            break
    assert pages == 4
    assert target.contents() == source.contents()


KINDS = [KIND_SYNC, KIND_DIGEST, KIND_TABLE, KIND_FETCH, KIND_SNAPSHOT, "distro/nope"]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=300))
def test_distro_malformed_peer_input_is_a_value_error(kind: str, payload: bytes) -> None:
    node = PureNode(B)
    with contextlib.suppress(ValueError):
        node.distro.handle(kind, payload, 0)
    assert node.contents() == {}


KEY = "public##DEFAULT_GROUP@@x"


def rows(*rows: list[Any]) -> str:
    return "\n".join(json.dumps(row) for row in rows)


@pytest.mark.parametrize(
    "message",
    [
        {"d": [[KEY, -1, 0, ""]]},
        {"d": [[KEY, 1, 2**64, ""]]},
        {"d": [["no-separator", 1, 0, ""]]},
        {"d": [[KEY, 1, 0, []]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 70000, "DEFAULT", 1.0, 3, {}, None, None])]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 80, "DEFAULT", 1e9, 3, {}, None, None])]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 80, "DEFAULT", 1.0, 3, {"k": 1}, None, None])]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 80, "DEFAULT", 1.0, 8, {}, None, None])]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 80, "DEFAULT", 1.0, 3, {}, None])]]},
        {"d": [[KEY, 1, 0, "not json"]]},
        {"d": [[KEY, 1, 0, rows(["10.0.0.1", 80, "DEFAULT", 1.0, 3, {}, None, None]) + "\n"]]},
        {"d": [["bad ns!##DEFAULT_GROUP@@x", 1, 0, ""]]},
        {"d": "x"},
        [],
    ],
)
def test_distro_datum_decoding_refuses_bad_values(message: Any) -> None:
    with pytest.raises(ValueError, match="datum"):
        DatumCodec().decode(json.dumps(message).encode())


def test_distro_datum_round_trip_keeps_every_field() -> None:
    node = PureNode(A)
    response = call(
        node.app,
        "POST",
        "/v1/ns/instance",
        {
            "serviceName": "rt",
            "ip": "10.0.0.1",
            "port": 81,
            "weight": 2.5,
            "enabled": "false",
            "clusterName": "c1",
            "metadata": '{"a":"1","ü":"ß"}',
            "app": "shop",
        },
    )
    assert response.status == 200
    service = node.state.registry.get("public", "DEFAULT_GROUP@@rt")
    assert service is not None
    message = DatumCodec().encode([("public##DEFAULT_GROUP@@rt", 7, service)])
    (datum,), _ = DatumCodec().decode(message)  # a fresh codec: every row is parsed
    assert datum.version == 7
    assert datum.digest == service.ephemeral_digest
    assert datum.instances == service.instances(ephemeral=True)


def test_distro_codec_reuses_unchanged_rows() -> None:
    sender, receiver = PureNode(A), PureNode(B)
    for ip in range(3):
        sender.write("POST", OWNED_BY_A[0], f"10.0.0.{ip}", 0)
    (first,) = sender.distro.due_syncs(1_000)
    sender.distro.sync_done(first)
    receiver.distro.handle(KIND_SYNC, first.payload, 0)
    key = service_key("public", f"DEFAULT_GROUP@@{OWNED_BY_A[0]}")
    held = receiver.state.registry.get("public", f"DEFAULT_GROUP@@{OWNED_BY_A[0]}")
    assert held is not None
    before = {i.key: i for i in held.instances()}
    sender.write("POST", OWNED_BY_A[0], "10.0.0.9", 2_000)
    (second,) = sender.distro.due_syncs(3_000)
    (datum,), _ = receiver.distro.codec.decode(second.payload)
    assert datum.key == key
    reused = [i for i in datum.instances if before.get(i.key) is i]
    assert len(reused) == 3  # the same objects: nothing parsed again
    assert receiver.distro.apply(datum, 3_000)
    assert receiver.contents() == sender.contents()
