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
from urllib.parse import urlencode

import pytest

from nacosfast.naming.app import NamingApp
from nacosfast.naming.client_info import parse_client_info
from nacosfast.naming.node import build_state
from nacosfast.naming.render import render_list
from nacosfast.wire.message import FORM_CONTENT_TYPE, Request, Response

JAVA_UA = b"Nacos-Java-Client:v1.4.8"
SERVICE = "DEFAULT_GROUP@@bench"
INSTANCES = 10


class _NullJournal:
    def __init__(self) -> None:
        self.seq = 0

    def append(self, payload: bytes) -> int:
        self.seq += 1
        return self.seq


def _app() -> NamingApp:
    app = NamingApp(build_state(_NullJournal(), lambda: 0))
    for index in range(INSTANCES):
        params = {
            "serviceName": SERVICE,
            "ip": f"10.0.0.{index + 1}",
            "port": 8080,
            "metadata": '{"zone":"a"}',
        }
        response = app.handle(_request("POST", "/nacos/v1/ns/instance", params), 0, 0)
        assert response.body == b"ok"
    return app


def _request(method: str, path: str, params: dict[str, Any], form: dict[str, Any] | None = None) -> Request:
    headers = {b"user-agent": JAVA_UA}
    body = b""
    if form is not None:
        headers[b"content-type"] = FORM_CONTENT_TYPE
        body = urlencode(form).encode()
    return Request(method=method, path=path, query=urlencode(params).encode(), headers=headers, body=body)


def _runner(
    app: NamingApp, method: str, path: str, params: dict[str, Any], **kw: Any
) -> Callable[[], Response]:
    template = _request(method, path, params, **kw)

    def run() -> Response:
        request = Request(template.method, template.path, template.query, template.headers, template.body)
        return app.handle(request, 1_000, 1_700_000_000_000)

    return run


def test_bench_light_beat(benchmark: Any) -> None:
    params = {
        "namespaceId": "public",
        "serviceName": SERVICE,
        "clusterName": "DEFAULT",
        "ip": "10.0.0.1",
        "port": 8080,
    }
    run = _runner(_app(), "PUT", "/nacos/v1/ns/instance/beat", params)
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
    params = {
        "namespaceId": "public",
        "serviceName": SERVICE,
        "clusterName": "DEFAULT",
        "ip": "10.0.0.1",
        "port": 8080,
    }
    run = _runner(_app(), "PUT", "/nacos/v1/ns/instance/beat", params, form={"beat": json.dumps(beat)})
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
        return app.handle(_request("POST", "/nacos/v1/ns/instance", params), 1_000, 0)

    assert benchmark(run).body == b"ok"
