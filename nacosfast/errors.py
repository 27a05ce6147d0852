"""Errors that carry their HTTP status and the Nacos-style message.

Nacos answers ``caused: <msg>;`` for controller errors. Unlike Nacos, whatever a client sent wrong is a
4xx here: 400 for an invalid parameter, 404 for something named that does not exist. A 5xx means the
server itself failed (for instance a full disk), never the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class NacosError(Exception):
    """An error answered to the client with ``status`` and the body ``caused: <message>;``."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def body(self) -> bytes:
        """The response body, as Nacos's console exception handler writes it.

        A lone surrogate quoted from a JSON ``\\uD800`` escape becomes ``?``, as Java's UTF-8 encoder
        writes it.
        """
        return f"caused: {self.message};".encode("utf-8", "replace")


class BadRequest(NacosError):
    """A parameter is missing, malformed or out of bounds (HTTP 400)."""

    status = 400


class NotFound(NacosError):
    """The named service, cluster or instance does not exist (HTTP 404)."""

    status = 404


class Conflict(NacosError):
    """The request contradicts what is stored (HTTP 409), e.g. creating an existing namespace."""

    status = 409


class Unavailable(NacosError):
    """The server cannot serve this now (HTTP 503): storage failure, shutting down, not ready."""

    status = 503


def required_param(name: str) -> BadRequest:
    """Nacos's ``WebUtils.required`` message for a missing or empty parameter."""
    return BadRequest(f"Param '{name}' is required.")


@contextmanager
def client_values() -> Iterator[None]:
    """Around a call that validates what a client sent (the core's ``Instance``: weight, port, metadata
    text): its ``ValueError`` becomes a 400 with the same message. Anywhere else a ``ValueError`` is a
    bug and answered 500."""
    try:
        yield
    except ValueError as error:
        raise BadRequest(str(error)) from None
