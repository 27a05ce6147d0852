"""Health endpoints (compatibility.md §3.12): manual health on NONE-checked clusters, hello, checkers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nacosfast.naming import expiry
from nacosfast.naming.app import NamingApp
from nacosfast.naming.effects import beat_key
from tests.naming_helpers import MemoryJournal, RecordingPush, call, json_body

KEY = beat_key("public", "DEFAULT_GROUP@@orders", "10.0.0.1:80:unknown:DEFAULT")


def register(app: NamingApp, ip: str = "10.0.0.1", now_ms: int = 0, **extra: Any) -> None:
    params = {"serviceName": "orders", "ip": ip, "port": 80, **extra}
    assert call(app, "POST", "/v1/ns/instance", params, now_ms=now_ms).status == 200


def set_checker(app: NamingApp, kind: str = "NONE", cluster: str = "DEFAULT") -> None:
    params = {
        "serviceName": "orders",
        "clusterName": cluster,
        "checkPort": "80",
        "useInstancePort4Check": "true",
        "healthChecker": json.dumps({"type": kind}),
    }
    assert call(app, "PUT", "/v1/ns/cluster", params).status == 200


def set_health(app: NamingApp, now_ms: int = 0, path: str = "/v1/ns/health", **params: Any) -> Any:
    values = {"serviceName": "orders", "ip": "10.0.0.1", "port": "80", **params}
    return call(app, "PUT", path, values, now_ms=now_ms)


def hosts(app: NamingApp, now_ms: int = 0) -> list[tuple[str, bool]]:
    answer = json_body(call(app, "GET", "/v1/ns/instance/list", {"serviceName": "orders"}, now_ms=now_ms))
    return [(host["ip"], host["healthy"]) for host in answer["hosts"]]


def test_health_update_needs_a_none_checker(app: NamingApp) -> None:
    register(app)
    response = set_health(app, healthy="false")
    assert (response.status, response.body) == (
        400,
        b"caused: health check is still working, service: DEFAULT_GROUP@@orders;",
    )


@pytest.mark.parametrize("path", ["/v1/ns/health", "/v1/ns/health/instance"])
def test_health_update_flips_an_ephemeral_instance_and_pushes(
    app: NamingApp, push: RecordingPush, journal: MemoryJournal, path: str
) -> None:
    register(app)
    register(app, ip="10.0.0.2")
    set_checker(app)
    push.changed.clear()
    response = set_health(app, path=path, healthy="false")
    assert (response.status, response.body, response.durable_seq) == (200, b"ok", 0)
    assert hosts(app) == [("10.0.0.2", True), ("10.0.0.1", False)]
    assert push.changed == [("public", "DEFAULT_GROUP@@orders")]
    assert app.state.beats.is_healthy(KEY) is False
    assert app.state.beats.last_beat(KEY) == 0  # the last beat is kept


def test_health_update_unhealthy_is_revived_by_the_next_beat(app: NamingApp) -> None:
    register(app)
    register(app, ip="10.0.0.2")
    set_checker(app)
    set_health(app, valid="f", now_ms=1_000)
    beat = {"serviceName": "orders", "ip": "10.0.0.1", "port": 80}
    assert call(app, "PUT", "/v1/ns/instance/beat", beat, now_ms=2_000).status == 200
    assert hosts(app) == [("10.0.0.1", True), ("10.0.0.2", True)]


def test_health_update_healthy_on_a_stale_instance_is_undone_by_the_sweep(app: NamingApp) -> None:
    register(app)
    register(app, ip="10.0.0.2", now_ms=19_000)
    set_checker(app)
    expiry.sweep(app.state, 16_000)  # 10.0.0.1 has not beaten for 16 s: unhealthy
    assert ("10.0.0.1", False) in hosts(app, 16_000)
    set_health(app, healthy="true", now_ms=17_000)
    assert ("10.0.0.1", True) in hosts(app, 17_000)
    expiry.sweep(app.state, 18_000)
    assert ("10.0.0.1", False) in hosts(app, 18_000)


def test_health_update_of_a_persistent_instance_is_durable(app: NamingApp, journal: MemoryJournal) -> None:
    register(app, ephemeral="false")
    set_checker(app)
    response = set_health(app, healthy="no")
    assert response.status == 200
    assert response.durable_seq == len(journal.payloads)
    record = json.loads(journal.payloads[-1])
    assert (record["t"], record["value"]["ip"], record["value"]["healthy"]) == ("instance", "10.0.0.1", False)


def test_health_update_prefers_the_persistent_instance(app: NamingApp) -> None:
    register(app)
    register(app, ephemeral="false")
    set_checker(app)
    set_health(app, healthy="false")
    service = app.state.registry.get("public", "DEFAULT_GROUP@@orders")
    assert service is not None
    assert [(i.ephemeral, i.healthy) for i in service.instances()] == [(True, True), (False, False)]


def test_health_update_on_another_cluster(app: NamingApp) -> None:
    register(app, clusterName="B")
    set_checker(app, cluster="B")
    assert set_health(app, healthy="false", clusterName="B").status == 200
    assert set_health(app, healthy="false").status == 404  # DEFAULT does not exist in this service


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"healthy": ""}, 400, b"caused: Param 'healthy' is required.;"),
        ({"healthy": "true", "serviceName": "nope"}, 404, b"caused: no service DEFAULT_GROUP@@nope found!;"),
        (
            {"healthy": "true", "clusterName": "C"},
            404,
            b"caused: cluster C is not found in service DEFAULT_GROUP@@orders;",
        ),
        ({"healthy": "true", "ip": "10.0.0.9"}, 404, b"no matched ip found!"),
        ({"healthy": "true", "port": "81"}, 404, b"no matched ip found!"),
        ({"healthy": "true", "port": "x"}, 400, b"For input string"),
        ({"healthy": "true", "port": "70000"}, 400, b"out of range"),
        ({"healthy": "true", "ip": ""}, 400, b"caused: Param 'ip' is required.;"),
        ({"healthy": "true", "clusterName": "a.b"}, 400, b"cluster name can only have these characters"),
    ],
)
def test_health_update_refuses(
    app: NamingApp, journal: MemoryJournal, params: dict[str, Any], status: int, message: bytes
) -> None:
    register(app)
    set_checker(app)
    count = len(journal.payloads)
    response = set_health(app, **params)
    assert response.status == status
    assert message in response.body
    assert hosts(app) == [("10.0.0.1", True)]
    assert len(journal.payloads) == count


def test_health_server_says_hello(app: NamingApp) -> None:
    register(app)
    answer = json_body(call(app, "POST", "/v1/ns/health/server"))
    assert answer == {"msg": "Hello! I am Nacos-Naming and healthy! total services: raft 1, local port:8848"}


def test_health_checkers_lists_every_type(app: NamingApp) -> None:
    assert json_body(call(app, "GET", "/v1/ns/health/checkers")) == {
        "TCP": {"type": "TCP"},
        "HTTP": {"type": "HTTP", "path": "", "headers": "", "expectedResponseCode": 200},
        "MYSQL": {"type": "MYSQL", "user": None, "pwd": None, "cmd": None},
        "NONE": {"type": "NONE"},
    }
