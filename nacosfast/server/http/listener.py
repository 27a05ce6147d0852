"""``serve_http``: bind a listening socket and serve it with one epoll ``Hub`` until cancelled."""

from __future__ import annotations

import logging
import socket

import trio

from nacosfast._core.fastpath import FastPath
from nacosfast.limits import LISTEN_BACKLOG
from nacosfast.metrics import MetricsRegistry
from nacosfast.server.http.hub import Hub
from nacosfast.server.http.responder import Handler, Responder, WaitDurable
from nacosfast.wire.budget import RequestBudget
from nacosfast.wire.http import HttpConnection
from nacosfast.wire.http_limits import DEFAULT_HTTP_LIMITS, HttpLimits

__all__ = ["serve_http"]

log = logging.getLogger("nacosfast.http")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(LISTEN_BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


async def serve_http(
    handler: Handler,
    wait_durable: WaitDurable,
    host: str,
    port: int,
    *,
    limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    budget: RequestBudget | None = None,
    fast_path: FastPath | None = None,
    metrics: MetricsRegistry | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve HTTP/1.1 on ``host:port`` until cancelled; reports the bound port through ``task_status``.

    Cancelling it closes the listener and idle connections at once; answers to requests already
    parsed get up to ``limits.shutdown_grace_ms`` to go out. ``budget`` bounds the request bytes
    held across connections (default: ``limits.budget()``; pass one to share it or to watch it).
    ``fast_path`` (``nacosfast.naming.fast.build_fast_path``) answers the hottest requests from their
    bytes before the handler sees anything; ``handler`` answers the rest.
    ``metrics``, if given, gets the listener's connection figures (collector ``http``) while it serves.
    """
    budget = budget or limits.budget()
    budget.check(HttpConnection(("", 0), limits))
    listener = _listen(host, port)
    try:
        async with trio.open_nursery() as nursery:
            hub = Hub(Responder(handler, wait_durable, limits), listener, nursery, budget, fast_path)
            if metrics is not None:
                metrics.register("http", hub.families)
            nursery.start_soon(hub.tick)
            nursery.start_soon(hub.durable_loop)
            bound = listener.getsockname()[1]
            task_status.started(bound)
            log.info("HTTP listening on %s:%d", host, bound)
            try:
                await hub.run()
            finally:
                nursery.cancel_scope.cancel()  # the timer; tasks finishing answers are shielded
                if metrics is not None:
                    metrics.unregister("http")
    finally:
        listener.close()
