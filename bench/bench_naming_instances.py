"""The instance hot paths through ``NamingApp.handle`` (no sockets): beat, list, register.

    .venv/bin/python -m pytest bench/bench_naming_instances.py --benchmark-only    # figures
    .venv/bin/python -m pytest bench/bench_naming_instances.py --benchmark-disable # smoke run

Each round is one ``handle`` call on a request whose parameters are not parsed yet (as a fresh request
from the HTTP layer would be), so parameter parsing and validation are included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from naming_requests import JAVA_UA, NullJournal, request

from nacosfast.naming.app import NamingApp
from nacosfast.naming.client_info import parse_client_info
from nacosfast.naming.node import build_state
from nacosfast.naming.render import render_list
from nacosfast.wire.message import Request, Response

SERVICE = "DEFAULT_GROUP@@bench"
INSTANCES = 10
BEAT_PARAMS = {
    "namespaceId": "public",
    "serviceName": SERVICE,
    "clusterName": "DEFAULT",
    "ip": "10.0.0.1",
    "port": 8080,
}
"""A Java client's beat query for the first instance."""


def _app() -> NamingApp:
    app = NamingApp(build_state(NullJournal(), lambda: 0))
    for index in range(INSTANCES):
        params = {
            "serviceName": SERVICE,
            "ip": f"10.0.0.{index + 1}",
            "port": 8080,
            "metadata": '{"zone":"a"}',
        }
        response = app.handle(request("POST", "/nacos/v1/ns/instance", params), 0, 0)
        assert response.body == b"ok"
    return app


def _runner(
    app: NamingApp, method: str, path: str, params: dict[str, Any], **kw: Any
) -> Callable[[], Response]:
    template = request(method, path, params, **kw)

    def run() -> Response:
        fresh = Request(template.method, template.path, template.query, template.headers, template.body)
        return app.handle(fresh, 1_000, 1_700_000_000_000)

    return run


def test_bench_light_beat(benchmark: Any) -> None:
    run = _runner(_app(), "PUT", "/nacos/v1/ns/instance/beat", BEAT_PARAMS)
    assert b"10200" in benchmark(run).body


def test_bench_full_beat_java_form(benchmark: Any) -> None:
    beat = {
        "port": 8080,
        "ip": "10.0.0.1",
        "weight": 1.0,
        "serviceName": SERVICE,
        "cluster": "DEFAULT",
        "metadata": {"zone": "a"},
        "scheduled": False,
        "period": 5000,
        "stopped": False,
    }
    run = _runner(_app(), "PUT", "/nacos/v1/ns/instance/beat", BEAT_PARAMS, form={"beat": json.dumps(beat)})
    assert b"10200" in benchmark(run).body


def test_bench_list_cached(benchmark: Any) -> None:
    params = {
        "namespaceId": "public",
        "serviceName": SERVICE,
        "clusters": "",
        "udpPort": 0,
        "clientIP": "10.1.1.1",
        "healthyOnly": "false",
    }
    run = _runner(_app(), "GET", "/nacos/v1/ns/instance/list", params)
    assert len(json.loads(benchmark(run).body)["hosts"]) == INSTANCES


def test_bench_render_list_cached(benchmark: Any) -> None:
    app = _app()
    info = parse_client_info(JAVA_UA.decode())
    args = (app.state, "public", SERVICE, "", info, "10.1.1.1", False, 10_000, 1_700_000_000_000)
    assert len(json.loads(benchmark(render_list, *args))["hosts"]) == INSTANCES


def test_bench_render_list_uncached(benchmark: Any) -> None:
    app = _app()
    info = parse_client_info(JAVA_UA.decode())
    registry = app.state.registry

    def run() -> bytes:
        snapshot = registry.get("public", SERVICE)
        assert snapshot is not None
        registry.set_meta("public", SERVICE, snapshot.meta)  # a new revision: an empty cache
        return render_list(app.state, "public", SERVICE, "", info, "10.1.1.1", False, 10_000, 0)

    assert len(json.loads(benchmark(run))["hosts"]) == INSTANCES


@pytest.mark.parametrize("changing", [False, True], ids=["re-register", "new-weight"])
def test_bench_register(benchmark: Any, changing: bool) -> None:
    app = _app()
    weights = iter(range(1, 10**9))

    def run() -> Response:
        weight = next(weights) % 100 + 1 if changing else 1
        params = {
            "namespaceId": "public",
            "serviceName": SERVICE,
            "groupName": "DEFAULT_GROUP",
            "clusterName": "DEFAULT",
            "ip": "10.0.0.1",
            "port": 8080,
            "weight": weight,
            "enable": "true",
            "healthy": "true",
            "ephemeral": "true",
            "metadata": '{"zone":"a"}',
            "app": "unknown",
        }
        return app.handle(request("POST", "/nacos/v1/ns/instance", params), 1_000, 0)

    assert benchmark(run).body == b"ok"
