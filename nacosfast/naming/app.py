"""The naming application: routes a ``Request`` to its endpoint and maps errors to Nacos answers."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from nacosfast.errors import NacosError
from nacosfast.limits import MAX_LOGGED_QUERY_CHARS
from nacosfast.naming.context import Context, Routes
from nacosfast.naming.routing import route
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import APPLICATION_JSON, REASON_PHRASES, Request, Response

if TYPE_CHECKING:
    from nacosfast.auth.gate import AuthGate

log = logging.getLogger("nacosfast.naming")

CONTEXT_PATH: Final = "/nacos"
NAMING_PREFIX: Final = "/v1/ns/"
OPERATOR_ALIAS: Final = ("/v1/ns/ops/", "/v1/ns/operator/")
SWITCHES_PATH: Final = "/v1/ns/operator/switches"
STARTING: Final = "STARTING"
"""The server status of a node that is still loading its peers' data."""
MIN_LIMITED_STATUS: Final = 200
MAX_LIMITED_STATUS: Final = 599
"""``limitedUrlMap`` codes that are answered; others (1xx, beyond 599) are not valid final statuses."""
INTERNAL_ERROR_BODY: Final = b"caused: internal server error (logged by the server);"


def spring_error(status: int, message: str, path: str, wall_ms: int) -> Response:
    """The Spring Boot error JSON that Nacos's filters produce with ``sendError``."""
    timestamp = datetime.fromtimestamp(wall_ms / 1000, UTC).isoformat(timespec="milliseconds")
    body = {
        "timestamp": timestamp.replace("+00:00", "+0000"),
        "status": status,
        "error": REASON_PHRASES.get(status, "Error"),
        "message": message,
        "path": path,
    }
    return Response(status=status, body=json.dumps(body).encode(), content_type=APPLICATION_JSON)


def traffic_revise(state: NamingState, request: Request, path: str, route_path: str) -> Response | None:
    """Nacos's ``TrafficReviseFilter`` before ``/v1/ns/*`` (compatibility.md §1.4); ``None`` lets it pass.

    A ``limitedUrlMap`` entry that prefixes ``URI?query`` answers its status with an empty body (only
    real final statuses, 200..599, are honoured). When the server status is not ``UP``,
    ``WRITE_ONLY`` lets writes pass and ``READ_ONLY`` lets GETs pass; the rest get 503. Unlike Nacos,
    ``/operator/switches`` always passes, so that an operator can set the status back to ``UP`` (Nacos
    then only takes that from a peer), and a ``Nacos-Server`` ``User-Agent`` earns nothing (Nacos
    CVE-2021-29441): requests forwarded by peers are authenticated by signature and skip this gate.
    """
    switches = state.switches
    limited = switches.limitedUrlMap
    if limited:
        query = request.query.decode("latin-1") if request.query else "null"  # Java's getQueryString()
        target = f"{path}?{query}"
        for prefix, code in limited.items():
            if target.startswith(prefix) and MIN_LIMITED_STATUS <= code <= MAX_LIMITED_STATUS:
                return Response(status=code, body=b"")
    status = switches.overriddenServerStatus
    if not status or status == "UP" or route_path == SWITCHES_PATH:
        return None
    if (status == "WRITE_ONLY" and request.method != "GET") or (
        status == "READ_ONLY" and request.method == "GET"
    ):
        return None
    return Response(status=503, body=f"server is {status}now, please try again later!".encode())


