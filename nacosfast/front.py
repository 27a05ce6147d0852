"""The node's front door: the metrics exposition and the console's files, then the naming API.

``Front.handle`` has the shape of ``NamingApp.handle``. A naming request (``/nacos/v1/...``, nearly all
traffic) costs one ``startswith`` here before it reaches the naming application.
"""

from __future__ import annotations

from typing import Final

from nacosfast.console import CONSOLE_ROOT, ConsoleFiles
from nacosfast.metrics import CONTENT_TYPE, MetricsRegistry
from nacosfast.naming.app import NamingApp
from nacosfast.naming.metrics import EXPORT_PATHS
from nacosfast.wire.message import Request, Response

__all__ = ["Front"]

API_PREFIX: Final = "/nacos/v1/"
_READ_METHODS: Final = ("GET", "HEAD")


def _only_reads(method: str) -> Response:
    return Response(
        status=405,
        body=f"caused: Request method '{method}' not supported;".encode(),
        headers=[(b"Allow", b"GET, HEAD")],
    )


class Front:
    """Serves ``/metrics`` and ``/nacos/actuator/prometheus``, the console under ``/nacos/``, and hands
    everything else to the naming application."""

    __slots__ = ("app", "console", "metrics")

    def __init__(self, app: NamingApp, metrics: MetricsRegistry, console: ConsoleFiles | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.console = console or ConsoleFiles()

    def handle(self, request: Request, now_ms: int, wall_ms: int) -> Response:
        """Answer one request."""
        path = request.path
        if path.startswith(API_PREFIX):
            return self.app.handle(request, now_ms, wall_ms)
        if path in EXPORT_PATHS:
            if request.method not in _READ_METHODS:
                return _only_reads(request.method)
            return Response(body=self.metrics.render(), content_type=CONTENT_TYPE)
        if path == CONSOLE_ROOT[:-1]:  # /nacos: the console lives at /nacos/, as in Nacos
            return Response(status=302, body=b"", headers=[(b"Location", CONSOLE_ROOT.encode())])
        page = self.console.get(path)
        if page is not None:
            if request.method not in _READ_METHODS:
                return _only_reads(request.method)
            return page
        return self.app.handle(request, now_ms, wall_ms)
