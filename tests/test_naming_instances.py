"""Register, deregister, update, patch, detail, statuses, metadata batch (compatibility.md §3.1–3.9)."""

from __future__ import annotations

import json

import pytest

from nacosfast._core.registry import Instance
from nacosfast.naming.app import NamingApp
from nacosfast.naming.effects import beat_key
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import TEXT_PLAIN
from tests.instance_helpers import INSTANCE_PATH, SERVICE, deregister, hosts, register
from tests.naming_helpers import JAVA_UA, PYTHON_UA, MemoryJournal, RecordingPush, call, json_body

KEY = "10.0.0.1:8080:unknown:DEFAULT"


def _instance(
    state: NamingState, key: str = KEY, *, service: str = SERVICE, ephemeral: bool = True
) -> Instance:
    snapshot = state.registry.get("public", service)
    assert snapshot is not None
    found = snapshot.get(key, ephemeral)
    assert found is not None, (key, ephemeral, snapshot.instances())
    return found


# --- register --------------------------------------------------------------------------------------


def test_register_answers_plain_ok(app: NamingApp) -> None:
    response = call(app, "POST", INSTANCE_PATH, {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    assert (response.status, response.body, response.content_type) == (200, b"ok", TEXT_PLAIN)
    assert response.durable_seq == 0


def test_register_applies_nacos_defaults(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    instance = _instance(naming_state)
    assert instance is not None
    assert (instance.cluster, instance.weight, instance.healthy, instance.enabled) == (
        "DEFAULT",
        1.0,
        True,
        True,
    )
    assert (instance.ephemeral, dict(instance.metadata), instance.app, instance.marked) == (
        True,
        {},
        "DEFAULT",
        False,
    )
    assert instance.id_in(SERVICE) == "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@svc"


def test_register_groups_plain_name_with_group_param(app: NamingApp, naming_state: NamingState) -> None:
    register(app, service="svc", groupName="G1", user_agent=PYTHON_UA)
    register(app, service="plain", user_agent=PYTHON_UA)
    assert naming_state.registry.services("public") == ["DEFAULT_GROUP@@plain", "G1@@svc"]


def test_register_grouped_name_ignores_group_param(app: NamingApp, naming_state: NamingState) -> None:
    register(app, service="G2@@svc", groupName="OTHER")
    assert naming_state.registry.services("public") == ["G2@@svc"]


def test_register_namespace_param_and_blank_means_public(app: NamingApp, naming_state: NamingState) -> None:
    register(app, namespaceId="default")
    register(app, namespaceId="  ")
    assert naming_state.registry.namespaces() == ["default", "public"]


def test_register_cluster_name_then_legacy_cluster(app: NamingApp, naming_state: NamingState) -> None:
    register(app, cluster="legacy")
    register(app, clusterName="c1", cluster="legacy", port=9090)
    service = naming_state.registry.get("public", SERVICE)
    assert service is not None
    assert sorted(i.key for i in service.instances()) == [
        "10.0.0.1:8080:unknown:legacy",
        "10.0.0.1:9090:unknown:c1",
    ]


def test_register_python_none_cluster_is_an_ordinary_cluster(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, service="svc", clusterName="None", user_agent=PYTHON_UA)
    assert _instance(naming_state, "10.0.0.1:8080:unknown:None") is not None


def test_register_same_ip_port_in_two_clusters_is_two_instances(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, clusterName="a")
    register(app, clusterName="b")
    assert len(hosts(app)) == 2


def test_register_port_zero_datum_key(app: NamingApp, naming_state: NamingState) -> None:
    register(app, port=0)
    assert _instance(naming_state, "10.0.0.1:unknown:DEFAULT") is not None


def test_register_enabled_falls_back_to_enable(app: NamingApp, naming_state: NamingState) -> None:
    register(app, enable="false")
    assert _instance(naming_state).enabled is False
    register(app, enabled="true", enable="false")
    assert _instance(naming_state).enabled is True


def test_register_booleans_use_commons_parser(app: NamingApp, naming_state: NamingState) -> None:
    register(app, healthy="n", ephemeral="Y", enable="off")
    instance = _instance(naming_state)
    assert (instance.healthy, instance.ephemeral, instance.enabled) == (False, True, False)
    register(app, port=1, ephemeral="f")
    assert _instance(naming_state, "10.0.0.1:1:unknown:DEFAULT", ephemeral=False) is not None


def test_register_python_sdk_boolean_spelling(app: NamingApp, naming_state: NamingState) -> None:
    register(app, healthy="False", ephemeral="True", enable="True", user_agent=PYTHON_UA)
    instance = _instance(naming_state)
    assert (instance.healthy, instance.ephemeral, instance.enabled) == (False, True, True)


def test_register_metadata_json_and_key_value_forms(app: NamingApp, naming_state: NamingState) -> None:
    register(app, metadata='{"a": 1, "b": true, "c": "x"}')
    assert dict(_instance(naming_state).metadata) == {"a": "1", "b": "true", "c": "x"}
    register(app, metadata="k1=v1,k2=v2")
    assert dict(_instance(naming_state).metadata) == {"k1": "v1", "k2": "v2"}


def test_register_metadata_json_numbers_keep_their_text(app: NamingApp, naming_state: NamingState) -> None:
    # Jackson reads a JSON number into a String value as written, not as a re-printed double.
    register(app, metadata='{"a": 1.50, "b": 1e3, "c": -0, "d": 10, "e": 0.1}')
    assert dict(_instance(naming_state).metadata) == {
        "a": "1.50",
        "b": "1e3",
        "c": "-0",
        "d": "10",
        "e": "0.1",
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a=b,", {"a": "b"}),
        ("a=b,,,", {"a": "b"}),
        ("a=b=", {"a": "b"}),
        ("a=b=,c=d", {"a": "b", "c": "d"}),
        ("=v", {"": "v"}),
    ],
)
def test_register_metadata_key_value_form_splits_like_java(
    app: NamingApp, naming_state: NamingState, raw: str, expected: dict[str, str]
) -> None:
    # Java's String.split drops trailing empty strings, both between pairs and inside one pair.
    assert register(app, metadata=raw).body == b"ok"
    assert dict(_instance(naming_state).metadata) == expected


def test_register_upsert_keeps_id_and_health_resets_other_fields(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, weight=3, metadata='{"preserved.instance.id.generator":"snowflake","x":"1"}')
    naming_state.registry.set_healthy("public", SERVICE, KEY, True, False)
    before = _instance(naming_state)
    register(app, healthy="true")  # metadata omitted: replaced by {}; weight back to 1
    after = _instance(naming_state)
    assert after.instance_id == before.instance_id == "0"
    assert after.healthy is False  # an existing instance keeps its health
    assert (after.weight, dict(after.metadata)) == (1.0, {})


def test_register_new_instance_takes_healthy_param(app: NamingApp, naming_state: NamingState) -> None:
    register(app, healthy="false")
    assert _instance(naming_state).healthy is False


def test_register_snowflake_ids_are_smallest_free_per_list(app: NamingApp) -> None:
    snowflake = '{"preserved.instance.id.generator":"SnowFlake"}'
    for port in (1, 2, 3):
        register(app, port=port, metadata=snowflake)
    register(app, port=4, metadata=snowflake, ephemeral="false")
    deregister(app, port=2)
    register(app, port=5, metadata=snowflake)
    ids = {(h["port"], h["ephemeral"]): h["instanceId"] for h in hosts(app)}
    assert ids == {(1, True): "0", (3, True): "2", (5, True): "1", (4, False): "0"}


def test_register_small_weight_is_raised_to_minimum_and_zero_is_legal(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, weight="0.0001")
    assert _instance(naming_state).weight == 0.01
    register(app, weight="0")
    assert _instance(naming_state).weight == 0.0
    register(app, weight="10000")
    assert _instance(naming_state).weight == 10000.0


@pytest.mark.parametrize(
    "weight", ["1_0", "\uff11", "\u0661", "1__0", "inf", "nan", "NaN", "Infinity", "-Infinity"]
)
def test_register_refuses_weights_java_does_not_parse_or_that_are_not_finite(
    app: NamingApp, naming_state: NamingState, weight: str
) -> None:
    """``Double.parseDouble`` refuses ``_`` and non-ASCII digits (Python's ``float`` takes them)."""
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": "8080", "weight": weight}
    response = call(app, "POST", INSTANCE_PATH, params)
    assert response.status == 400, response.body
    assert naming_state.registry.get("public", SERVICE) is None


@pytest.mark.parametrize(
    ("weight", "expected"), [("1e3", 1000.0), ("0x1p3", 8.0), ("1.5f", 1.5), ("2d", 2.0), (".5", 0.5)]
)
def test_register_takes_every_java_double_form(
    app: NamingApp, naming_state: NamingState, weight: str, expected: float
) -> None:
    register(app, weight=weight)
    assert _instance(naming_state).weight == expected


@pytest.mark.parametrize("port", ["8_080", "\uff18\uff10", "80.0", "0x50"])
def test_register_refuses_ports_java_does_not_parse(
    app: NamingApp, naming_state: NamingState, port: str
) -> None:
    response = call(app, "POST", INSTANCE_PATH, {"serviceName": SERVICE, "ip": "10.0.0.1", "port": port})
    assert response.status == 400
    assert response.body.startswith(b'caused: For input string: "')
    assert naming_state.registry.get("public", SERVICE) is None


def test_register_notifies_push_and_tracks_beat(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=1234)
    assert push.changed == [("public", SERVICE)]
    assert naming_state.beats.last_beat(beat_key("public", SERVICE, KEY)) == 1234


def test_register_identical_again_refreshes_beat_without_push(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app, now_ms=0)
    register(app, now_ms=500)
    assert push.changed == [("public", SERVICE)]
    assert naming_state.beats.last_beat(beat_key("public", SERVICE, KEY)) == 500


def test_register_persistent_waits_for_journal_and_persists_meta(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    response = register(app, ephemeral="false")
    assert response.durable_seq == len(journal.payloads) == 2
    meta, instance = (json.loads(payload) for payload in journal.payloads)
    assert (meta["t"], meta["ns"], meta["name"], meta["meta"]["persisted"]) == (
        "service",
        "public",
        SERVICE,
        True,
    )
    assert (instance["t"], instance["ns"], instance["name"]) == ("instance", "public", SERVICE)
    assert instance["value"]["ip"] == "10.0.0.1"
    service = naming_state.registry.get("public", SERVICE)
    assert service is not None
    assert isinstance(service.meta, ServiceMeta)
    assert service.meta.persisted
    assert beat_key("public", SERVICE, KEY) not in naming_state.beats


def test_register_ephemeral_is_not_journaled(app: NamingApp, journal: MemoryJournal) -> None:
    assert register(app).durable_seq == 0
    assert journal.payloads == []


def test_register_ephemeral_and_persistent_lists_are_independent(app: NamingApp) -> None:
    register(app, ephemeral="true", weight=2)
    register(app, ephemeral="false", weight=3)
    assert sorted((h["ephemeral"], h["weight"]) for h in hosts(app)) == [(False, 3.0), (True, 2.0)]


def test_register_default_ephemeral_follows_switch(app: NamingApp, naming_state: NamingState) -> None:
    naming_state.switches.defaultInstanceEphemeral = False
    register(app)
    assert _instance(naming_state, ephemeral=False) is not None


# --- deregister ------------------------------------------------------------------------------------


def test_deregister_removes_instance_and_stops_beat_tracking(
    app: NamingApp, naming_state: NamingState, push: RecordingPush
) -> None:
    register(app)
    deregister(app)
    assert hosts(app) == []
    assert beat_key("public", SERVICE, KEY) not in naming_state.beats
    assert push.changed == [("public", SERVICE)] * 2


def test_deregister_with_wrong_ephemeral_flag_removes_nothing(app: NamingApp, push: RecordingPush) -> None:
    register(app)
    deregister(app, ephemeral="false")
    assert len(hosts(app)) == 1
    assert len(push.changed) == 1


def test_deregister_unknown_service_or_instance_is_ok(app: NamingApp, push: RecordingPush) -> None:
    deregister(app, service="G@@nothing")
    register(app)
    deregister(app, port=1)
    deregister(app, clusterName="other")
    assert len(hosts(app)) == 1
    assert len(push.changed) == 1


def test_deregister_uses_cluster_and_legacy_cluster(app: NamingApp) -> None:
    register(app, clusterName="c1")
    deregister(app, cluster="c1")
    assert hosts(app) == []


def test_deregister_persistent_is_journaled(app: NamingApp, journal: MemoryJournal) -> None:
    register(app, ephemeral="false")
    response = deregister(app, ephemeral="false")
    assert response.durable_seq == len(journal.payloads) == 3
    assert json.loads(journal.payloads[2]) == {
        "t": "instance",
        "ns": "public",
        "name": SERVICE,
        "ip": "10.0.0.1",
        "port": 8080,
        "cluster": "DEFAULT",
        "deleted": True,
        "v": 2,
    }


# --- update (PUT) and patch ------------------------------------------------------------------------


def test_update_java_client_needs_existing_service(app: NamingApp) -> None:
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "namespaceId": "ns1"}
    response = call(app, "PUT", INSTANCE_PATH, params, user_agent=JAVA_UA)
    assert response.status == 404
    assert response.body == b"caused: service not found, namespace: ns1, service: DEFAULT_GROUP@@svc;"


def test_update_java_client_needs_existing_instance(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    params = {"serviceName": SERVICE, "ip": "10.0.0.2", "port": 8080, "weight": "2"}
    response = call(app, "PUT", INSTANCE_PATH, params, user_agent=JAVA_UA)
    assert response.status == 404
    assert (
        response.body == b"caused: instance not exist: 10.0.0.2:8080:unknown:DEFAULT_2.0_true_false_DEFAULT;"
    )
    ephemeral_only = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "ephemeral": "false"}
    assert call(app, "PUT", INSTANCE_PATH, ephemeral_only, user_agent=JAVA_UA).status == 404
    assert len(hosts(app)) == 1


def test_update_java_matches_any_cluster_and_adds_in_the_new_one(app: NamingApp) -> None:
    register(app, clusterName="a")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "clusterName": "b", "weight": 5}
    response = call(app, "PUT", INSTANCE_PATH, params, user_agent=JAVA_UA)
    assert (response.status, response.body) == (200, b"ok")
    assert sorted((h["clusterName"], h["weight"]) for h in hosts(app)) == [("a", 1.0), ("b", 5.0)]


def test_update_resets_omitted_fields_and_keeps_health(app: NamingApp, naming_state: NamingState) -> None:
    register(app, weight=4, metadata="a=b", enable="false")
    naming_state.registry.set_healthy("public", SERVICE, KEY, True, False)
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "healthy": "true"}
    assert call(app, "PUT", INSTANCE_PATH, params, user_agent=JAVA_UA).body == b"ok"
    instance = _instance(naming_state)
    assert (instance.weight, dict(instance.metadata), instance.enabled, instance.healthy) == (
        1.0,
        {},
        True,
        False,
    )


