"""The per-request context handed to every endpoint handler, and the route table type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nacosfast.naming.client_info import ClientInfo
from nacosfast.naming.params import Params
from nacosfast.naming.state import NamingState
from nacosfast.wire.message import Request, Response


@dataclass(slots=True)
class Context:
    """One request being handled: the state, the request, its parameters and both clocks."""

    state: NamingState
    request: Request
    now_ms: int
    """Monotonic milliseconds: expiry and ordering only."""
    wall_ms: int
    """Epoch milliseconds: values shown to clients (``lastRefTime``, ``lastBeat``)."""
    user: str = ""
    """The authenticated caller (set by the auth gate; empty when auth is off)."""
    _params: Params | None = None

    @property
    def params(self) -> Params:
        """The request's parameters, parsed on first use (a memoized handler may never need them)."""
        if self._params is None:
            self._params = Params(self.request.params)
        return self._params

    @property
    def client(self) -> ClientInfo:
        """The client type and version from ``User-Agent``."""
        return self.state.clients.get(self.request.user_agent)


Handler = Callable[[Context], Response]
Routes = dict[tuple[str, str], Handler]
"""``(METHOD, path below /nacos)`` → handler, e.g. ``("POST", "/v1/ns/instance")``."""

ANY_METHOD = ("GET", "POST", "PUT", "DELETE", "PATCH")


def any_method(path: str, handler: Handler) -> Routes:
    """Routes for a path that Nacos serves on every method (``@RequestMapping`` without a method)."""
    return {(method, path): handler for method in ANY_METHOD}
