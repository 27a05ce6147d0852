"""GET /instance/list, /api/srvIPXT (compatibility.md §3.6, §3.12, §2.8, §2.9 A) and the render cache."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.client_info import parse_client_info
from nacosfast.naming.meta import ServiceMeta
from nacosfast.naming.render import render_list
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import APPLICATION_JSON
from tests.instance_helpers import LIST_PATH, SERVICE, hosts, listing, register
from tests.naming_helpers import JAVA_UA, NODE_UA, PYTHON_UA, WALL_EPOCH_MS, RecordingPush, call, json_body

LIST_KEYS = {
    "hosts",
    "dom",
    "name",
    "cacheMillis",
    "lastRefTime",
    "checksum",
    "useSpecifiedURL",
    "clusters",
    "env",
    "metadata",
}


def _set_threshold(state: NamingState, threshold: float, service: str = SERVICE) -> None:
    snapshot = state.registry.get("public", service)
    assert snapshot is not None
    meta = snapshot.meta if isinstance(snapshot.meta, ServiceMeta) else ServiceMeta()
    state.registry.set_meta("public", service, replace(meta, protect_threshold=threshold))


def _unhealthy(state: NamingState, ip: str, port: int = 8080) -> None:
    assert state.registry.set_healthy("public", SERVICE, f"{ip}:{port}:unknown:DEFAULT", True, False)


# --- shapes ----------------------------------------------------------------------------------------


def test_list_unknown_service_has_the_short_shape(app: NamingApp) -> None:
    response = call(app, "GET", LIST_PATH, {"serviceName": "G@@none", "clusters": "a,b"})
    assert response.content_type == APPLICATION_JSON
    assert json_body(response) == {"name": "G@@none", "clusters": "a,b", "cacheMillis": 3000, "hosts": []}


def test_list_unknown_namespace_has_the_short_shape(app: NamingApp) -> None:
    register(app)
    body = listing(app, namespaceId="default")
    assert body == {"name": SERVICE, "clusters": "", "cacheMillis": 3000, "hosts": []}


def test_list_answers_every_nacos_1x_field(app: NamingApp) -> None:
    register(app, weight="2", metadata="k=v")
    body = listing(app, now_ms=250, clusters="DEFAULT", env="prod")
    assert set(body) == LIST_KEYS
    assert body["hosts"] == [
        {
            "ip": "10.0.0.1",
            "port": 8080,
            "valid": True,
            "healthy": True,
            "marked": False,
            "instanceId": "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@svc",
            "metadata": {"k": "v"},
            "enabled": True,
            "weight": 2.0,
            "clusterName": "DEFAULT",
            "serviceName": SERVICE,
            "ephemeral": True,
        }
    ]
    assert (body["dom"], body["name"], body["cacheMillis"]) == (SERVICE, SERVICE, 3000)
    assert (body["lastRefTime"], body["useSpecifiedURL"], body["metadata"]) == (
        WALL_EPOCH_MS + 250,
        False,
        {},
    )
    assert (body["clusters"], body["env"]) == ("DEFAULT", "prod")
    assert len(body["checksum"]) == 32
    assert int(body["checksum"], 16) >= 0


def test_list_weight_is_written_as_a_java_double(app: NamingApp) -> None:
    register(app)
    body = call(app, "GET", LIST_PATH, {"serviceName": SERVICE}).body
    assert b'"weight":1.0,' in body


def test_list_service_metadata_is_echoed(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    naming_state.registry.set_meta("public", SERVICE, ServiceMeta(metadata={"owner": "team"}))
    assert listing(app)["metadata"] == {"owner": "team"}


def test_list_empty_service_has_the_full_shape(app: NamingApp) -> None:
    register(app)
    call(app, "DELETE", "/v1/ns/instance", {"serviceName": SERVICE, "ip": "10.0.0.1", "port": 8080})
    body = listing(app)
    assert set(body) == LIST_KEYS
    assert body["hosts"] == []


@pytest.mark.parametrize(
    ("user_agent", "grouped"),
    [
        (JAVA_UA, True),
        (NODE_UA, True),
        ("Nacos-Java-Client:v0.9.0", False),
        (PYTHON_UA, False),
        ("Nacos-Go-Client:v1.0.0", False),
        ("", False),
    ],
)
def test_list_group_prefix_only_for_java_1x(app: NamingApp, user_agent: str, grouped: bool) -> None:
    register(app)
    body = listing(app, user_agent=user_agent)
    expected = SERVICE if grouped else "svc"
    assert (body["dom"], body["hosts"][0]["serviceName"], body["name"]) == (expected, expected, SERVICE)
    assert body["hosts"][0]["instanceId"].endswith("#DEFAULT_GROUP@@svc")


def test_list_python_style_plain_name_and_group(app: NamingApp) -> None:
    register(app, service="G1@@svc")
    body = listing(app, "svc", groupName="G1", user_agent=PYTHON_UA)
    assert (body["name"], body["dom"], len(body["hosts"])) == ("G1@@svc", "svc", 1)


# --- selection -------------------------------------------------------------------------------------


def test_list_clusters_filter_and_echo(app: NamingApp) -> None:
    for cluster in ("c1", "c2", "c3"):
        register(app, clusterName=cluster)
    body = listing(app, clusters="c1,,c3")
    assert body["clusters"] == "c1,,c3"
    assert sorted(h["clusterName"] for h in body["hosts"]) == ["c1", "c3"]
    assert len(hosts(app)) == 3
    assert hosts(app, clusters="nope") == []


def test_list_healthy_bucket_comes_first(app: NamingApp, naming_state: NamingState) -> None:
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        register(app, ip=ip)
    _unhealthy(naming_state, "10.0.0.1")
    listed = [(h["ip"], h["healthy"], h["valid"]) for h in hosts(app)]
    assert listed[2] == ("10.0.0.1", False, False)
    assert sorted(listed[:2]) == [("10.0.0.2", True, True), ("10.0.0.3", True, True)]


def test_list_healthy_only_drops_the_unhealthy_bucket(app: NamingApp, naming_state: NamingState) -> None:
    register(app, ip="10.0.0.1")
    register(app, ip="10.0.0.2")
    _unhealthy(naming_state, "10.0.0.1")
    assert [h["ip"] for h in hosts(app, healthyOnly="true")] == ["10.0.0.2"]
    assert len(hosts(app, healthyOnly="yes")) == 2  # Boolean.parseBoolean: only "true"


def test_list_protect_threshold_zero_returns_all_when_none_is_healthy(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app, ip="10.0.0.1")
    register(app, ip="10.0.0.2")
    _unhealthy(naming_state, "10.0.0.1")
    _unhealthy(naming_state, "10.0.0.2")
    listed = hosts(app, healthyOnly="true")
    assert sorted((h["ip"], h["healthy"], h["valid"]) for h in listed) == [
        ("10.0.0.1", True, True),
        ("10.0.0.2", True, True),
    ]


def test_list_protect_threshold_compares_ratio_inclusively(app: NamingApp, naming_state: NamingState) -> None:
    register(app, ip="10.0.0.1")
    register(app, ip="10.0.0.2")
    _unhealthy(naming_state, "10.0.0.1")
    _set_threshold(naming_state, 0.5)
    assert all(h["healthy"] for h in hosts(app))  # 1/2 <= 0.5
    _set_threshold(naming_state, 0.49)
    assert sorted(h["healthy"] for h in hosts(app)) == [False, True]


def test_list_protect_threshold_ratio_is_a_java_float(app: NamingApp, naming_state: NamingState) -> None:
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        register(app, ip=ip)
    _unhealthy(naming_state, "10.0.0.2")
    _unhealthy(naming_state, "10.0.0.3")
    # (float) 1/3 is 0.3333333432674408, above the double 1/3: the threshold is not reached.
    _set_threshold(naming_state, 1 / 3)
    assert sorted(h["healthy"] for h in hosts(app)) == [False, False, True]
    _set_threshold(naming_state, 0.33333335)
    assert all(h["healthy"] for h in hosts(app))


def test_list_disabled_instances_are_hidden_but_counted(app: NamingApp, naming_state: NamingState) -> None:
    register(app, ip="10.0.0.1", enabled="false")
    register(app, ip="10.0.0.2")
    _unhealthy(naming_state, "10.0.0.2")
    # 1 healthy (disabled) of 2: above threshold 0, so the unhealthy one stays unhealthy.
    assert [(h["ip"], h["healthy"]) for h in hosts(app)] == [("10.0.0.2", False)]
    assert hosts(app, healthyOnly="true") == []


def test_list_is_check_answers_empty_object(app: NamingApp) -> None:
    assert listing(app, "G@@none", isCheck="true") == {
        "name": "G@@none",
        "clusters": "",
        "cacheMillis": 3000,
        "hosts": [],
    }
    register(app)
    assert listing(app, isCheck="true") == {}
    assert set(listing(app, isCheck="true", clusters="other")) == LIST_KEYS  # nothing selected


# --- cache and clocks ------------------------------------------------------------------------------


def test_list_last_ref_time_follows_the_wall_clock(app: NamingApp) -> None:
    register(app)
    first = call(app, "GET", LIST_PATH, {"serviceName": SERVICE}, wall_ms=1_000)
    second = call(app, "GET", LIST_PATH, {"serviceName": SERVICE}, wall_ms=2_000)
    one, two = json.loads(first.body), json.loads(second.body)
    assert (one.pop("lastRefTime"), two.pop("lastRefTime")) == (1_000, 2_000)
    assert one == two


def test_list_reuses_the_encoding_until_the_service_changes(
    app: NamingApp, naming_state: NamingState
) -> None:
    register(app)
    listing(app)
    snapshot = naming_state.registry.get("public", SERVICE)
    assert snapshot is not None
    variant = ("instance/list", "", True, False, 3000, "")
    cached = snapshot.cached(variant)
    assert cached is not None
    listing(app)
    assert snapshot.cached(variant) is cached
    checksum = listing(app)["checksum"]
    register(app, ip="10.0.0.2")
    assert len(hosts(app)) == 2
    assert listing(app)["checksum"] != checksum


def test_list_variants_do_not_leak_into_each_other(app: NamingApp, naming_state: NamingState) -> None:
    register(app, ip="10.0.0.1", clusterName="a")
    register(app, ip="10.0.0.2", clusterName="b")
    _unhealthy_key = "10.0.0.2:8080:unknown:b"
    naming_state.registry.set_healthy("public", SERVICE, _unhealthy_key, True, False)
    assert len(hosts(app)) == 2
    assert len(hosts(app, healthyOnly="true")) == 1
    assert [h["clusterName"] for h in hosts(app, clusters="a")] == ["a"]
    assert listing(app, user_agent=PYTHON_UA)["dom"] == "svc"
    assert listing(app)["dom"] == SERVICE
    assert listing(app, env="x")["env"] == "x"
    assert listing(app)["env"] == ""


def test_render_list_is_callable_for_push(app: NamingApp, naming_state: NamingState) -> None:
    register(app)
    body = render_list(
        naming_state, "public", SERVICE, "", parse_client_info(NODE_UA), "10.0.0.9", False, 10_000, 42
    )
    decoded = json.loads(body)
    assert (decoded["cacheMillis"], decoded["lastRefTime"], decoded["dom"]) == (10_000, 42, SERVICE)
    assert len(decoded["hosts"]) == 1


# --- push subscription -----------------------------------------------------------------------------


def test_list_with_udp_port_subscribes_java_clients(app: NamingApp, push: RecordingPush) -> None:
    body = listing(
        app, now_ms=77, udpPort="53000", clientIP="10.1.1.1", clusters="DEFAULT", app="shop", tid="t1"
    )
    assert body["cacheMillis"] == 10_000
    assert push.subscriptions == [
        {
            "namespace": "public",
            "service": SERVICE,
            "clusters": "DEFAULT",
            "client_ip": "10.1.1.1",
            "udp_port": 53000,
            "agent": JAVA_UA,
            "app": "shop",
            "tenant": "t1",
            "now_ms": 77,
            "peer_ip": "127.0.0.1",
        }
    ]


def test_list_subscription_carries_the_address_the_request_came_from(
    app: NamingApp, push: RecordingPush
) -> None:
    query = {"serviceName": SERVICE, "udpPort": "53000", "clientIP": "10.1.1.1"}
    assert call(app, "GET", "/v1/ns/instance/list", query, remote=("10.9.9.9", 41234)).status == 200
    [subscription] = push.subscriptions
    assert (subscription["client_ip"], subscription["peer_ip"]) == ("10.1.1.1", "10.9.9.9")


def test_list_blank_client_ip_subscribes_loopback(app: NamingApp, push: RecordingPush) -> None:
    listing(app, udpPort="1", clientIP=" ", user_agent=NODE_UA, namespaceId="default")
    assert (push.subscriptions[0]["client_ip"], push.subscriptions[0]["namespace"]) == (
        "127.0.0.1",
        "default",
    )


def test_list_python_clients_are_never_pushed_to(app: NamingApp, push: RecordingPush) -> None:
    assert listing(app, udpPort="53000", user_agent=PYTHON_UA)["cacheMillis"] == 3000
    assert push.subscriptions == []


def test_list_without_udp_port_polls(app: NamingApp, push: RecordingPush) -> None:
    assert listing(app, udpPort="0")["cacheMillis"] == 3000
    assert listing(app, udpPort="-5")["cacheMillis"] == 3000
    assert push.subscriptions == []


def test_list_push_follows_switches(app: NamingApp, naming_state: NamingState, push: RecordingPush) -> None:
    naming_state.switches.pushEnabled = False
    assert listing(app, udpPort="53000")["cacheMillis"] == 3000
    naming_state.switches.pushEnabled = True
    naming_state.switches.pushJavaVersion = "2.0.0"
    assert listing(app, udpPort="53000")["cacheMillis"] == 3000
    assert push.subscriptions == []
    naming_state.switches.pushJavaVersion = "1.4.0"
    naming_state.switches.defaultPushCacheMillis = 12_000
    naming_state.switches.defaultCacheMillis = 1_500
    assert listing(app, udpPort="53000")["cacheMillis"] == 12_000
    assert listing(app)["cacheMillis"] == 1_500
    assert len(push.subscriptions) == 1


def test_list_udp_port_must_be_a_port(app: NamingApp) -> None:
    for value in ("65536", "abc", "1.5"):
        response = call(app, "GET", LIST_PATH, {"serviceName": SERVICE, "udpPort": value})
        assert response.status == 400, value


# --- legacy /api/srvIPXT ---------------------------------------------------------------------------


def test_srv_ipxt_lists_dom_in_default_group(app: NamingApp) -> None:
    register(app)
    for method in ("GET", "POST"):
        body = json_body(call(app, method, "/v1/ns/api/srvIPXT", {"dom": "svc"}, user_agent=PYTHON_UA))
        assert (body["name"], body["dom"], len(body["hosts"])) == (SERVICE, "svc", 1)


def test_srv_ipxt_requires_dom(app: NamingApp) -> None:
    response = call(app, "GET", "/v1/ns/api/srvIPXT", {"serviceName": "svc"})
    assert (response.status, response.body) == (400, b"caused: Param 'dom' is required.;")


# --- memo of validated list queries ---------------------------------------------------------------


def test_list_memo_serves_repeated_queries_like_fresh_ones(app: NamingApp) -> None:
    memo = app.state.memos.list_queries
    call(app, "POST", "/v1/ns/instance", {"serviceName": "memo", "ip": "10.9.0.1", "port": "80"})
    query = {"serviceName": "memo", "healthyOnly": "false", "clusters": ""}
    first = json_body(call(app, "GET", "/v1/ns/instance/list", query))
    assert len(memo) == 1
    call(app, "POST", "/v1/ns/instance", {"serviceName": "memo", "ip": "10.9.0.2", "port": "80"})
    second = json_body(call(app, "GET", "/v1/ns/instance/list", query))
    assert [h["ip"] for h in first["hosts"]] == ["10.9.0.1"]
    assert sorted(h["ip"] for h in second["hosts"]) == ["10.9.0.1", "10.9.0.2"]
    assert second["name"] == first["name"] == "DEFAULT_GROUP@@memo"


def test_list_memo_keeps_no_invalid_query(app: NamingApp) -> None:
    memo = app.state.memos.list_queries
    for _ in range(2):
        response = call(app, "GET", "/v1/ns/instance/list", {"serviceName": "bad#name"})
        assert response.status == 400
    assert len(memo) == 0


def test_list_memo_ignores_form_bodies(app: NamingApp) -> None:
    """Parameters in a form body are not part of the memo key, so such requests are never memoized."""
    memo = app.state.memos.list_queries
    for service in ("form-a", "form-b"):
        call(app, "POST", "/v1/ns/instance", {"serviceName": service, "ip": "10.9.1.1", "port": "80"})
        answer = json_body(call(app, "GET", "/v1/ns/instance/list", form={"serviceName": service}))
        assert answer["name"] == f"DEFAULT_GROUP@@{service}"
    assert len(memo) == 0


def test_list_memo_is_bounded(app: NamingApp) -> None:
    from nacosfast.limits import MAX_LIST_QUERY_MEMO

    memo = app.state.memos.list_queries
    for number in range(MAX_LIST_QUERY_MEMO + 10):
        call(app, "GET", "/v1/ns/instance/list", {"serviceName": f"svc{number}"})
        assert len(memo) <= MAX_LIST_QUERY_MEMO
    assert len(memo) == 10


def test_list_memo_still_refreshes_the_push_subscription(app: NamingApp, push: RecordingPush) -> None:
    query = {"serviceName": "DEFAULT_GROUP@@sub", "udpPort": "40001", "clientIP": "127.0.0.9"}
    for now_ms in (0, 5_000):
        assert (
            call(app, "GET", "/v1/ns/instance/list", query, user_agent=JAVA_UA, now_ms=now_ms).status == 200
        )
    assert [s["now_ms"] for s in push.subscriptions] == [0, 5_000]
    assert {(s["client_ip"], s["udp_port"]) for s in push.subscriptions} == {("127.0.0.9", 40001)}