def test_update_other_clients_upsert(app: NamingApp, naming_state: NamingState) -> None:
    params = {"serviceName": "svc", "ip": "10.0.0.3", "port": 80, "weight": "2", "enable": "True"}
    response = call(app, "PUT", INSTANCE_PATH, params, user_agent=PYTHON_UA)
    assert (response.status, response.body) == (200, b"ok")
    response = call(
        app, "PUT", INSTANCE_PATH, {**params, "ip": "10.0.0.4"}, user_agent="Nacos-Java-Client:v0.9.0"
    )
    assert response.status == 200
    assert sorted(h["ip"] for h in hosts(app)) == ["10.0.0.3", "10.0.0.4"]


def test_update_persistent_is_journaled(app: NamingApp, journal: MemoryJournal) -> None:
    register(app, ephemeral="false")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "ephemeral": "false", "weight": 7}
    response = call(app, "PUT", INSTANCE_PATH, params)
    assert response.durable_seq == len(journal.payloads) == 3
    assert json.loads(journal.payloads[-1])["value"]["weight"] == 7.0


def test_patch_changes_only_given_fields(app: NamingApp, naming_state: NamingState) -> None:
    register(app, weight=4, metadata="a=b", app="shop")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "weight": "6", "metadata": " "}
    assert call(app, "PATCH", INSTANCE_PATH, params).body == b"ok"
    instance = _instance(naming_state)
    assert (instance.weight, dict(instance.metadata), instance.app, instance.enabled) == (
        6.0,
        {"a": "b"},
        "shop",
        True,
    )
    more = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "metadata": "c=d", "enabled": "false"}
    assert call(app, "PATCH", INSTANCE_PATH, more).body == b"ok"
    instance = _instance(naming_state)
    assert (instance.weight, dict(instance.metadata), instance.enabled) == (6.0, {"c": "d"}, False)


