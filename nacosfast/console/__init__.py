"""The web console: static pages served from the package under ``/nacos/`` (Nacos's console path).

The pages are plain HTML, CSS and JavaScript with no build step and nothing fetched from elsewhere: the
browser loads three files from this package and then calls the ordinary naming endpoints
(``/nacos/v1/ns/catalog/...``, ``PUT /nacos/v1/ns/instance``, ``/nacos/v1/console/namespaces``, ...),
so whatever guards those endpoints guards the console too.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from nacosfast.wire.message import Response

__all__ = ["CONSOLE_ROOT", "ConsoleFiles"]

CONSOLE_ROOT: Final = "/nacos/"
_CONTENT_TYPES: Final = {
    ".html": b"text/html;charset=UTF-8",
    ".css": b"text/css;charset=UTF-8",
    ".js": b"text/javascript;charset=UTF-8",
    ".svg": b"image/svg+xml",
}
_HEADERS: Final = [
    (b"Cache-Control", b"no-cache"),
    (b"X-Content-Type-Options", b"nosniff"),
    # Everything comes from this server; the pages never reach anywhere else.
    (b"Content-Security-Policy", b"default-src 'self'; frame-ancestors 'none'"),
]


class ConsoleFiles:
    """The console's files, read from the package once, by the path they are served at."""

    __slots__ = ("_by_path",)

    def __init__(self) -> None:
        static = files(__name__).joinpath("static")
        self._by_path: dict[str, Response] = {}
        for entry in static.iterdir():
            suffix = entry.name[entry.name.rfind(".") :]
            content_type = _CONTENT_TYPES.get(suffix)
            if content_type is None or not entry.is_file():
                continue
            response = Response(body=entry.read_bytes(), content_type=content_type, headers=_HEADERS)
            self._by_path[CONSOLE_ROOT + "console/" + entry.name] = response
        index = self._by_path.pop(CONSOLE_ROOT + "console/index.html")
        self._by_path[CONSOLE_ROOT] = index
        self._by_path[CONSOLE_ROOT + "index.html"] = index

    def get(self, path: str) -> Response | None:
        """The answer for ``path`` (``/nacos/``, ``/nacos/console/app.js``, ...), None if no such file."""
        return self._by_path.get(path)

    @property
    def paths(self) -> list[str]:
        """Every path a file is served at."""
        return sorted(self._by_path)
