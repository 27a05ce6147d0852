"""The naming application: routes a ``Request`` to its endpoint and maps errors to Nacos answers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final

from nacosfast.errors import NacosError
from nacosfast.naming import expiry
from nacosfast.naming.context import Context, Routes
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import APPLICATION_JSON, Request, Response

log = logging.getLogger("nacosfast.naming")

CONTEXT_PATH: Final = "/nacos"
NAMING_PREFIX: Final = "/v1/ns/"
OPERATOR_ALIAS: Final = ("/v1/ns/ops/", "/v1/ns/operator/")
_REASONS: Final = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 501: "Not Implemented"}


def spring_error(status: int, message: str, path: str, wall_ms: int) -> Response:
    """The Spring Boot error JSON that Nacos's filters produce with ``sendError``."""
    timestamp = datetime.fromtimestamp(wall_ms / 1000, UTC).isoformat(timespec="milliseconds")
    body = {
        "timestamp": timestamp.replace("+00:00", "+0000"),
        "status": status,
        "error": _REASONS.get(status, "Error"),
        "message": message,
        "path": path,
    }
    return Response(status=status, body=json.dumps(body).encode(), content_type=APPLICATION_JSON)


def collect_routes() -> Routes:
    """Every endpoint module's routes, merged (imported here so modules stay independent)."""
    from nacosfast.naming import catalog, console, health, instances, operator, services

    routes: Routes = {}
    for module in (instances, services, catalog, operator, health, console):
        for key, handler in module.ROUTES.items():
            if key in routes:
                raise RuntimeError(f"route {key} is defined twice")
            routes[key] = handler
    return routes


class NamingApp:
    """``handle(request, now_ms, wall_ms) -> Response``; never raises for anything a client sends."""

    def __init__(self, state: NamingState, routes: Routes | None = None) -> None:
        self.state = state
        self.routes = collect_routes() if routes is None else routes

    def handle(self, request: Request, now_ms: int, wall_ms: int) -> Response:
        """Answer one request."""
        path = request.path
        route_path = path[len(CONTEXT_PATH) :] if path.startswith(CONTEXT_PATH + "/") else None
        if route_path is not None and route_path.startswith(OPERATOR_ALIAS[0]):
            route_path = OPERATOR_ALIAS[1] + route_path[len(OPERATOR_ALIAS[0]) :]
        handler = self.routes.get((request.method, route_path)) if route_path else None
        if handler is None:
            if route_path and route_path.startswith(NAMING_PREFIX):
                return spring_error(501, f"no such api:{request.method}:{path}", path, wall_ms)
            return spring_error(404, "No message available", path, wall_ms)
        try:
            return handler(Context(self.state, request, now_ms, wall_ms))
        except NacosError as error:
            return Response(status=error.status, body=error.body())
        except UnicodeDecodeError:
            return Response(status=400, body=b"caused: request parameters are not valid UTF-8;")
        except ValueError as error:  # the core's validation (weights, ports, metadata)
            return Response(status=400, body=NacosError(str(error)).body())

    def sweep(self, now_ms: int, wall_ms: int) -> None:
        """Periodic work, run by the reaper every ``REAPER_PERIOD_MS``: beat expiry, empty services."""
        expiry.sweep(self.state, now_ms)