def warming_up() -> Response:
    """The answer of a cluster node that is still loading its peers' data (``state.ready`` false) to
    every naming request but the operator's (``operator/metrics`` shows the readiness): 503 with
    Nacos's text for a server in state ``STARTING``, so clients try another server. Requests forwarded
    by peers get it too: the node must not take writes before it holds what it owns."""
    return Response(status=503, body=f"server is {STARTING}now, please try again later!".encode())


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
    """``handle(request, now_ms, wall_ms) -> Response``; never raises.

    A ``NacosError`` is answered with its status (4xx for what the client sent, 503 when storage
    refuses); any other exception is a bug, logged with the request line and answered 500.
    """

    def __init__(
        self, state: NamingState, routes: Routes | None = None, auth: AuthGate | None = None
    ) -> None:
        self.state = state
        self.routes = collect_routes() if routes is None else routes
        self.auth = auth
        """Consulted before every handler (``nacosfast.auth.gate``); with auth on, adds ``/v1/auth/*``."""
        if auth is not None and auth.enabled:
            from nacosfast.auth.endpoints import auth_routes

            self.routes = {**self.routes, **auth_routes(auth)}

    def handle(self, request: Request, now_ms: int, wall_ms: int, *, forwarded: bool = False) -> Response:
        """Answer one request.

        ``forwarded``: the request was forwarded by an authenticated peer. It is handled here whoever
        owns its service (never forwarded again) and passes the server-status gate, as Nacos's
        peer requests do, and the auth gate (the forwarding node authenticated the caller).
        """
        path = request.path
        route_path = path[len(CONTEXT_PATH) :] if path.startswith(CONTEXT_PATH + "/") else None
        if route_path is not None and route_path.startswith(OPERATOR_ALIAS[0]):
            route_path = OPERATOR_ALIAS[1] + route_path[len(OPERATOR_ALIAS[0]) :]
        if route_path and route_path.startswith(NAMING_PREFIX):
            if not self.state.ready and not route_path.startswith(OPERATOR_ALIAS[1]):
                return warming_up()
            revised = None if forwarded else traffic_revise(self.state, request, path, route_path)
            if revised is not None:
                return revised
        key = (request.method, route_path or "")
        handler = self.routes.get(key) if route_path else None
        # Spring MVC answers HEAD with the GET handler; under /v1/ns/ Nacos's DistroFilter knows no HEAD
        # route and answers 501. The HTTP layer leaves the body out of a HEAD answer.
        if (
            handler is None
            and route_path
            and request.method == "HEAD"
            and not route_path.startswith(NAMING_PREFIX)
        ):
            key = ("GET", route_path)
            handler = self.routes.get(key)
        if handler is None:
            if route_path and route_path.startswith(NAMING_PREFIX):
                return spring_error(501, f"no such api:{request.method}:{path}", path, wall_ms)
            return spring_error(404, "No message available", path, wall_ms)
        try:
            ctx = Context(self.state, request, now_ms, wall_ms)
            if self.auth is not None and not forwarded:  # a forwarding peer checked the caller
                refused = self.auth.authorize(ctx, key)
                if refused is not None:
                    return refused
            if self.state.members is not None and not forwarded and route_path:
                routed = route(ctx, (request.method, route_path))
                if routed is not None:
                    return routed
            return handler(ctx)
        except NacosError as error:
            return Response(status=error.status, body=error.body())
        except Exception as error:  # a bug in a handler: logged and answered, never raised
            return internal_error(request, error)


def request_line(request: Request) -> str:
    """``METHOD path?query`` for the log, the query cut to ``MAX_LOGGED_QUERY_CHARS``."""
    query = request.query[:MAX_LOGGED_QUERY_CHARS].decode("latin-1")
    cut = "..." if len(request.query) > MAX_LOGGED_QUERY_CHARS else ""
    return f"{request.method} {request.path}?{query}{cut}" if query else f"{request.method} {request.path}"


def internal_error(request: Request, error: Exception) -> Response:
    """A handler failed on something other than the client's input: log it with its traceback, 500.

    Only a ``NacosError`` describes the client's mistake; any other exception is a bug here, and
    answering it as a 400 would blame the client for it.
    """
    log.error("request failed: %s", request_line(request), exc_info=error)
    return Response(status=500, body=INTERNAL_ERROR_BODY)
