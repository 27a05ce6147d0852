"""Service, catalog and operator reads through ``NamingApp.handle`` (no sockets).

    .venv/bin/python -m pytest bench/bench_naming_admin.py --benchmark-only    # figures
    .venv/bin/python -m pytest bench/bench_naming_admin.py --benchmark-disable # smoke run

The registry holds ``SERVICES`` services of ``PER_SERVICE`` ephemeral instances each. The reads are
the ones clients and consoles repeat: ``/operator/metrics`` (Java and Node health probe),
``/service/list`` (Spring Cloud's ``getServices`` asks for every name with ``pageSize`` 2^31-1), the
console's ``/catalog/services`` table and ``/catalog/instances`` page, and ``GET /service``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from naming_requests import NullJournal, request

from nacosfast.naming.app import NamingApp
from nacosfast.naming.node import build_state
from nacosfast.wire.message import Response

SERVICES = 1_000
PER_SERVICE = 10


@pytest.fixture(scope="module")
def app() -> NamingApp:
    app = NamingApp(build_state(NullJournal(), lambda: 0))
    for service in range(SERVICES):
        for host in range(PER_SERVICE):
            params = {"serviceName": f"svc-{service:04d}", "ip": f"10.0.{host}.{service % 250}", "port": 8080}
            response = app.handle(request("POST", "/nacos/v1/ns/instance", params), 0, 0)
            assert response.status == 200, response.body
    return app


def _call(app: NamingApp, method: str, path: str, params: dict[str, Any]) -> Callable[[], Response]:
    def once() -> Response:
        # A fresh Request each round: parameter parsing is part of what is measured.
        return app.handle(request(method, "/nacos" + path, params), 1_000, 1_000)

    return once


CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "metrics": ("GET", "/v1/ns/operator/metrics", {}),
    "service_detail": ("GET", "/v1/ns/service", {"serviceName": "svc-0500"}),
    "service_list_page_100": ("GET", "/v1/ns/service/list", {"pageNo": 3, "pageSize": 100}),
    "service_list_all": ("GET", "/v1/ns/service/list", {"pageNo": 1, "pageSize": 2**31 - 1}),
    "catalog_services_page_10": ("GET", "/v1/ns/catalog/services", {"pageNo": 2, "pageSize": 10}),
    "catalog_instances": (
        "GET",
        "/v1/ns/catalog/instances",
        {"serviceName": "svc-0500", "clusterName": "DEFAULT", "pageNo": 1, "pageSize": 10},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_admin_read(benchmark: Any, app: NamingApp, case: str) -> None:
    method, path, params = CASES[case]
    response = benchmark(_call(app, method, path, params))
    assert response.status == 200, response.body
