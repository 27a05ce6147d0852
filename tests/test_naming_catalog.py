"""Catalog endpoints and ``PUT /cluster`` (compatibility.md §3.12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.journal import replay
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.state import NamingState
from tests.naming_helpers import WALL_EPOCH_MS, MemoryJournal, RecordingPush, call, json_body

JAVA_LONG_MAX = 2**63 - 1


def register(app: NamingApp, name: str, ip: str, port: int = 80, now_ms: int = 0, **extra: Any) -> None:
    response = call(
        app, "POST", "/v1/ns/instance", {"serviceName": name, "ip": ip, "port": port, **extra}, now_ms=now_ms
    )
    assert response.status == 200, response.body


def put_cluster(app: NamingApp, **params: Any) -> Any:
    values = {
        "serviceName": "orders",
        "clusterName": "DEFAULT",
        "checkPort": "80",
        "useInstancePort4Check": "true",
        "healthChecker": '{"type":"TCP"}',
        **params,
    }
    return call(app, "PUT", "/v1/ns/cluster", values)


def instances(app: NamingApp, now_ms: int = 0, wall_ms: int | None = None, **params: Any) -> Any:
    values = {"serviceName": "orders", "clusterName": "DEFAULT", "pageNo": 1, "pageSize": 10, **params}
    return json_body(call(app, "GET", "/v1/ns/catalog/instances", values, now_ms=now_ms, wall_ms=wall_ms))


def services(app: NamingApp, **params: Any) -> Any:
    return json_body(call(app, "GET", "/v1/ns/catalog/services", {"pageNo": 1, "pageSize": 10, **params}))


# --- /catalog/service -----------------------------------------------------------------------------------


def test_catalog_service_shows_full_cluster_objects(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    assert put_cluster(app, clusterName="spare", checkPort="9090", useInstancePort4Check="no").status == 200
    answer = json_body(call(app, "GET", "/v1/ns/catalog/service", {"serviceName": "orders"}))
    assert answer["service"] == {
        "name": "orders",
        "protectThreshold": 0.0,
        "groupName": "DEFAULT_GROUP",
        "selector": {"type": "none"},
        "metadata": {},
    }
    default, spare = answer["clusters"]
    assert default == {
        "serviceName": "DEFAULT_GROUP@@orders",
        "name": "DEFAULT",
        "healthChecker": {"type": "TCP"},
        "defaultPort": 80,
        "defaultCheckPort": 80,
        "useIPPort4Check": True,
        "metadata": {},
        "sitegroup": "",
        "defCkport": 80,
        "defIPPort": 80,
        "empty": False,
    }
    assert (spare["name"], spare["empty"], spare["defCkport"], spare["useIPPort4Check"]) == (
        "spare",
        True,
        9090,
        False,
    )


def test_catalog_service_missing_is_404(app: NamingApp) -> None:
    response = call(app, "GET", "/v1/ns/catalog/service", {"serviceName": "nope"})
    assert (response.status, response.body) == (404, b"caused: service DEFAULT_GROUP@@nope is not found!;")
    assert call(app, "GET", "/v1/ns/catalog/service").status == 400


# --- /catalog/instances ---------------------------------------------------------------------------------


def test_catalog_instances_writes_shape_c_with_wall_clock_last_beat(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1", now_ms=1_000, metadata='{"preserved.heart.beat.timeout":"20000"}')
    beat = {"serviceName": "orders", "ip": "10.0.0.1", "port": 80}
    assert call(app, "PUT", "/v1/ns/instance/beat", beat, now_ms=4_000).status == 200
    wall = 1_800_000_000_000
    answer = instances(app, now_ms=9_000, wall_ms=wall)
    assert answer == {
        "list": [
            {
                "instanceId": "10.0.0.1#80#DEFAULT#DEFAULT_GROUP@@orders",
                "ip": "10.0.0.1",
                "port": 80,
                "weight": 1.0,
                "healthy": True,
                "enabled": True,
                "ephemeral": True,
                "clusterName": "DEFAULT",
                "serviceName": "DEFAULT_GROUP@@orders",
                "metadata": {"preserved.heart.beat.timeout": "20000"},
                "lastBeat": wall - 5_000,
                "marked": False,
                "instanceHeartBeatInterval": 5000,
                "instanceHeartBeatTimeOut": 20000,
                "ipDeleteTimeout": 30000,
                "app": "DEFAULT",
            }
        ],
        "count": 1,
    }


def test_catalog_instances_id_generator_rule(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    register(app, "orders", "10.0.0.2", metadata="preserved.instance.id.generator=simple")
    register(app, "orders", "10.0.0.3", metadata="a=b")
    listed = {item["ip"]: item for item in instances(app)["list"]}
    assert listed["10.0.0.1"]["instanceIdGenerator"] == "simple"
    assert listed["10.0.0.2"]["instanceIdGenerator"] == "simple"
    assert "instanceIdGenerator" not in listed["10.0.0.3"]


def test_catalog_instances_lists_persistent_first_with_current_time(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    register(app, "orders", "10.0.0.2", ephemeral="false")
    answer = instances(app, now_ms=7_000)
    assert [(i["ip"], i["ephemeral"]) for i in answer["list"]] == [("10.0.0.2", False), ("10.0.0.1", True)]
    assert answer["list"][0]["lastBeat"] == WALL_EPOCH_MS + 7_000
    assert answer["list"][1]["lastBeat"] == WALL_EPOCH_MS


def test_catalog_instances_pages_one_cluster(app: NamingApp) -> None:
    for index in range(5):
        register(app, "orders", f"10.0.0.{index}")
    register(app, "orders", "10.0.1.1", clusterName="other")
    page = instances(app, pageNo=2, pageSize=2)
    assert page["count"] == 5
    assert [i["ip"] for i in page["list"]] == ["10.0.0.2", "10.0.0.3"]
    assert instances(app, pageNo=4, pageSize=2) == {"list": [], "count": 5}
    assert [i["ip"] for i in instances(app, clusterName="other")["list"]] == ["10.0.1.1"]


def test_catalog_instances_of_an_unknown_cluster_is_404(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    values = {"serviceName": "orders", "clusterName": "nope", "pageNo": 1, "pageSize": 10}
    response = call(app, "POST", "/v1/ns/catalog/instances", values)
    assert (response.status, response.body) == (404, b"caused: cluster nope is not found!;")


@pytest.mark.parametrize("missing", ["serviceName", "clusterName", "pageNo", "pageSize"])
def test_catalog_instances_requires_its_parameters(app: NamingApp, missing: str) -> None:
    register(app, "orders", "10.0.0.1")
    values = {"serviceName": "orders", "clusterName": "DEFAULT", "pageNo": "1", "pageSize": "10"}
    del values[missing]
    assert call(app, "GET", "/v1/ns/catalog/instances", values).status == 400


# --- /catalog/services ----------------------------------------------------------------------------------


def test_catalog_services_counts_and_trigger_flag(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1", healthy="false")
    register(app, "orders", "10.0.0.2", clusterName="B")
    register(app, "G@@pay", "10.0.0.3", healthy="false")
    call(app, "POST", "/v1/ns/service", {"serviceName": "empty", "protectThreshold": "1"})
    call(app, "PUT", "/v1/ns/service", {"serviceName": "orders", "protectThreshold": "0.5"})
    answer = services(app)
    assert answer["count"] == 3
    views = {view["name"]: view for view in answer["serviceList"]}
    assert views["orders"] == {
        "name": "orders",
        "groupName": "DEFAULT_GROUP",
        "clusterCount": 2,
        "ipCount": 2,
        "healthyInstanceCount": 1,
        "triggerFlag": "true",
    }
    assert views["pay"]["groupName"] == "G"
    assert views["pay"]["triggerFlag"] == "true"
    assert views["empty"]["triggerFlag"] == "false"


def test_catalog_services_trigger_flag_compares_a_java_float(app: NamingApp) -> None:
    for index in range(10):
        register(app, "orders", f"10.0.0.{index}", healthy="true" if index < 7 else "false")
    call(app, "PUT", "/v1/ns/service", {"serviceName": "orders", "protectThreshold": "0.7"})
    # 0.7 as a Java float is 0.699999988..., so 7/10 does not reach it (as in Nacos).
    assert services(app)["serviceList"][0]["triggerFlag"] == "false"


def test_catalog_services_filters(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1", port=8080)
    register(app, "G@@ordersb", "10.0.0.2")
    register(app, "G2@@pay", "10.0.0.1", port=9090)
    call(app, "POST", "/v1/ns/service", {"serviceName": "orderless"})

    def names(**params: Any) -> list[str]:
        return [f"{v['groupName']}@@{v['name']}" for v in services(app, **params)["serviceList"]]

    assert names(serviceNameParam="order") == [
        "DEFAULT_GROUP@@orderless",
        "DEFAULT_GROUP@@orders",
        "G@@ordersb",
    ]
    assert len(names(groupNameParam="G")) == 4  # a substring of the group: DEFAULT_GROUP holds a G
    assert names(groupNameParam="G2") == ["G2@@pay"]
    assert names(groupNameParam="G2", serviceNameParam="pa") == ["G2@@pay"]
    assert names(serviceNameParam="ord.rs") == []
    assert names(instance="10.0.0.1") == ["DEFAULT_GROUP@@orders", "G2@@pay"]
    assert names(instance="10.0.0.1:9090") == ["G2@@pay"]
    assert names(hasIpCount="true", serviceNameParam="order") == ["DEFAULT_GROUP@@orders", "G@@ordersb"]


def test_catalog_services_paging_follows_nacos(app: NamingApp) -> None:
    for index in range(5):
        call(app, "POST", "/v1/ns/service", {"serviceName": f"s{index}"})

    def names(**params: Any) -> Any:
        answer = services(app, **params)
        if isinstance(answer, list):
            return [item["serviceName"] for item in answer]
        return [view["name"] for view in answer["serviceList"]], answer["count"]

    assert names(pageNo=1, pageSize=2) == (["s0", "s1"], 5)
    assert names(pageNo=3, pageSize=2) == (["s4"], 5)
    assert names(pageNo=4, pageSize=2) == ([], 5)
    assert names(pageNo=7, pageSize=5) == (["s0", "s1", "s2", "s3", "s4"], 5)  # a page ≥ all: everything
    assert names(pageNo=1, pageSize=2, withInstances="true") == ["s2", "s3"]  # withInstances pages from 0
    assert names(pageNo=0, pageSize=2, withInstances="true") == ["s0", "s1"]
    assert len(names(pageNo=0, pageSize=1000000, withInstances="true")) == 5


def test_catalog_services_with_instances(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1", metadata="a=b", weight="2")
    put_cluster(app, clusterName="spare")
    call(app, "PUT", "/v1/ns/service", {"serviceName": "orders", "protectThreshold": "0", "metadata": "m=n"})
    answer = services(app, withInstances="on", pageNo=0)
    assert answer == [
        {
            "serviceName": "orders",
            "groupName": "DEFAULT_GROUP",
            "clusterMap": {
                "DEFAULT": {
                    "hosts": [
                        {
                            "valid": True,
                            "metadata": {"a": "b"},
                            "port": 80,
                            "ip": "10.0.0.1",
                            "weight": 2.0,
                            "enabled": True,
                        }
                    ]
                },
                "spare": {"hosts": []},
            },
            "metadata": {"m": "n"},
        }
    ]


@pytest.mark.parametrize(
    "params",
    [{"pageNo": "1"}, {"pageSize": "1"}, {"pageNo": "x", "pageSize": "1"}, {"pageNo": "1", "pageSize": "-1"}],
)
def test_catalog_services_refuses_bad_paging(app: NamingApp, params: dict[str, str]) -> None:
    assert call(app, "GET", "/v1/ns/catalog/services", params).status == 400


# --- /catalog/rt/service --------------------------------------------------------------------------------


def test_catalog_rt_service_lists_clusters(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    answer = json_body(call(app, "DELETE", "/v1/ns/catalog/rt/service", {"serviceName": "orders"}))
    assert answer == {
        "clusters": [
            {"name": "DEFAULT", "checkRTBest": JAVA_LONG_MAX, "checkRTWorst": 0, "checkRTNormalized": -1}
        ]
    }
    assert call(app, "GET", "/v1/ns/catalog/rt/service", {"serviceName": "x"}).status == 404


# --- PUT /cluster ---------------------------------------------------------------------------------------


def test_cluster_update_sets_the_checker_and_is_durable(
    app: NamingApp, journal: MemoryJournal, push: RecordingPush
) -> None:
    register(app, "orders", "10.0.0.1")
    push.changed.clear()
    checker = '{"type":"HTTP","path":"/ping","headers":"a:b","expectedResponseCode":"200","extra":1}'
    response = put_cluster(
        app, checkPort="8081", useInstancePort4Check="y", healthChecker=checker, metadata="k=v"
    )
    assert (response.status, response.body) == (200, b"ok")
    assert response.durable_seq == len(journal.payloads)
    cluster = json_body(call(app, "GET", "/v1/ns/catalog/service", {"serviceName": "orders"}))["clusters"][0]
    assert cluster["healthChecker"] == {
        "type": "HTTP",
        "path": "/ping",
        "headers": "a:b",
        "expectedResponseCode": 200,
    }
    assert (cluster["defCkport"], cluster["useIPPort4Check"], cluster["metadata"]) == (8081, True, {"k": "v"})
    assert push.changed == []  # the instance list clients see did not change
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    replay(fresh, journal.payloads)
    service = fresh.registry.get("public", "DEFAULT_GROUP@@orders")
    assert service is not None
    assert isinstance(service.meta, ServiceMeta)
    assert service.meta.cluster("DEFAULT").check_port == 8081


def test_cluster_update_keeps_mysql_fields(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    checker = json.dumps({"type": "MYSQL", "user": "u", "cmd": "select 1"})
    assert put_cluster(app, healthChecker=checker).status == 200
    shown = json_body(call(app, "GET", "/v1/ns/service", {"serviceName": "orders"}))
    assert shown["clusters"][0]["healthChecker"] == {"type": "MYSQL", "user": "u", "cmd": "select 1"}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"serviceName": "nope"}, 404),
        ({"healthChecker": '{"type":"tcp"}'}, 400),
        ({"healthChecker": "{}"}, 400),
        ({"healthChecker": "[]"}, 400),
        ({"healthChecker": "TCP"}, 400),
        ({"healthChecker": '{"type":"HTTP","expectedResponseCode":"x"}'}, 400),
        ({"healthChecker": '{"type":"HTTP","path":{"a":1}}'}, 400),
        ({"clusterName": "a_b"}, 400),
        ({"checkPort": "70000"}, 400),
        ({"metadata": "a"}, 400),
        ({"useInstancePort4Check": ""}, 400),
    ],
)
def test_cluster_update_refuses_bad_input(
    app: NamingApp, journal: MemoryJournal, params: dict[str, str], status: int
) -> None:
    register(app, "orders", "10.0.0.1")
    response = put_cluster(app, **params)
    assert response.status == status, response.body
    assert journal.payloads == []
    shown = json_body(call(app, "GET", "/v1/ns/service", {"serviceName": "orders"}))
    assert shown["clusters"] == [{"name": "DEFAULT", "healthChecker": {"type": "TCP"}, "metadata": {}}]


def test_cluster_update_reads_check_port_leniently(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    assert put_cluster(app, checkPort="junk").status == 200
    cluster = json_body(call(app, "GET", "/v1/ns/catalog/service", {"serviceName": "orders"}))["clusters"][0]
    assert cluster["defCkport"] == 0
