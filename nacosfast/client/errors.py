"""Errors the client SDK raises."""

from __future__ import annotations


class NacosClientError(Exception):
    """Base of every error the SDK raises."""


class NacosRequestError(NacosClientError):
    """A server answered with an error status (4xx, or 5xx from the last server tried)."""

    def __init__(self, status: int, body: str, server: str = "") -> None:
        where = f" from {server}" if server else ""
        super().__init__(f"HTTP {status}{where}: {body.strip()[:500]}")
        self.status = status
        self.body = body
        self.server = server


class NoServerAvailable(NacosClientError):
    """No server could be reached (every address failed to connect, timed out or answered 5xx)."""


class InvalidResponse(NacosClientError):
    """A server answered something that is not the Nacos v1 shape expected."""


class NoInstanceAvailable(NacosClientError):
    """``select_one_healthy_instance`` found no healthy, enabled instance with a positive weight."""