def test_patch_missing_instance_is_400(app: NamingApp, push: RecordingPush) -> None:
    register(app, clusterName="a")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080}  # cluster DEFAULT: not there
    response = call(app, "PATCH", INSTANCE_PATH, params)
    assert (response.status, response.body) == (400, b"caused: instance not found;")
    missing_service = call(app, "PATCH", INSTANCE_PATH, {**params, "serviceName": "G@@none"})
    assert missing_service.status == 400
    assert len(push.changed) == 1


def test_patch_health_of_ephemeral_instance_is_revived_by_next_beat(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app)
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "healthy": "false"}
    assert call(app, "PATCH", INSTANCE_PATH, params).body == b"ok"
    assert _instance(naming_state).healthy is False
    beat = call(app, "PUT", "/v1/ns/instance/beat", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    assert json_body(beat)["code"] == 10200
    assert _instance(naming_state).healthy is True


# --- detail ----------------------------------------------------------------------------------------


def test_detail_answers_shape_b(app: NamingApp) -> None:
    register(app, weight="2.5", metadata="k=v", clusterName="c1")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "clusterName": "c1"}
    assert json_body(call(app, "GET", INSTANCE_PATH, params)) == {
        "service": SERVICE,
        "ip": "10.0.0.1",
        "port": 8080,
        "clusterName": "c1",
        "weight": 2.5,
        "healthy": True,
        "instanceId": "10.0.0.1#8080#c1#DEFAULT_GROUP@@svc",
        "metadata": {"k": "v"},
    }


