"""PUT /instance/beat and /api/clientBeat (compatibility.md §3.7, §3.12, §8.1)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nacosfast.naming import expiry
from nacosfast.naming.app import NamingApp
from nacosfast.naming.effects import beat_key
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import APPLICATION_JSON, Response
from tests.instance_helpers import BEAT_PATH, SERVICE, fingerprint, hosts, register
from tests.naming_helpers import JAVA_UA, NODE_UA, PYTHON_UA, MemoryJournal, RecordingPush, call

OK_REPLY = b'{"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}'
NOT_FOUND_REPLY = b'{"clientBeatInterval":5000,"code":20404}'
KEY = "10.0.0.1:8080:unknown:DEFAULT"


def _healthy(state: NamingState) -> bool:
    service = state.registry.get("public", SERVICE)
    instance = service.get(KEY, True) if service is not None else None
    assert instance is not None
    return instance.healthy


def _light(app: NamingApp, *, now_ms: int = 0, **params: Any) -> Response:
    base = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080}
    return call(app, "PUT", BEAT_PATH, {**base, **params}, now_ms=now_ms)


def _full(
    app: NamingApp, beat: dict[str, Any], *, now_ms: int = 0, user_agent: str = JAVA_UA, **params: Any
) -> Response:
    form = {"beat": json.dumps(beat)}
    return call(
        app,
        "PUT",
        BEAT_PATH,
        {"serviceName": SERVICE, **params},
        form=form,
        now_ms=now_ms,
        user_agent=user_agent,
    )


def test_beat_light_on_unknown_instance_asks_to_reregister(app: NamingApp, push: RecordingPush) -> None:
    response = _light(app)
    assert (response.status, response.body, response.content_type) == (200, NOT_FOUND_REPLY, APPLICATION_JSON)
    assert hosts(app) == []
    assert push.changed == []


def test_beat_light_on_known_instance(app: NamingApp, naming_state: NamingState) -> None:
    register(app, now_ms=0)
    response = _light(app, now_ms=4_000)
    assert (response.status, response.body) == (200, OK_REPLY)
    assert naming_state.beats.last_beat(beat_key("public", SERVICE, KEY)) == 4_000


def test_beat_light_uses_cluster_name_param(app: NamingApp) -> None:
    register(app, clusterName="c1")
    assert _light(app).body == NOT_FOUND_REPLY
    assert _light(app, clusterName="c1").body == OK_REPLY


def test_beat_full_reregisters_a_missing_instance(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    beat = {
        "ip": "10.0.0.5",
        "port": 9000,
        "cluster": "c1",
        "weight": 2.5,
        "metadata": {"k": "v", "n": 1},
        "serviceName": SERVICE,
        "scheduled": True,
        "period": 5000,
        "stopped": False,
    }
    response = _full(app, beat, ip="10.9.9.9", port=1, now_ms=100)
    assert response.body == OK_REPLY
    listed = hosts(app)
    assert [(h["ip"], h["port"], h["clusterName"], h["weight"], h["metadata"]) for h in listed] == [
        ("10.0.0.5", 9000, "c1", 2.5, {"k": "v", "n": "1"})
    ]
    assert (listed[0]["healthy"], listed[0]["ephemeral"]) == (True, True)
    assert naming_state.beats.last_beat(beat_key("public", SERVICE, "10.0.0.5:9000:unknown:c1")) == 100
    assert push.changed == [("public", SERVICE)]


@pytest.mark.parametrize("field", ["ephemeral", "weight", "cluster", "metadata", "port", "serviceName"])
def test_beat_full_with_null_fields_reads_them_as_absent(
    app: NamingApp, naming_state: NamingState, field: str
) -> None:
    """Third-party clients write ``null`` for unset fields; Nacos 1.4 accepts such beats."""
    beat: dict[str, Any] = {"ip": "10.0.0.1", "port": 8080, "weight": 2.0, "cluster": "DEFAULT"}
    beat[field] = None
    response = _full(app, beat)
    assert (response.status, response.body) == (200, OK_REPLY)
    key = "10.0.0.1:unknown:DEFAULT" if field == "port" else KEY
    service = naming_state.registry.get("public", SERVICE)
    assert service is not None
    instance = service.get(key, True)
    assert instance is not None, service.instances()
    assert instance.weight == (1.0 if field == "weight" else 2.0)
    assert dict(instance.metadata) == {}


def test_beat_full_null_ip_is_still_refused(app: NamingApp) -> None:
    response = _full(app, {"ip": None, "port": 8080})
    assert response.status == 400
    assert hosts(app) == []


def test_beat_full_reregistration_keeps_metadata_numbers_as_written(app: NamingApp) -> None:
    raw = '{"ip":"10.0.0.1","port":8080,"weight":1.0,"metadata":{"v":1.50,"n":1e3,"b":false}}'
    response = call(app, "PUT", BEAT_PATH, {"serviceName": SERVICE}, form={"beat": raw})
    assert response.body == OK_REPLY
    assert [h["metadata"] for h in hosts(app)] == [{"v": "1.50", "n": "1e3", "b": "false"}]


def test_beat_full_with_blank_cluster_uses_cluster_name_param(app: NamingApp) -> None:
    _full(app, {"ip": "10.0.0.1", "port": 8080, "cluster": ""}, clusterName="c2")
    assert [h["clusterName"] for h in hosts(app)] == ["c2"]


def test_beat_full_on_existing_instance_changes_nothing_but_the_beat(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, weight=3, metadata="a=b")
    before = fingerprint(naming_state)
    response = _full(app, {"ip": "10.0.0.1", "port": 8080, "weight": 9, "metadata": {"x": "y"}}, now_ms=2_000)
    assert response.body == OK_REPLY
    assert fingerprint(naming_state) == before
    assert naming_state.beats.last_beat(beat_key("public", SERVICE, KEY)) == 2_000
    assert len(push.changed) == 1


def test_beat_python_client_lands_in_default_cluster(app: NamingApp) -> None:
    # Python 0.1.17 registers with clusterName=None and beats without a cluster: Nacos then registers a
    # second instance in DEFAULT (compatibility.md §6); nacosfast must do the same.
    register(app, service="svc", clusterName="None", user_agent=PYTHON_UA)
    beat = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "weight": 1.0, "ephemeral": True}
    query = {
        "serviceName": "svc",
        "beat": json.dumps(beat),
        "groupName": "DEFAULT_GROUP",
        "namespaceId": "public",
    }
    response = call(app, "PUT", BEAT_PATH, query, user_agent=PYTHON_UA)
    assert response.body == OK_REPLY
    assert sorted(h["clusterName"] for h in hosts(app)) == ["DEFAULT", "None"]


def test_beat_node_client_full_beat_in_query(app: NamingApp) -> None:
    register(app, namespaceId="default", user_agent=NODE_UA)
    beat = {
        "serviceName": SERVICE,
        "ip": "10.0.0.1",
        "port": 8080,
        "cluster": "DEFAULT",
        "weight": 1,
        "metadata": {},
        "scheduled": True,
    }
    query = {"beat": json.dumps(beat), "namespaceId": "default", "serviceName": SERVICE}
    assert call(app, "PUT", BEAT_PATH, query, user_agent=NODE_UA).body == OK_REPLY


def test_beat_interval_comes_from_preserved_metadata(app: NamingApp) -> None:
    register(app, metadata='{"preserved.heart.beat.interval":"2000"}')
    assert _light(app).body == b'{"clientBeatInterval":2000,"code":10200,"lightBeatEnabled":true}'
    register(app, port=1, metadata='{"preserved.heart.beat.interval":"soon"}')
    # present but not digits: the default interval, not the switch
    assert json.loads(_light(app, port=1).body)["clientBeatInterval"] == 5000


def test_beat_full_reregistration_answers_its_interval(app: NamingApp) -> None:
    beat = {"ip": "10.0.0.1", "port": 8080, "metadata": {"preserved.heart.beat.interval": "1500"}}
    assert json.loads(_full(app, beat).body)["clientBeatInterval"] == 1500


def test_beat_reply_follows_switches(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    naming_state.switches.clientBeatInterval = 3000
    naming_state.switches.lightBeatEnabled = False
    assert _light(app).body == b'{"clientBeatInterval":3000,"code":10200,"lightBeatEnabled":false}'
    assert _light(app, ip="10.0.0.2").body == b'{"clientBeatInterval":3000,"code":20404}'


def test_beat_revives_an_unhealthy_instance_and_pushes_once(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0)
    expiry.sweep(naming_state, 15_001)
    assert [h["healthy"] for h in hosts(app, healthyOnly="false")] == [True]  # protect threshold
    assert _healthy(naming_state) is False
    assert len(push.changed) == 2
    assert _light(app, now_ms=16_000).body == OK_REPLY
    assert _healthy(naming_state) is True
    assert len(push.changed) == 3
    _light(app, now_ms=17_000)
    assert len(push.changed) == 3


def test_beat_revives_an_instance_made_unhealthy_elsewhere(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app)
    naming_state.registry.set_healthy("public", SERVICE, KEY, True, False)  # e.g. the health API
    _light(app)
    assert _healthy(naming_state) is True
    assert len(push.changed) == 2


def test_beat_for_persistent_instance_answers_ok_and_does_nothing(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    register(app, ephemeral="false")
    journaled = len(journal.payloads)
    naming_state.registry.set_healthy("public", SERVICE, KEY, False, False)
    before = fingerprint(naming_state)
    assert _light(app).body == OK_REPLY
    assert _full(app, {"ip": "10.0.0.1", "port": 8080}).body == OK_REPLY
    assert fingerprint(naming_state) == before
    assert len(naming_state.beats) == 0
    assert len(journal.payloads) == journaled


def test_beat_full_with_ephemeral_false_registers_persistent(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    response = _full(app, {"ip": "10.0.0.1", "port": 8080, "ephemeral": False})
    assert response.body == OK_REPLY
    assert response.durable_seq == len(journal.payloads) == 2  # the service's attributes, the instance
    assert [h["ephemeral"] for h in hosts(app)] == [False]


def test_client_beat_legacy_endpoint(app: NamingApp) -> None:
    register(app)
    for method in ("GET", "PUT", "POST"):
        query = {"dom": "svc", "beat": json.dumps({"ip": "10.0.0.1", "port": 8080})}
        assert call(app, method, "/v1/ns/api/clientBeat", query).body == OK_REPLY
    light = call(app, "PUT", "/v1/ns/api/clientBeat", {"dom": "other", "ip": "10.0.0.1", "port": 8080})
    assert light.body == NOT_FOUND_REPLY
    assert call(app, "PUT", "/v1/ns/api/clientBeat", {"serviceName": SERVICE}).status == 400


@pytest.mark.parametrize(
    "beat",
    [
        "not json",
        "[1, 2]",
        '"text"',
        '{"ip": "10.0.0.1", "port": "x"}',
        '{"ip": "10.0.0.1", "port": 70000}',
        '{"ip": "10.0.0.1", "port": true}',
        '{"ip": 5, "port": 1}',
        '{"ip": "1.1.1.1:80", "port": 1}',
        '{"ip": "10.0.0.1", "port": 1, "cluster": "a_b"}',
        '{"ip": "10.0.0.1", "port": 1, "weight": "heavy"}',
        '{"ip": "10.0.0.1", "port": 1, "weight": -1}',
        '{"ip": "10.0.0.1", "port": 1, "weight": 1e400}',
        '{"ip": "10.0.0.1", "port": 1, "weight": 1' + "0" * 400 + "}",
        '{"ip": "10.0.0.1", "port": 1' + "0" * 400 + "}",
        '{"ip": "10.0.0.1", "port": 1' + "0" * 5_000 + "}",
        '{"ip": "10.0.0.1", "port": 1, "metadata": {"a": {"b": 1}}}',
        '{"ip": "10.0.0.1", "port": 1, "metadata": ["a"]}',
        '{"ip": "10.0.0.1", "port": 1, "ephemeral": 3}',
        "[" * 100_000,
        '{"ip": "10.0.0.1", "port": 1, "metadata": {"k": "' + "v" * 80_000 + '"}}',
    ],
)
def test_beat_malformed_beat_json_is_400(app: NamingApp, naming_state: NamingState, beat: str) -> None:
    before = fingerprint(naming_state)
    response = call(app, "PUT", BEAT_PATH, {"serviceName": SERVICE}, form={"beat": beat})
    assert response.status == 400, response.body
    assert response.body.startswith(b"caused: ")
    assert fingerprint(naming_state) == before
