"""The warm-up gate: a node that is not ready answers only operator requests and expires nothing."""

from __future__ import annotations

import json

from nacosfast.naming.app import NamingApp
from nacosfast.naming.expiry import sweep
from tests.naming_helpers import call, node_app

INSTANCE = {"serviceName": "s", "ip": "10.0.0.1", "port": 1}
CLIENT_REQUESTS = (
    ("GET", "/v1/ns/instance/list"),
    ("POST", "/v1/ns/instance"),
    ("GET", "/v1/ns/service/list"),
)


def registered_app() -> NamingApp:
    app = node_app("127.0.0.1", 8848)
    assert call(app, "POST", "/v1/ns/instance", INSTANCE).status == 200
    return app


def ephemeral_count(app: NamingApp) -> int:
    service = app.state.registry.get("public", "DEFAULT_GROUP@@s")
    return 0 if service is None else service.ephemeral_count


def test_distro_gate_refuses_client_requests_while_warming_up() -> None:
    app = registered_app()
    app.state.ready = False
    for method, path in CLIENT_REQUESTS:
        response = call(app, method, path, {**INSTANCE, "ip": "10.0.0.2"})
        assert response.status == 503
        assert response.body == b"server is STARTINGnow, please try again later!"
    metrics = json.loads(call(app, "GET", "/v1/ns/operator/metrics").body)
    assert metrics["status"] == "STARTING"
    assert metrics["distroReady"] is False
    app.state.ready = True
    listed = json.loads(call(app, "GET", "/v1/ns/instance/list", {"serviceName": "s"}).body)
    assert [host["ip"] for host in listed["hosts"]] == ["10.0.0.1"]


def test_distro_gate_stops_expiry_while_warming_up() -> None:
    app = registered_app()
    app.state.ready = False
    sweep(app.state, 60_000)  # long past the 30 s delete timeout
    assert ephemeral_count(app) == 1
    app.state.ready = True
    sweep(app.state, 60_000)
    assert ephemeral_count(app) == 0