def test_detail_ignores_legacy_cluster_param(app: NamingApp) -> None:
    register(app, clusterName="c1")
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080, "cluster": "c1"}
    response = call(app, "GET", INSTANCE_PATH, params)
    assert (response.status, response.body) == (
        404,
        b"caused: no ips found for cluster DEFAULT in service DEFAULT_GROUP@@svc;",
    )


def test_detail_not_found_messages(app: NamingApp) -> None:
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080}
    assert call(app, "GET", INSTANCE_PATH, params).body == b"caused: no service DEFAULT_GROUP@@svc found!;"
    register(app, port=1)
    response = call(app, "GET", INSTANCE_PATH, params)
    assert (response.status, response.body) == (404, b"caused: no matched ip found!;")


def test_detail_shows_real_health(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    naming_state.registry.set_healthy("public", SERVICE, KEY, True, False)
    params = {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080}
    assert json_body(call(app, "GET", INSTANCE_PATH, params))["healthy"] is False


# --- statuses --------------------------------------------------------------------------------------


def test_statuses_lists_ip_port_health(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    register(app, ip="10.0.0.2", port=0, ephemeral="false")
    naming_state.registry.set_healthy("public", SERVICE, KEY, True, False)
    for key in (f"public##{SERVICE}", SERVICE):
        body = json_body(call(app, "POST", "/v1/ns/instance/statuses", {"key": key}))
        assert sorted(body["ips"]) == ["10.0.0.1:8080_false", "10.0.0.2:0_true"]


def test_statuses_errors(app: NamingApp) -> None:
    missing = call(app, "GET", "/v1/ns/instance/statuses")
    assert (missing.status, missing.body) == (400, b"caused: Param 'key' is required.;")
    unknown = call(app, "GET", "/v1/ns/instance/statuses", {"key": "ns1##G@@x"})
    assert (unknown.status, unknown.body) == (404, b"caused: service: G@@x not found.;")
    assert call(app, "GET", "/v1/ns/instance/statuses", {"key": "plain"}).status == 400


# --- metadata batch --------------------------------------------------------------------------------

BATCH_PATH = "/v1/ns/instance/metadata/batch"


def test_metadata_batch_put_merges_into_listed_instances(app: NamingApp, naming_state: NamingState) -> None:
    register(app, metadata="a=1,b=2")
    register(app, ip="10.0.0.2", metadata="a=1")
    instances = json.dumps([{"ip": "10.0.0.1", "port": 8080}, {"ip": "10.0.0.9", "port": 1}])
    params = {"serviceName": SERVICE, "instances": instances, "metadata": '{"b":"9","c":"3"}'}
    body = json_body(call(app, "PUT", BATCH_PATH, params))
    assert body == {"updated": [f"{KEY}:ephemeral"]}
    assert dict(_instance(naming_state).metadata) == {"a": "1", "b": "9", "c": "3"}
    assert dict(_instance(naming_state, "10.0.0.2:8080:unknown:DEFAULT").metadata) == {"a": "1"}


def test_metadata_batch_delete_removes_keys(app: NamingApp, naming_state: NamingState) -> None:
    register(app, metadata="a=1,b=2")
    instances = json.dumps([{"ip": "10.0.0.1", "port": 8080, "clusterName": "DEFAULT", "ephemeral": True}])
    params = {"serviceName": SERVICE, "instances": instances, "metadata": "a=x"}
    assert json_body(call(app, "DELETE", BATCH_PATH, params)) == {"updated": [f"{KEY}:ephemeral"]}
    assert dict(_instance(naming_state).metadata) == {"b": "2"}


def test_metadata_batch_consistency_type_targets_every_instance_of_that_kind(
    app: NamingApp, naming_state: NamingState, journal: MemoryJournal
) -> None:
    register(app)
    register(app, ip="10.0.0.2", ephemeral="false")
    register(app, ip="10.0.0.3", ephemeral="false")
    ignored = json.dumps([{"ip": "10.0.0.1", "port": 8080}])
    params = {"serviceName": SERVICE, "consistencyType": "persist", "instances": ignored, "metadata": "k=v"}
    response = call(app, "PUT", BATCH_PATH, params)
    assert sorted(json_body(response)["updated"]) == [
        "10.0.0.2:8080:unknown:DEFAULT:persist",
        "10.0.0.3:8080:unknown:DEFAULT:persist",
    ]
    assert response.durable_seq == len(journal.payloads)
    assert dict(_instance(naming_state).metadata) == {}
    assert dict(_instance(naming_state, "10.0.0.2:8080:unknown:DEFAULT", ephemeral=False).metadata) == {
        "k": "v"
    }


def test_metadata_batch_matches_cluster_and_kind(app: NamingApp) -> None:
    register(app, clusterName="c1")
    for target in (
        {"ip": "10.0.0.1", "port": 8080},  # cluster DEFAULT
        {"ip": "10.0.0.1", "port": 8080, "clusterName": "c1", "ephemeral": False},
    ):
        params = {"serviceName": SERVICE, "instances": json.dumps([target]), "metadata": "k=v"}
        assert json_body(call(app, "PUT", BATCH_PATH, params)) == {"updated": []}
    wildcard = {"serviceName": SERVICE, "instances": '[{"ip":"10.0.0.1","port":0,"clusterName":"c1"}]'}
    body = json_body(call(app, "PUT", BATCH_PATH, {**wildcard, "metadata": "k=v"}))
    assert body == {"updated": ["10.0.0.1:8080:unknown:c1:ephemeral"]}


def test_metadata_batch_swallows_service_errors(app: NamingApp, push: RecordingPush) -> None:
    for name in ("G@@unknown", "G@@a@@b", "svc#1"):
        params = {"serviceName": name, "consistencyType": "ephemeral", "metadata": "k=v"}
        assert json_body(call(app, "PUT", BATCH_PATH, params)) == {"updated": []}
    assert push.changed == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("instances", ["null", "not json", "[1]", '{"ip":"10.0.0.1"}', '[{"ip":5}]'])
def test_metadata_batch_with_consistency_type_ignores_instances(
    app: NamingApp, naming_state: NamingState, method: str, instances: str
) -> None:
    """Nacos ignores ``instances`` once ``consistencyType`` is given (a Python client sends ``null``)."""
    register(app, metadata="k=old,keep=1")
    register(app, ip="10.0.0.2", ephemeral="false", metadata="k=old")
    params = {
        "serviceName": SERVICE,
        "consistencyType": "ephemeral",
        "instances": instances,
        "metadata": "k=new",
    }
    assert json_body(call(app, method, BATCH_PATH, params)) == {"updated": [f"{KEY}:ephemeral"]}
    expected = {"k": "new", "keep": "1"} if method == "PUT" else {"keep": "1"}
    assert dict(_instance(naming_state).metadata) == expected
    persistent = _instance(naming_state, "10.0.0.2:8080:unknown:DEFAULT", ephemeral=False)
    assert dict(persistent.metadata) == {"k": "old"}


def test_metadata_batch_unknown_consistency_type_updates_nothing(app: NamingApp, push: RecordingPush) -> None:
    """Nacos: a type other than ``ephemeral``/``persist`` is logged and nothing is touched."""
    register(app)
    changes = len(push.changed)
    instances = json.dumps([{"ip": "10.0.0.1", "port": 8080}])
    for kind in ("EPHEMERAL", "all"):
        params = {"serviceName": SERVICE, "consistencyType": kind, "instances": instances, "metadata": "k=v"}
        assert json_body(call(app, "PUT", BATCH_PATH, params)) == {"updated": []}
    assert len(push.changed) == changes


def test_metadata_batch_instances_with_null_members_use_their_defaults(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app)
    instances = json.dumps([{"ip": "10.0.0.1", "port": "8080", "ephemeral": None, "clusterName": None}])
    params = {"serviceName": SERVICE, "instances": instances, "metadata": "k=v"}
    assert json_body(call(app, "PUT", BATCH_PATH, params)) == {"updated": [f"{KEY}:ephemeral"]}
    assert dict(_instance(naming_state).metadata) == {"k": "v"}


def test_metadata_batch_requires_service_and_metadata(app: NamingApp) -> None:
    register(app)
    no_metadata = call(app, "PUT", BATCH_PATH, {"serviceName": SERVICE, "consistencyType": "ephemeral"})
    assert (no_metadata.status, no_metadata.body) == (400, b"caused: Param 'metadata' is required.;")
    no_service = call(app, "PUT", BATCH_PATH, {"metadata": "k=v"})
    assert no_service.status == 400


# --- routing ---------------------------------------------------------------------------------------


def test_instance_routes_reject_unknown_methods_with_501(app: NamingApp) -> None:
    response = call(app, "GET", "/v1/ns/instance/beat", {"serviceName": SERVICE})
    assert response.status == 501
    assert json.loads(response.body)["message"] == "no such api:GET:/nacos/v1/ns/instance/beat"


def test_instance_endpoints_take_form_bodies(app: NamingApp, naming_state: NamingState) -> None:
    form = {"serviceName": SERVICE, "ip": "10.0.0.7", "port": "81", "ephemeral": "false"}
    response = call(app, "POST", INSTANCE_PATH, form=form)
    assert (response.status, response.body) == (200, b"ok")
    assert _instance(naming_state, "10.0.0.7:81:unknown:DEFAULT", ephemeral=False) is not None
