"""Routing writes and beats to owners (naming.routing), owner-only expiry and take-over (naming.expiry)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from nacosfast.cluster.members import MemberTable, MemberTimings, service_key
from nacosfast.naming import expiry
from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request, Response
from tests.instance_helpers import BEAT_PATH, INSTANCE_PATH
from tests.naming_helpers import MemoryJournal, RecordingPush, call

A, B = "10.0.0.1:8848", "10.0.0.2:8848"
FORWARDED = Response(status=299, body=b"forwarded")


@dataclass
class RecordingForwarding:
    forwarded: list[tuple[str, Request]] = field(default_factory=list)
    relayed: list[tuple[str, str, str, str]] = field(default_factory=list)

    def forward(self, owner: str, request: Request) -> Response:
        self.forwarded.append((owner, request))
        return FORWARDED

    def relay_beat(self, owner: str, namespace: str, name: str, key: str) -> None:
        self.relayed.append((owner, namespace, name, key))

    def counters(self) -> dict[str, int]:
        return {"forwarded": len(self.forwarded), "beatsRelayed": len(self.relayed)}


def service_owned_by(members: MemberTable, owner: str) -> str:
    for index in range(1_000):
        name = f"svc{index}"
        if members.owner_of(service_key("public", f"DEFAULT_GROUP@@{name}")) == owner:
            return name
    raise AssertionError("no such service")


@pytest.fixture
def members() -> MemberTable:
    return MemberTable(A, [A, B], 0, MemberTimings(settle_ms=0))


@pytest.fixture
def forwarding() -> RecordingForwarding:
    return RecordingForwarding()


@pytest.fixture
def node(members: MemberTable, forwarding: RecordingForwarding) -> NamingApp:
    state = NamingState(push=RecordingPush(), journal=MemoryJournal(), members=members, forwarding=forwarding)
    return NamingApp(state)


def instance(name: str, **extra: object) -> dict[str, object]:
    return {"serviceName": name, "ip": "10.1.1.1", "port": 80, **extra}


def hosts_of(app: NamingApp, name: str) -> list[str]:
    """``ip:port:healthy`` as stored (``instance/list`` would show a lone unhealthy one as healthy:
    Nacos's protect threshold)."""
    service = app.state.registry.get("public", f"DEFAULT_GROUP@@{name}")
    if service is None:
        return []
    listed = [*service.instances(ephemeral=True), *service.instances(ephemeral=False)]
    return [f"{i.ip}:{i.port}:{i.healthy}" for i in listed]


@pytest.mark.parametrize(("method", "extra"), [("POST", {}), ("PUT", {}), ("PATCH", {}), ("DELETE", {})])
def test_routing_forwards_ephemeral_writes_for_services_owned_elsewhere(
    node: NamingApp, members: MemberTable, forwarding: RecordingForwarding, method: str, extra: dict[str, str]
) -> None:
    theirs = service_owned_by(members, B)
    assert call(node, method, INSTANCE_PATH, instance(theirs, **extra)) is FORWARDED
    assert [(owner, request.method) for owner, request in forwarding.forwarded] == [(B, method)]
    assert hosts_of(node, theirs) == []


def test_routing_handles_here_what_this_node_owns_persistent_writes_and_forwarded_requests(
    node: NamingApp, members: MemberTable, forwarding: RecordingForwarding
) -> None:
    mine, theirs = service_owned_by(members, A), service_owned_by(members, B)
    assert call(node, "POST", INSTANCE_PATH, instance(mine)).body == b"ok"
    assert call(node, "POST", INSTANCE_PATH, instance(theirs, ephemeral="false")).body == b"ok"
    assert call(node, "POST", INSTANCE_PATH, instance(theirs, port=81), forwarded=True).body == b"ok"
    assert forwarding.forwarded == []
    assert hosts_of(node, mine) == ["10.1.1.1:80:True"]
    assert sorted(hosts_of(node, theirs)) == ["10.1.1.1:80:True", "10.1.1.1:81:True"]


def test_routing_answers_writes_without_a_valid_service_here(
    node: NamingApp, forwarding: RecordingForwarding
) -> None:
    answer = call(node, "POST", INSTANCE_PATH, {"ip": "10.1.1.1", "port": 1})
    assert (answer.status, answer.body) == (400, b"caused: Param 'serviceName' is required.;")
    assert call(node, "POST", INSTANCE_PATH, {"serviceName": "a@@b@@c", "ip": "1.1.1.1"}).status == 400
    assert forwarding.forwarded == []  # other mistakes are the owner's to answer (the same 400)


def test_routing_answers_beats_of_known_instances_and_relays_them(
    node: NamingApp, members: MemberTable, forwarding: RecordingForwarding
) -> None:
    theirs = service_owned_by(members, B)
    # The instance is known here (replicated from its owner, here put as the owner would).
    assert call(node, "POST", INSTANCE_PATH, instance(theirs), forwarded=True).body == b"ok"
    answer = call(node, "PUT", BEAT_PATH, instance(theirs))
    assert json.loads(answer.body) == {"clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": True}
    assert forwarding.relayed == [(B, "public", f"DEFAULT_GROUP@@{theirs}", "10.1.1.1:80:unknown:DEFAULT")]
    # A beat for an instance unknown here goes to the owner as a request (it may know it, or the
    # beat JSON re-registers it there).
    assert call(node, "PUT", BEAT_PATH, instance(theirs, port=99)) is FORWARDED
    legacy = call(node, "GET", "/v1/ns/api/clientBeat", {"dom": theirs, "ip": "10.1.1.1", "port": 80})
    assert json.loads(legacy.body)["code"] == 10200
    assert len(forwarding.relayed) == 2


def test_routing_does_nothing_on_a_standalone_node(app: NamingApp) -> None:
    assert call(app, "POST", INSTANCE_PATH, instance("any")).body == b"ok"


def test_expiry_only_the_owner_expires_and_removes(node: NamingApp, members: MemberTable) -> None:
    mine, theirs = service_owned_by(members, A), service_owned_by(members, B)
    for name in (mine, theirs):
        assert call(node, "POST", INSTANCE_PATH, instance(name), forwarded=True).body == b"ok"
    state = node.state
    for now_ms in range(0, 40_001, 1_000):
        expiry.sweep(state, now_ms)
    assert hosts_of(node, mine) == []
    assert hosts_of(node, theirs) == ["10.1.1.1:80:True"]  # its owner decides


def test_expiry_a_new_owner_treats_its_instances_as_just_beaten(
    node: NamingApp, members: MemberTable
) -> None:
    theirs = service_owned_by(members, B)
    assert call(node, "POST", INSTANCE_PATH, instance(theirs), forwarded=True, now_ms=0).body == b"ok"
    state = node.state
    for now_ms in range(0, 40_001, 1_000):
        expiry.sweep(state, now_ms)
    members.on_failure(B, 40_000, refused=True)  # B is gone: A owns everything now
    assert members.is_owner(service_key("public", f"DEFAULT_GROUP@@{theirs}"))
    expiry.sweep(state, 40_100)  # takes over: last beat is now 40.1 s, whatever it was before
    expiry.sweep(state, 55_100)
    assert hosts_of(node, theirs) == ["10.1.1.1:80:True"]
    expiry.sweep(state, 55_200)
    assert hosts_of(node, theirs) == ["10.1.1.1:80:False"]
    expiry.sweep(state, 70_200)
    assert hosts_of(node, theirs) == []


def test_expiry_take_over_rearms_only_newly_owned_services(node: NamingApp, members: MemberTable) -> None:
    mine, theirs = service_owned_by(members, A), service_owned_by(members, B)
    state = node.state
    for name in (mine, theirs):
        assert call(node, "POST", INSTANCE_PATH, instance(name), forwarded=True, now_ms=0).body == b"ok"
    assert expiry.take_over(state, 1_000) == 1  # the first look takes over what A owns
    assert expiry.take_over(state, 2_000) == 0  # nothing changed
    members.on_failure(B, 3_000, refused=True)
    assert expiry.take_over(state, 3_000) == 1  # only the service B owned


def test_metrics_count_what_this_node_owns(node: NamingApp, members: MemberTable) -> None:
    mine, theirs = service_owned_by(members, A), service_owned_by(members, B)
    for name in (mine, theirs):
        assert call(node, "POST", INSTANCE_PATH, instance(name), forwarded=True).body == b"ok"
    assert call(node, "POST", INSTANCE_PATH, instance(theirs)) is FORWARDED
    metrics = json.loads(call(node, "GET", "/v1/ns/operator/metrics").body)
    assert (metrics["serviceCount"], metrics["responsibleServiceCount"]) == (2, 1)
    assert (metrics["instanceCount"], metrics["responsibleInstanceCount"]) == (2, 1)
    assert metrics["cluster"] == {
        "self": A,
        "healthyMembers": 2,
        "membershipVersion": members.version,
        "membershipStable": True,
        "forwarded": 1,
        "beatsRelayed": 0,
    }
