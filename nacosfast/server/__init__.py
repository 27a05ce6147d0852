"""Trio: listeners, connection loops, timers. The only package that imports ``trio`` or reads clocks."""

from __future__ import annotations

from nacosfast.server.http import Handler, HttpLimits, WaitDurable, serve_http, serve_stream

__all__ = ["Handler", "HttpLimits", "WaitDurable", "serve_http", "serve_stream"]
