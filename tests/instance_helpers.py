"""Helpers for the instance-endpoint tests: register/list shortcuts and a registry fingerprint."""

from __future__ import annotations

import json
from typing import Any

from nacosfast.naming.app import NamingApp
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Response
from tests.naming_helpers import JAVA_UA, call, json_body

SERVICE = "DEFAULT_GROUP@@svc"
INSTANCE_PATH = "/v1/ns/instance"
LIST_PATH = "/v1/ns/instance/list"
BEAT_PATH = "/v1/ns/instance/beat"


def register(
    app: NamingApp,
    /,
    ip: str = "10.0.0.1",
    port: int = 8080,
    *,
    service: str = SERVICE,
    user_agent: str = JAVA_UA,
    now_ms: int = 0,
    **extra: Any,
) -> Response:
    """POST /instance and assert ``ok``."""
    params: dict[str, Any] = {"serviceName": service, "ip": ip, "port": port, **extra}
    response = call(app, "POST", INSTANCE_PATH, params, user_agent=user_agent, now_ms=now_ms)
    assert (response.status, response.body) == (200, b"ok"), response
    return response


def deregister(
    app: NamingApp, /, ip: str = "10.0.0.1", port: int = 8080, *, service: str = SERVICE, **extra: Any
) -> Response:
    """DELETE /instance and assert ``ok``."""
    params: dict[str, Any] = {"serviceName": service, "ip": ip, "port": port, **extra}
    response = call(app, "DELETE", INSTANCE_PATH, params)
    assert (response.status, response.body) == (200, b"ok"), response
    return response


def listing(
    app: NamingApp, /, service: str = SERVICE, *, user_agent: str = JAVA_UA, now_ms: int = 0, **params: Any
) -> dict[str, Any]:
    """GET /instance/list as JSON."""
    result: dict[str, Any] = json_body(
        call(app, "GET", LIST_PATH, {"serviceName": service, **params}, user_agent=user_agent, now_ms=now_ms)
    )
    return result


def hosts(app: NamingApp, /, service: str = SERVICE, **params: Any) -> list[dict[str, Any]]:
    """The ``hosts`` of an instance/list answer."""
    found: list[dict[str, Any]] = listing(app, service, **params)["hosts"]
    return found


def fingerprint(state: NamingState) -> str:
    """Everything stored in the registry, as a comparable string."""
    registry = state.registry
    dump = []
    for namespace in registry.namespaces():
        for name in registry.services(namespace):
            service = registry.get(namespace, name)
            assert service is not None
            dump.append(
                [
                    namespace,
                    name,
                    service.revision,
                    repr(service.meta),
                    sorted(
                        json.dumps(
                            [
                                i.key,
                                i.ephemeral,
                                i.weight,
                                i.healthy,
                                i.enabled,
                                i.marked,
                                dict(i.metadata),
                                i.app,
                                i.instance_id,
                            ]
                        )
                        for i in service.instances()
                    ),
                ]
            )
    return json.dumps(dump)
