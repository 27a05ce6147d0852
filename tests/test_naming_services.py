"""``/service`` CRUD, ``/service/list``, ``/service/names``, subscribers, checksum, ``/api/allDomNames``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from nacosfast.naming import render
from nacosfast.naming.app import NamingApp
from nacosfast.naming.effects import beat_key
from nacosfast.naming.journal import replay
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.push import PushHub
from nacosfast.naming.state import NamingState
from tests.naming_helpers import MemoryJournal, RecordingPush, call, json_body

SERVICE = "/v1/ns/service"


def register(app: NamingApp, name: str, ip: str, port: int = 80, now_ms: int = 0, **extra: Any) -> None:
    response = call(
        app, "POST", "/v1/ns/instance", {"serviceName": name, "ip": ip, "port": port, **extra}, now_ms=now_ms
    )
    assert response.status == 200, response.body


def create(app: NamingApp, name: str, **params: Any) -> None:
    response = call(app, "POST", SERVICE, {"serviceName": name, **params})
    assert (response.status, response.body) == (200, b"ok")


def detail(app: NamingApp, name: str, **params: Any) -> Any:
    return json_body(call(app, "GET", SERVICE, {"serviceName": name, **params}))


def error(response: Any, status: int = 400) -> str:
    assert response.status == status, (response.status, response.body)
    body: str = response.body.decode()
    assert body.startswith("caused: ")
    assert body.endswith(";")
    return body


# --- POST /service --------------------------------------------------------------------------------------


def test_service_create_stores_attributes_shown_by_detail(app: NamingApp) -> None:
    create(app, "orders", protectThreshold="0.5", metadata='{"team":"a","n":1}')
    assert detail(app, "orders") == {
        "name": "orders",
        "namespaceId": "public",
        "protectThreshold": 0.5,
        "metadata": {"team": "a", "n": "1"},
        "selector": {"type": "none"},
        "groupName": "DEFAULT_GROUP",
        "clusters": [],
    }


def test_service_create_is_durable_and_replays(
    app: NamingApp, journal: MemoryJournal, naming_state: NamingState
) -> None:
    response = call(
        app, "POST", SERVICE, {"serviceName": "G1@@orders", "namespaceId": "dev", "metadata": "a=b"}
    )
    assert response.durable_seq == len(journal.payloads) > 0
    record = json.loads(journal.payloads[-1])
    assert record["t"] == "service"
    assert record["ns"] == "dev"
    assert record["name"] == "G1@@orders"
    assert record["meta"]["persisted"] is True
    fresh = NamingState(push=RecordingPush(), journal=MemoryJournal())
    replay(fresh, journal.payloads)
    service = fresh.registry.get("dev", "G1@@orders")
    assert service is not None
    assert isinstance(service.meta, ServiceMeta)
    assert dict(service.meta.metadata) == {"a": "b"}


def test_service_create_notifies_push(app: NamingApp, push: RecordingPush) -> None:
    create(app, "orders")
    assert push.changed == [("public", "DEFAULT_GROUP@@orders")]


def test_service_create_existing_is_400(app: NamingApp, journal: MemoryJournal) -> None:
    create(app, "orders")
    count = len(journal.payloads)
    body = error(call(app, "POST", SERVICE, {"serviceName": "orders"}))
    assert body == "caused: specified service already exists, serviceName : DEFAULT_GROUP@@orders;"
    assert len(journal.payloads) == count


def test_service_create_of_a_service_holding_instances_is_400(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    error(call(app, "POST", SERVICE, {"serviceName": "orders"}))


@pytest.mark.parametrize("threshold", ["NaN", "Infinity", "-inf", "abc", "0,5"])
def test_service_create_refuses_a_bad_threshold(app: NamingApp, threshold: str) -> None:
    error(call(app, "POST", SERVICE, {"serviceName": "orders", "protectThreshold": threshold}))
    assert app.state.registry.get("public", "DEFAULT_GROUP@@orders") is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Param 'serviceName' is required."),
        ({"serviceName": "a b"}, "dom name can only have these characters"),
        ({"serviceName": "grp@@"}, "should be format as 'groupName@@serviceName'"),
        ({"serviceName": "x", "metadata": "a=b=c"}, "metadata format incorrect"),
        ({"serviceName": "x", "selector": "{bad"}, "selector is not valid JSON"),
        ({"serviceName": "x", "selector": '{"type":"unknown"}'}, "not match any type of selector!"),
        ({"serviceName": "x", "selector": '{"type":"label"}'}, "needs a string 'expression'"),
        (
            {"serviceName": "x", "selector": '{"type":"label","expression":"a = b"}'},
            "parse expression failed!",
        ),
        ({"serviceName": "x", "selector": "%zz"}, "URLDecoder"),
        ({"serviceName": "x", "namespaceId": "a/b"}, "Param 'namespaceId' is illegal"),
    ],
)
def test_service_create_refuses_bad_input(app: NamingApp, params: dict[str, str], message: str) -> None:
    assert message in error(call(app, "POST", SERVICE, params))
    assert app.state.registry.service_count == 0


def test_service_create_parses_a_url_encoded_label_selector(app: NamingApp) -> None:
    expression = "CONSUMER.label.zone = PROVIDER.label.zone & CONSUMER.label.az = PROVIDER.label.az"
    selector = quote(json.dumps({"type": "label", "expression": expression}))
    create(app, "orders", selector=selector)
    assert detail(app, "orders")["selector"] == {
        "type": "label",
        "expression": expression,
        "labels": ["az", "zone"],
    }


# --- DELETE /service ------------------------------------------------------------------------------------


def test_service_delete_missing_is_400(app: NamingApp) -> None:
    body = error(call(app, "DELETE", SERVICE, {"serviceName": "nope"}))
    assert body == "caused: specified service not exist, serviceName : DEFAULT_GROUP@@nope;"


def test_service_delete_removes_instances_beats_and_journals_a_tombstone(
    app: NamingApp, push: RecordingPush, journal: MemoryJournal
) -> None:
    create(app, "orders")
    register(app, "orders", "10.0.0.1")
    register(app, "orders", "10.0.0.2", ephemeral="false")
    service = app.state.registry.get("public", "DEFAULT_GROUP@@orders")
    assert service is not None
    key = beat_key("public", "DEFAULT_GROUP@@orders", "10.0.0.1:80:unknown:DEFAULT")
    assert key in app.state.beats
    push.changed.clear()
    response = call(app, "DELETE", SERVICE, {"serviceName": "orders"})
    assert (response.status, response.body) == (200, b"ok")
    assert app.state.registry.get("public", "DEFAULT_GROUP@@orders") is None
    assert key not in app.state.beats
    assert push.changed == [("public", "DEFAULT_GROUP@@orders")]
    assert response.durable_seq == len(journal.payloads)
    assert json.loads(journal.payloads[-1])["deleted"] is True


# --- PUT /service ---------------------------------------------------------------------------------------


def test_service_update_requires_threshold(app: NamingApp) -> None:
    create(app, "orders")
    assert "Param 'protectThreshold' is required." in error(
        call(app, "PUT", SERVICE, {"serviceName": "orders"})
    )


def test_service_update_of_a_missing_service_is_404(app: NamingApp) -> None:
    body = error(call(app, "PUT", SERVICE, {"serviceName": "nope", "protectThreshold": "0.1"}), 404)
    assert body == "caused: service DEFAULT_GROUP@@nope not found!;"


def test_service_update_clears_missing_metadata_and_resets_selector(
    app: NamingApp, push: RecordingPush, journal: MemoryJournal
) -> None:
    selector = json.dumps({"type": "label", "expression": "CONSUMER.label.a = PROVIDER.label.a"})
    create(app, "orders", metadata="a=b", selector=selector)
    push.changed.clear()
    response = call(app, "PUT", SERVICE, {"serviceName": "orders", "protectThreshold": " 0.8 "})
    assert (response.status, response.body) == (200, b"ok")
    assert response.durable_seq == len(journal.payloads)
    shown = detail(app, "orders")
    assert (shown["protectThreshold"], shown["metadata"], shown["selector"]) == (0.8, {}, {"type": "none"})
    assert push.changed == [("public", "DEFAULT_GROUP@@orders")]


def test_service_update_keeps_cluster_settings(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    cluster = {
        "serviceName": "orders",
        "clusterName": "DEFAULT",
        "checkPort": "81",
        "useInstancePort4Check": "false",
        "healthChecker": '{"type":"NONE"}',
    }
    assert call(app, "PUT", "/v1/ns/cluster", cluster).status == 200
    assert call(app, "PUT", SERVICE, {"serviceName": "orders", "protectThreshold": "0.3"}).status == 200
    assert detail(app, "orders")["clusters"] == [
        {"name": "DEFAULT", "healthChecker": {"type": "NONE"}, "metadata": {}}
    ]


def test_service_update_marks_an_ephemeral_only_service_persisted(
    app: NamingApp, journal: MemoryJournal
) -> None:
    register(app, "orders", "10.0.0.1")
    assert journal.payloads == []
    call(app, "PUT", SERVICE, {"serviceName": "orders", "protectThreshold": "0.3", "metadata": "k=v"})
    record = json.loads(journal.payloads[-1])
    assert (record["t"], record["name"], record["meta"]["persisted"]) == (
        "service",
        "DEFAULT_GROUP@@orders",
        True,
    )
    assert "instances" not in record


# --- GET /service ---------------------------------------------------------------------------------------


def test_service_detail_of_a_missing_service_is_404(app: NamingApp) -> None:
    body = error(call(app, "GET", SERVICE, {"serviceName": "G@@nope"}), 404)
    assert body == "caused: service G@@nope is not found!;"


def test_service_detail_lists_clusters_with_instances(app: NamingApp) -> None:
    register(app, "G@@orders", "10.0.0.1", clusterName="B")
    register(app, "G@@orders", "10.0.0.2", clusterName="A")
    shown = detail(app, "orders", groupName="G")
    assert (shown["name"], shown["groupName"]) == ("orders", "G")
    assert [c["name"] for c in shown["clusters"]] == ["A", "B"]
    assert shown["clusters"][0]["healthChecker"] == {"type": "TCP"}


# --- GET /service/list ----------------------------------------------------------------------------------


def names_page(app: NamingApp, **params: Any) -> Any:
    return json_body(call(app, "GET", "/v1/ns/service/list", {"pageNo": 1, "pageSize": 100, **params}))


@pytest.mark.parametrize("missing", ["pageNo", "pageSize"])
def test_service_list_requires_paging(app: NamingApp, missing: str) -> None:
    params = {"pageNo": "1", "pageSize": "10"}
    del params[missing]
    assert f"Param '{missing}' is required." in error(call(app, "GET", "/v1/ns/service/list", params))


def test_service_list_of_an_empty_namespace(app: NamingApp) -> None:
    assert names_page(app, namespaceId="nothing") == {"doms": [], "count": 0}


def test_service_list_filters_by_group_strips_it_and_sorts(app: NamingApp) -> None:
    for name in ("DEFAULT_GROUP@@b", "DEFAULT_GROUP@@a", "G@@c", "G2@@d"):
        create(app, name)
    assert names_page(app) == {"doms": ["a", "b"], "count": 2}
    assert names_page(app, groupName="G") == {"doms": ["c"], "count": 1}
    assert names_page(app, groupName="*") == {
        "doms": ["DEFAULT_GROUP@@a", "DEFAULT_GROUP@@b", "G2@@d", "G@@c"],
        "count": 4,
    }


def test_service_list_pages(app: NamingApp) -> None:
    for index in range(5):
        create(app, f"s{index}")
    assert names_page(app, pageNo=2, pageSize=2) == {"doms": ["s2", "s3"], "count": 5}
    assert names_page(app, pageNo=3, pageSize=2) == {"doms": ["s4"], "count": 5}
    assert names_page(app, pageNo=9, pageSize=2) == {"doms": [], "count": 5}
    assert names_page(app, pageNo=0, pageSize=2) == {"doms": ["s0", "s1"], "count": 5}
    assert names_page(app, pageNo=1, pageSize=2147483647)["doms"] == [f"s{i}" for i in range(5)]


def test_service_list_reads_page_numbers_leniently(app: NamingApp) -> None:
    create(app, "a")
    assert names_page(app, pageNo="x", pageSize="y") == {"doms": [], "count": 1}


def test_service_list_selector_on_instance_metadata(app: NamingApp) -> None:
    register(app, "a", "10.0.0.1", metadata='{"zone":"z1"}')
    register(app, "b", "10.0.0.2", metadata='{"zone":"z2"}')
    register(app, "c", "10.0.0.3", metadata='{"preserved.zone":"z1"}')
    selector = json.dumps({"type": "label", "expression": "INSTANCE.metadata.zone = 'z1'"})
    assert names_page(app, selector=selector) == {"doms": ["a"], "count": 1}
    dotted = json.dumps({"type": "label", "expression": "INSTANCE.metadata.preserved.zone='z1'"})
    assert names_page(app, selector=dotted) == {"doms": ["c"], "count": 1}


def test_service_list_selector_on_service_metadata(app: NamingApp) -> None:
    create(app, "a", metadata="tier=gold")
    create(app, "b", metadata="tier=silver")
    selector = json.dumps({"type": "label", "expression": "SERVICE.metadata.tier = 'gold'"})
    assert names_page(app, selector=selector) == {"doms": ["a"], "count": 1}


@pytest.mark.parametrize(
    "selector",
    [
        '{"type":"label","expression":"CONSUMER.label.a = PROVIDER.label.a"}',
        '{"type":"label","expression":"INSTANCE.metadata.a"}',
        '{"type":"label","expression":"INSTANCE.ip = \'1\'"}',
        '{"type":"cmdb"}',
        "[1]",
    ],
)
def test_service_list_refuses_an_unsupported_selector(app: NamingApp, selector: str) -> None:
    create(app, "a")
    error(call(app, "GET", "/v1/ns/service/list", {"pageNo": 1, "pageSize": 10, "selector": selector}))


@pytest.mark.parametrize("selector", ['{"type":"none"}', '{"type":"label","expression":" "}'])
def test_service_list_selector_that_selects_everything(app: NamingApp, selector: str) -> None:
    create(app, "a")
    assert names_page(app, selector=selector) == {"doms": ["a"], "count": 1}


# --- /service/names and /api/allDomNames ----------------------------------------------------------------


def test_service_names_counts_namespaces_and_matches_literally(app: NamingApp) -> None:
    create(app, "G@@a.b")
    create(app, "axb")
    create(app, "other", namespaceId="dev")
    assert json_body(call(app, "GET", "/v1/ns/service/names")) == {
        "services": {"dev": ["other"], "public": ["a.b", "axb"]},
        "count": 2,
    }
    assert json_body(call(app, "POST", "/v1/ns/service/names", {"expr": "a.b", "namespaceId": "public"})) == {
        "services": {"public": ["a.b"]},
        "count": 1,
    }


def test_service_names_of_an_unknown_namespace(app: NamingApp) -> None:
    assert json_body(call(app, "GET", "/v1/ns/service/names", {"namespaceId": "x"})) == {
        "services": {"x": []},
        "count": 1,
    }


def test_api_all_dom_names_per_namespace(app: NamingApp) -> None:
    create(app, "a")
    create(app, "G@@a")
    create(app, "b", namespaceId="dev")
    assert json_body(call(app, "GET", "/v1/ns/api/allDomNames")) == {
        "count": 2,
        "doms": {"dev": ["b"], "public": ["a"]},
    }


def test_api_all_dom_names_is_flat_for_old_dnsf(app: NamingApp) -> None:
    create(app, "a")
    create(app, "b", namespaceId="dev")
    answer = json_body(call(app, "PUT", "/v1/ns/api/allDomNames", user_agent="Nacos-DNS:v1.0.1"))
    assert answer == {"count": 1, "doms": ["a"]}


# --- /service/subscribers -------------------------------------------------------------------------------


def hub_app() -> tuple[NamingApp, PushHub]:
    hub = PushHub(lambda *args: b"{}")
    return NamingApp(NamingState(push=hub, journal=MemoryJournal())), hub


def test_service_subscribers_from_the_push_table() -> None:
    app, hub = hub_app()
    hub.subscribe(
        "public",
        "DEFAULT_GROUP@@orders",
        "",
        "10.0.0.9",
        5000,
        "Nacos-Java-Client:v1.4.8",
        "shop",
        "",
        0,
        peer_ip="10.0.0.9",
    )
    hub.subscribe(
        "public",
        "DEFAULT_GROUP@@orders2",
        "",
        "10.0.0.8",
        5001,
        "Nacos-Java-Client:v1.4.8",
        "",
        "",
        0,
        peer_ip="10.0.0.8",
    )
    hub.subscribe(
        "dev",
        "DEFAULT_GROUP@@orders",
        "",
        "10.0.0.7",
        5002,
        "Nacos-Java-Client:v1.4.8",
        "",
        "",
        0,
        peer_ip="10.0.0.7",
    )
    answer = json_body(call(app, "GET", "/v1/ns/service/subscribers", {"serviceName": "orders"}))
    assert answer["count"] == 2
    assert answer["subscribers"][0] == {
        "addrStr": "10.0.0.9:5000",
        "agent": "Nacos-Java-Client:v1.4.8",
        "app": "shop",
        "ip": "10.0.0.9",
        "namespaceId": "public",
        "serviceName": "DEFAULT_GROUP@@orders",
    }
    paged = json_body(
        call(app, "GET", "/v1/ns/service/subscribers", {"serviceName": "orders", "pageNo": 2, "pageSize": 1})
    )
    assert paged["count"] == 2
    assert [s["addrStr"] for s in paged["subscribers"]] == ["10.0.0.8:5001"]


def test_service_subscribers_require_a_service_name(app: NamingApp) -> None:
    error(call(app, "GET", "/v1/ns/service/subscribers"))


# --- PUT /service/checksum ------------------------------------------------------------------------------


def test_service_checksum_is_the_list_checksum(app: NamingApp) -> None:
    register(app, "orders", "10.0.0.1")
    answer = json_body(call(app, "PUT", "/v1/ns/service/checksum", {"serviceName": "orders"}))
    service = app.state.registry.get("public", "DEFAULT_GROUP@@orders")
    assert service is not None
    assert answer == {"checksum": render.checksum(service)}
    register(app, "orders", "10.0.0.2")
    again = json_body(call(app, "PUT", "/v1/ns/service/checksum", {"serviceName": "orders"}))
    assert len(again["checksum"]) == 32
    assert again != answer


def test_service_checksum_of_a_missing_service_is_404(app: NamingApp) -> None:
    body = error(call(app, "PUT", "/v1/ns/service/checksum", {"serviceName": "nope"}), 404)
    assert body == "caused: serviceName not found: DEFAULT_GROUP@@nope;"
